import type { AspectRatio } from './metadata.js';

export type ImageBackendName = 'sketch' | 'replicate';

/** A prediction created at the provider: enough to find it again after a crash. */
export interface PredictionRef {
  /** The model string it was created for, as in the chain (e.g. `owner/name` or `owner/name:version`). */
  model: string;
  predictionId: string;
}

export interface GenerateRequest {
  prompt: string;
  negativePrompt: string | null;
  aspectRatio: AspectRatio;
  seed: number;
  /** Model to try first; the backend may fall back along `fallbackModels`. */
  model: string;
  fallbackModels: string[];
  /** Expected output size for the aspect ratio (see sizes.ts). */
  width: number;
  height: number;
  /**
   * The caller gives up (job cancelled, worker shutting down): waits end at once, no request
   * starts after it, and generate() rejects with the signal's reason (an AbortError by default),
   * never a GenerationFailed and never after trying a fallback. A prediction already created is
   * left running so that a later `resume` can pick it up.
   */
  signal?: AbortSignal;
  /**
   * Budget for the whole call, in ms from its start: every model, HTTP retry, backoff,
   * retry-after and poll. Waits are cut at it; a prediction still running then is canceled (best
   * effort) and the call fails with GenerationFailed. Default: the backend's (Replicate: 3 min).
   */
  deadlineMs?: number;
  /**
   * Awaited right after a prediction is created and before any waiting or polling on it, once per
   * prediction (again for a fallback model's). Persist it (the queue job: job.updateData) and pass
   * it back as `resume` on the next attempt. A backend given onPrediction creates without a long
   * server-side wait, so the id is durable before the image is paid for. If it throws, the backend
   * logs it and goes on (provider.prediction_recorded = false); after an abort, the abort wins.
   */
  onPrediction?: (p: PredictionRef) => Promise<void>;
  /**
   * A prediction an earlier attempt created (from onPrediction). The backend first fetches it and,
   * if it is still valid, finishes it: succeeded → download; starting/processing → poll it (to the
   * prediction timeout, cut at the deadline), creating nothing. Failed, canceled, unknown (404),
   * timed out, or succeeded with its output gone → the normal chain from `model`, with a new
   * prediction; provider.resume says what happened. Backends without predictions ignore it.
   */
  resume?: PredictionRef;
  /**
   * An image the result should keep the look of (a storyboard frame derived from the run's best
   * image). Replicate: sent to the model's own init-image field where it has one (see
   * initImageField in sizes.ts); the sketch backend takes its palette.
   */
  initImage?: { bytes: Buffer; mime: 'image/png' | 'image/jpeg' | 'image/webp'; strength: number };
}

export interface GenerateResult {
  /** Encoded PNG (without the `parameters` chunk; the caller adds it). */
  bytes: Buffer;
  /** The model that actually produced the image (differs from the request after a fallback). */
  model: string;
  width: number;
  height: number;
  /** USD from the price table; null when the model has no price. */
  costUsd: number | null;
  attempts: number;
  modelsTried: string[];
  /**
   * Provider detail for the metadata: prediction id, fallbacks, per-model errors. Never a secret.
   * Replicate adds `resumed_prediction` (true: the image came from `resume`'s prediction, nothing
   * new was bought), `resume` ({ model, prediction_id, outcome: completed | failed | canceled |
   * not_found | output_expired | timed_out | deadline | error, reason? } when `resume` was given),
   * `prediction_recorded` (onPrediction succeeded; null without it) and `prefer_wait_s`.
   */
  provider: Record<string, unknown>;
}

export interface ImageBackend {
  readonly name: ImageBackendName;
  /** What the output is, in words, for console and trace. */
  readonly note: string;
  /** The provider name for the cost ledger. */
  readonly provider: string;
  generate(req: GenerateRequest): Promise<GenerateResult>;
}

/** A variation that could not be produced after retries and fallbacks. */
export class GenerationFailed extends Error {
  constructor(
    message: string,
    readonly attempts: number,
    readonly modelsTried: string[],
  ) {
    super(message);
    this.name = 'GenerationFailed';
  }
}
