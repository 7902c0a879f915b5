/**
 * The overall score: a weighted mean of the normalised model metrics that are available for every
 * image of the set, with the weights re-normalised over those. With no model metric at all the
 * overall falls back to technical quality, and `weights_used` says so.
 */
import type { MetricResult } from './types.js';

export const MODEL_METRICS = ['pickscore', 'clip_score', 'vqa_score', 'aesthetic'] as const;

export interface Combined {
  overall: number | null;
  /** The same weighted mean over the unclamped metric values: what images are ranked by. */
  rank_key: number | null;
  weights_used: Record<string, number>;
}

type Available = Extract<MetricResult, { available: true }>;
/** Older results have no unclamped value; their clamped one is the best key there is. */
const unclamped = (r: Available) => r.normalized_unclamped ?? r.normalized;

/** Metrics available for all of the given images (one overall formula for a whole ranked set). */
export function commonMetrics(sets: Record<string, MetricResult>[], weights: Record<string, number>): string[] {
  return MODEL_METRICS.filter((m) => (weights[m] ?? 0) > 0 && sets.length > 0 && sets.every((s) => s[m]?.available === true));
}

export function combine(metrics: Record<string, MetricResult>, weights: Record<string, number>, usable: readonly string[]): Combined {
  const use = usable.filter((m) => metrics[m]?.available && (weights[m] ?? 0) > 0);
  if (use.length === 0) {
    const t = metrics.technical;
    return t?.available ? { overall: t.normalized, rank_key: unclamped(t), weights_used: { technical: 1 } } : { overall: null, rank_key: null, weights_used: {} };
  }
  const total = use.reduce((a, m) => a + weights[m]!, 0);
  const weights_used: Record<string, number> = {};
  let overall = 0;
  let key = 0;
  for (const m of use) {
    const w = weights[m]! / total;
    const r = metrics[m] as Available;
    weights_used[m] = w;
    overall += w * r.normalized;
    key += w * unclamped(r);
  }
  return { overall: Math.min(100, Math.max(0, overall)), rank_key: key, weights_used };
}
