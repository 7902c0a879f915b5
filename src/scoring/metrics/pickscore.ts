import { toScale, type AnchorRange } from '../anchors.js';
import { dot } from '../clip.js';
import type { MetricResult } from '../types.js';

/**
 * PickScore: logit_scale·cos between the PickScore CLIP-H image and text embeddings (≈100·cos).
 * An absolute per-image value; the softmax over a set is a relative preference and is never used.
 */
export function pickScore(
  imageEmbed: Float32Array,
  textEmbed: Float32Array,
  logitScale: { value: number; source: string },
  modelId: string,
  hashes: Record<string, string>,
  anchors: AnchorRange,
): MetricResult {
  const cos = dot(imageEmbed, textEmbed);
  const raw = logitScale.value * cos;
  return {
    available: true,
    raw,
    ...toScale(raw, anchors),
    model_id: modelId,
    file_hashes: hashes,
    detail: { cosine: cos, logit_scale: logitScale.value, logit_scale_source: logitScale.source },
  };
}
