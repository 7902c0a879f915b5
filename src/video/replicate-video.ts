import { priceFor } from '../config/prices.js';
import { usageError } from '../errors.js';
import { GenerationFailed, type PredictionRef } from '../generation/backend.js';
import { modelRef, outputUrl } from '../generation/replicate-backend.js';
import { type Logger, silentLogger } from '../lib/log.js';
import { type RetryPolicy, backoffMs, defaultRetryPolicy, parseRetryAfter, sleep as realSleep } from '../lib/retry.js';
import { clip, redact, registerSecret } from '../lib/secrets.js';
import type { VideoBackend, VideoRequest, VideoResult } from './backend.js';
import { type AdapterRequest, type ModelPlan, type VideoModelAdapter, TEXT_TO_VIDEO_DEFAULT, routeVideoModel, unknownModelLine, videoAdapter } from './video-models.js';

/**
 * Replicate's start/end-frame video models (one adapter per model: video-models.ts), over the
 * HTTP API with plain fetch. A video takes minutes and costs dollars, so the shape differs from
 * the image backend (src/generation/replicate-backend.ts), whose helpers it reuses:
 *
 *  - CREATE WITHOUT WAITING. No `Prefer: wait`: the create answers at once with the prediction id,
 *    and onPrediction gets it BEFORE any polling. The queue job stores it; a restarted job passes
 *    it back as `resume`, and resume polls that prediction instead of creating one, so a crash,
 *    a kill or an abort mid-wait never buys the same video twice. (Remaining window, as for
 *    images: a crash between the create reply and onPrediction's write, and a create whose reply
 *    is lost and retried; Replicate has no idempotency key.)
 *  - POLL IN SECONDS. First poll after 2 s, each gap x1.5 up to 15 s, each jittered +-20 % so a
 *    batch of clips does not poll in lockstep: 2, 3, 4.5, 6.8, 10.1, 15, 15, … s. A 2-minute
 *    Kling clip costs ~12 GETs; the price is at most one gap (<= 15 s) after the video is done.
 *  - ONE DEADLINE PER CALL, default 15 minutes (req.deadlineMs overrides), over create, polls,
 *    retries and download: every wait and request is cut at it. At the deadline a prediction
 *    whose id was recorded (onPrediction succeeded) or that was resumed is LEFT RUNNING: it will
 *    be paid for whether or not we wait, and the job's next attempt resumes it. One nobody can
 *    resume is canceled (best effort, one request of at most 10 s), so it is not paid for unseen.
 *  - HTTP RETRIES (create, poll, download): 429, 5xx, 408, 409 and network errors, up to
 *    policy.retries (4) times after the server's retry-after (above 5 min: fail at once) or a
 *    backoff of 0.5 s x 2^n with jitter capped at 20 s; never past the deadline. 401/403 and
 *    other 4xx fail at once with the provider's reason.
 *  - DOWNLOAD AT ONCE. Outputs are deleted about an hour after the prediction ends, so the MP4 is
 *    fetched the moment it succeeds (without the token: delivery URLs are public), checked to be
 *    an MP4 (an `ftyp` box first, every top-level box whole, a `moov`; a truncated or non-MP4
 *    body is retried) and measured (duration, fps, width, height from its moov).
 *  - FAILURES are GenerationFailed with the provider's reason, redacted BEFORE any cut
 *    (lib/secrets.ts clip()). A user error (a rule of the model: check() in video-models.ts, an
 *    unknown model) is a USAGE LoopError before anything is created.
 *  - ABORT (req.signal) stops every wait and request at once and rejects with the signal's
 *    reason; the prediction is never canceled, so `resume` can pick it up.
 *  - COST per second asked of the model (what it bills), from the price table; null with
 *    provider.cost_note when the model has no price.
 */
export const REPLICATE_VIDEO_NOTE = 'Replicate image-to-video predictions (model output)';

export const DEFAULT_VIDEO_DEADLINE_MS = 15 * 60_000;
export const FIRST_POLL_MS = 2_000;
export const MAX_POLL_MS = 15_000;
export const POLL_FACTOR = 1.5;
export const POLL_JITTER = 0.2;
const DEFAULT_BASE_URL = 'https://api.replicate.com/v1';
const REQUEST_TIMEOUT_MS = 30_000;
const DOWNLOAD_TIMEOUT_MS = 180_000;
const CANCEL_TIMEOUT_MS = 10_000;
const MAX_RETRY_AFTER_MS = 5 * 60_000;
const MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024;

