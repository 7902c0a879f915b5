import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Env } from '../config/env.js';
import { IMAGE_BACKENDS, resolveBackend } from '../config/backends.js';
import { LoopError, inputError } from '../errors.js';
import { readPromptInput } from '../lib/input.js';
import { type Logger, silentLogger } from '../lib/log.js';
import { writeFileAtomic, writeJsonAtomic } from '../runs/atomic.js';
import { CostLedger, type CostEntry } from '../runs/ledger.js';
import { GenerationFailed, type GenerateRequest, type ImageBackend, type ImageBackendName } from './backend.js';
import {
  ASPECT_RATIOS,
  aspectRatioIn,
  type AspectRatio,
  GENERATION_TRACE,
  type GenerationTrace,
  GenerationTraceSchema,
  type ImageMetadata,
  ImageMetadataSchema,
  imageFileName,
  isAspectRatio,
  metadataFileName,
} from './metadata.js';
import type { z } from 'zod';
import type { VariationFailureSchema } from './metadata.js';
import { addPngText, parametersText } from './png-text.js';
import { DEFAULT_FALLBACK_MODELS, DEFAULT_MODEL, REPLICATE_NOTE, type ReplicateBackendOptions } from './replicate-backend.js';
import { variationSeeds } from './seeds.js';
import { MAX_CONCURRENCY, MAX_SEED, MAX_VARIATIONS } from './limits.js';
import { sizeFor } from './sizes.js';
import { SKETCH_MODEL, SKETCH_NOTE } from './sketch-backend.js';
import { mapPool } from '../lib/pool.js';
import { cacheInfoOf, countFromCache } from '../cache/cache-info.js';
import { cachedImageBackend, type GenerationCache } from '../cache/generation-cache.js';

export type { ImageBackendName } from './backend.js';
export type VariationFailure = z.infer<typeof VariationFailureSchema>;

export { MAX_VARIATIONS, DEFAULT_VARIATIONS, MAX_CONCURRENCY, MAX_SEED } from './limits.js';
export const DEFAULT_ASPECT_RATIO: AspectRatio = '16:9';
/** Replicate allows far more; 8 keeps one run's default batch fully parallel. */
export const DEFAULT_REPLICATE_CONCURRENCY = 8;

/**
 * Replicate when a token is configured, else the offline sketch backend; asking for replicate
 * without its token is a CONFIG error naming `flag` (the descriptors in src/config/backends.ts).
 */
export function resolveImageBackend(requested: ImageBackendName | undefined, env: Pick<Env, 'REPLICATE_API_TOKEN'>, flag = '--backend'): ImageBackendName {
  return resolveBackend('image', requested, env, flag);
}

export function backendNote(name: ImageBackendName): string {
  return name === 'sketch' ? SKETCH_NOTE : REPLICATE_NOTE;
}

/** Build a backend instance; heavy modules load only here. */
export async function createBackend(
  name: ImageBackendName,
  env: Pick<Env, 'REPLICATE_API_TOKEN' | 'REPLICATE_BASE_URL'>,
  extra: { logger?: Logger; replicate?: Partial<ReplicateBackendOptions> } = {},
): Promise<ImageBackend> {
  return IMAGE_BACKENDS[name].create(env, extra);
}

/** Check the numbers a caller (CLI, queue job) passes, before anything is created on disk. */
export function validateGenerationRequest(o: { numVariations: number; aspectRatio: string; seed?: number; concurrency?: number }): void {
  if (!Number.isInteger(o.numVariations) || o.numVariations < 1 || o.numVariations > MAX_VARIATIONS)
    throw new LoopError('USAGE', `--num-variations must be between 1 and ${MAX_VARIATIONS}, got ${o.numVariations}`);
  if (!(ASPECT_RATIOS as readonly string[]).includes(o.aspectRatio))
    throw new LoopError('USAGE', `--aspect-ratio must be one of ${ASPECT_RATIOS.join(', ')}, got "${o.aspectRatio}"`);
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > MAX_SEED))
    throw new LoopError('USAGE', `--seed must be a whole number from 0 to ${MAX_SEED}, got ${o.seed}`);
  if (o.concurrency !== undefined && (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > MAX_CONCURRENCY))
    throw new LoopError('USAGE', `--concurrency must be between 1 and ${MAX_CONCURRENCY}, got ${o.concurrency}`);
}

