import { imageCost } from '../config/prices.js';
import { type Logger, silentLogger } from '../lib/log.js';
import { type RetryDecision, type RetryPolicy, defaultRetryPolicy, parseRetryAfter, sleep, withRetry } from '../lib/retry.js';
import { redact, registerSecret } from '../lib/secrets.js';
import { GenerationFailed, type GenerateRequest, type GenerateResult, type ImageBackend } from './backend.js';
import { modelInput } from './sizes.js';

/**
 * Replicate through the official client, with our own reliability policy. replicate 1.4 retries
 * 429 without waiting for retry-after, never retries a POST 5xx, swallows network errors into
 * instant retries and does not retry output downloads. So the client gets a guarded fetch that
 * never lets it see a retryable answer: 429/5xx/network failures come back as a synthetic,
 * non-retryable status carrying the real one in headers, and withRetry() (src/lib/retry.ts)
 * decides. Downloads are ours too, and each is decoded before it is accepted.
 */
export const REPLICATE_NOTE = 'Replicate text-to-image predictions (model output)';
export const DEFAULT_MODEL = 'stability-ai/sdxl';
export const DEFAULT_FALLBACK_MODELS = ['black-forest-labs/flux-schnell'];

const BYPASS_STATUS = 499;
const H_STATUS = 'x-loop-upstream-status';
const H_RETRY_AFTER = 'x-loop-retry-after';
const H_NETERR = 'x-loop-network-error';
/** A server asking for more than this is treated as "not now": the variation fails over. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export interface ReplicateBackendOptions {
  token: string;
  baseUrl?: string;
  policy?: RetryPolicy;
  /** Seconds the API may hold the create request (`Prefer: wait=N`, 1–60). */
  waitSeconds?: number;
  pollIntervalMs?: number;
  /** Per HTTP request; must exceed waitSeconds. */
  requestTimeoutMs?: number;
  /** Give up (and cancel) a prediction still running after this long. */
  predictionTimeoutMs?: number;
  logger?: Logger;
  fetch?: typeof fetch;
}

/** Why one model attempt failed; `retry` drives withRetry, `fatal` stops the fallback chain. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    readonly afterMs?: number,
    readonly fatal = false,
  ) {
    super(message);
  }
}

interface ApiErrorLike extends Error {
  response: Response;
}
const isApiError = (e: unknown): e is ApiErrorLike =>
  e instanceof Error && e.name === 'ApiError' && (e as ApiErrorLike).response instanceof Response;

function detailOf(message: string): string {
  const m = /"(?:detail|error|title)"\s*:\s*"([^"]{1,300})"/.exec(message);
  if (m) return m[1]!;
  const tail = /failed with status \d+[^:]*:\s*(.*)$/s.exec(message)?.[1] ?? message;
  return tail.replace(/\s+/g, ' ').slice(0, 200).replace(/\.$/, '');
}

/** Translate whatever the client threw into our retry decision, with a one-line reason. */
export function classifyReplicateError(e: unknown, what: string, now = Date.now()): AttemptError {
  if (e instanceof AttemptError) return e;
  if (isApiError(e)) {
    const h = e.response.headers;
    const status = Number(h.get(H_STATUS) ?? e.response.status);
    if (status === 0) return new AttemptError(`${what}: network error (${h.get(H_NETERR) ?? 'connection failed'})`, true);
    const detail = detailOf(e.message);
    if (status === 429) {
      const after = parseRetryAfter(h.get(H_RETRY_AFTER), now);
      if (after !== undefined && after > MAX_RETRY_AFTER_MS) return new AttemptError(`${what}: HTTP 429, retry-after ${after} ms is too long`, false);
      return new AttemptError(`${what}: HTTP 429 rate limited`, true, after);
    }
    if (status >= 500 || status === 408 || status === 409)
      return new AttemptError(`${what}: HTTP ${status} ${detail}`, true, parseRetryAfter(h.get(H_RETRY_AFTER), now));
    if (status === 401 || status === 403)
      return new AttemptError(`${what}: HTTP ${status} ${detail} (check REPLICATE_API_TOKEN)`, false, undefined, true);
    if (status === 404) return new AttemptError(`${what}: HTTP 404 model or prediction not found (${detail})`, false);
    return new AttemptError(`${what}: HTTP ${status} ${detail}`, false);
  }
  // fetch() failures surfacing outside our guard (e.g. the body stream dropped mid-read)
  if (e instanceof TypeError || (e as NodeJS.ErrnoException)?.code === 'ECONNRESET')
    return new AttemptError(`${what}: network error (${(e as Error).message})`, true);
  return new AttemptError(`${what}: ${e instanceof Error ? e.message : String(e)}`, false);
}

