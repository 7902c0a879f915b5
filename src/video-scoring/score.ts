/**
 * Video scoring: every dimension of dimensions.ts from ONE decode of each video (frames.ts), the
 * model dimensions on the same inference host as image scoring.
 *
 * Models (loaded once per scorer, lazily, and kept):
 *   - the image scorer's CLIP (default clip-vit-large-patch14): one vision pass per sampled frame
 *     serves background_consistency, text_alignment (CLIPScore) and the LAION aesthetic head;
 *   - DINO ViT-B/16 (`dino-vitb16`: onnx/model.onnx + preprocessor_config.json; the CLS token of
 *     last_hidden_state, as VBench's torch-hub DINO gives): subject_consistency.
 *   - a vision chat model (LOOP_VQA_MODEL, remote, paid): text_alignment_vqa, VQAScore on
 *     `vqaFrames` frames spread over the clip (frames.ts spreadFrameIndices), asked while the
 *     decode goes on, one client and in-flight limit per scorer.
 * scoreVideos with a `cache` reuses the dimensions of video bytes scored before (score-cache.ts).
 * A model that is not installed makes its dimensions "unavailable" with the reason, as image scoring
 * does. To share sessions with an image scorer (a worker holding every model once), give both the
 * same InferenceHost: `host.load` returns the session already loaded for a model file and device.
 *
 * Bounded work per video: frames for the models go through in batches (`batchSize`), at most two
 * batches in flight while the decode and the flow continue.
 *
 * Threads (`analysisThreads`, analysis-pool.ts): by default each video's decode and its model-free
 * dimensions (flickering, dynamic degree, motion smoothness, the boundary frames: the classical flow
 * is most of the CPU) run in an analysis thread, still one ffmpeg pipe per video; its model frames
 * come back to this thread, moved, for the model dimensions on the scorer's host. scoreVideos
 * scores as many videos at once as there are threads. The scores are the same as in-process
 * (`analysisThreads: 0`, and what `decode: 'per-dimension'` always uses), where every dimension
 * reads the frames on this thread.
 */
import { join } from 'node:path';
import { loadEnv } from '../config/env.js';
import type { GenerationCache } from '../cache/generation-cache.js';
import { LoopError } from '../errors.js';
import { sha256File } from '../lib/hash.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { modelDir, resolveModelsDir } from '../models/store.js';
import { loadAnchors, type Anchors } from '../scoring/anchors.js';
import { embedBatch, embedTexts, hashFiles, l2normalize, loadClip, ModelUnavailable, requireFiles, type ClipModel } from '../scoring/clip.js';
import { createInlineHost, createThreadHost, type InferenceHost, type SessionInfo } from '../scoring/inference-host.js';
import { aestheticScores, loadAesthetic, type AestheticHead } from '../scoring/metrics/aesthetic.js';
import { technicalQuality } from '../scoring/metrics/technical.js';
import { createVqaAsker, vqaConfigFromEnv, type VqaAsker, type VqaConfig } from '../scoring/metrics/vqa-score.js';
import { loadPreprocess, preprocessImage, type Preprocess } from '../scoring/preprocess.js';
import { deviceLabel, parseDevice, type Device } from '../scoring/runtime.js';
import { DEFAULT_CLIP_MODEL } from '../scoring/scorer.js';
import type { MetricResult } from '../scoring/types.js';
import { createAnalysisPool, defaultAnalysisThreads, ThreadUnavailable, type AnalysisDone, type AnalysisPool } from './analysis-pool.js';
import { BoundaryAcc, type BoundaryFrames, type FrameEmbedder, type RawFrame } from './continuity.js';
import {
  addTechnical,
  aestheticResult,
  combineDimensions,
  commonDimensions,
  ConsistencyAcc,
  consistencyResult,
  DIMENSION_IDS,
  DynamicAcc,
  FlickerAcc,
  imagingResult,
  MeanAcc,
  OVERALL_NOTE,
  SmoothnessAcc,
  textAlignmentResult,
  unavailableDimension,
  vqaAlignmentResult,
  VBENCH_BACKGROUND_CLIP,
  VIDEO_ANCHORS_VERSION,
  VIDEO_WEIGHTS,
  type DimensionId,
  type DimensionResult,
} from './dimensions.js';
import { decodedFrame, decodeInto, DEFAULT_MAX_DURATION_S, planFrames, probeVideo, spreadFrameIndices, type DecodedFrame, type FrameConsumer, type FramePlan, type PlanOptions } from './frames.js';

export const DINO_MODEL = 'dino-vitb16';
export const DINO_FILES = ['onnx/model.onnx', 'preprocessor_config.json'];
const MAX_INFLIGHT_BATCHES = 2;
/** Frames per video a VQA model is asked about (a paid request each). */
export const DEFAULT_VQA_FRAMES = 4;

export interface VideoScorerOptions extends PlanOptions {
  device?: string | Device;
  modelsDir?: string;
  logger?: Logger;
  /** 'thread' (default): sessions in a worker thread; 'inline'; or a host shared with an image scorer. */
  host?: InferenceHost | 'thread' | 'inline';
  /** CLIP for background consistency, text alignment and the aesthetic head (default clip-vit-large-patch14). */
  clipModel?: string;
  /** DINO for subject consistency (default dino-vitb16). */
  dinoModel?: string;
  anchors?: Anchors;
  /** Overall weights by dimension (default VIDEO_WEIGHTS). */
  weights?: Partial<Record<DimensionId, number>>;
  /** Frames per model run (default 8). */
  batchSize?: number;
  /** VQAScore (text_alignment_vqa): undefined: from the environment (LOOP_VQA_*); null: off; or a config or an asker to share. */
  vqa?: VqaConfig | VqaAsker | null;
  /** Frames per video sent to the VQA model, spread over the clip (default 4). */
  vqaFrames?: number;
  /** Longer videos are unscorable (default 120 s). */
  maxDurationS?: number;
  /**
   * Analysis threads: each decodes a video and computes its model-free dimensions while the model
   * frames come back to this thread; scoreVideos scores this many videos at once. 0: everything on
   * this thread, one video after another. Default: the cores but one, at least 2, at most 8.
   */
  analysisThreads?: number;
}

