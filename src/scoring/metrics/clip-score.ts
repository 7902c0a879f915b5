import { toScale, type AnchorRange } from '../anchors.js';
import { dot } from '../clip.js';
import type { MetricResult } from '../types.js';

/** CLIPScore as torchmetrics defines it: 100·max(cos, 0) of the normalised embeddings. */
export function clipScore(imageEmbed: Float32Array, textEmbed: Float32Array, modelId: string, hashes: Record<string, string>, anchors: AnchorRange): MetricResult {
  const cos = dot(imageEmbed, textEmbed);
  const raw = 100 * Math.max(cos, 0);
  return { available: true, raw, ...toScale(raw, anchors), model_id: modelId, file_hashes: hashes, detail: { cosine: cos } };
}