/** Output forms: a plain URL string (the API, and the client for http:), a FileOutput (https:), or a list. */
export function outputUrl(output: unknown): string | undefined {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.length ? outputUrl(output[0]) : undefined;
  if (output && typeof output === 'object' && typeof (output as { url?: unknown }).url === 'function')
    return String((output as { url: () => URL | string }).url());
  return undefined;
}

interface Prediction {
  id: string;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  output?: unknown;
  error?: unknown;
  metrics?: { predict_time?: number };
  model?: string;
  version?: string;
}

export class ReplicateBackend implements ImageBackend {
  readonly name = 'replicate' as const;
  readonly note = REPLICATE_NOTE;
  readonly provider = 'replicate';
  private client: Promise<import('replicate').default> | undefined;
  private readonly policy: RetryPolicy;
  private readonly log: Logger;
  private readonly baseFetch: typeof fetch;

  constructor(private readonly opts: ReplicateBackendOptions) {
    // a token passed in code (not via the environment) must be redacted too
    registerSecret(opts.token);
    this.policy = opts.policy ?? defaultRetryPolicy;
    this.log = opts.logger ?? silentLogger;
    this.baseFetch = opts.fetch ?? globalThis.fetch;
  }

  /** The fetch the client uses: passes success and permanent errors through, hides retryable ones. */
  private guardedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? ((this.opts.waitSeconds ?? 60) + 30) * 1000);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const res = await this.baseFetch(input, { ...init, signal });
      if (res.status !== 429 && res.status < 500) return res;
      const headers = new Headers({ 'content-type': 'text/plain', [H_STATUS]: String(res.status) });
      const ra = res.headers.get('retry-after');
      if (ra) headers.set(H_RETRY_AFTER, ra);
      return new Response(await res.text().catch(() => ''), { status: BYPASS_STATUS, headers });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      const msg = timeout.aborted ? 'request timed out' : cause ?? (e as Error).message ?? 'fetch failed';
      return new Response('', { status: BYPASS_STATUS, headers: { [H_STATUS]: '0', [H_NETERR]: String(msg).slice(0, 120) } });
    }
  };

  private async getClient() {
    this.client ??= import('replicate').then(
      ({ default: Replicate }) =>
        new Replicate({
          auth: this.opts.token,
          baseUrl: this.opts.baseUrl,
          userAgent: 'loop-cli',
          fetch: this.guardedFetch as typeof fetch,
          // 'data-uri' would inline files, and with them the token, into prediction inputs.
          fileEncodingStrategy: 'default',
          useFileOutput: false,
        }),
    );
    return this.client;
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const chain = [req.model, ...req.fallbackModels.filter((m) => m !== req.model)];
    const tried: string[] = [];
    const errors: { model: string; reason: string }[] = [];
    const counter = { attempts: 0 };
    for (const model of chain) {
      tried.push(model);
      try {
        const r = await this.runModel(model, req, counter);
        return {
          ...r,
          attempts: counter.attempts,
          modelsTried: tried,
          provider: { ...r.provider, models_tried: tried, fallback_used: model !== req.model, model_errors: errors },
        };
      } catch (e) {
        if (req.signal?.aborted) throw e;
        const err = classifyReplicateError(e, model);
        errors.push({ model, reason: redact(err.message) });
        this.log.warn(`seed ${req.seed}: ${model} failed: ${redact(err.message)}${err.fatal ? '' : chain.at(-1) === model ? '' : '; trying the next model'}`);
        if (err.fatal) break;
      }
    }
    throw new GenerationFailed(errors.map((x) => x.reason).join('; '), counter.attempts, tried);
  }

  private retrying<T>(what: string, fn: () => Promise<T>, counter: { attempts: number }, signal?: AbortSignal): Promise<T> {
    return withRetry(
      async () => {
        counter.attempts++;
        try {
          return await fn();
        } catch (e) {
          throw classifyReplicateError(e, what);
        }
      },
      (e): RetryDecision => {
        if (signal?.aborted) return { retry: false };
        const a = e as AttemptError;
        return { retry: a.retry, afterMs: a.afterMs };
      },
      {
        policy: this.policy,
        signal,
        onRetry: (e, n, wait) => this.log.debug(`${(e as Error).message}; retry ${n} in ${wait} ms`),
      },
    );
  }

  private async runModel(model: string, req: GenerateRequest, counter: { attempts: number }) {
    const client = await this.getClient();
    const { input, width, height, family, dropped } = modelInput(model, req);
    const [bare, version] = model.split(':') as [string, string | undefined];
    const wait = Math.min(60, Math.max(1, this.opts.waitSeconds ?? 60));
    const signal = req.signal;
    const t0 = Date.now();

    let p = (await this.retrying(
      `${model}: create prediction`,
      () => client.predictions.create(version ? { version, input, wait, signal } : { model: bare, input, wait, signal }),
      counter,
      signal,
    )) as Prediction;
    let polls = 0;
    const deadline = t0 + (this.opts.predictionTimeoutMs ?? 10 * 60_000);
    // `Prefer: wait` usually returns a finished prediction; if not, poll until it settles.
    while (p.status === 'starting' || p.status === 'processing') {
      if (Date.now() > deadline) {
        await client.predictions.cancel(p.id).catch(() => undefined);
        throw new AttemptError(`${model}: prediction ${p.id} still ${p.status} after ${Math.round((Date.now() - t0) / 1000)} s; canceled`, false);
      }
      await sleep(this.opts.pollIntervalMs ?? 1000, signal);
      polls++;
      const id = p.id;
      p = (await this.retrying(`${model}: poll prediction`, () => client.predictions.get(id, { signal }), counter, signal)) as Prediction;
    }
    if (p.status === 'failed') throw new AttemptError(`${model}: prediction failed: ${String(p.error ?? 'no reason given').slice(0, 300)}`, false);
    if (p.status === 'canceled') throw new AttemptError(`${model}: prediction canceled`, false);
    const url = outputUrl(p.output);
    if (!url) throw new AttemptError(`${model}: prediction succeeded without an image URL in its output`, false);

    const expect = family === 'other' ? undefined : { width, height };
    const image = await this.retrying(`${model}: download output`, () => this.download(url, expect, signal), counter, signal);
    const cost = imageCost(bare) ?? null;
    const u = new URL(url);
    return {
      bytes: image.png,
      model,
      width: image.width,
      height: image.height,
      costUsd: cost,
      provider: {
        prediction_id: p.id,
        status: p.status,
        model_family: family,
        input_fields: Object.keys(input),
        dropped_inputs: dropped,
        predict_time_s: p.metrics?.predict_time ?? null,
        polls,
        output_url: `${u.origin}${u.pathname}`,
        output_format: image.format,
        price_known: cost !== null,
      },
    };
  }

  /** Fetch the output and accept it only if it decodes fully at the size the model should make. */
  private async download(url: string, expect: { width: number; height: number } | undefined, signal?: AbortSignal) {
    const res = await this.guardedFetch(url, { signal });
    if (!res.ok) {
      const status = Number(res.headers.get(H_STATUS) ?? res.status);
      if (status === 0) throw new AttemptError(`download: network error (${res.headers.get(H_NETERR)})`, true);
      const retry = status === 429 || status >= 500;
      throw new AttemptError(`download: HTTP ${status}`, retry, retry ? parseRetryAfter(res.headers.get(H_RETRY_AFTER)) : undefined);
    }
    let buf: Buffer;
    try {
      buf = Buffer.from(await res.arrayBuffer());
    } catch (e) {
      throw new AttemptError(`download: connection dropped mid-body (${(e as Error).message})`, true);
    }
    const sharp = (await import('sharp')).default;
    let info: { width: number; height: number; format: string };
    try {
      // A full decode (not just the header) catches truncated files.
      const meta = await sharp(buf).metadata();
      const raw = await sharp(buf, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
      info = { width: raw.info.width, height: raw.info.height, format: meta.format ?? 'unknown' };
    } catch (e) {
      throw new AttemptError(`download: ${buf.length} bytes that do not decode as an image (${(e as Error).message.split('\n')[0]})`, true);
    }
    if (expect && (info.width !== expect.width || info.height !== expect.height))
      throw new AttemptError(`download: image is ${info.width}x${info.height}, expected ${expect.width}x${expect.height}`, false);
    const png = info.format === 'png' ? buf : await sharp(buf).png().toBuffer();
    return { png, width: info.width, height: info.height, format: info.format };
  }
}
