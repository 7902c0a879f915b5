/**
 * The score cache: scoring the same video bytes again (a re-run, a resume, a retry) reuses their
 * dimensions: no decode, no VQA request, cost 0, the same ranking and continuity; a changed prompt,
 * a failed VQA request, a corrupted entry or --no-cache scores again.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationCache } from '../../src/cache/generation-cache.js';
import type { VqaConfig } from '../../src/scoring/metrics/vqa-score.js';
import { rankVideoFolder, restoreVideoAttemptOrder } from '../../src/video-scoring/rank-videos.js';
import { createVideoScorer, scoreVideos } from '../../src/video-scoring/score.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { makeClip, solid, texture, writeVideoGeneration } from './clips.js';

const W = 64, H = 48;
const CALL_USD = (100 * 0.15 + 50 * 0.6) / 1e6;
let fake: FakeOpenAIServer;
let root: string;
const yes = (p: number) => ({ logprobs: [{ token: 'Yes', logprob: Math.log(p), top_logprobs: [{ token: 'Yes', logprob: Math.log(p) }] }] });
const cfg = (): VqaConfig => ({ model: 'gpt-4o-mini', baseURL: fake.baseURL, apiKey: 'sk-cache-test-0123456789', concurrency: 4, timeoutMs: 10_000, maxRetries: 0 });

beforeAll(async () => {
  fake = await startFakeOpenAI({ responder: (_req, i) => yes(0.3 + (i % 5) / 10) });
  root = mkdtempSync(join(tmpdir(), 'loop-score-cache-'));
});
afterAll(async () => {
  await fake.close();
  rmSync(root, { recursive: true, force: true });
});

describe('video score cache', () => {
  it('a second ranking of the same bytes decodes nothing, asks nothing, costs 0 and ranks the same', async () => {
    const dir = join(root, 'gen');
    const moving = (dx: number) => (i: number) => texture(W, H, dx * i, 0);
    await writeVideoGeneration(
      dir,
      [
        { clip: 1, prompt: 'a fox', attempts: [moving(1), moving(3)] },
        { clip: 2, prompt: 'a car', attempts: [moving(2)] },
      ],
      { width: W, height: H, fps: 24, frames: 24 },
    );
    const cache = GenerationCache.at(join(root, 'out'));
    const scorer = createVideoScorer({ modelsDir: join(root, 'no-models'), vqa: cfg() });
    try {
      fake.requests.length = 0;
      const first = await rankVideoFolder(dir, { scorer, cache });
      const asked = fake.requests.length;
      const decoded = scorer.stats().analysis!.jobs;
      expect(asked).toBe(3 * 4);
      expect(decoded).toBe(3);
      expect(first.cache_hits).toBe(0);
      expect(first.cost_usd).toBeCloseTo(12 * CALL_USD, 12);
      expect((await cache.stats()).video_scores).toBe(3);

      // the retry path puts the folder back in attempt order first: same bytes under other names
      await restoreVideoAttemptOrder(dir);
      const again = await rankVideoFolder(dir, { scorer, cache });
      expect(fake.requests.length).toBe(asked); // no VQA request
      expect(scorer.stats().analysis!.jobs).toBe(decoded); // no decode
      expect(again.cache_hits).toBe(3);
      expect(again.cost_usd).toBe(0);
      expect(again.videos.map((v) => [v.file, v.rank, v.overall])).toEqual(first.videos.map((v) => [v.file, v.rank, v.overall]));
      expect(again.continuity?.pairs.map((p) => p.value)).toEqual(first.continuity?.pairs.map((p) => p.value));
      const meta = JSON.parse(readFileSync(join(dir, 'clip_001', 'video_001_metadata.json'), 'utf8'));
      expect(meta.scores.cache).toMatchObject({ status: 'hit', original_cost_usd: expect.closeTo(4 * CALL_USD, 12) });
      expect(meta.scores.cost_usd).toBe(0);

      // without the cache every video is scored (and paid for) again
      const bypass = await rankVideoFolder(dir, { scorer, cache: null });
      expect(bypass.cache_hits).toBe(0);
      expect(fake.requests.length).toBe(2 * asked);
    } finally {
      await scorer.close();
    }
  });

  it('a new prompt, a failed request or a corrupted entry scores again', async () => {
    const p = join(root, 'one.mp4');
    await makeClip(p, { width: W, height: H, fps: 24, frames: 24, frame: (i) => solid(W, H, [8 * i, 60, 90]) });
    const cache = GenerationCache.at(join(root, 'out2'));
    const opts = { modelsDir: join(root, 'no-models'), vqa: cfg(), cache, analysisThreads: 0 };
    fake.requests.length = 0;
    expect((await scoreVideos([p], { ...opts, prompt: 'a fox' })).cache_hits).toBe(0);
    expect((await scoreVideos([p], { ...opts, prompt: 'a fox' })).cache_hits).toBe(1);
    expect(fake.requests.length).toBe(4);
    expect((await scoreVideos([p], { ...opts, prompt: 'a wolf' })).cache_hits).toBe(0);
    expect(fake.requests.length).toBe(8);

    // a failed request is not stored: the next run asks again
    fake.enqueue({ status: 500 });
    const failed = await scoreVideos([p], { ...opts, prompt: 'a bear' });
    expect(failed.videos[0]!.scores!.dimensions.text_alignment_vqa.available).toBe(false);
    const retried = await scoreVideos([p], { ...opts, prompt: 'a bear' });
    expect(retried.cache_hits).toBe(0);
    expect(retried.videos[0]!.scores!.dimensions.text_alignment_vqa.available).toBe(true);
    expect((await scoreVideos([p], { ...opts, prompt: 'a bear' })).cache_hits).toBe(1);

    // a corrupted entry is a miss (and the miss rewrites it)
    for (const sub of readdirSync(cache.dir).filter((d) => /^[0-9a-f]{2}$/.test(d)))
      for (const f of readdirSync(join(cache.dir, sub)).filter((f) => f.endsWith('.bin'))) writeFileSync(join(cache.dir, sub, f), 'garbage');
    const before = fake.requests.length;
    expect((await scoreVideos([p], { ...opts, prompt: 'a bear' })).cache_hits).toBe(0);
    expect(fake.requests.length).toBe(before + 4);
    expect((await scoreVideos([p], { ...opts, prompt: 'a bear' })).cache_hits).toBe(1);
  });
});
