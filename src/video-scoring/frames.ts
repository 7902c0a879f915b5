/**
 * Decode once. A video goes through ONE ffmpeg pipe (src/video/ffmpeg.ts `decodeFrames`) at a
 * working size (long side at most 512 px, never upscaled), at its own frame rate, and every
 * dimension reads the same frames as they stream past:
 *   - every frame at the working size: temporal flickering (consecutive pairs);
 *   - every frame at the flow size (about 128 px wide, area-averaged, 8-bit RGB + luma): motion
 *     smoothness (VBench's even/odd hold-out over all frames);
 *   - every `flowInterval`-th frame (VBench's dynamic_degree sampling, interval = round(fps / 8),
 *     about 8 fps): dynamic degree;
 *   - every `modelInterval`-th frame (the 8 fps frames, thinned so that at most `maxModelFrames`
 *     are taken): the model dimensions and the technical imaging-quality substitute.
 * Nothing keeps all frames: each consumer holds only its running sums and the frames it compares
 * against (the previous one, the first one's features), so memory stays bounded for any length.
 */
import { decodeFrames, probeVideo, type VideoProbe } from '../video/ffmpeg.js';
import { resizeArea, toGrey } from './flow.js';

/** Long side of the working frames (flickering, the model and technical frames). */
export const DEFAULT_MAX_SIDE = 512;
/** Width of the frames the flow and the interpolation run on. */
export const DEFAULT_FLOW_WIDTH = 128;
/** VBench's dynamic-degree sampling rate. */
export const FLOW_FPS = 8;
/** At most this many frames go through the models per video (the 8 fps frames, thinned). */
export const DEFAULT_MAX_MODEL_FRAMES = 32;
/** Videos longer than this are not scored (`maxDurationS`). */
export const DEFAULT_MAX_DURATION_S = 120;

export interface FramePlan {
  probe: VideoProbe;
  /** Working (decode) size. */
  width: number;
  height: number;
  flowWidth: number;
  flowHeight: number;
  /** Frame rate the sampling is computed from (the stream's; 24 assumed when it reports none). */
  fps: number;
  fpsAssumed: boolean;
  /** VBench dynamic_degree: every round(fps / 8)-th frame, at least every frame. */
  flowInterval: number;
  /** A multiple of flowInterval: the frames the models and the technical metric see. */
  modelInterval: number;
  /** Frames the container announces (or duration × fps); 0 when it says neither. */
  expectedFrames: number;
}

export interface PlanOptions {
  maxSide?: number;
  flowWidth?: number;
  maxModelFrames?: number;
}

/** Python's round(): halves to even (VBench computes its intervals and counts with it). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (Math.abs(d - 0.5) < 1e-12) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));

export function planFrames(probe: VideoProbe, o: PlanOptions = {}): FramePlan {
  const maxSide = o.maxSide ?? DEFAULT_MAX_SIDE;
  const sw = probe.width, sh = probe.height;
  if (!(sw > 0 && sh > 0)) throw new Error(`the video reports no frame size (${sw}x${sh})`);
  const s = Math.min(1, maxSide / Math.max(sw, sh));
  const width = s < 1 ? even(sw * s) : sw;
  const height = s < 1 ? even(sh * s) : sh;
  const fw = Math.min(width, o.flowWidth ?? DEFAULT_FLOW_WIDTH);
  const flowWidth = Math.max(8, fw);
  const flowHeight = Math.max(8, Math.round((flowWidth * height) / width));
  const fpsAssumed = !(Number.isFinite(probe.fps) && probe.fps > 0);
  const fps = fpsAssumed ? 24 : probe.fps;
  const flowInterval = Math.max(1, pyRound(fps / FLOW_FPS));
  const expected = Number.isFinite(probe.frames) && probe.frames > 0 ? probe.frames : Math.round((probe.duration_s || 0) * fps);
  const maxModel = Math.max(2, o.maxModelFrames ?? DEFAULT_MAX_MODEL_FRAMES);
  const sampled = Math.ceil(expected / flowInterval);
  const modelInterval = flowInterval * Math.max(1, Math.ceil(sampled / maxModel));
  return { probe, width, height, flowWidth: Math.min(flowWidth, width), flowHeight: Math.min(flowHeight, height), fps, fpsAssumed, flowInterval, modelInterval, expectedFrames: expected };
}

/**
 * The `k` model-sampled frames a per-frame judge (VQAScore) looks at: the model frame nearest the
 * centre of each of k equal segments of the clip, so the start, the middle and the end are all
 * seen; fewer when the clip has fewer model frames. Without a frame count, the first k model frames.
 */
export function spreadFrameIndices(plan: FramePlan, k: number): number[] {
  const step = plan.modelInterval;
  if (k <= 0) return [];
  if (!(plan.expectedFrames > 0)) return Array.from({ length: k }, (_, j) => j * step);
  const last = Math.ceil(plan.expectedFrames / step) - 1;
  const picks = new Set<number>();
  for (let j = 0; j < k; j++) picks.add(step * Math.min(last, Math.max(0, Math.round(((j + 0.5) * plan.expectedFrames) / k / step))));
  return [...picks].sort((a, b) => a - b);
}

/** One decoded frame as the consumers see it; its buffers are valid during the call only (copy to keep). */
export interface DecodedFrame {
  index: number;
  /** Working size, RGB24. */
  rgb: Buffer;
  width: number;
  height: number;
  flowSample: boolean;
  modelSample: boolean;
  /** Flow size, 8-bit RGB (area average of `rgb`), made on first use. */
  small(): Uint8Array;
  /** Luma of small(). */
  grey(): Float32Array;
}

export interface FrameConsumer {
  /** May return a promise (the decode waits for it: back-pressure). */
  frame(f: DecodedFrame): void | Promise<void>;
}

export interface DecodeStats {
  frames: number;
  decode_ms: number;
  /** ffmpeg pipes opened for this video (1 when decoded once). */
  pipes: number;
}

/** Frame `index` of a plan at working size, its flow-size copy and grey plane made on first use. */
export function decodedFrame(plan: FramePlan, index: number, rgb: Buffer): DecodedFrame {
  const { width, height, flowWidth, flowHeight } = plan;
  let small: Uint8Array | undefined;
  let grey: Float32Array | undefined;
  const f: DecodedFrame = {
    index,
    rgb,
    width,
    height,
    flowSample: index % plan.flowInterval === 0,
    modelSample: index % plan.modelInterval === 0,
    small: () => (small ??= flowWidth === width && flowHeight === height ? new Uint8Array(rgb) : resizeArea(rgb, width, height, 3, flowWidth, flowHeight, new Uint8Array(flowWidth * flowHeight * 3))),
    grey: () => (grey ??= toGrey(f.small(), flowWidth, flowHeight)),
  };
  return f;
}

/** Streams the video once through every consumer. Throws (INPUT) when ffmpeg cannot decode it. */
export async function decodeInto(path: string, plan: FramePlan, consumers: FrameConsumer[], o: { signal?: AbortSignal } = {}): Promise<DecodeStats> {
  const t0 = performance.now();
  let index = 0;
  const { width, height } = plan;
  for await (const rgb of decodeFrames(path, { width, height, signal: o.signal })) {
    const f = decodedFrame(plan, index, rgb);
    for (const c of consumers) {
      const r = c.frame(f);
      if (r) await r;
    }
    index++;
  }
  return { frames: index, decode_ms: performance.now() - t0, pipes: 1 };
}

export { probeVideo };
