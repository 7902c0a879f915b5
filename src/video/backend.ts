import type { AspectRatio } from '../generation/metadata.js';
import type { PredictionRef } from '../generation/backend.js';
import type { Movement } from '../storyboard/plan.js';

/**
 * The video generation contract (Story 9.2). Two backends: Replicate's start/end-frame models
 * (replicate-video.ts, one adapter per model) and the offline animatic (animatic.ts), the default
 * without a token: an H.264 MP4 from the start frame to the end frame along the planned move.
 */
export type VideoBackendName = 'animatic' | 'replicate';

export interface VideoFrame {
  /** PNG/JPEG/WebP bytes. */
  bytes: Buffer;
  /** Where it came from (for metadata), relative to a root the caller names. */
  path: string;
}

export interface VideoRequest {
  prompt: string;
  negativePrompt: string | null;
  /** The clip's first frame (image-to-video); null for text-to-video. */
  startImage: VideoFrame | null;
  /** The clip's last frame, for models that take one. */
  endImage: VideoFrame | null;
  durationS: number;
  aspectRatio: AspectRatio;
  seed: number;
  model: string;
  /** The planned camera move (the animatic follows it; remote models get it in the prompt). */
  camera: Movement | null;
  /** Which attempt of this clip (1-based): attempts differ by seed, and the animatic's easing and timing. */
  attempt: number;
  signal?: AbortSignal;
  /** Budget for the whole call (create, polls, download), ms. Default: the backend's. */
  deadlineMs?: number;
  /** Called with the prediction id before any wait: persist it; a restarted job passes it as `resume`. */
  onPrediction?: (p: PredictionRef) => Promise<void>;
  resume?: PredictionRef;
}

export interface VideoResult {
  /** The MP4. */
  bytes: Buffer;
  model: string;
  duration_s: number;
  fps: number;
  width: number;
  height: number;
  /** USD from the price table (per second of output); null when the model has no price. */
  cost_usd: number | null;
  /** Which frames the model was given, and through which of its fields. */
  frames_used: { start: boolean; end: boolean; fields: Record<string, string>; note: string | null };
  /** Provider detail: prediction id, polls, timings, encoder. Never a secret. */
  provider: Record<string, unknown>;
}

export interface VideoBackend {
  readonly name: VideoBackendName;
  /** What the output is, in words (the animatic says it is not model output). */
  readonly note: string;
  generate(req: VideoRequest): Promise<VideoResult>;
  /** The cost the request would have, from the price table, before anything is spent (null: no price). */
  estimateCost(req: Pick<VideoRequest, 'model' | 'durationS' | 'startImage' | 'endImage'>): number | null;
}
