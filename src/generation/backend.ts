import type { AspectRatio } from './metadata.js';

export type ImageBackendName = 'sketch' | 'replicate';

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
  signal?: AbortSignal;
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
  /** Provider detail for the metadata: prediction id, fallbacks, per-model errors. Never a secret. */
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