export interface VariationOptions {
  /** 1-based; the files are image_NNN.png / image_NNN_metadata.json with NNN = variation. */
  variation: number;
  seed: number;
  prompt: string;
  negativePrompt: string | null;
  aspectRatio: AspectRatio;
  model: string;
  fallbackModels: string[];
  /** A backend instance, or its name (then built from `env`, default process env). */
  backend: ImageBackend | ImageBackendName;
  env?: Pick<Env, 'REPLICATE_API_TOKEN' | 'REPLICATE_BASE_URL'>;
  outDir: string;
  stage?: string;
  logger?: Logger;
  signal?: AbortSignal;
  /** Called with the provider's prediction id before waiting on it (a queue job saves it). */
  onPrediction?: GenerateRequest['onPrediction'];
  /** A prediction an earlier attempt of this variation started: poll it instead of buying a new one. */
  resume?: GenerateRequest['resume'];
  /**
   * The generation cache (src/cache/generation-cache.ts) in front of the backend; null: bypassed
   * (--no-cache, the metadata says so); undefined: the backend is used as given.
   */
  cache?: GenerationCache | null;
}

export type VariationResult =
  | { ok: true; metadata: ImageMetadata; costEntry: CostEntry }
  | { ok: false; failure: VariationFailure };

/**
 * Produce one variation and write its PNG (with the `parameters` text chunk) and metadata, each
 * atomically, image first. Re-running it overwrites only its own two files, so a retried queue
 * job is idempotent. Never throws for a generation failure: it returns the failure.
 */
export async function generateVariation(o: VariationOptions): Promise<VariationResult> {
  const built =
    typeof o.backend === 'string'
      ? await createBackend(o.backend, o.env ?? (await import('../config/env.js')).loadEnv(), { logger: o.logger })
      : o.backend;
  const backend = o.cache === undefined ? built : cachedImageBackend(built, o.cache, { logger: o.logger });
  const { width, height } = sizeFor(o.aspectRatio);
  const started = new Date();
  const t0 = performance.now();
  const isSketch = backend.name === 'sketch';
  const model = isSketch ? SKETCH_MODEL : o.model;
  try {
    const r = await backend.generate({
      prompt: o.prompt,
      negativePrompt: o.negativePrompt,
      aspectRatio: o.aspectRatio,
      seed: o.seed,
      model,
      fallbackModels: isSketch ? [] : o.fallbackModels,
      width,
      height,
      signal: o.signal,
      onPrediction: o.onPrediction,
      resume: o.resume,
    });
    const bytes = addPngText(
      r.bytes,
      'parameters',
      parametersText({ prompt: o.prompt, negativePrompt: o.negativePrompt, seed: o.seed, model: r.model, width: r.width, height: r.height, backend: backend.name }),
    );
    const file = imageFileName(o.variation);
    await writeFileAtomic(join(o.outDir, file), bytes);
    const ended = new Date();
    const cache = cacheInfoOf(r.provider);
    const metadata: ImageMetadata = ImageMetadataSchema.parse({
      schema_version: 1,
      file,
      rank: null,
      variation: o.variation,
      prompt: o.prompt,
      negative_prompt: o.negativePrompt,
      backend: backend.name,
      model: r.model,
      seed: o.seed,
      aspect_ratio: o.aspectRatio,
      width: r.width,
      height: r.height,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      started_at: started.toISOString(),
      ended_at: ended.toISOString(),
      duration_ms: Math.round(performance.now() - t0),
      cost_usd: r.costUsd,
      provider: { ...r.provider, attempts: r.attempts, requested_model: isSketch ? o.model : model },
      ...(cache ? { cache } : {}),
      scores: null,
    });
    await writeJsonAtomic(join(o.outDir, metadataFileName(o.variation)), metadata);
    const costEntry: CostEntry = {
      stage: o.stage ?? 'image_generation',
      provider: backend.provider,
      model: r.model,
      kind: 'image',
      units: 1,
      cost_usd: r.costUsd,
      ...(cache?.status === 'hit'
        ? { note: `from the generation cache (first made for ${cache.original_cost_usd == null ? 'an unknown cost' : `$${cache.original_cost_usd}`})` }
        : r.costUsd === null ? { note: `no price for ${r.model} in the price table` } : {}),
      at: ended.toISOString(),
    };
    return { ok: true, metadata, costEntry };
  } catch (e) {
    // an abort (job cancelled, worker shutting down) is not a failed variation: the caller retries
    // or resumes it; only the provider failing after retries and fallbacks is recorded as a failure
    if (o.signal?.aborted || !(e instanceof GenerationFailed)) throw e;
    const reason = e.message.split('\n')[0]!;
    o.logger?.warn(`variation ${o.variation} (seed ${o.seed}) failed: ${reason}`);
    return {
      ok: false,
      failure: {
        variation: o.variation,
        seed: o.seed,
        reason,
        attempts: e.attempts,
        models_tried: e.modelsTried,
      },
    };
  }
}

