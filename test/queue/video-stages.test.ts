import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { RunOptionsSchema, summaryFor, type RunSpec } from '../../queues/payloads.js';
import { childJobId, enqueueRun } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { loadEnv } from '../../src/config/env.js';
import { silentLogger } from '../../src/lib/log.js';
import { probeVideo } from '../../src/video/ffmpeg.js';
import { StoryboardMotionFileSchema } from '../../src/video-prompt/storyboard-mode.js';
import { readCheckpoint } from '../../src/workflow/records.js';
import { startWorkers } from '../../workers/host.js';
import { BUILT_QUEUES } from '../../workers/registry.js';
import { imageScorerFor, videoScorerFor } from '../../workers/scoring-models.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { writeTinyModels } from '../helpers/tiny-models.js';

/**
 * Stages 4 and 5 of a full run on real Redis, offline: the video prompt loop per storyboard clip,
 * then one `attempt` job per clip × attempt on the video-generation queue making animatics that
 * start and end on the storyboard's frames, then video scoring ranking each clip on the models
 * image scoring already holds (tiny CLIP and aesthetic head built here; one inference host) and
 * a VQA vision model configured the way a user does (LOOP_VQA_*, here a fake OpenAI server).
 */
const prefix = uniquePrefix('video-stages');
let ctx: QueueContext;
let root: string;
const VQA_ENV = ['LOOP_MODELS_DIR', 'LOOP_VQA_MODEL', 'LOOP_VQA_BASE_URL', 'LOOP_VQA_API_KEY'] as const;
const savedEnv = Object.fromEntries(VQA_ENV.map((k) => [k, process.env[k]]));
const VQA_KEY = 'sk-stage-vqa-secret-0123456789';
let vqa: FakeOpenAIServer;

beforeAll(async () => {
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-video-stages-'));
  writeTinyModels(join(root, 'models'));
  vqa = await startFakeOpenAI({ responder: () => ({ logprobs: [{ token: 'Yes', logprob: Math.log(0.8), top_logprobs: [{ token: 'Yes', logprob: Math.log(0.8) }] }] }) });
  Object.assign(process.env, { LOOP_MODELS_DIR: join(root, 'models'), LOOP_VQA_MODEL: 'gpt-4o-mini', LOOP_VQA_BASE_URL: vqa.baseURL, LOOP_VQA_API_KEY: VQA_KEY });
  loadEnv({ fresh: true });
});
afterAll(async () => {
  for (const k of VQA_ENV) if (savedEnv[k] === undefined) delete process.env[k];
  else process.env[k] = savedEnv[k];
  loadEnv({ fresh: true });
  await vqa.close();
  await ctx.close();
  await cleanPrefix(prefix);
});

