import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { writeTinyModels } from '../helpers/tiny-models.js';

const prefix = uniquePrefix('scoring-workers');
const work = mkdtempSync(join(tmpdir(), 'loop-scoring-workers-'));
const models = join(work, 'models');
const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out'), LOOP_MODELS_DIR: models };
const procs: ChildProcess[] = [];

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await cleanPrefix(prefix);
});

function worker(queues: string, concurrency: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI_PATH, 'worker', '--queues', queues, '--concurrency', String(concurrency)], {
    cwd: work,
    env: cliEnv(env, work),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(child);
  let log = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      log += d;
      if (log.includes('worker ready')) resolve(child);
    });
    child.once('exit', (c) => reject(new Error(`worker exited ${c}: ${log}`)));
  });
}

describe('image-scoring workers', () => {
  it('two scoring workers share the batch jobs, and each keeps its model sessions across jobs', async () => {
    writeTinyModels(models);
    const ctx = new QueueContext(REDIS_URL, prefix);
    try {
      await worker('image-prompt,image-generation', 4);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const e = await runCli(['enqueue', join(REPO_ROOT, 'examples', 'start.txt'), '--workflow', 'image-only', '--num-image-variations', '2', '--seed', String(10 * i)], { cwd: work, env });
        expect(e.code).toBe(0);
        ids.push(e.stdout.trim().split('\n').pop()!);
      }
      // hold the scoring queue until both scoring workers are up, so both compete for the jobs
      const scoring = ctx.queue('image-scoring');
      await scoring.pause();
      while ((await scoring.getJobCounts('wait', 'paused')).paused + (await scoring.getJobCounts('wait')).wait < 4)
        await new Promise((r) => setTimeout(r, 100));
      await Promise.all([worker('image-scoring', 1), worker('image-scoring', 1)]);
      await scoring.resume();

      const byWorker = new Map<string, number[]>();
      for (const id of ids) {
        const t = await runCli(['tail', id], { cwd: work, env });
        expect(t.code, t.stdout + t.stderr).toBe(0);
        const s = JSON.parse((await runCli(['status', id, '--json'], { cwd: work, env })).stdout);
        const trace = JSON.parse(readFileSync(join(s.run_dir, 'workflow_trace.json'), 'utf8'));
        const st = trace.stages.find((x: { stage: string }) => x.stage === 'image-scoring');
        expect(st.outputs.metrics_available).toEqual(expect.arrayContaining(['clip_score', 'pickscore', 'aesthetic', 'technical']));
        byWorker.set(st.outputs.worker, [...(byWorker.get(st.outputs.worker) ?? []), st.outputs.scorer_session_loads]);
      }
      expect(byWorker.size).toBe(2);
      for (const loads of byWorker.values()) {
        expect(loads[0]).toBeGreaterThan(0);
        expect(new Set(loads).size).toBe(1); // loaded on the first job, never again
      }
    } finally {
      await ctx.close();
    }
  });
});
