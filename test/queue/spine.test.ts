import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { inspectRun } from '../../queues/inspect.js';
import { RunOptionsSchema, type RunSpec, type StageSummary } from '../../queues/payloads.js';
import { enqueueRun, buildFlow, stageJobId } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { startWorkers, type WorkerHost } from '../../workers/host.js';
import type { ProcessorModule } from '../../workers/registry.js';
import type { StageContext, StageDefinition } from '../../workers/stage.js';
import { LoopError } from '../../src/errors.js';
import { silentLogger } from '../../src/lib/log.js';
import { readCheckpoint } from '../../src/workflow/records.js';
import type { Stage, Workflow } from '../../src/workflow/stages.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('spine');
let ctx: QueueContext;
let root: string;
let seq = 0;

beforeAll(async () => {
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-spine-'));
});
afterAll(async () => {
  await ctx.close();
  await cleanPrefix(prefix);
});

function spec(workflow: Workflow): RunSpec {
  const id = `t${++seq}-${Date.now()}`;
  return {
    run_id: id,
    workflow,
    run_dir: join(root, id),
    prompt: 'a cat on a windowsill',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({}),
    created_at: new Date().toISOString(),
  };
}

/** A stage that writes one artifact and records the order it ran in. */
function recordingStage(stage: Stage, order: string[], hook?: (c: StageContext) => Promise<void> | void): StageDefinition {
  return {
    async run(c) {
      order.push(stage);
      await hook?.(c);
      const file = join(c.spec.run_dir, `${stage}.txt`);
      await writeFile(file, `${stage} saw ${c.previous.map((p) => p.stage).join(',')}`);
      const now = new Date().toISOString();
      const s: StageSummary = {
        stage,
        dir: c.spec.run_dir,
        ok: true,
        partial: Object.keys(c.fanFailures).length > 0,
        cost_usd: 0.01,
        duration_ms: 1,
        started_at: now,
        ended_at: now,
        outputs: { fan: Object.keys(c.fanValues).length, fan_failed: Object.keys(c.fanFailures).length },
        scores: {},
        artifacts: [`${stage}.txt`],
      };
      return s;
    },
  };
}

const mod = (def: StageDefinition, extra: ProcessorModule[] = []) => async (): Promise<ProcessorModule[]> => [{ kind: 'stage', def }, ...extra];

async function withWorkers<T>(processors: Parameters<typeof startWorkers>[0]['processors'], fn: (h: WorkerHost) => Promise<T>): Promise<T> {
  const host = await startWorkers({
    redisUrl: REDIS_URL,
    prefix,
    queues: Object.keys(processors ?? {}) as Stage[],
    concurrency: 2,
    logger: silentLogger,
    processors,
  });
  try {
    return await fn(host);
  } finally {
    await host.close();
  }
}

