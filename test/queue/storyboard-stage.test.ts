import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { RunOptionsSchema, summaryFor, type RunSpec } from '../../queues/payloads.js';
import { retryRun } from '../../queues/retry.js';
import { childJobId, enqueueRun } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { silentLogger } from '../../src/lib/log.js';
import { readCheckpoint } from '../../src/workflow/records.js';
import { startWorkers } from '../../workers/host.js';
import { BUILT_QUEUES } from '../../workers/registry.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * Stage 3 in a full run on real Redis: the storyboard starts on stage 2's best image, its frames
 * are jobs on the image-generation queue and the picks of the best candidate run on the scoring
 * queue; a frame that fails for good makes the run partial and `retry` makes it.
 */
const prefix = uniquePrefix('storyboard');
const TOKEN = 'r8_fake_storyboard_token_123';
let ctx: QueueContext;
let root: string;
let fake: FakeReplicate;
let seq = 0;

beforeAll(async () => {
  fake = await startFakeReplicate({ token: TOKEN });
  // workers read their environment once (loadEnv caches it), so the token is there from the start
  process.env.REPLICATE_API_TOKEN = TOKEN;
  process.env.REPLICATE_BASE_URL = fake.baseUrl;
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-storyboard-stage-'));
});
afterAll(async () => {
  delete process.env.REPLICATE_API_TOKEN;
  delete process.env.REPLICATE_BASE_URL;
  await ctx.close();
  await fake.close();
  await cleanPrefix(prefix);
});

function spec(options: Record<string, unknown>): RunSpec {
  const id = `sb${++seq}-${Date.now()}`;
  return {
    run_id: id,
    workflow: 'full',
    run_dir: `feedback_loops/${id}`,
    prompt: 'a cat sleeping on a windowsill in the afternoon',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ seed: 5, num_image_variations: 2, max_iterations_image: 1, agent_backend: 'offline', image_backend: 'sketch', num_clips: 3, ...options }),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
}

const pixels = async (p: string) => (await sharp(p).removeAlpha().raw().toBuffer()).toString('base64');

async function withWorkers<T>(fn: () => Promise<T>): Promise<T> {
  const host = await startWorkers({ redisUrl: REDIS_URL, prefix, queues: BUILT_QUEUES, concurrency: 3, logger: silentLogger, outputRoot: root });
  try {
    return await fn();
  } finally {
    await host.close();
  }
}