export interface TraceParts {
  backend: ImageBackendName;
  prompt: string;
  negativePrompt: string | null;
  promptSource: string;
  model: string;
  fallbackModels: string[];
  aspectRatio: AspectRatio;
  seeds: number[];
  seedSource: 'user' | 'drawn';
  images: ImageMetadata[];
  failures: VariationFailure[];
  costEntries: CostEntry[];
  timings?: Record<string, unknown>[];
  startedAt: string;
  endedAt?: string;
}

/** Assemble generation_trace.json from the variations' results (ordering 'generation'). */
export async function writeGenerationTrace(outDir: string, parts: TraceParts): Promise<GenerationTrace> {
  const ledger = new CostLedger();
  for (const e of parts.costEntries) ledger.record(e);
  const endedAt = parts.endedAt ?? new Date().toISOString();
  const images = [...parts.images].sort((a, b) => a.variation - b.variation);
  const trace: GenerationTrace = GenerationTraceSchema.parse({
    schema_version: 1,
    backend: parts.backend,
    backend_note: backendNote(parts.backend),
    prompt: parts.prompt,
    negative_prompt: parts.negativePrompt,
    prompt_source: parts.promptSource,
    model: parts.model,
    fallback_models: parts.fallbackModels,
    aspect_ratio: parts.aspectRatio,
    num_variations: parts.seeds.length,
    seeds: parts.seeds,
    seed_source: parts.seedSource,
    ordering: 'generation',
    ordering_note: 'not scored yet: files are numbered by variation (generation order)',
    images,
    failures: [...parts.failures].sort((a, b) => a.variation - b.variation),
    from_cache: countFromCache(images),
    best: null,
    scoring: null,
    cost: ledger.toJSON() as unknown as Record<string, unknown>,
    timings: parts.timings ?? images.map((m) => ({ stage: 'generate', variation: m.variation, started_at: m.started_at, ended_at: m.ended_at, duration_ms: m.duration_ms })),
    started_at: parts.startedAt,
    ended_at: endedAt,
    duration_ms: Math.max(0, Date.parse(endedAt) - Date.parse(parts.startedAt)),
  });
  await writeJsonAtomic(join(outDir, GENERATION_TRACE), trace);
  return trace;
}

export async function readGenerationTrace(outDir: string): Promise<GenerationTrace> {
  const raw = JSON.parse(await readFile(join(outDir, GENERATION_TRACE), 'utf8'));
  return GenerationTraceSchema.parse(raw);
}

/** Record that the run was not ranked (skipped or no scorer): files keep generation order. */
export async function recordScoringOutcome(outDir: string, outcome: { status: 'skipped' | 'unavailable'; reason: string }): Promise<GenerationTrace> {
  const trace = await readGenerationTrace(outDir);
  trace.ordering = 'generation';
  trace.ordering_note = `${outcome.status === 'skipped' ? 'scoring skipped' : 'scoring unavailable'}: ${outcome.reason}; files keep generation order (image_NNN = variation NNN)`;
  trace.scoring = { status: outcome.status, reason: outcome.reason };
  await writeJsonAtomic(join(outDir, GENERATION_TRACE), trace);
  return trace;
}

export interface GenerationPlan {
  backend: ImageBackendName;
  model: string;
  fallbackModels: string[];
  seeds: number[];
  seedSource: 'user' | 'drawn';
  negativePrompt: string | null;
}

/**
 * What a set of variations will be: backend, model and fallbacks, one seed per variation. Shared
 * by generateImages and the queue stage, which fans the plan out as one job per variation.
 */
