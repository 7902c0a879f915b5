/**
 * VQAScore on sampled video frames (text_alignment_vqa) against a fake OpenAI-compatible server:
 * the frames asked are spread over the clip, each request carries its clip's prompt and a frame
 * the test can identify (each frame's red channel is its index, green says which video), the value
 * is the mean of what the fake answered, every call is costed into the video, the trace and the
 * stage total, one in-flight limit holds across videos, and a failed request makes the dimension
 * unavailable with its reason (dropped from every overall of the set, its answered frames still costed).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVqaAsker, vqaQuestion, type VqaConfig } from '../../src/scoring/metrics/vqa-score.js';
import { VIDEO_WEIGHTS, type DimensionId } from '../../src/video-scoring/dimensions.js';
import { rankVideoFolder } from '../../src/video-scoring/rank-videos.js';
import { createVideoScorer, scoreVideos } from '../../src/video-scoring/score.js';
import { startFakeOpenAI, type FakeOpenAIServer, type RecordedRequest } from '../fakes/openai-server.js';
import { makeClip, solid, writeVideoGeneration } from './clips.js';

const KEY = 'sk-video-vqa-secret-0123456789';
const W = 64, H = 48, FPS = 24, FRAMES = 48;
// gpt-4o-mini at the fake's usage (100 in, 50 out) and prices.json's $0.15 / $0.60 per million
const CALL_USD = (100 * 0.15 + 50 * 0.6) / 1e6;
let fake: FakeOpenAIServer;
let root: string;

/** Frame i of video v: red = 4·i, green = 40·v (lossless, so the fake's image says which frame it is). */
const frameOf = (v: number) => (i: number) => solid(W, H, [4 * i, 40 * v, 0]);

function answer(p: number) {
  return { logprobs: [{ token: 'Yes', logprob: Math.log(p), top_logprobs: [{ token: 'Yes', logprob: Math.log(p) }, { token: 'No', logprob: Math.log(1 - p) }] }] };
}

/** Which frame of which video a request showed (its image's first pixel). */
async function shown(req: RecordedRequest): Promise<{ frame: number; video: number; prompt: string }> {
  const content = req.body.messages[0].content as { type: string; image_url?: { url: string }; text?: string }[];
  const url = content.find((c) => c.type === 'image_url')!.image_url!.url;
  expect(url).toMatch(/^data:image\/png;base64,/);
  const { data, info } = await sharp(Buffer.from(url.split(',')[1]!, 'base64')).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([W, H]); // the working frame itself, not a thumbnail
  const text = content.find((c) => c.type === 'text')!.text!;
  return { frame: data[0]! / 4, video: data[1]! / 40, prompt: /^Does this figure show "(.*)"\? Please answer yes or no\.$/.exec(text)![1]! };
}

const cfg = (o: Partial<VqaConfig> = {}): VqaConfig => ({ model: 'gpt-4o-mini', baseURL: fake.baseURL, apiKey: KEY, concurrency: 4, timeoutMs: 10_000, maxRetries: 0, ...o });

beforeAll(async () => {
  fake = await startFakeOpenAI();
  root = mkdtempSync(join(tmpdir(), 'loop-video-vqa-'));
  process.env.LOOP_VQA_API_KEY = KEY; // so the redactor knows it
});
afterAll(async () => {
  await fake.close();
  rmSync(root, { recursive: true, force: true });
  delete process.env.LOOP_VQA_API_KEY;
});