describe('the storyboard stage in a full run', () => {
  it('starts on the best image; frames on the image-generation queue, picks on the scoring queue; checkpointed', async () => {
    const s = spec({ frame_variations: 2, num_video_attempts: 1, video_backend: 'animatic' });
    const view = await withWorkers(async () => {
      await enqueueRun(ctx, s, { outputRoot: root });
      return watchRun(ctx, s, () => {}, { tickMs: 200 });
    });
    expect(view.outcome).toBe('completed');
    const dir = join(root, s.run_dir);
    const sb = summaryFor(view.stages, 'storyboard')!;
    expect(sb.outputs.from_image).toBe('stage_2_image_generation/image_001.png');
    expect(sb.outputs.frames_made).toBe(6);
    const board = join(dir, 'stage_3_storyboard');
    // clip 1 starts exactly on the best image
    expect(await pixels(join(board, 'clip_001_start.png'))).toBe(await pixels(join(dir, 'stage_2_image_generation', 'image_001.png')));
    for (const f of ['clip_001_end.png', 'clip_002_start.png', 'clip_003_end.png', 'storyboard.png', 'storyboard_metadata.json']) expect(existsSync(join(board, f)), f).toBe(true);
    // the frames were jobs of the image-generation queue, the picks of the scoring queue
    const frame = await Job.fromId(ctx.queue('image-generation'), childJobId(s, 'frame', 'c001-end-v2'));
    expect(frame?.name).toBe(`${s.run_id} storyboard frame c001-end v2`); // what Bull Board shows
    expect((frame?.data as { kind?: string }).kind).toBe('frame'); // what the worker routes by
    expect(await frame?.getState()).toBe('completed');
    const pick = await Job.fromId(ctx.queue('image-scoring'), childJobId(s, 'pick', 'c001-end'));
    expect(await pick?.getState()).toBe('completed');
    expect(pick?.name).toBe(`${s.run_id} storyboard pick c001-end from 2 candidates`);
    const meta = JSON.parse(await readFile(join(board, 'storyboard_metadata.json'), 'utf8'));
    expect(meta.clips[0].start.source).toBe('from-image');
    expect(meta.clips[0].end.candidates).toHaveLength(2);
    expect(meta.clips[0].end.chosen_candidate).toBe((pick!.returnvalue as { best: string }).best);
    const cp = await readCheckpoint(join(dir, 'workflow_checkpoint.json'));
    expect(cp.completed_stages).toEqual(['image-prompt', 'image-generation', 'image-scoring', 'storyboard', 'video-prompt', 'video-generation', 'video-scoring']);
    expect(cp.artifacts.map((a) => a.path)).toContain('stage_3_storyboard/clip_002_end.png');
  }, 60_000);

  it('a frame that fails for good: the storyboard marks it, the video stages wait for it; retry makes it and the run completes', async () => {
    const s = spec({ image_backend: 'replicate', image_model: 'black-forest-labs/flux-dev', fallback_models: [], num_video_attempts: 1, video_backend: 'animatic' });
    fake.reset();
    const clip2End = (input: Record<string, unknown> | undefined) => String(input?.prompt ?? '').includes('seen closer') && String(input?.prompt ?? '').includes('(end of the clip)');
    fake.setFaults([{ on: 'create', match: ({ input }) => clip2End(input), times: 1000, fault: { kind: 'fail', error: 'provider down' } }]);
    await withWorkers(async () => {
      await enqueueRun(ctx, s, { outputRoot: root });
      const first = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      // the storyboard is written with the frame marked failed; the video prompt stage refuses a clip without its frames
      expect(first.outcome, first.error).toBe('failed');
      const vp = first.jobs.find((j) => j.queue === 'video-prompt')!;
      expect(vp.failedReason).toMatch(/^\[input\] the storyboard has failed frames \(clip_002_end\.png\): `loop retry/);
      const board = join(root, s.run_dir, 'stage_3_storyboard');
      const meta = JSON.parse(await readFile(join(board, 'storyboard_metadata.json'), 'utf8'));
      expect(meta.failed_frames).toEqual(['clip_002_end.png']);
      expect(meta.clips[1].end.status).toBe('failed');
      expect(existsSync(join(board, 'storyboard.png'))).toBe(true);
      // frames keep the best image's look: the init image went in FLUX dev's own field
      const inputOf = (r: { body?: Record<string, unknown> }) => (r.body?.input ?? {}) as Record<string, unknown>;
      const withInit = fake.creates().filter((r) => typeof inputOf(r).image === 'string');
      expect(withInit.length).toBeGreaterThan(0);
      expect(String(inputOf(withInit[0]!).image)).toMatch(/^data:image\/png;base64,/);
      expect(inputOf(withInit[0]!).prompt_strength).toBe(0.65);

      fake.setFaults([]); // the provider is back
      // the frame only: the video prompt stage re-runs once the storyboard has it
      expect((await retryRun(ctx, s)).map((j) => j.id)).toEqual([childJobId(s, 'frame', 'c002-end-v1')]);
      const done = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      expect(done.outcome).toBe('completed');
      const after = JSON.parse(await readFile(join(board, 'storyboard_metadata.json'), 'utf8'));
      expect(after.failed_frames).toEqual([]);
      expect(existsSync(join(board, 'clip_002_end.png'))).toBe(true);
    });
  }, 90_000);
});
