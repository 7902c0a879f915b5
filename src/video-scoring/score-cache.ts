/**
 * Video scores in the content-addressed cache (src/cache/generation-cache.ts, kind `video-score`):
 * a re-run, a resume or a retry that meets the same video bytes again reuses their scores instead
 * of decoding, running the models and paying the VQA model a second time.
 *
 * KEY. sha256 of the canonical JSON of everything that decides one video's dimensions: the video's
 * sha256, the prompt, whether boundary frames are kept, and the scorer's identity (a hash
 * of the scoring code itself, the anchors, the frame plan's settings, the device, each loaded
 * model's id and file hashes, the VQA model and its frame count). The overall is not in an entry:
 * it depends on the whole set and is recomputed from the dimensions every time.
 *
 * ENTRY. The bytes are gzipped JSON: the video's scores and, when kept, its first and last frames
 * (raw RGB at the working size, for storyboard continuity). Only clean results are stored: a video
 * that could not be scored, or one where a model run or a VQA request failed, is scored again next
 * time. A hit costs nothing; its scores say `cache: { status: 'hit', original_cost_usd, … }`.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { KEY_VERSION, rendererFingerprint, type GenerationCache } from '../cache/generation-cache.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { sha256Hex } from '../lib/hash.js';
import type { BoundaryFrames } from './continuity.js';
import type { VideoScores } from './score.js';

export interface ScoreCacheHit {
  scores: VideoScores;
  boundary?: BoundaryFrames;
}

const FrameSchema = z.object({ width: z.number().int().positive(), height: z.number().int().positive(), rgb: z.string() });
const EntrySchema = z.object({
  schema_version: z.literal(1),
  scores: z.record(z.string(), z.unknown()),
  boundary: z.object({ first: FrameSchema, last: FrameSchema }).nullable(),
});

export interface ScoreKeyInput {
  /** The scorer's identity (VideoScorer.identity()). */
  identity: Record<string, unknown>;
  video: { sha256: string };
  prompt: string | null;
  boundary: boolean;
}

export function videoScoreKey(i: ScoreKeyInput): { key: string; inputs: Record<string, unknown> } {
  const inputs = { v: KEY_VERSION, kind: 'video-score', scorer: i.identity, video: i.video, prompt: i.prompt, boundary: i.boundary };
  return { key: sha256Hex(canonicalJson(inputs)), inputs };
}

/** A hash of the scoring code (what turns frames into dimensions): a change to it misses. */
export const scoringCodeFingerprint = () => rendererFingerprint('video-scoring');

/** The stored scores, or null (absent, corrupt, or written by a scorer of another shape). */
export async function lookupVideoScore(cache: GenerationCache, key: string): Promise<ScoreCacheHit | null> {
  const got = await cache.get(key);
  if (got.status !== 'hit' || got.record.kind !== 'video-score') return null;
  let entry: z.infer<typeof EntrySchema>;
  try {
    entry = EntrySchema.parse(JSON.parse(gunzipSync(got.bytes).toString('utf8')));
  } catch {
    return null; // the bytes match their sha256 but not this shape: score again, the miss rewrites it
  }
  const frame = (f: z.infer<typeof FrameSchema>) => ({ width: f.width, height: f.height, rgb: Buffer.from(f.rgb, 'base64') });
  const scores = entry.scores as unknown as VideoScores;
  const original = scores.cost_usd;
  return {
    scores: { ...scores, cost_usd: 0, cache: { status: 'hit', key, original_cost_usd: original, cached_at: got.record.created_at } },
    ...(entry.boundary ? { boundary: { first: frame(entry.boundary.first), last: frame(entry.boundary.last) } } : {}),
  };
}

export async function storeVideoScore(cache: GenerationCache, k: { key: string; inputs: Record<string, unknown> }, scores: VideoScores, boundary: BoundaryFrames | undefined): Promise<void> {
  const frame = (f: BoundaryFrames['first']) => ({ width: f.width, height: f.height, rgb: Buffer.from(f.rgb.buffer, f.rgb.byteOffset, f.rgb.byteLength).toString('base64') });
  const { cache: _mark, ...plain } = scores;
  const entry = { schema_version: 1 as const, scores: plain, boundary: boundary ? { first: frame(boundary.first), last: frame(boundary.last) } : null };
  await cache.put(k.key, gzipSync(JSON.stringify(entry), { level: 1 }), {
    kind: 'video-score',
    backend: 'video-scoring',
    original_cost_usd: scores.cost_usd,
    inputs: k.inputs,
    result: { dimensions_available: Object.entries(scores.dimensions).filter(([, d]) => d.available).map(([id]) => id) },
  });
}
