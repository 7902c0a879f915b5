import { z } from 'zod';

/**
 * Score contract shared by the scoring stage (writer) and generation metadata / console (readers).
 * Every metric is either available with raw + 0–100 normalised values, or unavailable with why.
 */
export const METRIC_IDS = ['pickscore', 'clip_score', 'vqa_score', 'aesthetic', 'technical'] as const;
export type MetricId = (typeof METRIC_IDS)[number];

export const MetricResultSchema = z.discriminatedUnion('available', [
  z.object({
    available: z.literal(true),
    raw: z.number(),
    normalized: z.number().min(0).max(100),
    /** The same linear map without the clamp: the ranking key's input (absent in older files). */
    normalized_unclamped: z.number().optional(),
    model_id: z.string(),
    /** sha256 of each model file used, by relative path; empty for model-free metrics. */
    file_hashes: z.record(z.string(), z.string()),
    detail: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({ available: z.literal(false), reason: z.string() }),
]);
export type MetricResult = z.infer<typeof MetricResultSchema>;

export const ImageScoresSchema = z.object({
  /** Weighted overall (0–100) over the available model metrics; null when none is available. */
  overall: z.number().min(0).max(100).nullable(),
  /**
   * What images are ranked by: `overall` computed from the unclamped metric values, same weights.
   * Equals `overall` while every metric stays within its anchors; beyond them it keeps the order
   * that clamping to 100 (or 0) would lose. Absent in files scored before it existed.
   */
  rank_key: z.number().nullable().optional(),
  metrics: z.record(z.string(), MetricResultSchema),
  /** The weights that made `overall`, re-normalised over the metrics that existed. */
  weights_used: z.record(z.string(), z.number()),
  /** Version of the normalisation anchors (src/scoring/anchors.json). */
  anchors_version: z.string(),
  prompt_truncated: z.boolean().optional(),
  scored_at: z.string(),
});
export type ImageScores = z.infer<typeof ImageScoresSchema>;