export interface VideoAvailability {
  device: string;
  available: DimensionId[];
  unavailable: Partial<Record<DimensionId, string>>;
  models: Record<string, { id: string; file_hashes: Record<string, string> }>;
  warnings: string[];
  /** Installed models that failed to load or have the wrong signature (not: not installed). */
  model_errors: string[];
}

export interface VideoScores {
  dimensions: Record<DimensionId, DimensionResult>;
  /** 0–100 over the available dimensions (set-wide in scoreVideos); not a VBench total. */
  overall: number | null;
  /** The same weighted mean over the unclamped values: what videos are ranked by. */
  rank_key: number | null;
  weights_used: Partial<Record<DimensionId, number>>;
  overall_note: string;
  anchors_version: string;
  video: { width: number; height: number; fps: number; duration_s: number; frames_decoded: number; codec: string };
  analysis: {
    working_size: [number, number];
    flow_size: [number, number];
    flow_interval: number;
    model_interval: number;
    fps_assumed: boolean;
    /** ffmpeg pipes opened for this video: 1 when decoded once. */
    pipes: number;
    decode_ms: number;
  };
  prompt: string | null;
  prompt_truncated: boolean;
  /** Paid requests (VQAScore) for this video, USD; null: a model without a price (see the dimension). 0 on a cache hit. */
  cost_usd: number | null;
  /** Set when these scores came from the score cache (score-cache.ts) instead of a decode. */
  cache?: { status: 'hit'; key: string; original_cost_usd: number | null; cached_at: string };
  scored_at: string;
  duration_ms: number;
}

export interface VideoScoreResult {
  path: string;
  /** null: unscorable, `error` says why. */
  scores: VideoScores | null;
  error?: string;
  /** First and last frames (working size), when asked for (storyboard continuity). */
  boundary?: BoundaryFrames;
  /** Every dimension ran without a transient failure (a model run, a VQA request): safe to cache. */
  cacheable?: boolean;
}

export interface ScoreOneOptions {
  prompt?: string | null;
  boundary?: boolean;
  /** 'once' (default): one ffmpeg pipe feeds every dimension; 'per-dimension': one decode per dimension (benchmarks). */
  decode?: 'once' | 'per-dimension';
  signal?: AbortSignal;
}

export interface VideoScorer {
  score(path: string, o?: ScoreOneOptions): Promise<VideoScoreResult>;
  availability(): Promise<VideoAvailability>;
  /** What decides this scorer's dimensions for a given video and prompt (the score cache's key). */
  identity(): Promise<Record<string, unknown>>;
  /** CLIP image embeddings of raw frames (storyboard continuity), or why not. */
  embedFrames: FrameEmbedder;
  readonly weights: Partial<Record<DimensionId, number>>;
  readonly anchors: Anchors;
  readonly anchorsVersion: string;
  /** Videos scoreVideos scores at once with this scorer (its analysis threads; 1 without). */
  readonly concurrency?: number;
  /** Start the analysis threads a set of this many videos will use (they start anyway on the first score). */
  warm?(videos: number): void;
  stats(): { runs: Record<string, number>; loads: number; host: 'thread' | 'inline'; analysis?: { threads: number; jobs: number; fallbacks: number } };
  close(): Promise<void>;
}

interface DinoModel {
  id: string;
  session: SessionInfo;
  output: string;
  preprocess: Preprocess;
  fileHashes: Record<string, string>;
}

interface Loaded {
  clip?: ClipModel;
  dino?: DinoModel;
  aesthetic?: AestheticHead;
  vqa?: VqaAsker;
  unavailable: Partial<Record<DimensionId, string>>;
  warnings: string[];
  modelErrors: string[];
}

const errLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0] ?? '';

async function loadDino(host: InferenceHost, modelsDir: string, id: string, device: Device): Promise<DinoModel> {
  const dir = modelDir(modelsDir, id);
  requireFiles(id, dir, DINO_FILES); // not installed: one line saying how to get it (loop models pull dino-vitb16)
  const hashes = hashFiles(dir, DINO_FILES);
  hashes.catch(() => {});
  const preprocess = loadPreprocess(join(dir, 'preprocessor_config.json'));
  preprocess.catch(() => {});
  const session = await host.load(join(dir, 'onnx/model.onnx'), device);
  if (!session.inputNames.includes('pixel_values')) throw new ModelUnavailable(`${id}: onnx/model.onnx has no pixel_values input (has ${session.inputNames.join(', ')})`);
  const output = ['image_embeds', 'last_hidden_state'].find((o) => session.outputNames.includes(o));
  if (!output) throw new ModelUnavailable(`${id}: onnx/model.onnx has neither image_embeds nor last_hidden_state (has ${session.outputNames.join(', ')})`);
  let prep = await preprocess;
  if (!prep.cfg.do_center_crop) {
    // without a crop the output is the resize size (ViTImageProcessor: {height, width})
    const size = prep.cfg.size;
    if (typeof size === 'object' && 'height' in size) prep = { ...prep, height: size.height, width: size.width };
    else throw new ModelUnavailable(`${id}: preprocessor_config.json resizes the shortest edge without a crop, so frames of other shapes would not fit one batch; give size {height, width} or do_center_crop`);
  }
  return { id, session, output, preprocess: prep, fileHashes: await hashes };
}

