/**
 * The video dimensions, VBench-style. Each is computed from the frames decoded once (frames.ts) by
 * a small accumulator that keeps only what it needs (running sums, the previous frame or
 * embedding, the first embedding), and reports either
 *   { available: true, raw, value (0–100, clamped), value_unclamped, how, substitute, ... }
 * or { available: false, reason }.
 *
 * | dimension              | raw                                                        | 0–100                       | substitute |
 * |------------------------|------------------------------------------------------------|-----------------------------|------------|
 * | temporal_flickering    | VBench: (255 − mean |f_i − f_{i+1}|) / 255, all frames      | linear 0.90 → 0, 1.00 → 100 | no (formula kept; working size ≤ 512 px) |
 * | dynamic_degree         | VBench rule, 1 dynamic / 0 static                          | 100·min(1, count/count_num) | yes: block-matching flow for RAFT |
 * | motion_smoothness      | VBench: (255 − mean |interp − real odd|) / 255             | linear 0.90 → 0, 1.00 → 100 | yes: flow interpolation for AMT, 128 px frames |
 * | subject_consistency    | VBench formula on DINO ViT-B/16 CLS features               | linear 0.80 → 0, 1.00 → 100 | no (frames sampled at ~8 fps, ≤ 32) |
 * | background_consistency | VBench formula on CLIP image embeddings                    | linear 0.85 → 0, 1.00 → 100 | only when the CLIP is not ViT-B/32 |
 * | aesthetic_quality      | mean LAION aesthetic v2 score per frame (1–10; VBench /10) | anchors.json aesthetic 3 → 0, 8 → 100 | no |
 * | imaging_quality        | mean technical quality per frame (sharpness, noise, …)    | the technical score itself  | yes: for MUSIQ |
 * | text_alignment         | mean CLIPScore (100·max(cos, 0)) of prompt vs frames       | anchors.json clip_score 15 → 0, 35 → 100 | yes: for ViCLIP overall_consistency |
 * | text_alignment_vqa     | mean VQAScore P("Yes") over a few frames (vision chat LLM) | anchors.json vqa_score 0 → 0, 1 → 100 | not VBench: t2v_metrics' VQAScore, per frame |
 *
 * The 0–100 ranges of the VBench dimensions are heuristic spreads of generated clips (VBench's
 * published model results sit in 0.90–0.995 for flickering/smoothness, 0.85–0.98 for the
 * consistencies), not calibrated against human ratings; VIDEO_ANCHORS_VERSION changes whenever a
 * number does.
 */
import type { Anchors, AnchorRange } from '../scoring/anchors.js';
import { clamp100, normalizeUnclamped } from '../scoring/anchors.js';
import { dot } from '../scoring/clip.js';
import type { MetricResult } from '../scoring/types.js';
import { blockFlow, FLOW_METHOD, INTERPOLATION_METHOD, interpolateMidpoint, meanAbsDiff, topFractionMeanMagnitude } from './flow.js';
import { pyRound, type DecodedFrame, type FrameConsumer, type FramePlan } from './frames.js';

export const DIMENSION_IDS = [
  'temporal_flickering',
  'dynamic_degree',
  'motion_smoothness',
  'subject_consistency',
  'background_consistency',
  'aesthetic_quality',
  'imaging_quality',
  'text_alignment',
  'text_alignment_vqa',
] as const;
export type DimensionId = (typeof DIMENSION_IDS)[number];

export type DimensionResult =
  | {
      available: true;
      raw: number;
      /** 0–100, clamped (display and the overall). */
      value: number;
      /** The same map without the clamp (the rank key). */
      value_unclamped: number;
      how: string;
      substitute: boolean;
      model_id: string;
      file_hashes: Record<string, string>;
      detail?: Record<string, unknown>;
    }
  | { available: false; reason: string };

/**
 * Weights of the overall (re-normalised over the dimensions available for every video of a set).
 * Text alignment leads (an ad must show what was asked: CLIPScore on every sampled frame, VQAScore
 * on a few when a vision model is configured, as image scoring weighs them), then aesthetics; the temporal-quality
 * dimensions share the rest. dynamic_degree trades off against flickering and smoothness (a still
 * clip maximises both), so it keeps a weight of its own.
 */
