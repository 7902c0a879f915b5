/**
 * The overall score: a weighted mean of the normalised model metrics that are available for every
 * image of the set, with the weights re-normalised over those. With no model metric at all the
 * overall falls back to technical quality, and `weights_used` says so.
 */
import type { MetricResult } from './types.js';

export const MODEL_METRICS = ['pickscore', 'clip_score', 'vqa_score', 'aesthetic'] as const;

export interface Combined {
  overall: number | null;
  weights_used: Record<string, number>;
}

/** Metrics available for all of the given images (one overall formula for a whole ranked set). */
export function commonMetrics(sets: Record<string, MetricResult>[], weights: Record<string, number>): string[] {
  return MODEL_METRICS.filter((m) => (weights[m] ?? 0) > 0 && sets.length > 0 && sets.every((s) => s[m]?.available === true));
}

export function combine(metrics: Record<string, MetricResult>, weights: Record<string, number>, usable: readonly string[]): Combined {
  const use = usable.filter((m) => metrics[m]?.available && (weights[m] ?? 0) > 0);
  if (use.length === 0) {
    const t = metrics.technical;
    return t?.available ? { overall: t.normalized, weights_used: { technical: 1 } } : { overall: null, weights_used: {} };
  }
  const total = use.reduce((a, m) => a + weights[m]!, 0);
  const weights_used: Record<string, number> = {};
  let overall = 0;
  for (const m of use) {
    const w = weights[m]! / total;
    weights_used[m] = w;
    overall += w * (metrics[m] as Extract<MetricResult, { available: true }>).normalized;
  }
  return { overall: Math.min(100, Math.max(0, overall)), weights_used };
}