describe('VQAScore on video frames', () => {
  it('asks about frames spread over each clip with its own prompt, averages the answers, costs every call', async () => {
    fake.requests.length = 0;
    // the answer depends on the frame shown, read back from the image the way the test made it
    const answered = new Map<string, number>();
    fake.respond((req) => {
      const url = (req.body.messages[0].content as { type: string; image_url?: { url: string } }[]).find((c) => c.type === 'image_url')!.image_url!.url;
      const p = 0.05 + (answered.size % 9) / 10;
      answered.set(url, p);
      return answer(p);
    });
    const dir = join(root, 'gen');
    await writeVideoGeneration(
      dir,
      [
        { clip: 1, prompt: 'a red fox in the snow', attempts: [frameOf(1), frameOf(2)] },
        { clip: 2, prompt: 'a blue car at dusk', attempts: [frameOf(3)] },
      ],
      { width: W, height: H, fps: FPS, frames: FRAMES },
    );
    const scorer = createVideoScorer({ modelsDir: join(root, 'no-models'), vqa: cfg() });
    const r = await rankVideoFolder(dir, { scorer });
    await scorer.close();

    expect(fake.requests).toHaveLength(3 * 4);
    const seen = await Promise.all(fake.requests.map(shown));
    // 48 frames at 24 fps: the models see every 3rd frame; 4 segments of 12 frames, centres 6, 18, 30, 42
    for (const v of [1, 2, 3]) expect(seen.filter((s) => s.video === v).map((s) => s.frame).sort((a, b) => a - b)).toEqual([6, 18, 30, 42]);
    for (const s of seen) expect(s.prompt).toBe(s.video === 3 ? 'a blue car at dusk' : 'a red fox in the snow');
    for (const req of fake.requests) {
      expect(req.body).toMatchObject({ model: 'gpt-4o-mini', logprobs: true, max_tokens: 1 });
      expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    }

    const usable = r.dimensions_available;
    expect(usable).toContain('text_alignment_vqa');
    const total = usable.reduce((a, d) => a + VIDEO_WEIGHTS[d as DimensionId], 0);
    expect(r.weights_used.text_alignment_vqa).toBeCloseTo(VIDEO_WEIGHTS.text_alignment_vqa / total, 10);
    // each video's value: the mean P(yes) the fake gave for its four frames, on the 0 → 1 anchors
    const meanFor = (v: number) => {
      const ps = fake.requests.map((q, i) => ({ q, s: seen[i]! })).filter((x) => x.s.video === v).map((x) => answered.get(x.q.body.messages[0].content[0].image_url.url)!);
      return ps.reduce((a, b) => a + b, 0) / ps.length;
    };
    const meta = (clip: string, file: string) => JSON.parse(readFileSync(join(dir, clip, file), 'utf8'));
    for (const c of r.clips)
      for (const v of c.videos) {
        const m = meta(`clip_${String(c.clip).padStart(3, '0')}`, v.file.split('/')[1]!.replace('.mp4', '_metadata.json'));
        const video = m.attempt === 1 && c.clip === 1 ? 1 : c.clip === 1 ? 2 : 3;
        const d = m.scores.dimensions.text_alignment_vqa;
        expect(d.available).toBe(true);
        expect(d.raw).toBeCloseTo(meanFor(video), 9);
        expect(d.value).toBeCloseTo(100 * meanFor(video), 6);
        expect(d.detail.frames).toEqual([6, 18, 30, 42]);
        expect(m.scores.cost_usd).toBeCloseTo(4 * CALL_USD, 12);
      }
    expect(r.cost_usd).toBeCloseTo(12 * CALL_USD, 12);
    const trace = JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8'));
    expect(trace.scoring.cost_usd).toBeCloseTo(12 * CALL_USD, 12);
    for (const f of [join(dir, 'generation_trace.json'), ...['clip_001', 'clip_002'].flatMap((c) => readdirSync(join(dir, c)).filter((x) => x.endsWith('.json')).map((x) => join(dir, c, x)))])
      expect(readFileSync(f, 'utf8')).not.toContain(KEY);
  });

  it('keeps one in-flight limit across every video that shares an asker', async () => {
    fake.requests.length = 0;
    fake.respond(() => ({ ...answer(0.5), delayMs: 250 }));
    const asker = createVqaAsker(cfg({ concurrency: 2 }));
    const png = await sharp(solid(8, 8, [10, 20, 30]), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    const url = `data:image/png;base64,${png.toString('base64')}`;
    const rs = await Promise.all(Array.from({ length: 6 }, () => asker.ask(url, 'x', { lo: 0, hi: 1 })));
    expect(rs.every((x) => x.available)).toBe(true);
    const at = fake.requests.map((q) => q.at).sort((a, b) => a - b);
    // with the limit, the third request starts only when the first answers (250 ms later)
    for (const t of at) expect(at.filter((u) => u >= t && u < t + 200).length).toBeLessThanOrEqual(2);
  });

  it('a failed request makes that video unavailable with the reason and drops VQA from every overall', async () => {
    fake.requests.length = 0;
    const paths = [join(root, 'f1.mp4'), join(root, 'f2.mp4')];
    await makeClip(paths[0]!, { width: W, height: H, fps: FPS, frames: FRAMES, frame: frameOf(1) });
    await makeClip(paths[1]!, { width: W, height: H, fps: FPS, frames: FRAMES, frame: frameOf(2) });
    // the second video's frame 30 fails (read from its image, whatever the order of arrival)
    fake.respond((req) => {
      const url = (req.body.messages[0].content as { type: string; image_url?: { url: string } }[]).find((c) => c.type === 'image_url')!.image_url!.url;
      return failing.has(url) ? { status: 500 } : answer(0.7);
    });
    const failing = new Set<string>();
    const png = await sharp(frameOf(2)(30), { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
    failing.add(`data:image/png;base64,${png.toString('base64')}`);
    const r = await scoreVideos(paths, { prompt: 'a red fox', modelsDir: join(root, 'no-models'), vqa: cfg(), analysisThreads: 0 });
    expect(fake.requests).toHaveLength(8);
    const [a, b] = r.videos;
    expect(a!.scores!.dimensions.text_alignment_vqa).toMatchObject({ available: true, raw: 0.7 });
    expect(b!.scores!.dimensions.text_alignment_vqa).toEqual({ available: false, reason: expect.stringMatching(/^frame 30: VQAScore request failed \(HTTP 500\)/) });
    expect(r.dimensions_available).not.toContain('text_alignment_vqa');
    expect(r.weights_used.text_alignment_vqa).toBeUndefined();
    expect(r.dimensions_unavailable.text_alignment_vqa).toMatch(/unavailable for some videos: frame 30/);
    // the seven answered requests were paid for
    expect(r.cost_usd).toBeCloseTo(7 * CALL_USD, 12);
  });

  it('is unavailable with the reason when not configured, disabled, or there is no prompt (no request made)', async () => {
    fake.requests.length = 0;
    const p = join(root, 'plain.mp4');
    await makeClip(p, { width: W, height: H, fps: FPS, frames: 12, frame: frameOf(1) });
    const saved = process.env.LOOP_VQA_MODEL;
    delete process.env.LOOP_VQA_MODEL;
    try {
      const env = await scoreVideos([p], { prompt: 'a fox', modelsDir: join(root, 'no-models') });
      expect(env.videos[0]!.scores!.dimensions.text_alignment_vqa).toEqual({ available: false, reason: expect.stringMatching(/LOOP_VQA_MODEL is not set/) });
      expect(env.cost_usd).toBe(0);
    } finally {
      if (saved !== undefined) process.env.LOOP_VQA_MODEL = saved;
    }
    const off = await scoreVideos([p], { prompt: 'a fox', modelsDir: join(root, 'no-models'), vqa: null });
    expect(off.dimensions_unavailable.text_alignment_vqa).toBe('VQAScore disabled');
    const none = await scoreVideos([p], { prompt: null, modelsDir: join(root, 'no-models'), vqa: cfg() });
    expect(none.videos[0]!.scores!.dimensions.text_alignment_vqa).toEqual({ available: false, reason: 'no prompt given' });
    expect(fake.requests).toHaveLength(0);
    expect(vqaQuestion('a fox')).toBe('Does this figure show "a fox"? Please answer yes or no.');
  });
});