export const VIDEO_WEIGHTS: Record<DimensionId, number> = {
  text_alignment: 25,
  text_alignment_vqa: 15,
  aesthetic_quality: 15,
  subject_consistency: 10,
  background_consistency: 10,
  motion_smoothness: 10,
  temporal_flickering: 10,
  imaging_quality: 10,
  dynamic_degree: 10,
};

export const VIDEO_ANCHORS_VERSION = 'video-2025.1';
export const VIDEO_ANCHORS: Record<'temporal_flickering' | 'motion_smoothness' | 'subject_consistency' | 'background_consistency', AnchorRange> = {
  temporal_flickering: { lo: 0.9, hi: 1.0 },
  motion_smoothness: { lo: 0.9, hi: 1.0 },
  subject_consistency: { lo: 0.8, hi: 1.0 },
  background_consistency: { lo: 0.85, hi: 1.0 },
};

/** VBench's CLIP for background_consistency. */
export const VBENCH_BACKGROUND_CLIP = 'clip-vit-base-patch32';

const unavailable = (reason: string): DimensionResult => ({ available: false, reason });
const r6 = (v: number) => Math.round(v * 1e6) / 1e6;

function scaled(raw: number, range: AnchorRange) {
  const u = normalizeUnclamped(raw, range);
  return { value: clamp100(u), value_unclamped: u };
}

// ---------------------------------------------------------------------------------------------
// Classical dimensions (always computed)

/** temporal_flickering: VBench's formula over consecutive pairs of all frames. */
export class FlickerAcc implements FrameConsumer {
  private prev: Buffer | null = null;
  private sum = 0;
  private pairs = 0;
  frame(f: DecodedFrame) {
    if (this.prev) {
      this.sum += meanAbsDiff(this.prev, f.rgb);
      this.pairs++;
      this.prev.set(f.rgb);
    } else this.prev = Buffer.from(f.rgb);
  }
  result(plan: FramePlan): DimensionResult {
    if (!this.pairs) return unavailable('needs at least 2 frames');
    const mae = this.sum / this.pairs;
    const raw = (255 - mae) / 255;
    const resized = plan.width !== plan.probe.width || plan.height !== plan.probe.height;
    return {
      available: true,
      raw,
      ...scaled(raw, VIDEO_ANCHORS.temporal_flickering),
      how: `VBench temporal_flickering: (255 − mean absolute difference of consecutive frames over all pixels and channels) / 255, averaged over all ${this.pairs} consecutive pairs${resized ? `, on frames decoded at ${plan.width}x${plan.height} (VBench: native ${plan.probe.width}x${plan.probe.height})` : ''}`,
      substitute: false,
      model_id: 'vbench-temporal-flickering',
      file_hashes: {},
      detail: { mean_abs_diff: r6(mae), pairs: this.pairs, analysed_size: [plan.width, plan.height] },
    };
  }
}

