/**
 * Technical image quality without any model: sharpness, exposure, contrast, colourfulness and
 * noise from the decoded pixels (sharp), each mapped to 0–100 and combined. Always available.
 */
import { clamp100, normalizeUnclamped, type Anchors } from '../anchors.js';
import type { MetricResult } from '../types.js';

export interface TechnicalParts {
  sharpness: number;
  exposure: number;
  contrast: number;
  colourfulness: number;
  noise: number;
}

/** Analyse at most 512 px on the long side: the statistics are stable and it stays fast. */
const ANALYSIS_SIDE = 512;

export async function technicalQuality(bytes: Uint8Array, anchors: Anchors): Promise<MetricResult> {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(bytes, { failOn: 'error' })
    .removeAlpha()
    .toColourspace('srgb')
    .resize(ANALYSIS_SIDE, ANALYSIS_SIDE, { fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = info;
  const n = w * h;
  const Y = new Float32Array(n);
  let sumY = 0, sumY2 = 0, clipped = 0;
  let sRg = 0, sRg2 = 0, sYb = 0, sYb2 = 0;
  for (let i = 0; i < n; i++) {
    const r = data[i * 3]!, g = data[i * 3 + 1]!, b = data[i * 3 + 2]!;
    const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    Y[i] = y;
    sumY += y;
    sumY2 += y * y;
    if (y <= 2 || y >= 253) clipped++;
    const rg = r - g, yb = 0.5 * (r + g) - b;
    sRg += rg; sRg2 += rg * rg; sYb += yb; sYb2 += yb * yb;
  }
  const meanY = sumY / n;
  const stdY = Math.sqrt(Math.max(0, sumY2 / n - meanY * meanY));
  const mRg = sRg / n, mYb = sYb / n;
  const colourM =
    Math.sqrt(Math.max(0, sRg2 / n - mRg * mRg) + Math.max(0, sYb2 / n - mYb * mYb)) + 0.3 * Math.sqrt(mRg * mRg + mYb * mYb);
  // Laplacian variance (sharpness) and Immerkær's noise estimate, on interior pixels
  let lapSum = 0, lapSum2 = 0, noiseAbs = 0, m = 0;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const c = Y[i]!, up = Y[i - w]!, dn = Y[i + w]!, lf = Y[i - 1]!, rt = Y[i + 1]!;
      const lap = up + dn + lf + rt - 4 * c;
      lapSum += lap; lapSum2 += lap * lap;
      const diag = Y[i - w - 1]! + Y[i - w + 1]! + Y[i + w - 1]! + Y[i + w + 1]!;
      noiseAbs += Math.abs(diag - 2 * (up + dn + lf + rt) + 4 * c);
      m++;
    }
  const lapVar = m ? lapSum2 / m - (lapSum / m) ** 2 : 0;
  const sigma = m ? (Math.sqrt(Math.PI / 2) / 6) * (noiseAbs / m) : 0;
  const t = anchors.technical;
  // unclamped parts keep the order beyond the anchors (the ranking key); clamped ones are shown
  const free: TechnicalParts = {
    sharpness: normalizeUnclamped(Math.log10(1 + Math.max(0, lapVar)), t.sharpness),
    exposure: Math.max(0, 100 * (1 - Math.abs(meanY / 255 - 0.5) * 2) * (1 - clipped / n)),
    contrast: normalizeUnclamped(stdY / 255, t.contrast),
    colourfulness: normalizeUnclamped(colourM, t.colourfulness),
    noise: 100 - normalizeUnclamped(sigma, t.noise),
  };
  const keys = Object.keys(free) as (keyof TechnicalParts)[];
  const parts = Object.fromEntries(keys.map((k) => [k, clamp100(free[k])])) as unknown as TechnicalParts;
  const wsum = Object.values(t.weights).reduce((a, b) => a + b, 0);
  const weighted = (p: TechnicalParts) => keys.reduce((a, k) => a + p[k] * t.weights[k], 0) / wsum;
  const score = weighted(parts);
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    available: true,
    raw: score,
    normalized: clamp100(score),
    normalized_unclamped: weighted(free),
    model_id: 'technical-stats-v1',
    file_hashes: {},
    detail: {
      parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v)])),
      measures: { mean_luma: round(meanY), std_luma: round(stdY), laplacian_var: round(lapVar), noise_sigma: round(sigma), colourfulness_m: round(colourM), clipped_fraction: round(clipped / n) },
      analysed_size: [w, h],
    },
  };
}
