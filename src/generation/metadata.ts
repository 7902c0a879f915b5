import { z } from 'zod';
import { CacheInfoSchema } from '../cache/cache-info.js';
import { ImageScoresSchema } from '../scoring/types.js';

/**
 * On-disk contract of an image generation directory (seed: "Image Generation Directory"):
 *   image_001.png …, image_NNN_metadata.json, generation_trace.json.
 * Written by the generation stage, updated (scores, rank, renames) by the scoring stage.
 */
/**
 * The ratios generation accepts: FLUX's `aspect_ratio` choices on Replicate (cog-flux), each with
 * its ~1 MP size in SIZE_TABLE (src/generation/sizes.ts), which SDXL gets as width/height.
 */
export const ASPECT_RATIOS = ['1:1', '4:3', '3:4', '16:9', '9:16', '3:2', '2:3', '4:5', '5:4', '21:9', '9:21'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];
export const isAspectRatio = (s: string): s is AspectRatio => (ASPECT_RATIOS as readonly string[]).includes(s);

/** The last ratio generation accepts that a prompt names ("Framed for a 4:5 vertical aspect ratio."), or null. */
export function aspectRatioIn(text: string): AspectRatio | null {
  const found = [...text.matchAll(/(?<![\d.:])(\d{1,2}:\d{1,2})(?![\d:])/g)].map((m) => m[1]!).filter(isAspectRatio);
  return found.at(-1) ?? null;
}

export const imageFileName = (n: number) => `image_${String(n).padStart(3, '0')}.png`;
export const metadataFileName = (n: number) => `image_${String(n).padStart(3, '0')}_metadata.json`;
export const GENERATION_TRACE = 'generation_trace.json';

export const ImageMetadataSchema = z.object({
  schema_version: z.literal(1),
  file: z.string(), // current file name, e.g. image_001.png
  /** 1 = best; null until scored. Files are numbered by rank once scored. */
  rank: z.number().int().positive().nullable(),
  /** 1-based order in which the variation was requested (stable across renames). */
  variation: z.number().int().positive(),
  prompt: z.string(),
  negative_prompt: z.string().nullable(),
  backend: z.enum(['sketch', 'replicate']),
  model: z.string(),
  seed: z.number().int().nonnegative(),
  aspect_ratio: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  sha256: z.string(),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
  cost_usd: z.number().nonnegative().nullable(),
  /** Provider detail: prediction id, attempts, fallback used, … (never a secret). */
  provider: z.record(z.string(), z.unknown()),
  /** The generation cache: hit (cost 0 this time), miss (made and stored) or bypassed (--no-cache), with the key. */
  cache: CacheInfoSchema.optional(),
  scores: ImageScoresSchema.nullable(),
});
export type ImageMetadata = z.infer<typeof ImageMetadataSchema>;

export const VariationFailureSchema = z.object({
  variation: z.number().int().positive(),
  seed: z.number().int().nonnegative(),
  reason: z.string(),
  attempts: z.number().int().nonnegative(),
  models_tried: z.array(z.string()),
});

export const GenerationTraceSchema = z.object({
  schema_version: z.literal(1),
  backend: z.enum(['sketch', 'replicate']),
  /** What the backend is, in words (the sketch backend says it is a previz aid, not a model). */
  backend_note: z.string(),
  prompt: z.string(),
  negative_prompt: z.string().nullable(),
  prompt_source: z.string(),
  model: z.string(),
  fallback_models: z.array(z.string()),
  aspect_ratio: z.string(),
  num_variations: z.number().int().positive(),
  seeds: z.array(z.number().int().nonnegative()),
  seed_source: z.enum(['user', 'drawn']),
  /** 'rank' once scored; 'generation' with --skip-scoring or no scorer. */
  ordering: z.enum(['rank', 'generation']),
  ordering_note: z.string().optional(),
  images: z.array(ImageMetadataSchema),
  failures: z.array(VariationFailureSchema),
  /** How many of `images` came from the generation cache (nothing paid for them this time). */
  from_cache: z.number().int().nonnegative().optional(),
  best: z.string().nullable(),
  scoring: z.record(z.string(), z.unknown()).nullable(),
  cost: z.record(z.string(), z.unknown()),
  timings: z.array(z.record(z.string(), z.unknown())),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
});
export type GenerationTrace = z.infer<typeof GenerationTraceSchema>;