export interface ReplicateVideoBackendOptions {
  token: string;
  /** API base (default https://api.replicate.com/v1; REPLICATE_BASE_URL for proxies and tests). */
  baseUrl?: string;
  /** HTTP retries of one create, poll or download. */
  policy?: RetryPolicy;
  /** Budget of one generate() call (VideoRequest.deadlineMs overrides it). Default 15 min. */
  deadlineMs?: number;
  /** First gap between polls (2 s), growing x pollFactor (1.5) to maxPollMs (15 s), jittered +-pollJitter (0.2). */
  firstPollMs?: number;
  maxPollMs?: number;
  pollFactor?: number;
  pollJitter?: number;
  /** Per API request (30 s); the download has its own (3 min). Both are cut at the deadline. */
  requestTimeoutMs?: number;
  downloadTimeoutMs?: number;
  /** Where a clip without frames goes when its model needs a start frame. */
  textToVideoModel?: string;
  /** An explicit output resolution per model id ('minimax/hailuo-02': '768p'). Never adjusted. */
  resolutions?: Record<string, string>;
  /** Refuse a request whose end frame its model cannot take, instead of dropping it with a note. */
  requireEndFrame?: boolean;
  logger?: Logger;
  fetch?: typeof fetch;
  /** Injected for tests: the sleep (must reject at once on abort), the clock, the jitter source. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** A video request plus the two choices an adapter honours (video-models.ts AdapterRequest). */
export type ReplicateVideoRequest = VideoRequest & Pick<AdapterRequest, 'requireEndFrame' | 'resolution'>;

type Code = 'time_up' | 'failed' | 'canceled' | 'not_found' | 'expired' | 'not_mp4';

/** Why one step failed; `retry` drives the retry loop, `fatal` means nothing else may be tried. */
class StepError extends Error {
  readonly retry: boolean;
  readonly afterMs?: number;
  readonly status?: number;
  readonly fatal: boolean;
  readonly code?: Code;
  constructor(message: string, o: { retry?: boolean; afterMs?: number; status?: number; fatal?: boolean; code?: Code } = {}) {
    super(message);
    this.name = 'StepError';
    this.retry = o.retry ?? false;
    this.afterMs = o.afterMs;
    this.status = o.status;
    this.fatal = o.fatal ?? false;
    this.code = o.code;
  }
}

interface Prediction {
  id: string;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  output?: unknown;
  error?: unknown;
  data_removed?: boolean;
  metrics?: { predict_time?: number };
  created_at?: string;
}

const running = (p: Prediction) => p.status === 'starting' || p.status === 'processing';

/** The state of one generate() call. */
interface Call {
  signal?: AbortSignal;
  deadline: number;
  deadlineMs: number;
  /** HTTP requests made (every try). */
  requests: number;
  retries: { what: string; status: number | null; wait_ms: number }[];
}

const secs = (ms: number) => `${ms < 10_000 ? Math.round(ms / 100) / 10 : Math.round(ms / 1000)} s`;

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

// ---------------------------------------------------------------------------------------------
// MP4: is it one, and what is in it

export interface Mp4Info {
  /** ftyp major brand and compatible brands ('isom', ['isom', 'iso2', 'avc1', 'mp41']). */
  brand: string;
  compatible: string[];
  /** Top-level boxes in order. */
  boxes: string[];
  duration_s: number | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  /** Video samples (frames) in the first video track. */
  frames: number | null;
}

interface Box {
  type: string;
  start: number; // payload start
  end: number; // box end
}

/** The boxes in buf[from, to); throws on a box that runs past its parent (a truncated file). */
function boxes(buf: Buffer, from: number, to: number, where: string): Box[] {
  const out: Box[] = [];
  let pos = from;
  while (pos < to) {
    if (to - pos < 8) throw new Error(`${where}: ${to - pos} stray bytes at ${pos} (truncated?)`);
    let size = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    let header = 8;
    if (size === 1) {
      if (to - pos < 16) throw new Error(`${where}: box ${JSON.stringify(type)} at ${pos} is cut short (truncated)`);
      size = Number(buf.readBigUInt64BE(pos + 8));
      header = 16;
    } else if (size === 0) size = to - pos;
    if (!/^[\x20-\x7e]{4}$/.test(type)) throw new Error(`${where}: no box at byte ${pos}`);
    if (size < header) throw new Error(`${where}: box ${type} at ${pos} has an impossible size ${size}`);
    if (pos + size > to) throw new Error(`${where}: box ${type} at ${pos} declares ${size} bytes but ${to - pos} are left (truncated)`);
    out.push({ type, start: pos + header, end: pos + size });
    pos += size;
  }
  return out;
}

const child = (buf: Buffer, b: Box, type: string) => boxes(buf, b.start, b.end, b.type).find((c) => c.type === type);

/** Check that `buf` is a whole MP4 and read its duration, frame rate and size. Throws when it is not. */
export function probeMp4(buf: Buffer): Mp4Info {
  if (buf.length < 16 || buf.toString('latin1', 4, 8) !== 'ftyp') {
    const head = buf.subarray(0, 16).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    throw new Error(`not an MP4: no ftyp box at the start (${buf.length} bytes, starting ${JSON.stringify(head)})`);
  }
  const top = boxes(buf, 0, buf.length, 'mp4');
  const ftyp = top[0]!;
  const brand = buf.toString('latin1', ftyp.start, ftyp.start + 4);
  const compatible: string[] = [];
  for (let i = ftyp.start + 8; i + 4 <= ftyp.end; i += 4) compatible.push(buf.toString('latin1', i, i + 4));
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) throw new Error(`MP4 without a moov box (boxes: ${top.map((b) => b.type).join(', ')}): truncated or unfinished`);
  if (!top.some((b) => b.type === 'mdat')) throw new Error('MP4 without media data (no mdat box)');