export function planGeneration(o: {
  backend: ImageBackendName | undefined;
  env?: Pick<Env, 'REPLICATE_API_TOKEN'>;
  model?: string;
  fallbackModels?: string[];
  numVariations: number;
  aspectRatio: string;
  seed?: number;
  negativePrompt?: string | null;
}): GenerationPlan {
  validateGenerationRequest(o);
  const backend = o.env ? resolveImageBackend(o.backend, o.env) : (o.backend ?? 'sketch');
  const isSketch = backend === 'sketch';
  const model = isSketch ? SKETCH_MODEL : (o.model ?? DEFAULT_MODEL);
  const fallbackModels = isSketch ? [] : (o.fallbackModels ?? DEFAULT_FALLBACK_MODELS).filter((m) => m !== model);
  const { seeds, source } = variationSeeds(o.numVariations, o.seed);
  const negativePrompt = o.negativePrompt?.trim() ? o.negativePrompt.trim() : null;
  return { backend, model, fallbackModels, seeds, seedSource: source, negativePrompt };
}

export interface GenerateOptions {
  prompt: string;
  promptSource: string;
  negativePrompt?: string | null;
  numVariations: number;
  aspectRatio: AspectRatio;
  seed?: number;
  model?: string;
  fallbackModels?: string[];
  backend: ImageBackendName;
  concurrency?: number;
  /** The run directory (already created). */
  outDir: string;
  logger?: Logger;
  ledger?: CostLedger;
  stage?: string;
  onProgress?: (done: number, total: number, failed: number) => void;
  signal?: AbortSignal;
  env?: Pick<Env, 'REPLICATE_API_TOKEN' | 'REPLICATE_BASE_URL'>;
  /** Test and tuning hooks for the Replicate backend (retry policy, poll interval, …). */
  replicate?: Partial<ReplicateBackendOptions>;
  /** Use this backend instance instead of building one. */
  backendInstance?: ImageBackend;
  /** The generation cache in front of the backend (see VariationOptions.cache). */
  cache?: GenerationCache | null;
}

/**
 * Generate every variation concurrently (bounded), write images, metadata and the trace.
 * Per-variation failures are recorded, never thrown; the caller decides the exit code.
 */
export async function generateImages(opts: GenerateOptions): Promise<GenerationTrace> {
  validateGenerationRequest(opts);
  const log = opts.logger ?? silentLogger;
  const startedAt = new Date().toISOString();
  const built =
    opts.backendInstance ??
    (await createBackend(opts.backend, opts.env ?? (await import('../config/env.js')).loadEnv(), { logger: log, replicate: opts.replicate }));
  const backend = opts.cache === undefined ? built : cachedImageBackend(built, opts.cache, { logger: log });
  const isSketch = backend.name === 'sketch';
  if (isSketch && (opts.model || opts.fallbackModels?.length)) log.warn('--model/--fallback-model are ignored by the sketch backend');
  const { model, fallbackModels, seeds, seedSource: source, negativePrompt } = planGeneration({ ...opts, backend: backend.name });
  const concurrency =
    opts.concurrency ?? (isSketch ? Math.max(1, Math.min(4, availableParallelism())) : DEFAULT_REPLICATE_CONCURRENCY);

  let done = 0;
  let failed = 0;
  opts.onProgress?.(0, seeds.length, 0);
  const results = await mapPool(seeds, concurrency, async (seed, i): Promise<VariationResult> => {
    const r = await generateVariation({
      variation: i + 1,
      seed,
      prompt: opts.prompt,
      negativePrompt,
      aspectRatio: opts.aspectRatio,
      model,
      fallbackModels,
      backend,
      outDir: opts.outDir,
      stage: opts.stage,
      logger: log,
      signal: opts.signal,
    }).catch((e: unknown): VariationResult => {
      // Ctrl-C in the single-stage command: what was made stays, the rest is recorded as not made
      if (!opts.signal?.aborted) throw e;
      return { ok: false, failure: { variation: i + 1, seed, reason: 'interrupted before this variation finished', attempts: 1, models_tried: [model] } };
    });
    done++;
    if (!r.ok) failed++;
    opts.onProgress?.(done, seeds.length, failed);
    return r;
  });

  const images = results.flatMap((r) => (r.ok ? [r.metadata] : []));
  const failures = results.flatMap((r) => (r.ok ? [] : [r.failure]));
  const costEntries = results.flatMap((r) => (r.ok ? [r.costEntry] : []));
  for (const e of costEntries) opts.ledger?.record(e);
  return writeGenerationTrace(opts.outDir, {
    backend: backend.name,
    prompt: opts.prompt,
    negativePrompt,
    promptSource: opts.promptSource,
    model,
    fallbackModels,
    aspectRatio: opts.aspectRatio,
    seeds,
    seedSource: source,
    images,
    failures,
    costEntries,
    startedAt,
  });
}

