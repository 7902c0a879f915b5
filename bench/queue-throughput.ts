/**
 * What the queues cost: N prompt-only runs through BullMQ (enqueue → worker process → completed)
 * against calling the service directly, and runs per second with 1 and 2 worker processes.
 * Offline agents, so the work itself is small and the overhead shows. Needs Redis at REDIS_URL.
 *   node dist/bench/queue-throughput.js [runs]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { QueueContext } from '../queues/context.js';
import { RunOptionsSchema, type RunSpec } from '../queues/payloads.js';
import { enqueueRun } from '../queues/runs.js';
import { enhanceImagePrompt } from '../src/prompt/enhance.js';

const N = Number(process.argv[2] ?? 40);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'loop-bench-queue-'));
const PROMPT = 'a violinist performing on a rooftop at dusk';
const options = RunOptionsSchema.parse({ agent_backend: 'offline', max_iterations_image: 3, threshold_image: 99 });

async function direct(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const dir = join(root, 'direct', String(i));
    await mkdir(dir, { recursive: true });
    await enhanceImagePrompt({ prompt: PROMPT, runDir: dir, maxIterations: 3, threshold: 99, backend: 'offline', creativeModel: 'x', critiqueModel: 'x' });
  }
  return performance.now() - t0;
}

function startWorker(prefix: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'worker', '--queues', 'image-prompt', '--concurrency', '1'], {
    env: { ...process.env, REDIS_URL, LOOP_QUEUE_PREFIX: prefix },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr!.on('data', (d) => {
      log += d;
      if (log.includes('worker ready')) resolve(child);
    });
    child.once('exit', (c) => reject(new Error(`worker exited ${c}: ${log}`)));
  });
}

async function throughQueues(workers: number): Promise<number> {
  const prefix = `loopbench-${randomBytes(3).toString('hex')}`;
  const ctx = new QueueContext(REDIS_URL, prefix);
  const procs = await Promise.all(Array.from({ length: workers }, () => startWorker(prefix)));
  try {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const id = `b${workers}-${i}`;
      const spec: RunSpec = { run_id: id, workflow: 'prompt-only', run_dir: join(root, prefix, id), prompt: PROMPT, prompt_source: 'bench', options, input_image: null, created_at: new Date().toISOString(), round: 0, start_stage: null };
      await mkdir(spec.run_dir, { recursive: true });
      await enqueueRun(ctx, spec, { outputRoot: root });
    }
    const q = ctx.queue('image-prompt');
    while ((await q.getCompletedCount()) < N) {
      if ((await q.getFailedCount()) > 0) throw new Error('a bench job failed');
      await new Promise((r) => setTimeout(r, 10));
    }
    return performance.now() - t0;
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    const keys = await ctx.connection.keys(`${prefix}:*`);
    if (keys.length) await ctx.connection.del(...keys);
    await ctx.close();
  }
}

await direct(); // warm-up: module loading and file cache
const d = await direct();
const q1 = await throughQueues(1);
const q2 = await throughQueues(2);
const per = (ms: number) => ms / N;
console.log(`${N} prompt-only runs (offline agents, up to 3 rounds each), one run, side by side`);
console.log(`direct service calls      ${per(d).toFixed(1)} ms/run   ${(1000 / per(d)).toFixed(1)} runs/s   1.00x`);
console.log(`BullMQ, 1 worker process  ${per(q1).toFixed(1)} ms/run   ${(1000 / per(q1)).toFixed(1)} runs/s   ${(q1 / d).toFixed(2)}x the direct time (overhead ${(per(q1) - per(d)).toFixed(1)} ms/job)`);
console.log(`BullMQ, 2 worker processes ${per(q2).toFixed(1)} ms/run   ${(1000 / per(q2)).toFixed(1)} runs/s   ${(q2 / d).toFixed(2)}x the direct time; 2 workers vs 1: ${(q1 / q2).toFixed(2)}x throughput`);