/** A full run of 2 clips × 2 attempts on the offline defaults (the same seed: the same videos each time). */
function fullSpec(options: Record<string, unknown> = {}): RunSpec {
  const id = `v-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
  return {
    run_id: id,
    workflow: 'full',
    run_dir: `feedback_loops/${id}`,
    prompt: 'a cat sleeping on a windowsill in the afternoon',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ seed: 5, num_image_variations: 2, max_iterations_image: 1, agent_backend: 'offline', image_backend: 'sketch', num_clips: 2, num_video_attempts: 2, max_iterations_video: 2, video_backend: 'animatic', aspect_ratio: '16:9', ...options }),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
}

async function runFull(s: RunSpec) {
  const host = await startWorkers({ redisUrl: REDIS_URL, prefix, queues: BUILT_QUEUES, concurrency: 3, logger: silentLogger, outputRoot: root });
  try {
    await enqueueRun(ctx, s, { outputRoot: root });
    return await watchRun(ctx, s, () => {}, { tickMs: 200 });
  } finally {
    await host.close();
  }
}

describe('the video stages in a full run', () => {
  it('enhances each clip\'s motion prompt, then makes clips × attempts videos from the storyboard frames', async () => {
    const s = fullSpec();
    const host = await startWorkers({ redisUrl: REDIS_URL, prefix, queues: BUILT_QUEUES, concurrency: 3, logger: silentLogger, outputRoot: root });
    let view;
    try {
      await enqueueRun(ctx, s, { outputRoot: root });
      view = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      // one host for both scorers: the video scorer reused the image scorer's CLIP and head
      // sessions (a host of its own would have loaded them again and counted only its own)
      const [img, vid] = [imageScorerFor('cpu', silentLogger), await videoScorerFor('cpu', silentLogger)];
      expect(vid.stats().loads).toBe(img.stats().loads);
      expect(img.stats().loads).toBe(5); // CLIP vision + text, PickScore vision + text, the aesthetic head
    } finally {
      await host.close();
    }
    expect(view.outcome, view.error).toBe('completed');
    const dir = join(root, s.run_dir);
    const vp = summaryFor(view.stages, 'video-prompt')!;
    const motion = StoryboardMotionFileSchema.parse(JSON.parse(await readFile(join(dir, vp.outputs.motion_file), 'utf8')));
    expect(motion.clips).toHaveLength(2);
    const vg = summaryFor(view.stages, 'video-generation')!;
    expect(vg.outputs.videos).toBe(4);
    expect(vg.outputs.backend).toBe('animatic');
    expect(vg.outputs.backend_note).toMatch(/not model output/);
    for (const clip of ['clip_001', 'clip_002'])
      for (const v of ['video_001', 'video_002']) {
        const p = join(dir, 'stage_5_video_generation', clip, `${v}.mp4`);
        expect(existsSync(p), p).toBe(true);
        const meta = JSON.parse(await readFile(join(dir, 'stage_5_video_generation', clip, `${v}_metadata.json`), 'utf8'));
        expect(meta.start_frame).toMatch(/^stage_3_storyboard\/clip_00\d_start\.png$/);
        expect((await probeVideo(p)).codec).toMatch(/h264/);
      }
    // video scoring: each clip ranked, video_001 its best, on the dimensions its models allow
    const vs = summaryFor(view.stages, 'video-scoring')!;
    expect(vs.outputs.ordering).toBe('rank');
    expect(vs.outputs.best_per_clip).toEqual({ clip_001: 'stage_5_video_generation/clip_001/video_001.mp4', clip_002: 'stage_5_video_generation/clip_002/video_001.mp4' });
    expect(vs.outputs.dimensions_available).toEqual(expect.arrayContaining(['temporal_flickering', 'dynamic_degree', 'background_consistency', 'text_alignment', 'text_alignment_vqa', 'aesthetic_quality']));
    expect(Object.keys(vs.outputs.dimensions_unavailable)).toEqual(['subject_consistency']); // no DINO installed
    // VQAScore: 4 frames of each of the 4 videos (image scoring asked about each image before), each costed
    // at gpt-4o-mini's prices for the fake's usage (100 in, 50 out)
    const call = (100 * 0.15 + 50 * 0.6) / 1e6;
    const videoCalls = vqa.requests.filter((r) => r.at >= Date.parse(vs.started_at));
    expect(videoCalls).toHaveLength(16);
    expect(vs.cost_usd).toBeCloseTo(16 * call, 12);
    expect(vs.outputs.continuity).not.toBeNull();
    for (const clip of ['clip_001', 'clip_002']) {
      const best = JSON.parse(await readFile(join(dir, 'stage_5_video_generation', clip, 'video_001_metadata.json'), 'utf8'));
      expect(best.rank).toBe(1);
      expect(best.scores.overall).toBeTypeOf('number');
    }
    const trace = JSON.parse(await readFile(join(dir, 'stage_5_video_generation', 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('rank');
    const job = await Job.fromId(ctx.queue('video-generation'), childJobId(s, 'attempt', 'c002-a2'));
    expect(job?.name).toBe(`${s.run_id} video-generation clip 2 attempt 2`); // what Bull Board shows
    expect((job?.data as { kind?: string }).kind).toBe('attempt'); // what the worker routes by
    expect(await job?.getState()).toBe('completed');
    const cp = await readCheckpoint(join(dir, 'workflow_checkpoint.json'));
    expect(JSON.stringify(cp)).not.toContain(VQA_KEY);
    expect(cp.completed_stages).toEqual(['image-prompt', 'image-generation', 'image-scoring', 'storyboard', 'video-prompt', 'video-generation', 'video-scoring']);
    expect(cp.artifacts.map((a) => a.path)).toContain('stage_5_video_generation/clip_002/video_002.mp4');
  }, 120_000);

  it('a second identical run takes every video\'s scores from the score cache (no VQA call); no_cache scores them again', async () => {
    const scoringCalls = async (s: RunSpec) => {
      const view = await runFull(s);
      expect(view.outcome, view.error).toBe('completed');
      const vs = summaryFor(view.stages, 'video-scoring')!;
      return { vs, calls: vqa.requests.filter((r) => r.at >= Date.parse(vs.started_at)).length };
    };
    await scoringCalls(fullSpec()); // fills the cache (or hits what an earlier run of these videos left)
    const cached = await scoringCalls(fullSpec());
    expect(cached.vs.outputs.scores_from_cache).toBe(4);
    expect(cached.calls).toBe(0);
    expect(cached.vs.cost_usd).toBe(0);
    const fresh = await scoringCalls(fullSpec({ no_cache: true }));
    expect(fresh.vs.outputs.scores_from_cache).toBe(0);
    expect(fresh.calls).toBe(16);
  }, 180_000);
});
