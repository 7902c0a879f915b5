import { imageCost } from '../config/prices.js';
import { type Logger, silentLogger } from '../lib/log.js';
import { DeadlineExceeded, type RetryDecision, type RetryPolicy, defaultRetryPolicy, parseRetryAfter, sleep, withRetry } from '../lib/retry.js';
import { clip, redact, registerSecret } from '../lib/secrets.js';
import { GenerationFailed, type GenerateRequest, type GenerateResult, type ImageBackend, type PredictionRef } from './backend.js';
import { modelInput } from './sizes.js';

/**
 * Replicate through the official client, with our own reliability policy. replicate 1.4 retries
 * 429 without waiting for retry-after, never retries a POST 5xx, swallows network errors (and
 * aborts) into instant retries and does not retry output downloads. So the client gets a guarded
 * fetch that never lets it see a retryable answer: 429/5xx/network failures/aborts come back as a
 * synthetic, non-retryable status carrying the real one in headers, and withRetry()
 * (src/lib/retry.ts) decides. Downloads are ours too, and each is decoded before it is accepted.
 *
 * RETRY LAYERS AND THEIR BOUNDS (the one place they are stated; numbers are the defaults)
 *  1. HTTP, inside one model (withRetry): every request has its own timeout (requestTimeoutMs,
 *     30 s; a `Prefer: wait=N` create N + 30 s). 429, 5xx, 408, 409, network errors and downloads
 *     that do not decode are retried up to policy.retries = 4 times (5 tries per call), after a
 *     backoff of 0.5 s·2^n with jitter capped at 20 s, or after the server's retry-after (above
 *     5 min the model fails at once). Anything else fails the model at once.
 *  2. Models (this file): req.model, then req.fallbackModels in order, one prediction each. A
 *     model fails over when its calls fail for good, its prediction fails or is canceled, or its
 *     prediction is still running after predictionTimeoutMs (2 min; then it is canceled). 401/403
 *     stop the chain (the next model has the same token). A call therefore buys at most one
 *     prediction per model in the chain (plus the one it resumes, which was bought before).
 *  3. Deadline (per generate() call): req.deadlineMs, else the backend's deadlineMs (3 min), from
 *     the start of the call. Every wait is cut at it: poll sleeps end at it, a retry whose backoff
 *     or retry-after would end past it is not taken, every HTTP request is aborted at it, and a
 *     `Prefer: wait` is shortened to end before it. A prediction still running at the deadline is
 *     canceled (best effort, one request of at most 10 s) and the call fails with
 *     GenerationFailed; no model starts after it. So one call costs at most deadlineMs + ~10 s.
 *  4. Queue job (outside this file): BullMQ attempts (3). Worst case per variation about
 *     3 × deadlineMs plus the queue's backoff. A retried job passes `resume`, so a prediction the
 *     crashed attempt created is polled again, never bought twice.
 * ABORT (req.signal: the job was cancelled or the worker is shutting down) is not a failure: no
 * request starts after it, sleeps and in-flight requests end at once, and generate() rejects with
 * the signal's reason (an AbortError unless the caller gave another) without trying a fallback.
 * The prediction is left running, not canceled: the job's next attempt can resume it.
 *
 * `Prefer: wait` VERSUS RECORDING THE ID. With `Prefer: wait` the create reply, and with it the
 * prediction id, arrives only when the image is done; a worker killed meanwhile never learns the
 * id, and its retry pays for the image again. So when the caller can record the id (it passes
 * onPrediction: the queue job persists it in the job's data) we create without waiting, hand the
 * id over, and only then poll: first after 250 ms, each gap ×1.5 up to pollIntervalMs (1 s). The
 * price is at most one poll gap after the prediction settles (≤ 250 ms for a 1–2 s FLUX Schnell
 * image, ≤ 1 s for SDXL's ~5–10 s) and a handful of GETs; variations run side by side, so a
 * run's wall time barely moves. Without onPrediction nobody could use the id, so the create keeps
 * `Prefer: wait` (the fastest path) and polls only if the reply comes back unfinished. The window
 * that remains: a crash between the create reply and onPrediction's write, and a create whose
 * reply is lost in the network and is retried (Replicate has no idempotency key).
 */
export const REPLICATE_NOTE = 'Replicate text-to-image predictions (model output)';