describe('run flows', () => {
  it('chains stages parent over child: the first stage runs first and passes forward', async () => {
    const flow = buildFlow(spec('image-only'));
    expect(flow.queueName).toBe('image-scoring');
    expect(flow.children?.[0]?.queueName).toBe('image-generation');
    expect(flow.children?.[0]?.opts?.failParentOnFailure).toBe(true);
    expect(flow.children?.[0]?.children?.[0]?.queueName).toBe('image-prompt');

    const order: string[] = [];
    const s = spec('image-only');
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', order)),
        'image-generation': mod(recordingStage('image-generation', order)),
        'image-scoring': mod(recordingStage('image-scoring', order)),
      },
      async () => {
        await enqueueRun(ctx, s);
        return watchRun(ctx, s, () => {}, { tickMs: 200 });
      },
    );
    expect(order).toEqual(['image-prompt', 'image-generation', 'image-scoring']);
    expect(view.outcome).toBe('completed');
    expect(view.stages.map((x) => x.stage)).toEqual(order);
    expect(view.costUsd).toBeCloseTo(0.03, 6);
    expect(await readFile(join(s.run_dir, 'image-scoring.txt'), 'utf8')).toBe('image-scoring saw image-prompt,image-generation');

    const cp = await readCheckpoint(join(s.run_dir, 'workflow_checkpoint.json'));
    expect(cp.status).toBe('completed');
    expect(cp.completed_stages).toEqual(order);
    expect(cp.artifacts.map((a) => a.path).sort()).toEqual(['image-generation.txt', 'image-prompt.txt', 'image-scoring.txt']);
    const summary = JSON.parse(await readFile(join(s.run_dir, 'workflow_summary.json'), 'utf8'));
    expect(summary.status).toBe('completed');
    expect(summary.total_cost_usd).toBeCloseTo(0.03, 6);
    expect(Object.keys(summary.time_by_stage)).toEqual(order);
    expect(existsSync(join(s.run_dir, 'workflow_trace.json'))).toBe(true);
  });

  it('a tampered artifact makes the checkpoint fail verification', async () => {
    const order: string[] = [];
    const s = spec('prompt-only');
    await withWorkers({ 'image-prompt': mod(recordingStage('image-prompt', order)) }, async () => {
      await enqueueRun(ctx, s);
      await watchRun(ctx, s, () => {}, { tickMs: 200 });
    });
    await writeFile(join(s.run_dir, 'image-prompt.txt'), 'changed');
    await expect(readCheckpoint(join(s.run_dir, 'workflow_checkpoint.json'))).rejects.toThrow(/changed since the checkpoint/);
  });

  it('retries a transient failure with backoff and then succeeds', async () => {
    const s = spec('prompt-only');
    let calls = 0;
    const view = await withWorkers(
      {
        'image-prompt': mod(
          recordingStage('image-prompt', [], () => {
            if (++calls === 1) throw new Error('ECONNRESET: upstream hung up');
          }),
        ),
      },
      async () => {
        await enqueueRun(ctx, s);
        return watchRun(ctx, s, () => {}, { tickMs: 200 });
      },
    );
    expect(calls).toBe(2);
    expect(view.outcome).toBe('completed');
    expect(view.jobs[0]!.attemptsMade).toBe(2); // the failed attempt and the one that succeeded
  });

  it('fails a user error at once, records the failed run, and `retry` re-runs the failed stages in order', async () => {
    const s = spec('image-only');
    let broken = true;
    let genRuns = 0;
    const processors = {
      'image-prompt': mod(recordingStage('image-prompt', [])),
      'image-generation': mod(
        recordingStage('image-generation', [], () => {
          genRuns++;
          if (broken) throw new LoopError('INPUT', 'the prompt file vanished');
        }),
      ),
      'image-scoring': mod(recordingStage('image-scoring', [])),
    };
    await withWorkers(processors, async () => {
      await enqueueRun(ctx, s);
      const failed = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      expect(failed.outcome).toBe('failed');
      expect(genRuns).toBe(1); // unrecoverable: no second attempt
      expect(failed.error).toContain('the prompt file vanished'); // the cause, not the parent's "child … failed"
      const gen = failed.jobs.find((j) => j.queue === 'image-generation')!;
      expect(gen.state).toBe('failed');
      expect(gen.failedReason).toContain('the prompt file vanished');
      // the failing stage wrote the failed run's records; the parent's deferred failure did not overwrite them
      await new Promise((r) => setTimeout(r, 300));
      const summary = JSON.parse(await readFile(join(s.run_dir, 'workflow_summary.json'), 'utf8'));
      expect(summary.status).toBe('failed');
      expect(summary.error).toContain('image-generation');
      expect(summary.stages_completed).toEqual(['image-prompt']);

      broken = false;
      // what `loop retry` does: failed jobs, deepest first
      const view = await inspectRun(ctx, s);
      const failedJobs = view.jobs.filter((j) => j.state === 'failed').sort((a, b) => b.depth - a.depth);
      expect(failedJobs.map((j) => j.queue)).toEqual(['image-generation', 'image-scoring']);
      for (const j of failedJobs) await (await Job.fromId(ctx.queue(j.queue as Stage), j.id))!.retry('failed', { resetAttemptsMade: true });
      const done = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      expect(done.outcome).toBe('completed');
      expect(done.stages.map((x) => x.stage)).toEqual(['image-prompt', 'image-generation', 'image-scoring']);
    });
  });

  it('fans out children at run time, waits for them, and degrades on a failed child', async () => {
    const s = spec('image-only');
    const variation: ProcessorModule = {
      kind: 'plain',
      name: 'variation',
      async process(data) {
        const d = data as { n: number };
        if (d.n === 2) throw new LoopError('INPUT', 'variation 2 cannot be made');
        return { n: d.n, file: `image_00${d.n}.png` };
      },
    };
    let seenAtFanOut: string[] = [];
    const gen: StageDefinition = {
      async fanOut(c) {
        seenAtFanOut = c.previous.map((p) => p.stage); // the fan-out is decided from the previous stage's result
        return {
          queue: 'image-generation',
          children: [1, 2, 3].map((n) => ({ name: 'variation', data: { n }, jobId: `${c.spec.run_id}.variation.${n}` })),
        };
      },
      run: recordingStage('image-generation', []).run,
    };
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', [])),
        'image-generation': mod(gen, [variation]),
        'image-scoring': mod(recordingStage('image-scoring', [])),
      },
      async () => {
        await enqueueRun(ctx, s);
        return watchRun(ctx, s, () => {}, { tickMs: 200 });
      },
    );
    expect(seenAtFanOut).toEqual(['image-prompt']);
    const genStage = view.stages.find((x) => x.stage === 'image-generation')!;
    expect(genStage.outputs).toEqual({ fan: 2, fan_failed: 1 });
    expect(genStage.partial).toBe(true);
    expect(view.outcome).toBe('partial');
    expect(view.jobs.filter((j) => j.name === 'variation')).toHaveLength(3);
    expect(view.jobs.find((j) => j.id === `${s.run_id}.variation.2`)?.state).toBe('failed');
    expect(stageJobId(s.run_id, 'image-scoring')).toBe(view.jobs[0]!.id);
  });
});

