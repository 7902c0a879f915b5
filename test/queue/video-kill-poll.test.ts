import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { childJobId } from '../../queues/runs.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { mp4Fixture } from '../fakes/replicate-video-fixtures.js';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * kill -9 of the only worker while its video-generation attempts poll their Replicate predictions
 * (a full run, 1 clip × 2 attempts, `--video-backend replicate` against the fake API in this
 * process). Each attempt job saved its prediction id in its job data before its first poll; the
 * second worker, once the dead worker's locks expire, resumes those predictions instead of
 * creating new ones: one prediction per attempt at the server (two in all, not four), the GETs
 * after the restart poll the same ids, and each video's metadata names its prediction.
 */
const KLING = 'kwaivgi/kling-v2.1';
/** GETs a prediction reports `processing` for before it succeeds (at ≥ 2 s a gap: ~5 s per worker). */
const HOLD_POLLS = 3;
const prefix = uniquePrefix('video-kill-poll');
const START = join(REPO_ROOT, 'examples', 'start.txt');
const procs: ChildProcess[] = [];
let fake: FakeReplicate;
let ctx: QueueContext;
let CLIP: Buffer;

beforeAll(async () => {
  CLIP = mp4Fixture({ width: 320, height: 180, seconds: 5, fps: 24 });
  fake = await startFakeReplicate({
    models: [KLING],
    outputs: { [KLING]: { bytes: CLIP, contentType: 'video/mp4', ext: 'mp4' } },
    faults: [{ on: 'create', fault: { kind: 'processing', polls: HOLD_POLLS } }],
  });
  ctx = new QueueContext(REDIS_URL, prefix);
});
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await ctx?.close();
  await fake?.close();
  await cleanPrefix(prefix);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ms: number, cond: () => boolean | Promise<boolean>, log?: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${log ? `\n--- worker log ---\n${log().slice(-4000)}` : ''}`);
    await sleep(20);
  }
}

function worker(work: string, env: Record<string, string>): { child: ChildProcess; log: () => string; ready: Promise<void> } {
  // short locks: the dead worker's jobs go to the second one about 2-4 s after the kill
  const child = spawn(process.execPath, [CLI_PATH, 'worker', '--queues', 'built', '--concurrency', '2', '--lock-duration', '2000'], {
    cwd: work,
    env: cliEnv(env, work),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(child);
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  child.stdout!.on('data', (d) => (log += d));
  const ready = until('worker ready', 30_000, () => log.includes('worker ready'), () => log);
  return { child, log: () => log, ready };
}

describe('kill -9 of a video-generation worker mid-poll', () => {
  it('the restarted job resumes the saved prediction: one create per attempt, the same ids polled, the videos made', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-video-kill-'));
    const out = join(work, 'out');
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: out, REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl };
    // the fastest full run that reaches stage 5: offline agents, sketch images, 1 clip, 2 attempts
    const e = await runCli(
      [
        'enqueue', START, '--workflow', 'full', '--seed', '5', '--agent-backend', 'offline', '--image-backend', 'sketch',
        '--num-image-variations', '2', '--max-iterations-image', '1', '--num-clips', '1', '--max-iterations-video', '1',
        '--num-video-attempts', '2', '--video-backend', 'replicate', '--json',
      ],
      { cwd: work, env },
    );
    expect(e.code, e.stderr).toBe(0);
    const { run_id, run_dir } = JSON.parse(e.stdout) as { run_id: string; run_dir: string };
    const dir = join(out, run_dir);
    const spec = { run_id, round: 0 };
    const jobOf = (a: number) => Job.fromId(ctx.queue('video-generation'), childJobId(spec, 'attempt', `c001-a${a}`));

    const a = worker(work, env);
    await a.ready;
    const created = () => fake.creates().filter((c) => c.status === 201);
    const polled = (id: string, from = 0) => fake.requests.slice(from).filter((r) => r.kind === 'get' && r.predictionId === id && r.status === 200);
    // mid-poll: both attempts created their prediction and have been answered at least once ('processing')
    await until('both attempts polling their predictions', 75_000, () => created().length === 2 && created().every((c) => polled(c.predictionId!).length >= 1), a.log);
    a.child.kill('SIGKILL');
    await new Promise((r) => (a.child.exitCode !== null || a.child.signalCode !== null ? r(null) : a.child.once('exit', r)));
    const killedAt = fake.requests.length;
    const ids = created().map((c) => c.predictionId!);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      expect(fake.statusOf(id), `prediction ${id} is still running at the kill`).toBe('processing');
      expect(polled(id).length).toBeLessThanOrEqual(HOLD_POLLS);
    }
    expect(fake.requests.filter((r) => r.kind === 'file')).toHaveLength(0);
    // what the restarted jobs will find: each attempt's prediction id, saved before its first poll
    const saved = await Promise.all([1, 2].map(async (n) => (await jobOf(n))?.data?.prediction as { model: string; predictionId: string } | undefined));
    expect(saved.map((s) => s?.model)).toEqual([KLING, KLING]);
    expect(new Set(saved.map((s) => s?.predictionId))).toEqual(new Set(ids));

    const b = worker(work, env);
    await b.ready;
    const t = await runCli(['tail', run_id], { cwd: work, env, timeoutMs: 75_000 });
    b.child.kill('SIGTERM');
    expect(t.code, `${t.stdout}${t.stderr}\n--- worker log ---\n${b.log().slice(-4000)}`).toBe(0);

    // one prediction per attempt at the server: the two made before the kill, none after it
    expect(fake.created()).toBe(2);
    expect(fake.requests.slice(killedAt).filter((r) => r.kind === 'create')).toHaveLength(0);
    // after the restart the same predictions were polled, until they succeeded, and nothing else
    const after = fake.requests.slice(killedAt).filter((r) => r.kind === 'get');
    expect(new Set(after.map((r) => r.predictionId))).toEqual(new Set(ids));
    for (const id of ids) expect(fake.statusOf(id)).toBe('succeeded');
    expect(fake.requests.filter((r) => r.kind === 'file').map((r) => r.predictionId).sort()).toEqual([...ids].sort());

    const stage = join(dir, 'stage_5_video_generation', 'clip_001');
    const metaIds: string[] = [];
    for (const n of [1, 2]) {
      const video = join(stage, `video_00${n}.mp4`);
      expect(existsSync(video), video).toBe(true);
      const bytes = readFileSync(video);
      expect(bytes.equals(CLIP)).toBe(true);
      const meta = JSON.parse(readFileSync(join(stage, `video_00${n}_metadata.json`), 'utf8'));
      expect(meta).toMatchObject({ clip: 1, attempt: n, backend: 'replicate', model: KLING, prediction_id: saved[n - 1]!.predictionId, sha256: createHash('sha256').update(bytes).digest('hex') });
      expect(meta.provider).toMatchObject({ prediction_id: saved[n - 1]!.predictionId, resumed_prediction: true, resume: { outcome: 'completed', prediction_id: saved[n - 1]!.predictionId } });
      metaIds.push(meta.prediction_id);
    }
    expect(new Set(metaIds)).toEqual(new Set(ids));
    const summary = JSON.parse(readFileSync(join(dir, 'workflow_summary.json'), 'utf8'));
    expect(summary.status).toBe('completed');
    const trace = JSON.parse(readFileSync(join(dir, 'stage_5_video_generation', 'generation_trace.json'), 'utf8'));
    expect(trace.videos.map((v: { prediction_id: string }) => v.prediction_id).sort()).toEqual([...ids].sort());
    expect(trace.failures).toEqual([]);
  }, 120_000);
});