/**
 * stability-ai/sdxl is a community model, not an "official" one: Replicate runs it only by version
 * (POST /v1/predictions with `version`); its by-name endpoint answers 404. This is its latest
 * version, the one in wide use.
 */
export const SDXL_VERSION = '7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc';
export const DEFAULT_MODEL = `stability-ai/sdxl:${SDXL_VERSION}`;
/** Official model: by name, always warm, priced per image. */
export const DEFAULT_FALLBACK_MODELS = ['black-forest-labs/flux-schnell'];
/** Community models named without a version run at this pinned version (a bare name would 404). */
export const PINNED_VERSIONS: Readonly<Record<string, string>> = { 'stability-ai/sdxl': SDXL_VERSION };

export const DEFAULT_DEADLINE_MS = 3 * 60_000;
export const DEFAULT_PREDICTION_TIMEOUT_MS = 2 * 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const CANCEL_TIMEOUT_MS = 10_000;
const FIRST_POLL_MS = 250;

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
  /** Seconds the API may hold a create (`Prefer: wait=N`, 1–60); used only without onPrediction. */
  waitSeconds?: number;
  /** First gap between polls (250 ms), growing ×1.5 up to pollIntervalMs. */
  firstPollMs?: number;
  /** Longest gap between polls (1 s). */
  pollIntervalMs?: number;
  /** Per HTTP request (default 30 s; a `Prefer: wait=N` create N + 30 s). */
  requestTimeoutMs?: number;
  /** Cancel a prediction still running this long after it was created (or resumed); then fail over. */
  predictionTimeoutMs?: number;
  /** Default budget of one generate() call (GenerateRequest.deadlineMs overrides it). */
  deadlineMs?: number;
  logger?: Logger;
  fetch?: typeof fetch;
}

type AttemptCode = 'time_up' | 'failed' | 'canceled' | 'no_output' | 'expired';

/** Why one model attempt failed; `retry` drives withRetry, `fatal` stops the fallback chain. */
class AttemptError extends Error {
  readonly retry: boolean;
  readonly afterMs?: number;
  readonly fatal: boolean;
  /** The HTTP status behind it, when there is one. */
  readonly status?: number;
  readonly code?: AttemptCode;
  constructor(message: string, o: { retry?: boolean; afterMs?: number; fatal?: boolean; status?: number; code?: AttemptCode } = {}) {
    super(message);
    this.retry = o.retry ?? false;
    this.afterMs = o.afterMs;
    this.fatal = o.fatal ?? false;
    this.status = o.status;
    this.code = o.code;
  }
}

interface ApiErrorLike extends Error {
  response: Response;
}
const isApiError = (e: unknown): e is ApiErrorLike =>
  e instanceof Error && e.name === 'ApiError' && (e as ApiErrorLike).response instanceof Response;

/** The provider's one-line reason from a client error message, redacted, then clipped to 200. */
function detailOf(message: string): string {
  // the client's ApiError: "Request to URL failed with status N Text: BODY."
  const body = /failed with status \d+[^:]*:\s*([\s\S]*?)\.?$/.exec(message)?.[1] ?? message;
  let detail: string | undefined;
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    for (const k of ['detail', 'error', 'title']) {
      const v = j?.[k];
      if (typeof v === 'string' && v.trim()) {
        detail = v;
        break;
      }
    }
  } catch {
    /* not JSON: the body itself */
  }
  return clip((detail ?? body).replace(/\s+/g, ' ').trim(), 200).replace(/\.$/, '');
}

/** Translate whatever the client threw into our retry decision, with a one-line reason. */
export function classifyReplicateError(e: unknown, what: string, now = Date.now()): AttemptError {
  if (e instanceof AttemptError) return e;
  if (isApiError(e)) {
    const h = e.response.headers;
    const status = Number(h.get(H_STATUS) ?? e.response.status);
    if (status === 0) return new AttemptError(`${what}: network error (${h.get(H_NETERR) ?? 'connection failed'})`, { retry: true, status });
    const detail = detailOf(e.message);
    if (status === 429) {
      const after = parseRetryAfter(h.get(H_RETRY_AFTER), now);
      if (after !== undefined && after > MAX_RETRY_AFTER_MS) return new AttemptError(`${what}: HTTP 429, retry-after ${after} ms is too long`, { status });
      return new AttemptError(`${what}: HTTP 429 rate limited`, { retry: true, afterMs: after, status });
    }
    if (status >= 500 || status === 408 || status === 409)
      return new AttemptError(`${what}: HTTP ${status} ${detail}`, { retry: true, afterMs: parseRetryAfter(h.get(H_RETRY_AFTER), now), status });
    if (status === 401 || status === 403)
      return new AttemptError(`${what}: HTTP ${status} ${detail} (check REPLICATE_API_TOKEN)`, { fatal: true, status });
    if (status === 404) return new AttemptError(`${what}: HTTP 404 model or prediction not found (${detail})`, { status });
    return new AttemptError(`${what}: HTTP ${status} ${detail}`, { status });
  }
  // fetch() failures surfacing outside our guard (e.g. the body stream dropped mid-read)
  if (e instanceof TypeError || (e as NodeJS.ErrnoException)?.code === 'ECONNRESET')
    return new AttemptError(`${what}: network error (${clip((e as Error).message, 200)})`, { retry: true });
  return new AttemptError(`${what}: ${clip(e instanceof Error ? e.message : String(e), 300)}`);
}

