/**
 * The classical dimensions on synthetic clips encoded losslessly (the decoded frames are the fed
 * ones): temporal flickering (VBench's formula, checked against the fed frames), dynamic degree
 * (classical flow, VBench's rule), motion smoothness (the even/odd hold-out), and the decode-once
 * contract (one ffmpeg pipe; the per-dimension decode gives the same values from more pipes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockFlow, interpolateMidpoint, meanAbsDiff, resizeArea, toGrey, topFractionMeanMagnitude } from '../../src/video-scoring/flow.js';
import { planFrames, pyRound } from '../../src/video-scoring/frames.js';
import type { DimensionId } from '../../src/video-scoring/dimensions.js';
import { createVideoScorer, type VideoScorer } from '../../src/video-scoring/score.js';
import { flickerOf, makeClip, texture } from './clips.js';

const W = 256, H = 144;
let root: string;
let scorer: VideoScorer;
const fed = new Map<string, Uint8Array[]>();
const clip = (name: string) => join(root, `${name}.mp4`);

const CLIPS: Record<string, { frames: number; fps: number; frame: (i: number) => Uint8Array }> = {
  static: { frames: 24, fps: 24, frame: () => texture(W, H) },
  // brightness alternates +0 / +40 (clamped), texture still
  alternating: { frames: 24, fps: 24, frame: (i) => texture(W, H, 0, 0, i % 2 ? 40 : 0) },
  // 4 px per frame to the left (2 px at the 128-px flow size, 6 px between the 8 fps samples)
  translating: { frames: 48, fps: 24, frame: (i) => texture(W, H, 4 * i, 0) },
  // slow smooth motion, and the same motion with every other frame a repeat of the one before
  smooth: { frames: 48, fps: 24, frame: (i) => texture(W, H, 2 * i, 0) },
  dropped: { frames: 48, fps: 24, frame: (i) => texture(W, H, 2 * (i - (i % 2)), 0) },
};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-video-dims-'));
  for (const [name, c] of Object.entries(CLIPS)) fed.set(name, await makeClip(clip(name), { width: W, height: H, fps: c.fps, frames: c.frames, frame: c.frame }));
  // no models installed: the classical dimensions alone
  scorer = createVideoScorer({ modelsDir: join(root, 'no-models'), host: 'inline' });
}, 120_000);
afterAll(async () => {
  await scorer.close();
  rmSync(root, { recursive: true, force: true });
});

const dim = async (name: string, d: DimensionId) => {
  const r = await scorer.score(clip(name));
  expect(r.error).toBeUndefined();
  const x = r.scores!.dimensions[d];
  if (!x.available) throw new Error(`${d} unavailable: ${x.reason}`);
  return x;
};

describe('temporal_flickering', () => {
  it('is 1.0 for a static clip', async () => {
    const f = await dim('static', 'temporal_flickering');
    expect(Math.abs(f.raw - 1)).toBeLessThan(1e-3);
    expect(f.value).toBeCloseTo(100, 1);
    expect(f.substitute).toBe(false);
  });

  it('is (255 − mean |Δ|)/255 of the frames fed in, for alternating brightness', async () => {
    const frames = fed.get('alternating')!;
    // independent: every consecutive pair of the fed frames, all pixels and channels
    let sum = 0;
    for (let i = 0; i + 1 < frames.length; i++) {
      let d = 0;
      for (let k = 0; k < frames[i]!.length; k++) d += Math.abs(frames[i]![k]! - frames[i + 1]![k]!);
      sum += d / frames[i]!.length;
    }
    const expected = (255 - sum / (frames.length - 1)) / 255;
    expect(expected).toBeLessThan(0.9); // a real difference, not a trivial 1.0
    expect(expected).toBeCloseTo(flickerOf(frames), 12);
    const f = await dim('alternating', 'temporal_flickering');
    expect(Math.abs(f.raw - expected)).toBeLessThan(1e-3);
    expect(f.detail!.pairs).toBe(frames.length - 1);
  });
});

describe('dynamic_degree', () => {
  it('a translating pattern is dynamic, a static one is not', async () => {
    const moving = await dim('translating', 'dynamic_degree');
    const still = await dim('static', 'dynamic_degree');
    expect(moving.raw).toBe(1);
    expect(moving.value).toBe(100);
    expect(still.raw).toBe(0);
    expect(still.value).toBe(0);
    expect(moving.substitute).toBe(true);
    expect(moving.how).toMatch(/substitute for RAFT/);
    // 24 fps → every 3rd frame; 48 frames → 16 samples → count_num round(4·16/16) = 4; threshold 6·72/256
    const d = moving.detail as { count_num: number; threshold_px: number; frames_sampled: number; pair_scores: number[] };
    expect(d.frames_sampled).toBe(16);
    expect(d.count_num).toBe(4);
    expect(d.threshold_px).toBeCloseTo((6 * 72) / 256, 5);
    // 2 px per frame at the flow size, 3 frames apart: about 6 px per pair
    for (const s of d.pair_scores) expect(s).toBeGreaterThan(5), expect(s).toBeLessThan(8);
  });

  it('a brightness flicker alone is not motion', async () => {
    expect((await dim('alternating', 'dynamic_degree')).raw).toBe(0);
  });

  it('follows VBench: round() halves to even, the count rule over all pairs but the last two', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6].map(pyRound)).toEqual([0, 2, 2, 4, 2, 3]);
    const probe = { width: 640, height: 360, fps: 30, frames: 120, duration_s: 4, codec: 'h264', pix_fmt: 'yuv420p' };
    const p = planFrames(probe);
    expect(p.flowInterval).toBe(4); // round(30/8) = round(3.75)
    expect([p.width, p.height]).toEqual([512, 288]);
    expect([p.flowWidth, p.flowHeight]).toEqual([128, 72]);
    expect(planFrames({ ...probe, fps: 20 }).flowInterval).toBe(2); // round(2.5) = 2
  });
});

describe('motion_smoothness', () => {
  it('is lower for a clip with dropped (repeated) frames than for the same motion played smoothly', async () => {
    const smooth = await dim('smooth', 'motion_smoothness');
    const dropped = await dim('dropped', 'motion_smoothness');
    const still = await dim('static', 'motion_smoothness');
    expect(still.raw).toBeCloseTo(1, 6);
    expect(smooth.raw).toBeGreaterThan(0.99);
    expect(dropped.raw).toBeLessThan(smooth.raw - 0.02);
    expect(smooth.value).toBeGreaterThan(dropped.value);
    expect(smooth.substitute).toBe(true);
    expect(smooth.how).toMatch(/substitute for AMT/);
    expect(smooth.detail!.frames_compared).toBe(23); // odd frames 1..45 with an even frame after them
  });

  it('the flow-based interpolation re-makes a translated frame; a plain blend would not', () => {
    const w = 128, h = 72;
    const sm = (f: Uint8Array) => resizeArea(f, W, H, 3, w, h, new Uint8Array(w * h * 3));
    const a = sm(texture(W, H, 0, 0)), mid = sm(texture(W, H, 4, 2)), b = sm(texture(W, H, 8, 4));
    const interp = interpolateMidpoint(a, b, w, h);
    const blend = a.map((v, i) => Math.round((v + b[i]!) / 2));
    expect(meanAbsDiff(interp, mid)).toBeLessThan(2);
    expect(meanAbsDiff(blend, mid)).toBeGreaterThan(10);
    const f = blockFlow({ w, h, data: toGrey(a, w, h) }, { w, h, data: toGrey(b, w, h) });
    expect(topFractionMeanMagnitude(f)).toBeGreaterThan(4); // true motion (−4, −2): |d| = 4.47
    expect(topFractionMeanMagnitude(f)).toBeLessThan(5.5);
  });
});

describe('decode once', () => {
  it('one ffmpeg pipe per video; one pipe per dimension gives the same values', async () => {
    const once = await scorer.score(clip('translating'));
    const per = await scorer.score(clip('translating'), { decode: 'per-dimension' });
    expect(once.scores!.analysis.pipes).toBe(1);
    expect(per.scores!.analysis.pipes).toBeGreaterThanOrEqual(4);
    for (const d of ['temporal_flickering', 'dynamic_degree', 'motion_smoothness', 'imaging_quality'] as const) {
      const a = once.scores!.dimensions[d], b = per.scores!.dimensions[d];
      expect(a.available && b.available).toBe(true);
      if (a.available && b.available) expect(a.raw).toBeCloseTo(b.raw, 9);
    }
    expect(once.scores!.video.frames_decoded).toBe(48);
    expect(once.scores!.dimensions.imaging_quality).toMatchObject({ available: true, substitute: true });
  });
});
