/**
 * Storyboard mode: how well clip N's last frame matches clip N+1's first frame (the cut between
 * consecutive clips of a storyboard, each clip represented by its chosen video).
 *
 * With CLIP installed: the cosine of the two frames' CLIP image embeddings (0–100: 0.5 → 0, 1 → 100).
 * Without: a named substitute, the mean of an RGB colour-histogram intersection (8 bins per
 * channel, 512 joint bins) and a pixel similarity 1 − mean|a − b|/255 of the frames area-averaged
 * to 32 px wide (0–100: 100·raw).
 */
import { clamp100, normalizeUnclamped } from '../scoring/anchors.js';
import { dot } from '../scoring/clip.js';
import { resizeArea } from './flow.js';
import type { DecodedFrame, FrameConsumer } from './frames.js';

export const CONTINUITY_CLIP_METHOD = 'CLIP image similarity (cosine of the image embeddings) of clip N’s last frame and clip N+1’s first frame';
export const CONTINUITY_SUBSTITUTE =
  'colour-histogram intersection (512 joint RGB bins) averaged with a 32-px pixel similarity (1 − mean|a − b|/255), a substitute for CLIP image similarity';
export const CONTINUITY_CLIP_RANGE = { lo: 0.5, hi: 1 };

export interface RawFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
}

export interface BoundaryFrames {
  first: RawFrame;
  last: RawFrame;
}

/** Keeps a copy of the first frame and of the latest one (the last, once the decode ends). */
export class BoundaryAcc implements FrameConsumer {
  private first: RawFrame | null = null;
  private last: RawFrame | null = null;
  frame(f: DecodedFrame) {
    if (!this.first) this.first = { rgb: Buffer.from(f.rgb), width: f.width, height: f.height };
    if (!this.last) this.last = { rgb: Buffer.from(f.rgb), width: f.width, height: f.height };
    else this.last.rgb.set(f.rgb);
  }
  result(): BoundaryFrames | null {
    return this.first && this.last ? { first: this.first, last: this.last } : null;
  }
}

function histogram(f: RawFrame): Float64Array {
  const h = new Float64Array(512);
  const n = f.width * f.height;
  for (let i = 0; i < n; i++) {
    const r = f.rgb[3 * i]! >> 5, g = f.rgb[3 * i + 1]! >> 5, b = f.rgb[3 * i + 2]! >> 5;
    h[(r << 6) | (g << 3) | b]!++;
  }
  for (let i = 0; i < 512; i++) h[i]! /= n;
  return h;
}

/** The substitute's similarity of two frames (any sizes), in [0, 1]. */
export function pixelContinuity(a: RawFrame, b: RawFrame): { raw: number; histogram: number; pixels: number } {
  const ha = histogram(a), hb = histogram(b);
  let inter = 0;
  for (let i = 0; i < 512; i++) inter += Math.min(ha[i]!, hb[i]!);
  const w = Math.min(32, a.width, b.width);
  const h = Math.max(1, Math.round((w * (a.height + b.height)) / (a.width + b.width)));
  const sa = resizeArea(a.rgb, a.width, a.height, 3, w, h, new Float32Array(w * h * 3));
  const sb = resizeArea(b.rgb, b.width, b.height, 3, w, h, new Float32Array(w * h * 3));
  let d = 0;
  for (let i = 0; i < sa.length; i++) d += Math.abs(sa[i]! - sb[i]!);
  const pixels = 1 - d / sa.length / 255;
  return { raw: (inter + pixels) / 2, histogram: inter, pixels };
}

export interface ClipSide {
  clip: number;
  /** The chosen video, relative to the generation folder. */
  file: string;
  boundary: BoundaryFrames;
}

export interface ContinuityPair {
  from_clip: number;
  to_clip: number;
  from_file: string;
  to_file: string;
  raw: number;
  value: number;
  detail?: Record<string, number>;
}

export interface ContinuityResult {
  how: string;
  substitute: boolean;
  model_id: string;
  pairs: ContinuityPair[];
  /** Mean 0–100 over the cuts; null with fewer than two clips. */
  mean: number | null;
  /** Why CLIP was not used, when it was not. */
  clip_unavailable?: string;
}

/** Embeds frames with CLIP (L2-normalised rows), or says why it cannot. */
export type FrameEmbedder = (frames: RawFrame[]) => Promise<{ embeds: Float32Array[]; model_id: string } | { unavailable: string }>;

/** Continuity of consecutive clips (sorted by clip number): clip N's last frame against clip N+1's first. */
export async function storyboardContinuity(sides: ClipSide[], embed?: FrameEmbedder): Promise<ContinuityResult> {
  const s = [...sides].sort((a, b) => a.clip - b.clip);
  const cuts = s.slice(0, -1).map((a, i) => [a, s[i + 1]!] as const);
  let clip: { embeds: Float32Array[]; model_id: string } | null = null;
  let why: string | undefined = embed ? undefined : 'no CLIP model given';
  if (embed && cuts.length) {
    const r = await embed(cuts.flatMap(([a, b]) => [a.boundary.last, b.boundary.first]));
    if ('unavailable' in r) why = r.unavailable;
    else clip = r;
  }
  const pairs: ContinuityPair[] = cuts.map(([a, b], i) => {
    const base = { from_clip: a.clip, to_clip: b.clip, from_file: a.file, to_file: b.file };
    if (clip) {
      const cos = dot(clip.embeds[2 * i]!, clip.embeds[2 * i + 1]!);
      return { ...base, raw: cos, value: clamp100(normalizeUnclamped(cos, CONTINUITY_CLIP_RANGE)) };
    }
    const p = pixelContinuity(a.boundary.last, b.boundary.first);
    return { ...base, raw: p.raw, value: clamp100(100 * p.raw), detail: { histogram_intersection: p.histogram, pixel_similarity: p.pixels } };
  });
  const mean = pairs.length ? pairs.reduce((x, p) => x + p.value, 0) / pairs.length : null;
  return {
    how: clip ? `${CONTINUITY_CLIP_METHOD} (${clip.model_id}); 0–100: cos 0.5 → 0, 1 → 100` : `${CONTINUITY_SUBSTITUTE}; 0–100: 100·raw`,
    substitute: !clip,
    model_id: clip ? clip.model_id : 'histogram-pixel-continuity-v1',
    pairs,
    mean,
    ...(clip ? {} : { clip_unavailable: why }),
  };
}