  let duration: number | null = null;
  const mvhd = child(buf, moov, 'mvhd');
  if (mvhd) {
    const v = buf[mvhd.start]!;
    const scale = buf.readUInt32BE(mvhd.start + (v === 1 ? 20 : 12));
    const dur = v === 1 ? Number(buf.readBigUInt64BE(mvhd.start + 24)) : buf.readUInt32BE(mvhd.start + 16);
    if (scale > 0) duration = dur / scale;
  }
  let width: number | null = null;
  let height: number | null = null;
  let fps: number | null = null;
  let frames: number | null = null;
  for (const trak of boxes(buf, moov.start, moov.end, 'moov').filter((b) => b.type === 'trak')) {
    const mdia = child(buf, trak, 'mdia');
    const hdlr = mdia && child(buf, mdia, 'hdlr');
    if (!mdia || !hdlr || buf.toString('latin1', hdlr.start + 8, hdlr.start + 12) !== 'vide') continue;
    const tkhd = child(buf, trak, 'tkhd');
    if (tkhd) {
      const at = tkhd.start + (buf[tkhd.start] === 1 ? 88 : 76);
      if (at + 8 <= tkhd.end) {
        width = Math.round(buf.readUInt32BE(at) / 65536);
        height = Math.round(buf.readUInt32BE(at + 4) / 65536);
      }
    }
    const mdhd = child(buf, mdia, 'mdhd');
    let trackSeconds: number | null = null;
    if (mdhd) {
      const v = buf[mdhd.start]!;
      const scale = buf.readUInt32BE(mdhd.start + (v === 1 ? 20 : 12));
      const dur = v === 1 ? Number(buf.readBigUInt64BE(mdhd.start + 24)) : buf.readUInt32BE(mdhd.start + 16);
      if (scale > 0 && dur > 0) trackSeconds = dur / scale;
    }
    const minf = child(buf, mdia, 'minf');
    const stbl = minf && child(buf, minf, 'stbl');
    const stts = stbl && child(buf, stbl, 'stts');
    if (stts) {
      const n = buf.readUInt32BE(stts.start + 4);
      let samples = 0;
      for (let i = 0; i < n && stts.start + 8 + i * 8 + 8 <= stts.end; i++) samples += buf.readUInt32BE(stts.start + 8 + i * 8);
      if (samples > 0) frames = samples;
    }
    if (trackSeconds && frames) fps = Math.round((frames / trackSeconds) * 1000) / 1000;
    if (duration === null || duration === 0) duration = trackSeconds;
    break;
  }
  return { brand, compatible, boxes: top.map((b) => b.type), duration_s: duration === null ? null : Math.round(duration * 1000) / 1000, width, height, fps, frames };
}

// ---------------------------------------------------------------------------------------------
// cost