/** Rows of [N, D], or the first (CLS) token of [N, T, D]; L2-normalised. */
function featureRows(dims: readonly number[], data: Float32Array): Float32Array[] {
  const n = dims[0]!;
  const d = dims[dims.length - 1]!;
  const stride = dims.length === 3 ? dims[1]! * d : d;
  return Array.from({ length: n }, (_, i) => l2normalize(data.slice(i * stride, i * stride + d)));
}

async function encodePng(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  return sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
}

/** Which model dimensions one model stage computes. */
type ModelDim = 'subject_consistency' | 'background_consistency' | 'aesthetic_quality' | 'imaging_quality' | 'text_alignment' | 'text_alignment_vqa';
const MODEL_DIMS: ModelDim[] = ['subject_consistency', 'background_consistency', 'aesthetic_quality', 'imaging_quality', 'text_alignment', 'text_alignment_vqa'];

interface BatchOut {
  technical: MetricResult[];
  clip?: Float32Array[];
  dino?: Float32Array[];
  aesthetic?: MetricResult[];
  errors: Partial<Record<ModelDim, string>>;
}

interface StageCtx {
  host: InferenceHost;
  lm: Loaded;
  anchors: Anchors;
  batchSize: number;
  textEmbed?: Float32Array;
  prompt: string | null;
  /** Frame indices sent to the VQA model (model-sampled frames, spreadFrameIndices). */
  vqaAt: Set<number>;
  signal?: AbortSignal;
}

/** What one video's decode gave every dimension. */
interface Analysis {
  frames: number;
  decodeMs: number;
  pipes: number;
  flicker: DimensionResult;
  dynamic: DimensionResult;
  smooth: DimensionResult;
  boundary: BoundaryFrames | null;
  stages: ModelStage[];
}

/** A view of a moved frame as a Buffer (no copy). */
const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** The model-sampled frames: PNG once, preprocessed per model, batched through the host. */
class ModelStage implements FrameConsumer {
  private pending: Promise<Uint8Array>[] = [];
  private inflight: Promise<void>[] = [];
  private chain: Promise<void> = Promise.resolve();
  readonly subject = new ConsistencyAcc();
  readonly background = new ConsistencyAcc();
  readonly aesthetic = new MeanAcc();
  readonly text = new MeanAcc();
  readonly imaging = new MeanAcc();
  readonly imagingParts: Record<string, MeanAcc> = {};
  readonly errors: Partial<Record<ModelDim, string>> = {};
  private readonly vqa: Promise<{ index: number; result: MetricResult }>[] = [];
  private vqaDone: { index: number; result: MetricResult }[] = [];

  constructor(
    private readonly wants: Set<ModelDim>,
    private readonly ctx: StageCtx,
  ) {}

  private get needClip() {
    return !!this.ctx.lm.clip && (this.wants.has('background_consistency') || this.wants.has('aesthetic_quality') || this.wants.has('text_alignment'));
  }
  private get needDino() {
    return !!this.ctx.lm.dino && this.wants.has('subject_consistency');
  }

  frame(f: DecodedFrame): void | Promise<void> {
    if (!f.modelSample) return;
    const p = encodePng(Buffer.from(f.rgb), f.width, f.height);
    p.catch(() => {});
    this.pending.push(p);
    const { lm, prompt, vqaAt, anchors, signal } = this.ctx;
    if (lm.vqa && prompt && vqaAt.has(f.index) && this.wants.has('text_alignment_vqa')) {
      // remote and slow: asked now, beside the decode and the model batches, gathered in finish()
      const index = f.index;
      const q = p
        .then((png) => lm.vqa!.ask(`data:image/png;base64,${asBuffer(png).toString('base64')}`, prompt, anchors.metrics.vqa_score, signal))
        .then((result) => ({ index, result }));
      q.catch(() => {});
      this.vqa.push(q);
    }
    if (this.pending.length >= this.ctx.batchSize) return this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    const out = Promise.all(batch).then((pngs) => this.run(pngs));
    out.catch(() => {});
    const done = (this.chain = this.chain.then(() => out).then((o) => this.consume(o)));
    done.catch(() => {});
    this.inflight.push(done);
    while (this.inflight.length > MAX_INFLIGHT_BATCHES) await this.inflight.shift();
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.chain;
    this.vqaDone = await Promise.all(this.vqa);
  }

  private async pixels(pngs: Uint8Array[], p: Preprocess): Promise<{ data: Float32Array; dims: number[] }> {
    const stride = 3 * p.height * p.width;
    const data = new Float32Array(pngs.length * stride);
    await Promise.all(pngs.map((b, j) => preprocessImage(b, p, data.subarray(j * stride, (j + 1) * stride))));
    return { data, dims: [pngs.length, 3, p.height, p.width] };
  }

  private async run(pngs: Uint8Array[]): Promise<BatchOut> {
    const { host, lm, anchors } = this.ctx;
    const out: BatchOut = { technical: [], errors: {} };
    const tech = this.wants.has('imaging_quality') ? Promise.all(pngs.map((b) => technicalQuality(b, anchors))) : Promise.resolve([]);
    const clipP = this.needClip
      ? this.pixels(pngs, lm.clip!.preprocess).then((b) => embedBatch(host, [lm.clip!], b)).then((r) => (out.clip = r[0]!))
      : undefined;
    const dinoP = this.needDino
      ? this.pixels(pngs, lm.dino!.preprocess)
          .then((b) => host.run(lm.dino!.session.key, { pixel_values: { type: 'float32', dims: b.dims, data: b.data } }, [lm.dino!.output], { transfer: true }))
          .then((r) => (out.dino = featureRows(r[lm.dino!.output]!.dims, r[lm.dino!.output]!.data as Float32Array)))
      : undefined;
    const settle = async (p: Promise<unknown> | undefined, dims: ModelDim[], what: string) => {
      try {
        await p;
      } catch (e) {
        for (const d of dims) out.errors[d] ??= `${what} failed: ${errLine(e)}`;
      }
    };
    await Promise.all([
      settle(clipP, ['background_consistency', 'aesthetic_quality', 'text_alignment'], lm.clip?.id ?? 'CLIP'),
      settle(dinoP, ['subject_consistency'], lm.dino?.id ?? 'DINO'),
    ]);
    if (out.clip && lm.aesthetic && this.wants.has('aesthetic_quality'))
      try {
        out.aesthetic = await aestheticScores(host, lm.aesthetic, out.clip, anchors.metrics.aesthetic);
      } catch (e) {
        out.errors.aesthetic_quality ??= `aesthetic head failed: ${errLine(e)}`;
      }
    try {
      out.technical = await tech;
    } catch (e) {
      out.errors.imaging_quality ??= `technical quality failed: ${errLine(e)}`;
    }
    return out;
  }