/** The motion scores of consecutive ~8 fps frames and VBench's dynamic rule over them. */
export class DynamicAcc implements FrameConsumer {
  private prev: Float32Array | null = null;
  private readonly scores: number[] = [];
  private sampled = 0;
  constructor(private readonly plan: FramePlan) {}
  frame(f: DecodedFrame) {
    if (!f.flowSample) return;
    this.sampled++;
    const g = f.grey();
    const { flowWidth: w, flowHeight: h } = this.plan;
    if (this.prev) this.scores.push(topFractionMeanMagnitude(blockFlow({ w, h, data: this.prev }, { w, h, data: g })));
    this.prev = g;
  }
  result(): DimensionResult {
    const n = this.sampled;
    if (n < 2) return unavailable(`needs at least 2 frames at the ~${8} fps sampling (got ${n})`);
    const { flowWidth: w, flowHeight: h, flowInterval } = this.plan;
    const thres = 6 * (Math.min(w, h) / 256);
    const countNum = pyRound(4 * (n / 16));
    const considered = this.scores.slice(0, -2);
    const count = considered.filter((s) => s > thres).length;
    const dynamic = considered.length > 0 && count >= countNum;
    const value = countNum > 0 ? 100 * Math.min(1, count / countNum) : dynamic ? 100 : 0;
    return {
      available: true,
      raw: dynamic ? 1 : 0,
      value,
      value_unclamped: value,
      how:
        `VBench dynamic_degree rule on ${FLOW_METHOD}: every round(fps/8) = ${flowInterval}th frame (${n} frames, ${w}x${h}); ` +
        `per pair the mean of the top 5% flow magnitudes; dynamic when at least count_num = round(4·n/16) = ${countNum} of the pair scores ` +
        `(all but the last two, as VBench's check_move) exceed 6·min(H,W)/256 = ${thres.toFixed(3)} px. raw: 1 dynamic, 0 static; 0–100: 100·min(1, count/count_num)`,
      substitute: true,
      model_id: 'block-matching-flow-v1',
      file_hashes: {},
      detail: {
        dynamic,
        count,
        count_num: countNum,
        threshold_px: r6(thres),
        frames_sampled: n,
        pair_scores: this.scores.map(r6),
        flow_size: [w, h],
      },
    };
  }
}

