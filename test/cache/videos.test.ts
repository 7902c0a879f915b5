/**
 * The generation cache in front of video generation, against the fake Replicate API serving a
 * real MP4 over HTTP: a second identical batch makes no create request and writes the same
 * bytes (metadata: hit, cost 0; the trace counts from_cache); bypassed, it pays again; a changed
 * start frame, end frame, seed, prompt or duration misses. And the stage-5 job (attemptProcessor)
 * uses the cache of its output root unless the run asked for --no-cache.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GenerationCache } from '../../src/cache/generation-cache.js';
import { registerSecret } from '../../src/lib/secrets.js';
import { generateVideos } from '../../src/video/create.js';
import { clipDir, VIDEO_PLAN_FILE, VideoMetadataSchema, videoFile, videoMetaFile, type VideoClip } from '../../src/video/generate.js';
import { ReplicateVideoBackend } from '../../src/video/replicate-video.js';
import { DEFAULT_FAKE_MODELS, startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { mp4Fixture } from '../fakes/replicate-video-fixtures.js';

const KLING = 'kwaivgi/kling-v2.1';
let work: string;
let fake: FakeReplicate;
let frames: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-cache-videos-'));
  frames = join(work, 'frames');
  await mkdir(frames, { recursive: true });
  const png = (r: number) => sharp({ create: { width: 336, height: 192, channels: 3, background: { r, g: 90, b: 160 } } }).png().toBuffer();
  await writeFile(join(frames, 'start.png'), await png(40));
  await writeFile(join(frames, 'start2.png'), await png(41));
  await writeFile(join(frames, 'end.png'), await png(200));
  const clip = mp4Fixture({ width: 320, height: 180, seconds: 5, fps: 24 });
  fake = await startFakeReplicate({ latencyMs: 0, models: [...DEFAULT_FAKE_MODELS, KLING], outputs: { [KLING]: { bytes: clip, contentType: 'video/mp4', ext: 'mp4' } } });
  registerSecret(fake.token);
});
afterAll(async () => {
  await fake?.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => fake.reset());

const backend = () => new ReplicateVideoBackend({ token: fake.token, baseUrl: fake.baseUrl, firstPollMs: 5, maxPollMs: 20, pollJitter: 0 });
const CLIPS: VideoClip[] = [
  { clip: 1, prompt: 'slow dolly in on the lighthouse door, steady', start_frame: 'start.png', end_frame: 'end.png', camera: null, duration_s: 5 },
  { clip: 2, prompt: 'pan right along the harbour wall', start_frame: 'start.png', end_frame: null, camera: null, duration_s: 5 },
];
let seq = 0;
async function batch(cache: GenerationCache | null, o: { clips?: VideoClip[]; seed?: number } = {}) {
  const dir = join(work, `run-${++seq}`);
  await mkdir(dir, { recursive: true });
  const out = await generateVideos({ dir, backend: backend(), model: KLING, clips: o.clips ?? CLIPS, framesRoot: frames, attempts: 2, aspectRatio: '16:9', negativePrompt: null, seed: o.seed ?? 900, concurrency: 4, cache });
  expect(out.failures).toEqual([]);
  const bytes = await Promise.all(out.trace.videos.map((v) => readFile(join(dir, clipDir(v.clip), v.file))));
  return { ...out, dir, bytes };
}

describe('video generation with the generation cache (fake Replicate serving an MP4)', () => {
  it('the second identical batch creates nothing and writes the same bytes, cost 0; bypassed it pays again', async () => {
    const cache = new GenerationCache(join(work, 'cache-a'));
    const first = await batch(cache);
    expect(fake.created()).toBe(4);
    expect(first.trace.videos.map((v) => v.cache?.status)).toEqual(['miss', 'miss', 'miss', 'miss']);
    expect(first.trace.from_cache).toBe(0);
    expect(first.trace.paid_this_time).toBe(4);
    const paid = first.trace.videos.map((v) => v.cost_usd);
    expect(paid.every((c) => typeof c === 'number' && c > 0)).toBe(true);

    fake.reset();
    const second = await batch(cache);
    expect(fake.requests).toEqual([]);
    expect(second.trace.from_cache).toBe(4);
    expect(second.trace.paid_this_time).toBe(0);
    expect(second.trace.total_cost_usd).toBe(0);
    second.trace.videos.forEach((v, i) => {
      expect(second.bytes[i]!.equals(first.bytes[i]!)).toBe(true);
      expect(v.sha256).toBe(first.trace.videos[i]!.sha256);
      expect(v.cost_usd).toBe(0);
      expect(v.cache).toMatchObject({ status: 'hit', key: first.trace.videos[i]!.cache!.key, original_cost_usd: paid[i] });
      expect(v.provider.cache).toMatchObject({ hit: true, original_cost_usd: paid[i] });
      expect(v.prediction_id).toBe(first.trace.videos[i]!.prediction_id);
      expect(v.frames_used).toEqual(first.trace.videos[i]!.frames_used);
    });
    // and the metadata on disk says so
    const meta = VideoMetadataSchema.parse(JSON.parse(await readFile(join(second.dir, clipDir(1), videoMetaFile(1)), 'utf8')));
    expect(meta.cache?.status).toBe('hit');

    fake.reset();
    const bypassed = await batch(null);
    expect(fake.created()).toBe(4);
    expect(bypassed.trace.videos.map((v) => v.cache?.status)).toEqual(['bypassed', 'bypassed', 'bypassed', 'bypassed']);
    expect(bypassed.trace.videos.map((v) => v.cache?.key)).toEqual(first.trace.videos.map((v) => v.cache?.key));
    expect(bypassed.trace.from_cache).toBe(0);
  }, 60_000);

  it('a changed start frame, end frame, seed, prompt or duration misses', async () => {
    const cache = new GenerationCache(join(work, 'cache-b'));
    const one = [CLIPS[0]!];
    await batch(cache, { clips: one });
    expect(fake.created()).toBe(2);
    const changed: [string, { clips?: VideoClip[]; seed?: number }][] = [
      ['start frame', { clips: [{ ...CLIPS[0]!, start_frame: 'start2.png' }] }],
      ['end frame', { clips: [{ ...CLIPS[0]!, end_frame: null }] }],
      ['seed', { clips: one, seed: 905 }],
      ['prompt', { clips: [{ ...CLIPS[0]!, prompt: `${CLIPS[0]!.prompt}, fog rolling in` }] }],
      ['duration', { clips: [{ ...CLIPS[0]!, duration_s: 10 }] }],
    ];
    for (const [what, o] of changed) {
      fake.reset();
      const r = await batch(cache, o);
      expect(fake.created(), `changed ${what}`).toBe(2);
      expect(r.trace.from_cache, what).toBe(0);
    }
    // the frame is identified by its bytes, not its name: a copy under another name hits
    await writeFile(join(frames, 'copy-of-start.png'), await readFile(join(frames, 'start.png')));
    fake.reset();
    const copy = await batch(cache, { clips: [{ ...CLIPS[0]!, start_frame: 'copy-of-start.png' }] });
    expect(fake.created()).toBe(0);
    expect(copy.trace.from_cache).toBe(2);
  }, 60_000);
});

describe('the stage-5 attempt job uses the cache of its output root', () => {
  it('a second run of the same plan is served from the cache; a run with no_cache pays again', async () => {
    process.env.REPLICATE_API_TOKEN = fake.token;
    process.env.REPLICATE_BASE_URL = fake.baseUrl;
    const { attemptProcessor } = await import('../../workers/video-generation.js');
    if (attemptProcessor.kind !== 'plain') throw new Error('attemptProcessor is a plain job');
    const root = join(work, 'output');
    // one clip, start frame only: the plan the stage saves, frames relative to the run directory
    const runFor = async (name: string, noCache: boolean) => {
      const runDir = join(root, 'feedback_loops', name);
      const stage = join(runDir, 'stage_5_video_generation');
      await mkdir(join(runDir, 'board'), { recursive: true });
      await mkdir(stage, { recursive: true });
      await writeFile(join(runDir, 'board', 'start.png'), await readFile(join(frames, 'start.png')));
      await writeFile(join(runDir, 'run_spec.json'), JSON.stringify({ run_id: name, options: noCache ? { no_cache: true } : {} }));
      const plan = {
        version: 1, backend: 'replicate', model: KLING, aspect_ratio: '16:9', negative_prompt: null, attempts: 1, seeds: [321], seed_source: 'user',
        clips: [{ clip: 1, prompt: 'a slow crane up over the harbour', start_frame: 'board/start.png', end_frame: null, camera: null, duration_s: 5 }],
        frames_root: '.', estimated_cost_usd: null, started_at: new Date().toISOString(),
      };
      await writeFile(join(stage, VIDEO_PLAN_FILE), JSON.stringify(plan));
      const ctx = { progress: async () => {}, signal: new AbortController().signal, saveState: async () => {}, outputRoot: root };
      const r = (await attemptProcessor.process({ runDir: `feedback_loops/${name}`, clip: 1, attempt: 1 }, ctx)) as { metadata: { cache?: { status: string }; cost_usd: number | null } };
      return { r, bytes: await readFile(join(stage, clipDir(1), videoFile(1))) };
    };
    const first = await runFor('a', false);
    expect(fake.created()).toBe(1);
    expect(first.r.metadata.cache?.status).toBe('miss');
    fake.reset();
    const second = await runFor('b', false);
    expect(fake.created()).toBe(0);
    expect(second.r.metadata.cache?.status).toBe('hit');
    expect(second.r.metadata.cost_usd).toBe(0);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    fake.reset();
    const third = await runFor('c', true);
    expect(fake.created()).toBe(1);
    expect(third.r.metadata.cache?.status).toBe('bypassed');
  }, 60_000);
});