  private consume(o: BatchOut) {
    for (const [d, why] of Object.entries(o.errors)) this.errors[d as ModelDim] ??= why;
    for (const t of o.technical) addTechnical(this.imaging, this.imagingParts, t);
    if (o.clip) {
      if (this.wants.has('background_consistency')) for (const e of o.clip) this.background.push(e);
      const te = this.ctx.textEmbed;
      if (te && this.wants.has('text_alignment'))
        for (const e of o.clip) {
          let c = 0;
          for (let i = 0; i < e.length; i++) c += e[i]! * te[i]!;
          this.text.add(100 * Math.max(c, 0));
        }
    }
    if (o.aesthetic) for (const a of o.aesthetic) if (a.available) this.aesthetic.add(a.raw);
    if (o.dino && this.wants.has('subject_consistency')) for (const e of o.dino) this.subject.push(e);
  }

  /** No model run failed and every VQA request was answered. */
  clean(): boolean {
    return !Object.keys(this.errors).length && this.vqaDone.every((v) => v.result.available);
  }

  /** What the answered VQA requests cost (a failed dimension's answered frames were paid too); null: a model without a price. */
  cost(): number | null {
    let sum = 0;
    for (const { result } of this.vqaDone) {
      if (!result.available) continue;
      const c = result.detail?.cost_usd;
      if (typeof c !== 'number') return null;
      sum += c;
    }
    return sum;
  }

  results(plan: FramePlan, truncated: boolean): Partial<Record<ModelDim, DimensionResult>> {
    const { lm, anchors } = this.ctx;
    const r: Partial<Record<ModelDim, DimensionResult>> = {};
    const failed = (d: ModelDim) => (this.errors[d] ? unavailableDimension(this.errors[d]!) : undefined);
    for (const d of this.wants) {
      if (d === 'subject_consistency' && lm.dino)
        r[d] = failed(d) ?? consistencyResult(this.subject, d, { id: lm.dino.id, fileHashes: lm.dino.fileHashes, what: `${lm.dino.id} CLS features` }, plan, null);
      else if (d === 'background_consistency' && lm.clip)
        r[d] =
          failed(d) ??
          consistencyResult(
            this.background,
            d,
            { id: lm.clip.id, fileHashes: visionHashes(lm.clip), what: `${lm.clip.id} image embeddings` },
            plan,
            lm.clip.id === VBENCH_BACKGROUND_CLIP ? null : `VBench uses CLIP ViT-B/32 (${VBENCH_BACKGROUND_CLIP}); this uses ${lm.clip.id}, the CLIP image scoring holds`,
          );
      else if (d === 'aesthetic_quality' && lm.aesthetic && lm.clip)
        r[d] = failed(d) ?? aestheticResult(this.aesthetic, anchors, { id: lm.aesthetic.id, fileHashes: { ...lm.aesthetic.fileHashes, ...prefixedVision(lm.clip) } });
      else if (d === 'text_alignment' && lm.clip) r[d] = failed(d) ?? textAlignmentResult(this.text, anchors, { id: lm.clip.id, fileHashes: lm.clip.fileHashes }, truncated);
      else if (d === 'imaging_quality') r[d] = failed(d) ?? imagingResult(this.imaging, this.imagingParts);
      else if (d === 'text_alignment_vqa' && lm.vqa) r[d] = vqaAlignmentResult(this.vqaDone, anchors, lm.vqa.model);
    }
    return r;
  }
}

function paidCost(stages: ModelStage[]): number | null {
  const costs = stages.map((st) => st.cost());
  return costs.includes(null) ? null : Math.round(costs.reduce<number>((a, c) => a + c!, 0) * 1e6) / 1e6;
}

const visionHashes = (m: ClipModel) => Object.fromEntries(Object.entries(m.fileHashes).filter(([k]) => k.includes('vision')));
const prefixedVision = (m: ClipModel) => Object.fromEntries(Object.entries(visionHashes(m)).map(([k, v]) => [`${m.id}/${k}`, v]));