describe('job errors', () => {
  it('a user error while fanning out fails at once, and no secret reaches Redis', async () => {
    const secret = 'sk-spine-SECRET-424242';
    process.env.OPENAI_API_KEY = secret;
    try {
      const s = spec('image-only');
      let fanOuts = 0;
      const gen: StageDefinition = {
        async fanOut() {
          fanOuts++;
          throw new LoopError('CONFIG', `the provider rejected key ${secret}`);
        },
        run: recordingStage('image-generation', []).run,
      };
      const view = await withWorkers(
        {
          'image-prompt': mod(recordingStage('image-prompt', [])),
          'image-generation': mod(gen),
          'image-scoring': mod(recordingStage('image-scoring', [])),
        },
        async () => {
          await enqueueRun(ctx, s);
          return watchRun(ctx, s, () => {}, { tickMs: 200 });
        },
      );
      expect(view.outcome).toBe('failed');
      expect(fanOuts).toBe(1);
      expect(view.error).toContain('the provider rejected key [redacted]');
      const raw = await ctx.connection.hget(`${prefix}:image-generation:${stageJobId(s.run_id, 'image-generation')}`, 'failedReason');
      expect(raw).toContain('[redacted]');
      expect(raw).not.toContain(secret);
    } finally {
      delete process.env.OPENAI_API_KEY;
    }
  });
});

describe('Bull Board', () => {
  it('answers at / and lists all seven queues in its API', async () => {
    const { serveBoard } = await import('../../queues/board.js');
    const server = await serveBoard(ctx, { port: 0, host: '127.0.0.1', readOnly: true });
    try {
      const addr = server.address() as { port: number };
      const page = await fetch(`http://127.0.0.1:${addr.port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const api = await fetch(`http://127.0.0.1:${addr.port}/api/queues`);
      expect(api.status).toBe(200);
      const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      expect(body.queues.map((q) => q.name).sort()).toEqual(
        ['image-generation', 'image-prompt', 'image-scoring', 'storyboard', 'video-generation', 'video-prompt', 'video-scoring'],
      );
      expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