/** Output forms: a plain URL string (the API, and the client for http:), a FileOutput (https:), or a list. */
export function outputUrl(output: unknown): string | undefined {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.length ? outputUrl(output[0]) : undefined;
  if (output && typeof output === 'object' && typeof (output as { url?: unknown }).url === 'function')
    return String((output as { url: () => URL | string }).url());
  return undefined;
}

/** How a model string is run: by version (pinned or given) or by name (official models). */
export function modelRef(model: string): { bare: string; version?: string; pinned: boolean } {
  const [bare, given] = model.split(':') as [string, string | undefined];
  const version = given || PINNED_VERSIONS[bare];
  return { bare, version, pinned: !given && version !== undefined };
}

interface Prediction {
  id: string;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  output?: unknown;
  error?: unknown;
  data_removed?: boolean;
  metrics?: { predict_time?: number };
  model?: string;
  version?: string;
}

const running = (p: Prediction) => p.status === 'starting' || p.status === 'processing';

/** The state of one generate() call. */
interface Call {
  req: GenerateRequest;
  /** The caller's signal: abort = stop, never a model failure. */
  signal?: AbortSignal;
  /** Epoch ms at which the call's budget ends. */
  deadline: number;
  deadlineMs: number;
  counter: { attempts: number };
}

type ModelResult = Omit<GenerateResult, 'attempts' | 'modelsTried'>;

