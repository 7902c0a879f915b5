/**
 * Storyboard continuity: clip N's last frame against clip N+1's first, with CLIP (cosine of the
 * image embeddings, checked by hand on the tiny CLIP) or, without it, the named substitute.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoundaryAcc, pixelContinuity, storyboardContinuity, type RawFrame } from '../../src/video-scoring/continuity.js';
import { createVideoScorer } from '../../src/video-scoring/score.js';
import { writeTinyClip, type TinyClip } from '../helpers/tiny-models.js';
import { makeClip, solid } from './clips.js';

type RGB = [number, number, number];
let root: string;
let clip: TinyClip;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-video-continuity-'));
  clip = writeTinyClip(join(root, 'models', 'clip-vit-large-patch14'), { seed: 7 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const frame = (rgb: RGB, w = 40, h = 24): RawFrame => ({ rgb: solid(w, h, rgb), width: w, height: h });
function embed(m: TinyClip, rgb: RGB): number[] {
  const plane = m.side * m.side;
  const out = Array.from(m.bv);
  for (let c = 0; c < 3; c++) {
    const px = (rgb[c]! / 255 - m.mean[c]!) / m.std[c]!;
    for (let i = 0; i < plane; i++) for (let d = 0; d < m.dim; d++) out[d]! += px * m.Wv[(c * plane + i) * m.dim + d]!;
  }
  const n = Math.hypot(...out);
  return out.map((x) => x / n);
}

describe('continuity', () => {
  it('with CLIP: the cosine of clip N’s last frame and clip N+1’s first frame', async () => {
    const s = createVideoScorer({ modelsDir: join(root, 'models'), host: 'inline' });
    const A: RGB = [200, 30, 30], B: RGB = [20, 180, 60], C: RGB = [40, 40, 220];
    const r = await storyboardContinuity(
      [
        { clip: 2, file: 'clip_002/video_001.mp4', boundary: { first: frame(B), last: frame(C) } },
        { clip: 1, file: 'clip_001/video_001.mp4', boundary: { first: frame(C), last: frame(A) } },
        { clip: 3, file: 'clip_003/video_001.mp4', boundary: { first: frame(C), last: frame(A) } },
      ],
      s.embedFrames,
    );
    await s.close();
    expect(r.substitute).toBe(false);
    expect(r.pairs.map((p) => [p.from_clip, p.to_clip])).toEqual([
      [1, 2],
      [2, 3],
    ]);
    const dot = (a: number[], b: number[]) => a.reduce((x, v, i) => x + v * b[i]!, 0);
    expect(r.pairs[0]!.raw).toBeCloseTo(dot(embed(clip, A), embed(clip, B)), 4); // clip 1 ends on A, clip 2 starts on B
    expect(r.pairs[1]!.raw).toBeCloseTo(1, 4); // clip 2 ends on C, clip 3 starts on C
    expect(r.pairs[1]!.value).toBeCloseTo(100, 2);
  });

  it('without CLIP: histogram + pixel similarity, named as a substitute', async () => {
    const s = createVideoScorer({ modelsDir: join(root, 'none'), host: 'inline' });
    const r = await storyboardContinuity(
      [
        { clip: 1, file: 'a', boundary: { first: frame([0, 0, 0]), last: frame([10, 200, 30]) } },
        { clip: 2, file: 'b', boundary: { first: frame([10, 200, 30], 64, 36), last: frame([250, 0, 0]) } },
        { clip: 3, file: 'c', boundary: { first: frame([0, 0, 255]), last: frame([0, 0, 0]) } },
      ],
      s.embedFrames,
    );
    await s.close();
    expect(r.substitute).toBe(true);
    expect(r.clip_unavailable).toMatch(/not installed/);
    expect(r.pairs[0]!.raw).toBeCloseTo(1, 6); // same colour, other size
    expect(r.pairs[1]!.raw).toBeLessThan(0.6);
    expect(pixelContinuity(frame([0, 0, 0]), frame([255, 255, 255])).raw).toBeCloseTo(0, 6);
  });

  it('the boundary frames are the decoded first and last frames', async () => {
    const p = join(root, 'b.mp4');
    const cols: RGB[] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
    await makeClip(p, { width: 32, height: 16, fps: 8, frames: 3, frame: (i) => solid(32, 16, cols[i]!) });
    const s = createVideoScorer({ modelsDir: join(root, 'none'), host: 'inline' });
    const r = await s.score(p, { boundary: true });
    await s.close();
    expect(Array.from(r.boundary!.first.rgb.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(r.boundary!.last.rgb.subarray(0, 3))).toEqual([0, 0, 255]);
    expect(new BoundaryAcc().result()).toBeNull();
  });
});
