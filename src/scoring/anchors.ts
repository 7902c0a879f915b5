import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { dataFile } from '../lib/paths.js';

const Range = z.object({ lo: z.number(), hi: z.number(), unit: z.string().optional() }).refine((r) => r.hi > r.lo, 'hi must exceed lo');

export const AnchorsSchema = z.object({
  version: z.string().min(1),
  note: z.string().optional(),
  weights: z.record(z.string(), z.number().nonnegative()),
  metrics: z.object({ pickscore: Range, clip_score: Range, vqa_score: Range, aesthetic: Range }),
  technical: z.object({
    weights: z.object({
      sharpness: z.number(),
      exposure: z.number(),
      contrast: z.number(),
      noise: z.number(),
      colourfulness: z.number(),
    }),
    sharpness: Range,
    contrast: Range,
    colourfulness: Range,
    noise: Range,
  }),
});
export type Anchors = z.infer<typeof AnchorsSchema>;
export type AnchorRange = { lo: number; hi: number };

let cached: Anchors | undefined;
/** The versioned anchors file (src/scoring/anchors.json), validated once. */
export function loadAnchors(path = dataFile('src', 'scoring', 'anchors.json')): Anchors {
  if (cached && path === dataFile('src', 'scoring', 'anchors.json')) return cached;
  const a = AnchorsSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  if (path === dataFile('src', 'scoring', 'anchors.json')) cached = a;
  return a;
}

/**
 * The linear map of raw onto the anchors' scale (lo → 0, hi → 100), not clamped: the ranking key
 * uses it so that two values beyond an anchor keep their order.
 */
export function normalizeUnclamped(raw: number, r: AnchorRange): number {
  return ((raw - r.lo) / (r.hi - r.lo)) * 100;
}

export const clamp100 = (v: number) => Math.min(100, Math.max(0, v));

/** Linear map of raw onto 0–100 between the anchors, clamped (for display and the overall). */
export function normalize(raw: number, r: AnchorRange): number {
  return clamp100(normalizeUnclamped(raw, r));
}

/** Both values a metric reports for one raw value. */
export function toScale(raw: number, r: AnchorRange): { normalized: number; normalized_unclamped: number } {
  return { normalized: normalize(raw, r), normalized_unclamped: normalizeUnclamped(raw, r) };
}