/** USD for a plan from the price table, or null (with why). */
function planCost(plan: ModelPlan): { cost: number | null; note: string | null } {
  const p = priceFor(plan.priceKey)?.per_video_second;
  if (p === undefined) return { cost: null, note: `no per_video_second price for ${plan.priceKey} in the price table` };
  return { cost: Math.round(p * plan.duration * 1e6) / 1e6, note: null };
}

type EstimateInput = Pick<VideoRequest, 'model' | 'durationS' | 'startImage' | 'endImage'> & Partial<Pick<ReplicateVideoRequest, 'aspectRatio' | 'resolution'>>;

function estimatePlan(req: EstimateInput, o: { textToVideoModel?: string; resolutions?: Record<string, string> } = {}): ModelPlan | null {
  const routed = routeVideoModel(req.model, req, o.textToVideoModel);
  const a = videoAdapter(routed.model);
  if (!a) return null;
  const ar: AdapterRequest = {
    prompt: '',
    negativePrompt: null,
    startImage: req.startImage,
    endImage: req.endImage,
    durationS: req.durationS,
    aspectRatio: req.aspectRatio ?? '16:9',
    seed: 0,
    camera: null,
    resolution: req.resolution ?? o.resolutions?.[a.id],
  };
  return a.plan(ar);
}

/**
 * The cost a request would have, from the price table (what --max-cost compares), or null when
 * its model has no price or no adapter. Frames count by presence only (an end frame may switch
 * Kling to pro); their bytes are not read.
 */
export function estimateVideoCost(req: EstimateInput, o: { textToVideoModel?: string; resolutions?: Record<string, string> } = {}): number | null {
  const plan = estimatePlan(req, o);
  return plan ? planCost(plan).cost : null;
}

/** The batch's cost: the sum of the priced requests; lower_bound when some have no price (total null when none has). */
export function estimateBatchCost(
  requests: readonly EstimateInput[],
  o: { textToVideoModel?: string; resolutions?: Record<string, string> } = {},
): { total: number | null; lower_bound: boolean } {
  let total = 0;
  let priced = 0;
  for (const r of requests) {
    const c = estimateVideoCost(r, o);
    if (c !== null) {
      total += c;
      priced++;
    }
  }
  if (requests.length > 0 && priced === 0) return { total: null, lower_bound: true };
  return { total: Math.round(total * 1e6) / 1e6, lower_bound: priced < requests.length };
}

// ---------------------------------------------------------------------------------------------