export function createVideoScorer(opts: VideoScorerOptions = {}): VideoScorer {
  const device = typeof opts.device === 'object' ? opts.device : parseDevice(opts.device);
  const modelsDir = resolveModelsDir({ modelsDir: opts.modelsDir });
  const logger = opts.logger ?? silentLogger;
  const anchors = opts.anchors ?? loadAnchors();
  const weights = { ...VIDEO_WEIGHTS, ...(opts.weights ?? {}) };
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const clipId = opts.clipModel ?? DEFAULT_CLIP_MODEL;
  const dinoId = opts.dinoModel ?? DINO_MODEL;
  const vqaFrames = Math.max(1, Math.floor(opts.vqaFrames ?? DEFAULT_VQA_FRAMES));
  const maxDurationS = opts.maxDurationS ?? DEFAULT_MAX_DURATION_S;
  const ownHost = typeof opts.host !== 'object';
  let hostRef: InferenceHost | undefined;
  let hostP: Promise<InferenceHost> | undefined;
  const getHost = () =>
    (hostP ??= (typeof opts.host === 'object' ? Promise.resolve(opts.host) : opts.host === 'inline' ? createInlineHost() : Promise.resolve(createThreadHost())).then(
      (h) => (hostRef = h),
    ));
  let loadedP: Promise<Loaded> | undefined;
  let closed = false;
  const threads = Math.max(0, Math.floor(opts.analysisThreads ?? defaultAnalysisThreads()));
  let pool: AnalysisPool | undefined;
  const getPool = () => (threads > 0 && !closed ? (pool ??= createAnalysisPool(threads)) : undefined);
  let fallbacks = 0;
  let threadWarned = false;

  const load = async (): Promise<Loaded> => {
    const host = await getHost();
    const l: Loaded = { unavailable: {}, warnings: [], modelErrors: [] };
    const reason = (e: unknown) => {
      const r = e instanceof ModelUnavailable ? e.message : `failed to load: ${errLine(e)}`;
      if (!(e instanceof ModelUnavailable && e.notInstalled)) l.modelErrors.push(r);
      return r;
    };
    const clipP = loadClip(host, modelsDir, clipId, device);
    const dinoP = loadDino(host, modelsDir, dinoId, device);
    dinoP.catch(() => {});
    try {
      l.clip = await clipP;
      if (l.clip.vision.warning) l.warnings.push(l.clip.vision.warning);
    } catch (e) {
      const r = reason(e);
      l.unavailable.background_consistency = r;
      l.unavailable.text_alignment = r;
      l.unavailable.aesthetic_quality = `needs ${clipId} image embeddings: ${r}`;
    }
    if (l.clip)
      try {
        l.aesthetic = await loadAesthetic(host, modelsDir, device);
      } catch (e) {
        l.unavailable.aesthetic_quality = reason(e);
      }
    try {
      l.dino = await dinoP;
      if (l.dino.session.warning && !l.warnings.includes(l.dino.session.warning)) l.warnings.push(l.dino.session.warning);
    } catch (e) {
      l.unavailable.subject_consistency = reason(e);
    }
    if (opts.vqa === null) l.unavailable.text_alignment_vqa = 'VQAScore disabled';
    else {
      const v = opts.vqa ?? vqaConfigFromEnv(loadEnv());
      if ('unavailable' in v) l.unavailable.text_alignment_vqa = v.unavailable;
      else l.vqa = 'ask' in v ? v : createVqaAsker(v); // one client and one in-flight limit for every video
    }
    for (const w of l.warnings) logger.warn(w);
    for (const [d, r] of Object.entries(l.unavailable)) logger.debug(`${d} unavailable: ${r}`);
    return l;
  };
  const ensure = () => {
    if (closed) throw new Error('video scorer is closed');
    return (loadedP ??= load());
  };

  async function score(path: string, o: ScoreOneOptions = {}): Promise<VideoScoreResult> {
    const started = Date.now();
    const loadP = ensure();
    loadP.catch(() => {});
    const fail = (error: string): VideoScoreResult => ({ path, scores: null, error });
    let probe;
    try {
      probe = await probeVideo(path);
    } catch (e) {
      if (e instanceof LoopError && e.kind === 'CONFIG') throw e; // no ffmpeg at all: not this video's fault
      return fail(`cannot read the video: ${errLine(e)}`);
    }
    if (!(probe.width > 0 && probe.height > 0)) return fail('the video stream reports no frame size');
    if (Number.isFinite(probe.duration_s) && probe.duration_s > maxDurationS)
      return fail(`the video is ${probe.duration_s.toFixed(1)} s long, over the ${maxDurationS} s cap for scoring`);
    const plan = planFrames(probe, opts);
    const lm = await loadP;
    const host = await getHost();
    const prompt = o.prompt?.trim() ? o.prompt : null;
    let textEmbed: Float32Array | undefined;
    let truncated = false;
    let textError: string | undefined;
    if (prompt && lm.clip)
      try {
        const [t] = await embedTexts(host, lm.clip, [prompt]);
        textEmbed = t!.embed;
        truncated = t!.truncated;
      } catch (e) {
        textError = `${lm.clip.id} text pass failed: ${errLine(e)}`;
      }

    const wanted = MODEL_DIMS.filter((d) => {
      if (d === 'imaging_quality') return true;
      if (lm.unavailable[d]) return false;
      if (d === 'text_alignment_vqa') return !!prompt && !!lm.vqa;
      return d !== 'text_alignment' || !!textEmbed;
    });
    const ctx: StageCtx = { host, lm, anchors, batchSize, textEmbed, prompt, vqaAt: new Set(spreadFrameIndices(plan, vqaFrames)), signal: o.signal };
    let a: Analysis;
    try {
      a = await analyse(path, plan, wanted, ctx, o);
    } catch (e) {
      if (o.signal?.aborted) throw e;
      return fail(errLine(e).startsWith('ffmpeg') ? errLine(e) : `cannot decode the video: ${errLine(e)}`);
    }
    const { frames, decodeMs, pipes } = a;
    if (!frames) return fail('no frame could be decoded');
    const decodedS = frames / plan.fps;
    // a cut file whose index survived can decode "successfully" into a fraction of its frames; the
    // container's duration (which an audio track can stretch a little) is the only other witness
    if (Number.isFinite(probe.duration_s) && probe.duration_s > 1 && decodedS < 0.5 * probe.duration_s)
      return fail(`truncated: only ${frames} frames (${decodedS.toFixed(2)} s) decoded of a ${probe.duration_s.toFixed(2)} s file (or its video stream is far shorter than the file)`);

    const modelResults: Partial<Record<DimensionId, DimensionResult>> = {};
    for (const stage of a.stages) Object.assign(modelResults, stage.results(plan, truncated));
    const dims = {} as Record<DimensionId, DimensionResult>;
    for (const d of DIMENSION_IDS) {
      if (d === 'temporal_flickering') dims[d] = a.flicker;
      else if (d === 'dynamic_degree') dims[d] = a.dynamic;
      else if (d === 'motion_smoothness') dims[d] = a.smooth;
      else if (modelResults[d]) dims[d] = modelResults[d]!;
      else if (d === 'text_alignment' && !lm.unavailable[d]) dims[d] = unavailableDimension(textError ?? 'no prompt given');
      else if (d === 'text_alignment_vqa' && !lm.unavailable[d]) dims[d] = unavailableDimension('no prompt given');
      else dims[d] = unavailableDimension(lm.unavailable[d] ?? 'not computed');
    }
    const own = combineDimensions(dims, weights, commonDimensions([dims], weights));
    const scores: VideoScores = {
      dimensions: dims,
      ...own,
      overall_note: OVERALL_NOTE,
      anchors_version: `${VIDEO_ANCHORS_VERSION}+${anchors.version}`,
      video: { width: probe.width, height: probe.height, fps: probe.fps, duration_s: probe.duration_s, frames_decoded: frames, codec: probe.codec },
      analysis: {
        working_size: [plan.width, plan.height],
        flow_size: [plan.flowWidth, plan.flowHeight],
        flow_interval: plan.flowInterval,
        model_interval: plan.modelInterval,
        fps_assumed: plan.fpsAssumed,
        pipes,
        decode_ms: Math.round(decodeMs),
      },
      prompt,
      prompt_truncated: truncated,
      cost_usd: paidCost(a.stages),
      scored_at: new Date().toISOString(),
      duration_ms: Date.now() - started,
    };
    const b = a.boundary;
    return { path, scores, ...(b ? { boundary: b } : {}), cacheable: !textError && a.stages.every((st) => st.clean()) };
  }

  /** Decode + every dimension's frames: in an analysis thread when there is one, else on this thread. */
  async function analyse(path: string, plan: FramePlan, wanted: ModelDim[], ctx: StageCtx, o: ScoreOneOptions): Promise<Analysis> {
    const once = (o.decode ?? 'once') === 'once';
    const p = once ? getPool() : undefined;
    if (p)
      try {
        return await analyseInThread(p, path, plan, wanted, ctx, o);
      } catch (e) {
        if (!(e instanceof ThreadUnavailable) || o.signal?.aborted) throw e;
        fallbacks++;
        if (!threadWarned) logger.warn(`video analysis runs on the calling thread: ${e.message}`);
        threadWarned = true;
      }
    return analyseInProcess(path, plan, wanted, ctx, o);
  }

  async function analyseInThread(p: AnalysisPool, path: string, plan: FramePlan, wanted: ModelDim[], ctx: StageCtx, o: ScoreOneOptions): Promise<Analysis> {
    const stage = new ModelStage(new Set(wanted), ctx);
    const done: AnalysisDone = await p.analyse({
      path,
      plan,
      boundary: !!o.boundary,
      window: Math.max(2, batchSize),
      signal: o.signal,
      onFrame: (f) => stage.frame(decodedFrame(plan, f.index, asBuffer(f.rgb))),
    });
    await stage.finish();
    const b = done.boundary;
    return {
      frames: done.stats.frames,
      decodeMs: done.stats.decode_ms,
      pipes: done.stats.pipes,
      flicker: done.flicker,
      dynamic: done.dynamic,
      smooth: done.smooth,
      boundary: b ? { first: { ...b.first, rgb: asBuffer(b.first.rgb) }, last: { ...b.last, rgb: asBuffer(b.last.rgb) } } : null,
      stages: [stage],
    };
  }

  async function analyseInProcess(path: string, plan: FramePlan, wanted: ModelDim[], ctx: StageCtx, o: ScoreOneOptions): Promise<Analysis> {
    const flicker = new FlickerAcc();
    const dynamic = new DynamicAcc(plan);
    const smooth = new SmoothnessAcc(plan);
    const boundary = o.boundary ? new BoundaryAcc() : null;
    // once: every consumer on one pipe; per-dimension: one pipe per dimension (the benchmark's baseline)
    const groups: { consumers: FrameConsumer[]; stage?: ModelStage }[] = [];
    if ((o.decode ?? 'once') === 'once') {
      const stage = new ModelStage(new Set(wanted), ctx);
      groups.push({ consumers: [flicker, dynamic, smooth, stage, ...(boundary ? [boundary] : [])], stage });
    } else {
      groups.push({ consumers: [flicker, ...(boundary ? [boundary] : [])] }, { consumers: [dynamic] }, { consumers: [smooth] });
      for (const d of wanted) {
        const stage = new ModelStage(new Set([d]), ctx);
        groups.push({ consumers: [stage], stage });
      }
    }
    let frames = 0, decodeMs = 0, pipes = 0;
    for (const g of groups) {
      const s = await decodeInto(path, plan, g.consumers, { signal: o.signal });
      frames = s.frames;
      decodeMs += s.decode_ms;
      pipes += s.pipes;
      await g.stage?.finish();
    }
    return {
      frames,
      decodeMs,
      pipes,
      flicker: flicker.result(plan),
      dynamic: dynamic.result(),
      smooth: smooth.result(),
      boundary: boundary?.result() ?? null,
      stages: groups.flatMap((g) => (g.stage ? [g.stage] : [])),
    };
  }

  const embedFrames: FrameEmbedder = async (frames: RawFrame[]) => {
    const lm = await ensure();
    if (!lm.clip) return { unavailable: lm.unavailable.background_consistency ?? 'CLIP not loaded' };
    if (!frames.length) return { embeds: [], model_id: lm.clip.id };
    const host = await getHost();
    try {
      const p = lm.clip.preprocess;
      const stride = 3 * p.height * p.width;
      const data = new Float32Array(frames.length * stride);
      await Promise.all(frames.map(async (f, j) => preprocessImage(await encodePng(f.rgb, f.width, f.height), p, data.subarray(j * stride, (j + 1) * stride))));
      const [embeds] = await embedBatch(host, [lm.clip], { data, dims: [frames.length, 3, p.height, p.width] });
      return { embeds: embeds!, model_id: lm.clip.id };
    } catch (e) {
      return { unavailable: `${lm.clip.id} failed: ${errLine(e)}` };
    }
  };

  return {
    score,
    embedFrames,
    async identity() {
      const l = await ensure();
      const { scoringCodeFingerprint } = await import('./score-cache.js');
      const models = (m: { id: string; fileHashes: Record<string, string> } | undefined) => (m ? { id: m.id, file_hashes: m.fileHashes } : null);
      return {
        code: await scoringCodeFingerprint(),
        anchors: `${VIDEO_ANCHORS_VERSION}+${anchors.version}`,
        device: deviceLabel(device),
        plan: { max_side: opts.maxSide ?? null, flow_width: opts.flowWidth ?? null, max_model_frames: opts.maxModelFrames ?? null, max_duration_s: maxDurationS },
        clip: models(l.clip),
        aesthetic: models(l.aesthetic),
        dino: models(l.dino),
        vqa: l.vqa ? { model: l.vqa.model, frames: vqaFrames } : null,
      };
    },
    async availability() {
      const l = await ensure();
      const models: VideoAvailability['models'] = {};
      if (l.clip) models.clip = { id: l.clip.id, file_hashes: l.clip.fileHashes };
      if (l.aesthetic) models.aesthetic = { id: l.aesthetic.id, file_hashes: l.aesthetic.fileHashes };
      if (l.dino) models.dino = { id: l.dino.id, file_hashes: l.dino.fileHashes };
      if (l.vqa) models.vqa = { id: l.vqa.model, file_hashes: {} };
      const devices = [l.clip?.vision.device, l.dino?.session.device].filter(Boolean);
      return {
        device: devices[0] ?? deviceLabel(device),
        available: DIMENSION_IDS.filter((d) => !l.unavailable[d]),
        unavailable: { ...l.unavailable },
        models,
        warnings: [...l.warnings],
        model_errors: [...l.modelErrors],
      };
    },
    weights,
    anchors,
    anchorsVersion: `${VIDEO_ANCHORS_VERSION}+${anchors.version}`,
    concurrency: Math.max(1, threads),
    warm(videos) {
      if (videos > 0) getPool()?.warm(videos);
    },
    stats() {
      const analysis = { threads: pool?.stats().threads ?? 0, jobs: pool?.stats().jobs ?? 0, fallbacks };
      return hostRef ? { ...hostRef.stats(), host: hostRef.mode, analysis } : { runs: {}, loads: 0, host: opts.host === 'inline' ? 'inline' : 'thread', analysis };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool?.close();
      if (hostP && ownHost) await (await hostP).close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Sets of videos

export interface ScoreVideosOptions extends VideoScorerOptions {
  /** One prompt for every video (text_alignment); null or absent: none. */
  prompt?: string | null;
  /** A prompt per video (wins over `prompt` when it returns a string). */
  promptFor?: (path: string) => string | null | undefined;
  /** A loaded scorer to reuse (a worker keeps one per process); not closed here. */
  scorer?: VideoScorer;
  boundary?: boolean;
  decode?: 'once' | 'per-dimension';
  /** Reuse and store each video's scores by content (score-cache.ts); null or absent: score every video. */
  cache?: GenerationCache | null;
  /** A video's sha256 when the caller already verified it (generation metadata); else the file is hashed. */
  sha256For?: (path: string) => string | undefined;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ScoredVideo {
  path: string;
  /** 1 = best of the set; null = unscorable. */
  rank: number | null;
  overall: number | null;
  rank_key: number | null;
  scores: VideoScores | null;
  error?: string;
  boundary?: BoundaryFrames;
}

export interface ScoreVideosResult {
  /** In input order. */
  videos: ScoredVideo[];
  /** Paths of the scored videos, best first. */
  ranking: string[];
  unscorable: { path: string; reason: string }[];
  /** The dimensions in the overall: available for every scored video. */
  dimensions_available: DimensionId[];
  dimensions_unavailable: Partial<Record<DimensionId, string>>;
  weights_configured: Partial<Record<DimensionId, number>>;
  weights_used: Partial<Record<DimensionId, number>>;
  overall_note: string;
  anchors_version: string;
  device: string;
  warnings: string[];
  model_errors: string[];
  prompt_truncated: boolean;
  /** What the set's paid requests (VQAScore) cost, USD. */
  cost_usd: number;
  /** A model without a price in prices.json answered: the real cost is higher. */
  cost_is_lower_bound: boolean;
  /** Videos whose scores came from the score cache. */
  cache_hits: number;
}

/** Rank order of scored items: rank_key descending, ties by `tie` ascending; unscorable last. */
export function videoRankOrder<T extends { rank_key: number | null; overall: number | null }>(items: T[], tie: (t: T) => number): T[] {
  return [...items].sort((a, b) => {
    const ka = a.overall === null ? null : a.rank_key, kb = b.overall === null ? null : b.rank_key;
    if ((ka === null) !== (kb === null)) return ka === null ? 1 : -1;
    if (ka !== null && kb !== null && ka !== kb) return kb - ka;
    return tie(a) - tie(b);
  });
}

/**
 * Score a set of videos (each decoded once), one overall formula for the whole set (the
 * dimensions available for every scored video, weights re-normalised over those), ranked by
 * rank_key. Unscorable videos are reported with their reason; the others are still ranked.
 */
export async function scoreVideos(paths: string[], opts: ScoreVideosOptions = {}): Promise<ScoreVideosResult> {
  const scorer = opts.scorer ?? createVideoScorer(opts);
  try {
    // as many videos at once as the scorer has analysis threads (one after another without, or per dimension)
    const perDimension = (opts.decode ?? 'once') !== 'once';
    const lanes = perDimension ? 1 : Math.max(1, Math.min(paths.length, Math.floor(scorer.concurrency ?? 1)));
    if (!perDimension) scorer.warm?.(lanes); // the threads start while the models load
    const avail = await scorer.availability();
    const results: VideoScoreResult[] = new Array(paths.length);
    opts.onProgress?.(0, paths.length);
    const cache = opts.cache && (opts.decode ?? 'once') === 'once' ? opts.cache : null;
    const identity = cache ? await scorer.identity() : null;
    const sc = cache ? await import('./score-cache.js') : null;
    let next = 0, done = 0, hits = 0;
    let failed: { e: unknown } | undefined;
    const lane = async () => {
      while (!failed && next < paths.length) {
        const i = next++;
        const p = paths[i]!;
        const prompt = opts.promptFor?.(p) ?? opts.prompt ?? null;
        try {
          const key = cache ? await cacheKey(p, prompt) : null;
          const hit = key ? await sc!.lookupVideoScore(cache!, key.key).catch(() => null) : null;
          if (hit) {
            hits++;
            results[i] = { path: p, scores: hit.scores, ...(hit.boundary ? { boundary: hit.boundary } : {}) };
          } else {
            const r = (results[i] = await scorer.score(p, { prompt, boundary: opts.boundary, decode: opts.decode, signal: opts.signal }));
            // a cache that cannot be written is not this video's failure
            if (key && r.scores && r.cacheable) await sc!.storeVideoScore(cache!, key, r.scores, r.boundary).catch(() => undefined);
          }
        } catch (e) {
          failed ??= { e }; // aborted, or no ffmpeg at all: the others in flight finish, no new one starts
          return;
        }
        opts.onProgress?.(++done, paths.length);
      }
    };
    async function cacheKey(p: string, prompt: string | null) {
      const sha = opts.sha256For?.(p) ?? (await sha256File(p).catch(() => null));
      return sha ? sc!.videoScoreKey({ identity: identity!, video: { sha256: sha }, prompt, boundary: !!opts.boundary }) : null;
    }
    await Promise.all(Array.from({ length: lanes }, lane));
    if (failed) throw failed.e;
    const weights = scorer.weights;
    const scored = results.filter((r) => r.scores);
    const usable = commonDimensions(scored.map((r) => r.scores!.dimensions), weights);
    let weightsUsed: Partial<Record<DimensionId, number>> = {};
    for (const r of scored) {
      const c = combineDimensions(r.scores!.dimensions, weights, usable);
      Object.assign(r.scores!, c);
      weightsUsed = c.weights_used;
    }
    const videos: ScoredVideo[] = results.map((r) => ({
      path: r.path,
      rank: null,
      overall: r.scores?.overall ?? null,
      rank_key: r.scores?.rank_key ?? null,
      scores: r.scores,
      ...(r.error ? { error: r.error } : {}),
      ...(r.boundary ? { boundary: r.boundary } : {}),
    }));
    const order = videoRankOrder(
      videos.map((v, i) => ({ v, i, overall: v.overall, rank_key: v.rank_key })),
      (x) => x.i,
    );
    let rank = 0;
    for (const { v } of order) if (v.scores) v.rank = ++rank;
    const unavailable: Partial<Record<DimensionId, string>> = { ...avail.unavailable };
    for (const d of DIMENSION_IDS) {
      if (unavailable[d] || usable.includes(d)) continue;
      const miss = scored.map((r) => r.scores!.dimensions[d]).find((x) => !x.available);
      if (miss && !miss.available) unavailable[d] = scored.every((r) => !r.scores!.dimensions[d].available) ? miss.reason : `unavailable for some videos: ${miss.reason}`;
    }
    return {
      videos,
      ranking: order.filter(({ v }) => v.scores).map(({ v }) => v.path),
      unscorable: videos.filter((v) => !v.scores).map((v) => ({ path: v.path, reason: v.error ?? 'not scored' })),
      dimensions_available: usable,
      dimensions_unavailable: unavailable,
      weights_configured: { ...weights },
      weights_used: weightsUsed,
      overall_note: OVERALL_NOTE,
      anchors_version: scorer.anchorsVersion,
      device: avail.device,
      warnings: avail.warnings,
      model_errors: avail.model_errors,
      prompt_truncated: scored.some((r) => r.scores!.prompt_truncated),
      cost_usd: Math.round(scored.reduce((a, r) => a + (r.scores!.cost_usd ?? 0), 0) * 1e6) / 1e6,
      cost_is_lower_bound: scored.some((r) => r.scores!.cost_usd === null),
      cache_hits: hits,
    };
  } finally {
    if (!opts.scorer) await scorer.close();
  }
}

/** One video (decoded once); throws LoopError INPUT with the reason when it cannot be scored. */
export async function scoreVideo(path: string, opts: ScoreVideosOptions = {}): Promise<VideoScores> {
  const r = await scoreVideos([path], opts);
  const v = r.videos[0]!;
  if (!v.scores) throw new LoopError('INPUT', `${path}: ${v.error ?? 'could not be scored'}`);
  return v.scores;
}