/** "0.4 s", "12 s", "180 s": budgets in messages. */
const secs = (ms: number) => `${ms < 10_000 ? Math.round(ms / 100) / 10 : Math.round(ms / 1000)} s`;

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
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
    const prefer = /wait=(\d+)/.exec(new Headers(init?.headers).get('prefer') ?? '');
    const ms = this.opts.requestTimeoutMs ?? (prefer ? Number(prefer[1]) * 1000 + DEFAULT_REQUEST_TIMEOUT_MS : DEFAULT_REQUEST_TIMEOUT_MS);
    const timeout = AbortSignal.timeout(ms);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const res = await this.baseFetch(input, { ...init, signal });
      if (res.status !== 429 && res.status < 500) return res;
      const headers = new Headers({ 'content-type': 'text/plain', [H_STATUS]: String(res.status) });
      const ra = res.headers.get('retry-after');
      if (ra) headers.set(H_RETRY_AFTER, ra);
      return new Response(await res.text().catch(() => ''), { status: BYPASS_STATUS, headers });
    } catch (e) {
      // an abort (ours or the caller's) too: the client would swallow it into instant retries
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      const msg = init?.signal?.aborted ? 'aborted' : timeout.aborted ? 'request timed out' : (cause ?? (e as Error).message ?? 'fetch failed');
      const safe = clip(String(msg), 120).replace(/[^\x20-\x7e]/g, '?');
      return new Response('', { status: BYPASS_STATUS, headers: { [H_STATUS]: '0', [H_NETERR]: safe } });
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
    const deadlineMs = req.deadlineMs ?? this.opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const call: Call = { req, signal: req.signal, deadline: Date.now() + deadlineMs, deadlineMs, counter: { attempts: 0 } };
    this.checkAbort(call);
    const chain = [req.model, ...req.fallbackModels.filter((m) => m !== req.model)];
    const tried: string[] = [];
    const errors: { model: string; reason: string }[] = [];
    let resume: Record<string, unknown> | undefined;
    const done = (r: ModelResult, extra: Record<string, unknown>): GenerateResult => ({
      ...r,
      attempts: call.counter.attempts,
      modelsTried: [...tried],
      provider: { ...r.provider, ...extra, models_tried: [...tried], fallback_used: r.model !== req.model, model_errors: errors, ...(resume ? { resume } : {}) },
    });

    if (req.resume) {
      const ref = req.resume;
      tried.push(ref.model);
      try {
        const r = await this.resumeModel(ref, call);
        resume = { model: ref.model, prediction_id: ref.predictionId, outcome: 'completed' };
        return done(r, { resumed_prediction: true });
      } catch (e) {
        this.checkAbort(call);
        const err = classifyReplicateError(e, ref.model);
        const outcome =
          err.status === 404 && err.code === undefined ? 'not_found'
          : err.code === 'time_up' ? (err.fatal ? 'deadline' : 'timed_out')
          : err.code === 'failed' || err.code === 'canceled' ? err.code
          : err.code === 'no_output' || err.code === 'expired' ? 'output_expired'
          : 'error';
        const reason = redact(err.message);
        resume = { model: ref.model, prediction_id: ref.predictionId, outcome, reason, fell_through: !err.fatal };
        errors.push({ model: ref.model, reason: `resumed prediction ${ref.predictionId}: ${reason}` });
        this.log.warn(`seed ${req.seed}: could not resume prediction ${ref.predictionId} (${outcome}): ${reason}${err.fatal ? '' : '; creating a new one'}`);
        if (err.fatal) throw new GenerationFailed(errors.map((x) => x.reason).join('; '), call.counter.attempts, tried);
        tried.length = 0; // the chain below starts over; the resumed attempt is in model_errors and `resume`
      }
    }

    for (const model of chain) {
      if (Date.now() >= call.deadline) {
        errors.push({ model, reason: `${model}: not tried, the ${secs(deadlineMs)} deadline was reached` });
        break;
      }
      tried.push(model);
      try {
        const r = await this.runModel(model, call);
        return done(r, { resumed_prediction: false });
      } catch (e) {
        this.checkAbort(call);
        const err = classifyReplicateError(e, model);
        const reason = redact(err.message);
        errors.push({ model, reason });
        const last = chain.at(-1) === model;
        this.log.warn(`seed ${req.seed}: ${model} failed: ${reason}${err.fatal || last ? '' : '; trying the next model'}`);
        if (err.fatal) break;
      }
    }
    throw new GenerationFailed(errors.map((x) => x.reason).join('; '), call.counter.attempts, tried);
  }

  private checkAbort(call: Call): void {
    if (call.signal?.aborted) throw abortError(call.signal);
  }

  /** The time-up error for `until`: fatal when it is the call's deadline, a model failure otherwise. */
  private timeUp(call: Call, until: number, what: string): AttemptError {
    const atDeadline = until >= call.deadline;
    return new AttemptError(
      atDeadline ? `${what}: the ${secs(call.deadlineMs)} deadline was reached` : `${what}: gave up after the prediction timeout`,
      { fatal: atDeadline, code: 'time_up' },
    );
  }

  /** Sleep `ms`, but never past `until` (then time is up) and never past an abort. */
  private async pause(ms: number, call: Call, until: number, what: string): Promise<void> {
    const left = until - Date.now();
    if (left <= 0) throw this.timeUp(call, until, what);
    try {
      await sleep(Math.min(ms, left), call.signal);
    } catch (e) {
      this.checkAbort(call);
      throw e;
    }
    if (Date.now() >= until) throw this.timeUp(call, until, what);
  }

  /** One logical API call with HTTP retries, every request and wait cut at `until`. */
  private async retrying<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, call: Call, until = call.deadline): Promise<T> {
    try {
      return await withRetry(
        async () => {
          this.checkAbort(call);
          const left = until - Date.now();
          if (left <= 0) throw this.timeUp(call, until, what);
          call.counter.attempts++;
          const cut = AbortSignal.timeout(left);
          const signal = call.signal ? AbortSignal.any([call.signal, cut]) : cut;
          try {
            return await fn(signal);
          } catch (e) {
            this.checkAbort(call);
            if (Date.now() >= until || cut.aborted) throw this.timeUp(call, until, what);
            throw classifyReplicateError(e, what);
          }
        },
        (e): RetryDecision => (e instanceof AttemptError && e.code !== 'time_up' ? { retry: e.retry, afterMs: e.afterMs } : { retry: false }),
        {
          policy: this.policy,
          signal: call.signal,
          deadline: until,
          onRetry: (e, n, wait) => this.log.debug(`${(e as Error).message}; retry ${n} in ${wait} ms`),
        },
      );
    } catch (e) {
      this.checkAbort(call);
      // a retry not taken because its wait would pass `until`: this model fails, the deadline has not
      if (e instanceof DeadlineExceeded) {
        const c = e.cause instanceof AttemptError ? e.cause : undefined;
        throw new AttemptError(redact(e.message), { status: c?.status, fatal: c?.fatal });
      }
      throw e;
    }
  }

  private pollDelay(n: number): number {
    const max = this.opts.pollIntervalMs ?? 1000;
    return Math.min(max, Math.round(Math.min(this.opts.firstPollMs ?? FIRST_POLL_MS, max) * 1.5 ** n));
  }

  /** Best effort: one request, its own short timeout (the deadline may have passed already). */
  private async cancel(id: string): Promise<boolean> {
    try {
      const client = await this.getClient();
      await client.predictions.cancel(id, { signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS) });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Poll a prediction until it settles. Time up (the model's timeout or the call's deadline) or a
   * poll that fails for good: cancel it (best effort) and fail. An abort leaves it running.
   */
  private async settle(model: string, first: Prediction, call: Call, until: number): Promise<{ p: Prediction; polls: number }> {
    const client = await this.getClient();
    const id = first.id;
    let p = first;
    let polls = 0;
    try {
      while (running(p)) {
        await this.pause(this.pollDelay(polls), call, until, `${model}: prediction ${id}`);
        polls++;
        p = (await this.retrying(`${model}: poll prediction ${id}`, (signal) => client.predictions.get(id, { signal }), call, until)) as Prediction;
      }
      return { p, polls };
    } catch (e) {
      this.checkAbort(call);
      const canceled = await this.cancel(id);
      const err = classifyReplicateError(e, model);
      if (err.code === 'time_up') {
        const why = err.fatal ? `at the ${secs(call.deadlineMs)} deadline` : `after the ${secs(this.opts.predictionTimeoutMs ?? DEFAULT_PREDICTION_TIMEOUT_MS)} prediction timeout`;
        throw new AttemptError(`${model}: prediction ${id} still ${p.status} ${why}; ${canceled ? 'canceled' : 'cancel failed'}`, {
          fatal: err.fatal,
          code: 'time_up',
        });
      }
      throw new AttemptError(`${err.message}; prediction ${id} ${canceled ? 'canceled' : 'left running (cancel failed)'}`, {
        fatal: err.fatal,
        status: err.status,
      });
    }
  }

  /** Hand the id to the caller before any waiting. A failure to record it is logged, not fatal. */
  private async record(model: string, id: string, call: Call): Promise<boolean | null> {
    if (!call.req.onPrediction) return null;
    try {
      await call.req.onPrediction({ model, predictionId: id });
      return true;
    } catch (e) {
      this.checkAbort(call);
      this.log.warn(`seed ${call.req.seed}: could not record prediction ${id} (${clip(e instanceof Error ? e.message : String(e), 200)}); going on`);
      return false;
    }
  }

  private modelUntil(call: Call): number {
    return Math.min(call.deadline, Date.now() + (this.opts.predictionTimeoutMs ?? DEFAULT_PREDICTION_TIMEOUT_MS));
  }

  private async runModel(model: string, call: Call): Promise<ModelResult> {
    const client = await this.getClient();
    const { bare, version, pinned } = modelRef(model);
    const { input } = modelInput(model, call.req);
    // Prefer: wait only when nobody records the id (see the top), and never past the deadline
    const secondsLeft = Math.floor((call.deadline - Date.now()) / 1000) - 1;
    const wanted = Math.min(60, Math.max(1, this.opts.waitSeconds ?? 60), secondsLeft);
    const wait = call.req.onPrediction || wanted < 1 ? undefined : wanted;

    const created = (await this.retrying(
      `${model}: create prediction`,
      (signal) => client.predictions.create(version ? { version, input, wait, signal } : { model: bare, input, wait, signal }),
      call,
    )) as Prediction;
    const until = this.modelUntil(call);
    const recorded = await this.record(model, created.id, call);
    const { p, polls } = await this.settle(model, created, call, until);
    return this.finish(model, p, call, {
      polls,
      prefer_wait_s: wait ?? null,
      prediction_recorded: recorded,
      version: version ?? null,
      pinned_version: pinned,
    });
  }

  /** Pick up a prediction an earlier attempt created; any error here means "create a new one". */
  private async resumeModel(ref: PredictionRef, call: Call): Promise<ModelResult> {
    const client = await this.getClient();
    const id = ref.predictionId;
    const first = (await this.retrying(`${ref.model}: get prediction ${id}`, (signal) => client.predictions.get(id, { signal }), call)) as Prediction;
    const { p, polls } = await this.settle(ref.model, first, call, this.modelUntil(call));
    const { version, pinned } = modelRef(ref.model);
    return this.finish(ref.model, p, call, { polls: polls + 1, prefer_wait_s: null, prediction_recorded: null, version: version ?? null, pinned_version: pinned }, true);
  }

  /** A settled prediction: its image, downloaded and checked, or why there is none. */
  private async finish(model: string, p: Prediction, call: Call, extra: Record<string, unknown>, resumed = false): Promise<ModelResult> {
    if (p.status === 'failed')
      throw new AttemptError(`${model}: prediction ${p.id} failed: ${clip(String(p.error ?? 'no reason given'), 300)}`, { code: 'failed' });
    if (p.status === 'canceled') throw new AttemptError(`${model}: prediction ${p.id} canceled`, { code: 'canceled' });
    const url = outputUrl(p.output);
    if (!url)
      throw new AttemptError(
        p.data_removed ? `${model}: prediction ${p.id} output was removed (expired)` : `${model}: prediction ${p.id} succeeded without an image URL in its output`,
        { code: 'no_output' },
      );

    const { width, height, family, dropped, input, init } = modelInput(model, call.req);
    const expect = family === 'other' ? undefined : { width, height };
    const image = await this.retrying(`${model}: download output`, (signal) => this.download(url, expect, signal, resumed), call);
    const cost = imageCost(modelRef(model).bare) ?? null;
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
        // which field carried the init image (a storyboard frame keeping the best image's look)
        init_image: call.req.initImage ? (init ? { ...init, sent_as: 'data URI' } : { field: null, reason: `${model} takes no init image: the look is carried by the prompt only` }) : null,
        predict_time_s: p.metrics?.predict_time ?? null,
        output_url: `${u.origin}${u.pathname}`,
        output_format: image.format,
        price_known: cost !== null,
        ...extra,
      },
    };
  }

  /** Fetch the output and accept it only if it decodes fully at the size the model should make. */
  private async download(url: string, expect: { width: number; height: number } | undefined, signal: AbortSignal, resumed: boolean) {
    const res = await this.guardedFetch(url, { signal });
    if (!res.ok) {
      const status = Number(res.headers.get(H_STATUS) ?? res.status);
      if (status === 0) throw new AttemptError(`download: network error (${res.headers.get(H_NETERR)})`, { retry: true, status });
      const retry = status === 429 || status >= 500;
      const gone = status === 404 || status === 410;
      throw new AttemptError(`download: HTTP ${status}${gone && resumed ? ' (output expired)' : ''}`, {
        retry,
        afterMs: retry ? parseRetryAfter(res.headers.get(H_RETRY_AFTER)) : undefined,
        status,
        code: gone ? 'expired' : undefined,
      });
    }
    let buf: Buffer;
    try {
      buf = Buffer.from(await res.arrayBuffer());
    } catch (e) {
      throw new AttemptError(`download: connection dropped mid-body (${clip((e as Error).message, 200)})`, { retry: true });
    }
    const sharp = (await import('sharp')).default;
    let info: { width: number; height: number; format: string };
    try {
      // A full decode (not just the header) catches truncated files.
      const meta = await sharp(buf).metadata();
      const raw = await sharp(buf, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
      info = { width: raw.info.width, height: raw.info.height, format: meta.format ?? 'unknown' };
    } catch (e) {
      throw new AttemptError(`download: ${buf.length} bytes that do not decode as an image (${clip((e as Error).message.split('\n')[0]!, 200)})`, { retry: true });
    }
    if (expect && (info.width !== expect.width || info.height !== expect.height))
      throw new AttemptError(`download: image is ${info.width}x${info.height}, expected ${expect.width}x${expect.height}`);
    const png = info.format === 'png' ? buf : await sharp(buf).png().toBuffer();
    return { png, width: info.width, height: info.height, format: info.format };
  }
}