export class ReplicateVideoBackend implements VideoBackend {
  readonly name = 'replicate' as const;
  readonly note = REPLICATE_VIDEO_NOTE;
  private readonly base: string;
  private readonly policy: RetryPolicy;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: ReplicateVideoBackendOptions) {
    registerSecret(opts.token);
    this.base = (opts.baseUrl || DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.policy = opts.policy ?? defaultRetryPolicy;
    this.log = opts.logger ?? silentLogger;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.sleep = opts.sleep ?? realSleep;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  estimateCost(req: Pick<VideoRequest, 'model' | 'durationS' | 'startImage' | 'endImage'>): number | null {
    return estimateVideoCost(req, this.opts);
  }

  /** The model that runs the request, its adapter's request, and the line that refuses it (null: it can run). */
  prepare(req: ReplicateVideoRequest): { model: string; adapter: VideoModelAdapter; areq: AdapterRequest; routeNote: string | null; problem: string | null } | { model: string; adapter: null; problem: string } {
    const routed = routeVideoModel(req.model, req, this.opts.textToVideoModel ?? TEXT_TO_VIDEO_DEFAULT);
    const adapter = videoAdapter(routed.model);
    if (!adapter) return { model: routed.model, adapter: null, problem: unknownModelLine(routed.model) };
    const areq = this.adapterRequest(req, adapter);
    return { model: routed.model, adapter, areq, routeNote: routed.note, problem: adapter.check(areq) };
  }

  private adapterRequest(req: ReplicateVideoRequest, adapter: VideoModelAdapter): AdapterRequest {
    return {
      prompt: req.prompt,
      negativePrompt: req.negativePrompt,
      startImage: req.startImage,
      endImage: req.endImage,
      durationS: req.durationS,
      aspectRatio: req.aspectRatio,
      seed: req.seed,
      camera: req.camera,
      requireEndFrame: req.requireEndFrame ?? this.opts.requireEndFrame,
      resolution: req.resolution ?? this.opts.resolutions?.[adapter.id],
    };
  }

  async generate(req: ReplicateVideoRequest): Promise<VideoResult> {
    const deadlineMs = req.deadlineMs ?? this.opts.deadlineMs ?? DEFAULT_VIDEO_DEADLINE_MS;
    const call: Call = { signal: req.signal, deadline: this.now() + deadlineMs, deadlineMs, requests: 0, retries: [] };
    this.checkAbort(call);
    const tried: string[] = [];
    let resume: Record<string, unknown> | undefined;

    if (req.resume) {
      const ref = req.resume;
      tried.push(ref.model);
      try {
        const r = await this.resumePrediction(ref, req, call);
        resume = { model: ref.model, prediction_id: ref.predictionId, outcome: 'completed' };
        return { ...r, provider: { ...r.provider, resumed_prediction: true, resume } };
      } catch (e) {
        this.checkAbort(call);
        const err = this.asStep(e, `${ref.model}: resumed prediction ${ref.predictionId}`);
        const outcome =
          err.code === 'not_found' ? 'not_found'
          : err.code === 'time_up' ? 'deadline'
          : err.code === 'failed' || err.code === 'canceled' ? err.code
          : err.code === 'expired' ? 'output_expired'
          : 'error';
        const reason = redact(err.message);
        // at the deadline nothing new may start; a 401/403 would fail the new one too
        const stop = err.fatal || outcome === 'deadline';
        resume = { model: ref.model, prediction_id: ref.predictionId, outcome, reason, fell_through: !stop };
        this.log.warn(`clip attempt ${req.attempt}: could not finish resumed prediction ${ref.predictionId} (${outcome}): ${reason}${stop ? '' : '; creating a new one'}`);
        if (stop) throw new GenerationFailed(reason, call.requests, tried);
      }
    }

    const prep = this.prepare(req);
    if (!prep.adapter) throw usageError(prep.problem);
    if (prep.problem) throw usageError(prep.problem);
    const { model, adapter, areq, routeNote } = prep;
    tried.push(model);
    try {
      const r = await this.createAndFinish(model, adapter, areq, routeNote, req, call);
      return { ...r, provider: { ...r.provider, resumed_prediction: false, ...(resume ? { resume } : {}) } };
    } catch (e) {
      this.checkAbort(call);
      const err = this.asStep(e, model);
      const reason = redact(err.message);
      this.log.warn(`clip attempt ${req.attempt}: ${model} failed: ${reason}`);
      throw new GenerationFailed(resume ? `${reason} (after resumed prediction ${String(resume.prediction_id)}: ${String(resume.outcome)})` : reason, call.requests, tried);
    }
  }

  private checkAbort(call: Call): void {
    if (call.signal?.aborted) throw abortError(call.signal);
  }

  private asStep(e: unknown, what: string): StepError {
    if (e instanceof StepError) return e;
    return new StepError(`${what}: ${clip(e instanceof Error ? e.message : String(e), 300)}`);
  }

  private timeUp(call: Call, what: string): StepError {
    return new StepError(`${what}: the ${secs(call.deadlineMs)} deadline was reached`, { fatal: true, code: 'time_up' });
  }

  /** Sleep `ms`, never past the deadline (then time is up) and never past an abort. */
  private async pause(ms: number, call: Call, what: string): Promise<void> {
    const left = call.deadline - this.now();
    if (left <= 0) throw this.timeUp(call, what);
    try {
      await this.sleep(Math.min(ms, left), call.signal);
    } catch (e) {
      this.checkAbort(call);
      throw e;
    }
    if (this.now() >= call.deadline) throw this.timeUp(call, what);
  }

  /** One logical request with HTTP retries; every try and wait is cut at the deadline. */
  private async retrying<T>(what: string, fn: (signal: AbortSignal, timeoutMs: number) => Promise<T>, call: Call, timeoutMs: number): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.checkAbort(call);
      const left = call.deadline - this.now();
      if (left <= 0) throw this.timeUp(call, what);
      call.requests++;
      const ms = Math.max(1, Math.min(timeoutMs, left));
      const cut = AbortSignal.timeout(ms);
      const signal = call.signal ? AbortSignal.any([call.signal, cut]) : cut;
      let err: StepError;
      try {
        return await fn(signal, ms);
      } catch (e) {
        this.checkAbort(call);
        if (e instanceof StepError) err = e;
        else if (cut.aborted) err = ms < timeoutMs ? this.timeUp(call, what) : new StepError(`${what}: no answer within ${secs(ms)}`, { retry: true });
        else {
          const cause = (e as { cause?: { code?: string } }).cause?.code;
          err = new StepError(`${what}: network error (${clip(String(cause ?? (e as Error).message ?? 'fetch failed'), 120)})`, { retry: true, status: 0 });
        }
      }
      if (!err.retry || attempt >= this.policy.retries) throw err;
      const wait = err.afterMs ?? backoffMs(attempt, this.policy, this.random);
      if (this.now() + wait >= call.deadline)
        throw new StepError(`${err.message}; not retried: the next try in ${secs(wait)} would pass the ${secs(call.deadlineMs)} deadline`, { status: err.status, fatal: true, code: 'time_up' });
      call.retries.push({ what, status: err.status ?? null, wait_ms: wait });
      this.log.debug(`${err.message}; retry ${attempt + 1} in ${wait} ms`);
      await this.pause(wait, call, what);
    }
  }

  /** An API error response as a StepError (the provider's reason redacted, then clipped). */
  private async apiError(res: Response, what: string): Promise<StepError> {
    const status = res.status;
    const text = await res.text().catch(() => '');
    let detail = text;
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
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
    const reason = clip(detail.replace(/\s+/g, ' ').trim() || res.statusText || 'no body', 200);
    const ra = parseRetryAfter(res.headers.get('retry-after'));
    if (status === 429) {
      if (ra !== undefined && ra > MAX_RETRY_AFTER_MS) return new StepError(`${what}: HTTP 429, retry-after ${secs(ra)} is too long`, { status });
      return new StepError(`${what}: HTTP 429 rate limited`, { retry: true, afterMs: ra, status });
    }
    if (status >= 500 || status === 408 || status === 409) return new StepError(`${what}: HTTP ${status} ${reason}`, { retry: true, afterMs: ra, status });
    if (status === 401 || status === 403) return new StepError(`${what}: HTTP ${status} ${reason} (check REPLICATE_API_TOKEN)`, { status, fatal: true });
    if (status === 404) return new StepError(`${what}: HTTP 404 not found (${reason})`, { status, code: 'not_found' });
    return new StepError(`${what}: HTTP ${status} ${reason}`, { status });
  }

  private async api(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal, what: string): Promise<Prediction> {
    const res = await this.fetchFn(`${this.base}${path}`, {
      method,
      signal,
      headers: {
        authorization: `Bearer ${this.opts.token}`,
        'user-agent': 'loop-cli',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw await this.apiError(res, what);
    let p: Prediction;
    try {
      p = (await res.json()) as Prediction;
    } catch (e) {
      throw new StepError(`${what}: unreadable answer (${clip((e as Error).message, 120)})`, { retry: true, status: res.status });
    }
    if (!p || typeof p.id !== 'string' || typeof p.status !== 'string') throw new StepError(`${what}: the answer is not a prediction`, { retry: true, status: res.status });
    return p;
  }

  private getPrediction(id: string, call: Call, what: string): Promise<Prediction> {
    return this.retrying(what, (s) => this.api('GET', `/predictions/${encodeURIComponent(id)}`, undefined, s, what), call, this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS);
  }

  /** Best effort: one request with its own short timeout (the deadline may have passed). */
  private async cancel(id: string): Promise<boolean> {
    try {
      const res = await this.fetchFn(`${this.base}/predictions/${encodeURIComponent(id)}/cancel`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.opts.token}`, 'user-agent': 'loop-cli' },
        signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok;
    } catch {
      return false;
    }
  }

  /** The gap before poll n (0-based): 2 s x 1.5^n up to 15 s, jittered +-20 %. */
  pollDelay(n: number): number {
    const first = this.opts.firstPollMs ?? FIRST_POLL_MS;
    const max = Math.max(first, this.opts.maxPollMs ?? MAX_POLL_MS);
    const j = this.opts.pollJitter ?? POLL_JITTER;
    const base = Math.min(max, first * (this.opts.pollFactor ?? POLL_FACTOR) ** n);
    return Math.max(1, Math.round(base * (1 + j * (2 * this.random() - 1))));
  }

  /**
   * Poll until the prediction settles. At the deadline: left running when someone can resume it
   * (`resumable`), else canceled (best effort). An abort leaves it running.
   */
  private async settle(model: string, first: Prediction, call: Call, resumable: boolean): Promise<{ p: Prediction; polls: number; gaps: number[] }> {
    let p = first;
    const gaps: number[] = [];
    try {
      while (running(p)) {
        const gap = this.pollDelay(gaps.length);
        await this.pause(gap, call, `${model}: prediction ${p.id}`);
        gaps.push(gap);
        p = await this.getPrediction(first.id, call, `${model}: poll prediction ${first.id}`);
      }
      return { p, polls: gaps.length, gaps };
    } catch (e) {
      this.checkAbort(call);
      const err = this.asStep(e, model);
      const left = resumable ? 'left running: a retry with its id resumes it' : (await this.cancel(first.id)) ? 'canceled' : 'cancel failed';
      if (err.code === 'time_up')
        throw new StepError(`${model}: prediction ${first.id} still ${p.status} at the ${secs(call.deadlineMs)} deadline (${gaps.length} polls); ${left}`, { fatal: true, code: 'time_up' });
      throw new StepError(`${err.message}; prediction ${first.id} ${left}`, { status: err.status, fatal: err.fatal, code: err.code });
    }
  }

  private async record(model: string, id: string, req: VideoRequest, call: Call): Promise<boolean | null> {
    if (!req.onPrediction) return null;
    try {
      await req.onPrediction({ model, predictionId: id });
      return true;
    } catch (e) {
      this.checkAbort(call);
      this.log.warn(`clip attempt ${req.attempt}: could not record prediction ${id} (${clip(e instanceof Error ? e.message : String(e), 200)}); going on`);
      return false;
    }
  }

  private async createAndFinish(model: string, adapter: VideoModelAdapter, areq: AdapterRequest, routeNote: string | null, req: VideoRequest, call: Call): Promise<VideoResult> {
    const { input, fields, notes } = adapter.input(areq);
    const plan = adapter.plan(areq);
    const { bare, version } = modelRef(model);
    const t0 = this.now();
    const what = `${model}: create prediction`;
    // no `Prefer: wait`: the id must reach onPrediction before anything is waited on
    const created = await this.retrying(
      what,
      (s) => this.api('POST', version ? '/predictions' : `/models/${bare}/predictions`, version ? { version, input } : { input }, s, what),
      call,
      this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    );
    const createMs = this.now() - t0;
    const recorded = await this.record(model, created.id, req, call);
    const t1 = this.now();
    const { p, polls, gaps } = await this.settle(model, created, call, recorded === true);
    return this.finish(model, adapter, areq, plan, p, call, {
      routeNote,
      notes,
      fields,
      inputFields: Object.keys(input),
      extra: { polls, poll_gaps_ms: gaps, create_ms: createMs, wait_ms: this.now() - t1, prediction_recorded: recorded, version: version ?? null },
    });
  }

  private async resumePrediction(ref: PredictionRef, req: ReplicateVideoRequest, call: Call): Promise<VideoResult> {
    const adapter = videoAdapter(ref.model);
    if (!adapter) throw new StepError(`${unknownModelLine(ref.model)}: cannot finish its prediction`);
    const areq = this.adapterRequest(req, adapter);
    const plan = adapter.plan(areq);
    const { input, fields, notes } = adapter.input(areq);
    // the note a routed clip had when it was created (ref.model is the model that really ran)
    const routeNote = modelRef(ref.model).bare !== modelRef(req.model).bare ? routeVideoModel(req.model, req, ref.model).note : null;
    const t1 = this.now();
    const first = await this.getPrediction(ref.predictionId, call, `${ref.model}: get prediction ${ref.predictionId}`);
    const { p, polls, gaps } = await this.settle(ref.model, first, call, true);
    return this.finish(ref.model, adapter, areq, plan, p, call, {
      routeNote,
      notes,
      fields,
      inputFields: Object.keys(input),
      extra: { polls: polls + 1, poll_gaps_ms: gaps, create_ms: null, wait_ms: this.now() - t1, prediction_recorded: null, version: modelRef(ref.model).version ?? null },
    });
  }

  /** A settled prediction: its MP4, downloaded and checked, or why there is none. */
  private async finish(
    model: string,
    adapter: VideoModelAdapter,
    areq: AdapterRequest,
    plan: ModelPlan,
    p: Prediction,
    call: Call,
    o: { routeNote: string | null; notes: string[]; fields: Record<string, string>; inputFields: string[]; extra: Record<string, unknown> },
  ): Promise<VideoResult> {
    if (p.status === 'failed')
      throw new StepError(`${model}: prediction ${p.id} failed: ${clip(typeof p.error === 'string' ? p.error : JSON.stringify(p.error ?? 'no reason given'), 300)}`, { code: 'failed' });
    if (p.status === 'canceled') throw new StepError(`${model}: prediction ${p.id} was canceled`, { code: 'canceled' });
    const url = outputUrl(p.output);
    if (!url)
      throw new StepError(
        p.data_removed ? `${model}: prediction ${p.id} succeeded but its output was removed (outputs expire about an hour after the prediction)` : `${model}: prediction ${p.id} succeeded without a video URL in its output`,
        { code: 'expired' },
      );
    const t2 = this.now();
    const video = await this.retrying(`${model}: download output`, (s) => this.download(url, s), call, this.opts.downloadTimeoutMs ?? DOWNLOAD_TIMEOUT_MS);
    const downloadMs = this.now() - t2;
    const { cost, note: costNote } = planCost(plan);
    const u = new URL(url);
    const frameNote = [o.routeNote, ...plan.frameNotes].filter((x): x is string => Boolean(x)).join('; ') || null;
    const mp4 = video.info;
    return {
      bytes: video.bytes,
      model,
      duration_s: mp4.duration_s ?? plan.duration,
      fps: mp4.fps ?? plan.fps,
      width: mp4.width || plan.width,
      height: mp4.height || plan.height,
      cost_usd: cost,
      frames_used: { start: Boolean(o.fields.start), end: Boolean(o.fields.end), fields: o.fields, note: frameNote },
      provider: {
        prediction_id: p.id,
        status: p.status,
        model,
        adapter: adapter.id,
        schema_source: adapter.source,
        input_fields: o.inputFields,
        frames_sent_as: o.fields.start || o.fields.end ? 'data URI' : null,
        duration_asked_s: plan.duration,
        resolution: plan.resolution,
        notes: [...(o.routeNote ? [o.routeNote] : []), ...o.notes],
        predict_time_s: p.metrics?.predict_time ?? null,
        ...o.extra,
        download_ms: downloadMs,
        http_requests: call.requests,
        http_retries: call.retries,
        output_url: `${u.origin}${u.pathname}`,
        output_bytes: video.bytes.length,
        output_content_type: video.contentType,
        mp4: { brand: mp4.brand, compatible: mp4.compatible, boxes: mp4.boxes, frames: mp4.frames, measured: mp4.duration_s !== null && mp4.width !== null },
        price_key: plan.priceKey,
        price_known: cost !== null,
        cost_basis: 'per second asked of the model (what it bills)',
        ...(costNote ? { cost_note: costNote } : {}),
        ...(areq.requireEndFrame ? { end_frame_required: true } : {}),
      },
    };
  }

  /** Fetch the output (no token: delivery URLs are public) and accept only a whole MP4. */
  private async download(url: string, signal: AbortSignal): Promise<{ bytes: Buffer; info: Mp4Info; contentType: string | null }> {
    const res = await this.fetchFn(url, { signal, headers: { 'user-agent': 'loop-cli' } });
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      const status = res.status;
      const retry = status === 429 || status >= 500 || status === 408;
      const gone = status === 404 || status === 410;
      throw new StepError(`download: HTTP ${status}${gone ? ' (the output is gone: outputs expire about an hour after the prediction)' : ''}`, {
        retry,
        afterMs: retry ? parseRetryAfter(res.headers.get('retry-after')) : undefined,
        status,
        code: gone ? 'expired' : undefined,
      });
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > MAX_DOWNLOAD_BYTES) throw new StepError(`download: ${declared} bytes is more than a clip should be`);
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await res.arrayBuffer());
    } catch (e) {
      if (signal.aborted) throw e;
      throw new StepError(`download: connection dropped mid-body (${clip((e as Error).message, 160)})`, { retry: true });
    }
    let info: Mp4Info;
    try {
      info = probeMp4(bytes);
    } catch (e) {
      throw new StepError(`download: ${clip((e as Error).message, 240)}`, { retry: true, code: 'not_mp4' });
    }
    return { bytes, info, contentType: res.headers.get('content-type') };
  }
}
