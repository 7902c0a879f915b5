import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * kill -9 of the only worker at the fan-out step, mid fan-out and mid scoring: a second worker
 * takes the jobs over once their locks expire, and the run ends complete and consistent (every
 * image present, ranked, each the bytes its metadata vouches for; no temporary file, no journal).
 */
const prefix = uniquePrefix('crash');
const START = join(REPO_ROOT, 'examples', 'start.txt');
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await cleanPrefix(prefix);
});

function worker(work: string, out: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [CLI_PATH, 'worker', '--queues', 'built', '--concurrency', '1', '--lock-duration', '2000'], {
    cwd: work,
    env: cliEnv({ REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: out }, work),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(child);
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  child.stdout!.on('data', (d) => (log += d));
  const ready = new Promise<void>((resolve) => {
    const t = setInterval(() => log.includes('worker ready') && (clearInterval(t), resolve()), 20);
  });
  return { child, ready };
}

const gen = (dir: string) => join(dir, 'stage_2_image_generation');
const pngs = (dir: string) => (existsSync(gen(dir)) ? readdirSync(gen(dir)).filter((f) => f.endsWith('.png')).length : 0);
const checkpointHas = (dir: string, stage: string) => {
  try {
    return JSON.parse(readFileSync(join(dir, 'workflow_checkpoint.json'), 'utf8')).completed_stages.includes(stage);
  } catch {
    return false;
  }
};

const POINTS: [string, (dir: string) => boolean][] = [
  ['at the fan-out step', (d) => existsSync(join(gen(d), 'generation_plan.json'))],
  ['mid fan-out', (d) => pngs(d) >= 2],
  ['mid scoring', (d) => checkpointHas(d, 'image-generation')],
];

describe('kill -9 of a worker', () => {
  it.each(POINTS)('%s: a second worker finishes a complete, consistent run', async (_name, when) => {
    const work = mkdtempSync(join(tmpdir(), 'loop-crash-'));
    const out = join(work, 'out');
    const e = await runCli(['enqueue', START, '--workflow', 'image-only', '--num-image-variations', '6', '--seed', '21', '--agent-backend', 'offline', '--image-backend', 'sketch', '--json'], {
      cwd: work,
      env: { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: out },
    });
    expect(e.code, e.stderr).toBe(0);
    const { run_id, run_dir } = JSON.parse(e.stdout);
    const dir = join(out, run_dir);
    const a = worker(work, out);
    await a.ready;
    const deadline = Date.now() + 30_000;
    while (!when(dir)) {
      if (Date.now() > deadline) throw new Error('kill point never reached');
      await new Promise((r) => setTimeout(r, 5));
    }
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    const b = worker(work, out);
    await b.ready;
    const t = await runCli(['tail', run_id], { cwd: work, env: { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: out } });
    b.child.kill('SIGTERM');
    expect(t.code, t.stdout + t.stderr).toBe(0);

    const trace = JSON.parse(readFileSync(join(gen(dir), 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('rank');
    expect(trace.images.map((m: { rank: number }) => m.rank)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(trace.images.map((m: { seed: number }) => m.seed)).size).toBe(6);
    for (const m of trace.images as { file: string; sha256: string }[]) expect(createHash('sha256').update(readFileSync(join(gen(dir), m.file))).digest('hex')).toBe(m.sha256);
    const files = readdirSync(gen(dir));
    expect(files.filter((f) => f.endsWith('.png'))).toHaveLength(6);
    expect(files.filter((f) => f.startsWith('.') || f.includes('.tmp'))).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, 'workflow_summary.json'), 'utf8')).status).toBe('completed');
  }, 60_000);
});
