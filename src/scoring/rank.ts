/**
 * Placeholder so that callers compile; the scoring issue replaces it with the real implementation
 * (same exported names and signatures).
 */
import type { Logger } from '../lib/log.js';

export interface ScoreDirOptions {
  /** Prompt to score against; default: the prompt recorded in generation_trace.json. */
  prompt?: string;
  device?: string; // cpu | cuda | cuda:N
  modelsDir?: string;
  logger?: Logger;
  onProgress?: (done: number, total: number) => void;
}

export interface RankedImage {
  rank: number;
  file: string; // file name after renaming, e.g. image_001.png
  seed: number;
  overall: number | null;
  metrics: Record<string, number | null>; // normalised 0–100 per metric, null = unavailable
}

export interface RankResult {
  images: RankedImage[];
  best: string | null;
  unscorable: { file: string; reason: string }[];
  metrics_available: string[];
  metrics_unavailable: Record<string, string>;
  weights_used: Record<string, number>;
}

/** Score every image of a generation directory, rank, rename by rank, rewrite metadata + trace. */
export async function scoreGenerationDir(_dir: string, _opts: ScoreDirOptions = {}): Promise<RankResult> {
  throw new Error('image scoring is not implemented yet');
}