/** motion_smoothness: drop the odd frames, interpolate them from the even neighbours, compare. */
export class SmoothnessAcc implements FrameConsumer {
  private lastEven: { rgb: Uint8Array; grey: Float32Array } | null = null;
  private odd: Uint8Array | null = null;
  private sum = 0;
  private n = 0;
  constructor(private readonly plan: FramePlan) {}
  frame(f: DecodedFrame) {
    const { flowWidth: w, flowHeight: h } = this.plan;
    if (f.index % 2 === 1) {
      this.odd = f.small();
      return;
    }
    const cur = { rgb: f.small(), grey: f.grey() };
    if (this.lastEven && this.odd) {
      const mid = interpolateMidpoint(this.lastEven.rgb, cur.rgb, w, h, this.lastEven.grey, cur.grey);
      this.sum += meanAbsDiff(mid, this.odd);
      this.n++;
    }
    this.lastEven = cur;
    this.odd = null;
  }
  result(): DimensionResult {
    if (!this.n) return unavailable('needs at least 3 frames');
    const mae = this.sum / this.n;
    const raw = (255 - mae) / 255;
    const { flowWidth: w, flowHeight: h } = this.plan;
    return {
      available: true,
      raw,
      ...scaled(raw, VIDEO_ANCHORS.motion_smoothness),
      how: `VBench motion_smoothness hold-out: the odd frames are dropped, re-made from their even neighbours by ${INTERPOLATION_METHOD}, and compared with the real ones: (255 − mean absolute difference) / 255 over ${this.n} frames, at ${w}x${h}`,
      substitute: true,
      model_id: 'block-matching-interpolation-v1',
      file_hashes: {},
      detail: { mean_abs_diff: r6(mae), frames_compared: this.n, analysed_size: [w, h] },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Model dimensions: fed with embeddings in frame order

/** VBench's consistency: frame i ≥ 1 scores (max(0, cos(prev)) + max(0, cos(first))) / 2; the mean over frames. */
export class ConsistencyAcc {
  private first: Float32Array | null = null;
  private prev: Float32Array | null = null;
  private sum = 0;
  n = 0;
  /** `e` must be L2-normalised. */
  push(e: Float32Array) {
    if (!this.first) this.first = e;
    else {
      const simPre = Math.max(0, dot(this.prev!, e));
      const simFir = Math.max(0, dot(this.first, e));
      this.sum += (simPre + simFir) / 2;
      this.n++;
    }
    this.prev = e;
  }
  get mean(): number | null {
    return this.n ? this.sum / this.n : null;
  }
}

export function consistencyResult(
  acc: ConsistencyAcc,
  which: 'subject_consistency' | 'background_consistency',
  model: { id: string; fileHashes: Record<string, string>; what: string },
  plan: FramePlan,
  substituteNote: string | null,
): DimensionResult {
  const raw = acc.mean;
  if (raw === null) return unavailable('needs at least 2 sampled frames');
  return {
    available: true,
    raw,
    ...scaled(raw, VIDEO_ANCHORS[which]),
    how:
      `VBench ${which}: per frame (max(0, cos to the previous frame) + max(0, cos to the first frame)) / 2 on ${model.what}, ` +
      `averaged over ${acc.n} frames after the first (frames every ${plan.modelInterval} of the video's; VBench uses every frame)` +
      (substituteNote ? `; ${substituteNote}` : ''),
    substitute: substituteNote !== null,
    model_id: model.id,
    file_hashes: model.fileHashes,
    detail: { frames_compared: acc.n + 1, frame_interval: plan.modelInterval },
  };
}

/** A running mean of per-frame values (aesthetic, CLIPScore, technical). */
export class MeanAcc {
  sum = 0;
  sumU = 0;
  n = 0;
  min = Infinity;
  max = -Infinity;
  add(v: number, unclamped = v) {
    this.sum += v;
    this.sumU += unclamped;
    this.n++;
    this.min = Math.min(this.min, v);
    this.max = Math.max(this.max, v);
  }
  get mean() {
    return this.n ? this.sum / this.n : null;
  }
}

export function aestheticResult(acc: MeanAcc, anchors: Anchors, model: { id: string; fileHashes: Record<string, string> }): DimensionResult {
  const raw = acc.mean;
  if (raw === null) return unavailable('no frame reached the aesthetic head');
  return {
    available: true,
    raw,
    ...scaled(raw, anchors.metrics.aesthetic),
    how: `LAION aesthetic predictor v2 on each sampled frame's CLIP ViT-L/14 embedding, mean over ${acc.n} frames (1–10; VBench reports it /10: ${(raw / 10).toFixed(4)})`,
    substitute: false,
    model_id: model.id,
    file_hashes: model.fileHashes,
    detail: { vbench_value: r6(raw / 10), frames: acc.n, min: r6(acc.min), max: r6(acc.max) },
  };
}

export function textAlignmentResult(acc: MeanAcc, anchors: Anchors, model: { id: string; fileHashes: Record<string, string> }, truncated: boolean): DimensionResult {
  const raw = acc.mean;
  if (raw === null) return unavailable('no frame reached CLIP');
  return {
    available: true,
    raw,
    ...scaled(raw, anchors.metrics.clip_score),
    how: `CLIPScore (100·max(cos, 0)) of the prompt against each sampled frame (${model.id}), mean over ${acc.n} frames; a frame-based substitute for VBench's video-text overall_consistency (ViCLIP)`,
    substitute: true,
    model_id: model.id,
    file_hashes: model.fileHashes,
    detail: { frames: acc.n, min: r6(acc.min), max: r6(acc.max), prompt_truncated: truncated },
  };
}

/**
 * text_alignment_vqa from the VQAScore of each asked frame. Every asked frame must have an answer:
 * a mean over the frames that happened to get one would rank a video on fewer looks than its
 * rivals, so one failed request makes the dimension unavailable with that request's reason.
 */
export function vqaAlignmentResult(asked: { index: number; result: MetricResult }[], anchors: Anchors, model: string): DimensionResult {
  if (!asked.length) return unavailable('no frame was sent to the VQA model');
  const failed = asked.find((a) => !a.result.available);
  if (failed && !failed.result.available) return unavailable(`frame ${failed.index}: ${failed.result.reason}`);
  const ok = asked.map((a) => ({ index: a.index, r: a.result as Extract<MetricResult, { available: true }> }));
  const raw = ok.reduce((a, x) => a + x.r.raw, 0) / ok.length;
  const costs = ok.map((x) => x.r.detail?.cost_usd as number | null | undefined);
  return {
    available: true,
    raw,
    ...scaled(raw, anchors.metrics.vqa_score),
    how: `VQAScore: P("Yes") from ${model} asked ${JSON.stringify(String(ok[0]!.r.detail?.question ?? ''))} of ${ok.length} frames spread evenly over the clip (the centre of each of ${ok.length} equal segments), mean; per frame, as t2v_metrics scores an image model on video`,
    substitute: false,
    model_id: model,
    file_hashes: {},
    detail: {
      frames: ok.map((x) => x.index),
      p_yes: ok.map((x) => r6(x.r.raw)),
      min: r6(Math.min(...ok.map((x) => x.r.raw))),
      max: r6(Math.max(...ok.map((x) => x.r.raw))),
      input_tokens: ok.reduce((a, x) => a + Number(x.r.detail?.input_tokens ?? 0), 0),
      output_tokens: ok.reduce((a, x) => a + Number(x.r.detail?.output_tokens ?? 0), 0),
      // null: a model without a price in prices.json (the total is then a lower bound)
      cost_usd: costs.some((c) => c === null || c === undefined) ? null : r6(costs.reduce<number>((a, c) => a + (c ?? 0), 0)),
    },
  };
}

/** imaging_quality from the technical image metric per sampled frame (its 0–100 score, averaged). */
export function imagingResult(acc: MeanAcc, parts: Record<string, MeanAcc>): DimensionResult {
  const raw = acc.mean;
  if (raw === null) return unavailable('no frame was measured');
  return {
    available: true,
    raw,
    value: clamp100(raw),
    value_unclamped: acc.sumU / acc.n,
    how: `technical substitute for VBench's MUSIQ imaging_quality: the image scorer's technical quality (sharpness, noise, exposure, contrast, colourfulness) of each sampled frame, mean over ${acc.n} frames`,
    substitute: true,
    model_id: 'technical-stats-v1',
    file_hashes: {},
    detail: { frames: acc.n, parts: Object.fromEntries(Object.entries(parts).map(([k, a]) => [k, a.mean === null ? null : r6(a.mean)])) },
  };
}

/** Adds one frame's technical MetricResult to the imaging accumulators. */
export function addTechnical(acc: MeanAcc, parts: Record<string, MeanAcc>, t: MetricResult) {
  if (!t.available) return;
  acc.add(t.normalized, t.normalized_unclamped ?? t.normalized);
  const p = (t.detail?.parts ?? {}) as Record<string, number>;
  for (const [k, v] of Object.entries(p)) (parts[k] ??= new MeanAcc()).add(v);
}

export { unavailable as unavailableDimension };

// ---------------------------------------------------------------------------------------------
// The overall

type Available = Extract<DimensionResult, { available: true }>;

/** Dimensions with a weight that are available for every video of the set. */
export function commonDimensions(sets: Partial<Record<DimensionId, DimensionResult>>[], weights: Partial<Record<string, number>>): DimensionId[] {
  return DIMENSION_IDS.filter((d) => (weights[d] ?? 0) > 0 && sets.length > 0 && sets.every((s) => s[d]?.available === true));
}

export interface VideoCombined {
  overall: number | null;
  rank_key: number | null;
  weights_used: Partial<Record<DimensionId, number>>;
}

/** Weighted mean of the 0–100 values over `usable`, weights re-normalised; rank_key from the unclamped values. */
export function combineDimensions(dims: Partial<Record<DimensionId, DimensionResult>>, weights: Partial<Record<string, number>>, usable: readonly DimensionId[]): VideoCombined {
  const use = usable.filter((d) => dims[d]?.available && (weights[d] ?? 0) > 0);
  if (!use.length) return { overall: null, rank_key: null, weights_used: {} };
  const total = use.reduce((a, d) => a + weights[d]!, 0);
  const weights_used: Partial<Record<DimensionId, number>> = {};
  let overall = 0, key = 0;
  for (const d of use) {
    const w = weights[d]! / total;
    const r = dims[d] as Available;
    weights_used[d] = w;
    overall += w * r.value;
    key += w * r.value_unclamped;
  }
  return { overall: clamp100(overall), rank_key: key, weights_used };
}

export const OVERALL_NOTE =
  'overall = weighted mean of the 0–100 dimension values available for every video of the set, weights re-normalised over those; several dimensions use named substitutes (classical flow for RAFT/AMT, technical stats for MUSIQ, CLIPScore for ViCLIP) and VQAScore is not a VBench dimension, so this is not a VBench total';