/**
 * A prompt file (or "-"), or a prompt trace directory from enhance-image-prompt: its
 * `final_enhanced_prompt.txt` (or the last `NN_final_enhanced_prompt.txt`), else the final prompt
 * in `prompt_trace_summary.json`. From a trace (the directory, or one of its final prompt files)
 * comes its aspect ratio too: the summary's `aspect_ratio`, else the ratio its final prompt names.
 */
export async function loadPromptSource(path: string): Promise<{ prompt: string; source: string; aspectRatio?: AspectRatio }> {
  if (path !== '-') {
    let isDir = false;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch {
      /* readPromptInput reports missing/unreadable files */
    }
    if (isDir) {
      let names: string[];
      try {
        names = await readdir(path);
      } catch (e) {
        throw inputError(`cannot read prompt trace directory ${path}: ${(e as NodeJS.ErrnoException).code}`);
      }
      const summaryFile = join(path, PROMPT_TRACE_SUMMARY);
      const finals = names.filter((n) => n.endsWith('final_enhanced_prompt.txt')).sort();
      const final = names.includes(FINAL_PROMPT_FILE) ? FINAL_PROMPT_FILE : finals.at(-1);
      if (final) {
        const file = join(path, final);
        const prompt = await readPromptInput(file);
        return { prompt, source: file, aspectRatio: await traceAspectRatio(summaryFile, prompt) };
      }
      if (names.includes(PROMPT_TRACE_SUMMARY)) {
        let summary: Record<string, unknown>;
        try {
          summary = JSON.parse(await readFile(summaryFile, 'utf8')) as Record<string, unknown>;
        } catch (e) {
          throw inputError(`cannot read ${summaryFile}: ${(e as Error).message.split('\n')[0]}`);
        }
        for (const key of ['final_prompt', 'final_enhanced_prompt', 'enhanced_prompt']) {
          const v = summary[key];
          if (typeof v === 'string' && v.trim()) return { prompt: v.trim(), source: `${summaryFile}#${key}`, aspectRatio: ratioOfSummary(summary) ?? aspectRatioIn(v) ?? undefined };
        }
        throw inputError(`${summaryFile} has no final prompt (final_prompt / final_enhanced_prompt)`);
      }
      throw inputError(`${path} is a directory without *final_enhanced_prompt.txt or prompt_trace_summary.json; give a prompt file or a prompt trace directory`);
    }
  }
  const prompt = await readPromptInput(path);
  // a trace's final prompt file, given by itself, is still that trace's prompt
  const inTrace = path !== '-' && basename(path).endsWith('final_enhanced_prompt.txt');
  return { prompt, source: path === '-' ? 'stdin' : path, aspectRatio: inTrace ? await traceAspectRatio(join(dirname(path), PROMPT_TRACE_SUMMARY), prompt) : undefined };
}

const PROMPT_TRACE_SUMMARY = 'prompt_trace_summary.json';
/** src/prompt/trace.ts FINAL_PROMPT_FILE (not imported: generation does not load the prompt stage). */
const FINAL_PROMPT_FILE = 'final_enhanced_prompt.txt';

function ratioOfSummary(summary: Record<string, unknown>): AspectRatio | undefined {
  const r = summary.aspect_ratio;
  return typeof r === 'string' && isAspectRatio(r) ? r : undefined;
}

/** A prompt trace's aspect ratio: its summary's, else (a trace written before it was recorded) the one its prompt names. */
async function traceAspectRatio(summaryFile: string, prompt: string): Promise<AspectRatio | undefined> {
  const summary = await readFile(summaryFile, 'utf8').then(
    (t) => JSON.parse(t) as Record<string, unknown>,
    () => undefined,
  );
  if (!summary) return undefined;
  return ratioOfSummary(summary) ?? aspectRatioIn(prompt) ?? undefined;
}
