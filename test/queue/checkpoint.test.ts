import { cp as copyDir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { RunOptionsSchema, type RunSpec } from '../../queues/payloads.js';
import { enqueueRun } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { ExitCode, LoopError } from '../../src/errors.js';
import { canonicalJson } from '../../src/lib/canonical-json.js';
import { sha256Hex } from '../../src/lib/hash.js';
import { silentLogger } from '../../src/lib/log.js';
import { readCheckpoint } from '../../src/workflow/records.js';
import { startWorkers } from '../../workers/host.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/** A genuine image-only checkpoint verifies; every kind of tampered one is refused with exit 11. */
const prefix = uniquePrefix('checkpoint');
let ctx: QueueContext;
let root: string;
let runDir: string;
let original: string;

beforeAll(async () => {
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-checkpoint-'));
  const id = `cp-${Date.now()}`;
  runDir = join(root, 'feedback_loops', id);
  const spec: RunSpec = {
    run_id: id,
    workflow: 'image-only',
    run_dir: `feedback_loops/${id}`,
    prompt: 'a lighthouse at dusk, waves on the rocks',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ seed: 3, num_image_variations: 2, max_iterations_image: 2, agent_backend: 'offline', image_backend: 'sketch' }),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
  const host = await startWorkers({ redisUrl: REDIS_URL, prefix, queues: ['image-prompt', 'image-generation', 'image-scoring'], concurrency: 2, logger: silentLogger, outputRoot: root });
  try {
    await enqueueRun(ctx, spec, { outputRoot: root });
    const view = await watchRun(ctx, spec, () => {}, { tickMs: 200 });
    expect(view.outcome).toBe('completed');
  } finally {
    await host.close();
  }
  original = await readFile(join(runDir, 'workflow_checkpoint.json'), 'utf8');
});
afterAll(async () => {
  await ctx.close();
  await cleanPrefix(prefix);
});

const file = () => join(runDir, 'workflow_checkpoint.json');
const rehash = (cp: Record<string, unknown>) => ({ ...cp, sha256: sha256Hex(canonicalJson({ ...cp, sha256: '' })) });

async function refusedWith(path: string, pattern: RegExp) {
  const e = await readCheckpoint(path).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(LoopError);
  expect((e as LoopError).exitCode).toBe(ExitCode.CHECKPOINT);
  expect((e as LoopError).message).toMatch(pattern);
}

describe('workflow_checkpoint.json', () => {
  it('a genuine image-only checkpoint verifies (hash over canonical JSON, not over key order)', async () => {
    const cp = await readCheckpoint(file());
    expect(cp.completed_stages).toEqual(['image-prompt', 'image-generation', 'image-scoring']);
    expect(cp.artifacts.length).toBeGreaterThan(4);
    // the same record with its keys in another order still verifies
    const raw = JSON.parse(original) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(raw).reverse());
    await writeFile(file(), JSON.stringify(reordered));
    await expect(readCheckpoint(file())).resolves.toBeTruthy();
    await writeFile(file(), original);
  });

  it('refuses an edited record, a truncated file, a traversing artifact, a changed artifact, a symlink out, a moved run', async () => {
    const raw = JSON.parse(original) as Record<string, unknown> & { artifacts: { path: string; sha256: string; bytes: number }[]; status: string };
    try {
      await writeFile(file(), JSON.stringify({ ...raw, status: 'failed' }));
      await refusedWith(file(), /sha256 does not match/);

      await writeFile(file(), original.slice(0, original.length / 2));
      await refusedWith(file(), /not valid JSON/);

      const passwd = { path: '../../../../etc/hostname', sha256: '0'.repeat(64), bytes: 1 };
      await writeFile(file(), JSON.stringify(rehash({ ...raw, artifacts: [...raw.artifacts, passwd] })));
      await refusedWith(file(), /not inside the run directory|relative path inside/);

      await writeFile(file(), original);
      const first = raw.artifacts[0]!.path;
      const keep = await readFile(join(runDir, first));
      await writeFile(join(runDir, first), Buffer.concat([keep, Buffer.from(' ')]));
      await refusedWith(file(), /changed since the checkpoint/);
      await writeFile(join(runDir, first), keep);

      await symlink('/etc/hostname', join(runDir, 'outside.txt'));
      const linked = { path: 'outside.txt', sha256: sha256Hex(await readFile('/etc/hostname')), bytes: 1 };
      await writeFile(file(), JSON.stringify(rehash({ ...raw, artifacts: [...raw.artifacts, linked] })));
      await refusedWith(file(), /symlink/);
    } finally {
      await writeFile(file(), original);
    }
    await expect(readCheckpoint(file())).resolves.toBeTruthy();

    const moved = join(root, 'copied-run');
    await copyDir(runDir, moved, { recursive: true });
    await refusedWith(join(moved, 'workflow_checkpoint.json'), /moved, copied or edited/);
  });

  it('is relocatable with its output root: the same run under another LOOP_OUTPUT_DIR verifies', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'loop-checkpoint-moved-root-'));
    const dest = join(elsewhere, 'feedback_loops', runDir.split('/').pop()!);
    await copyDir(runDir, dest, { recursive: true });
    const cp = await readCheckpoint(join(dest, 'workflow_checkpoint.json'));
    expect(cp.spec.run_dir).toMatch(/^feedback_loops\/cp-/);
    expect(cp.artifacts.every((a) => !a.path.startsWith('/') && !a.path.includes('..'))).toBe(true);
  });
});
