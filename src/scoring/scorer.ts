/**
 * The image scorer: loads its models once (lazily, on first use) and keeps them for every later
 * call, so a queue worker creates one scorer per process and reuses it across batch jobs.
 * All ONNX sessions live in one inference thread (see inference-host.ts).
 *
 * Per batch: one vision pass per CLIP model serves every metric built on it (CLIPScore and the
 * aesthetic head share ViT-L/14's), each distinct prompt is encoded once, VQA requests run
 * concurrently with the ONNX work, technical quality is always computed.
 *
 * The work is a pipeline (`pipeline: 'overlap'`, the default). Images go through in chunks of
 * `batchSize`; while the inference thread runs chunk k, this thread decodes and preprocesses chunk
 * k+1 (straight into the batch buffer that is then moved, not copied, to the thread), and the
 * technical metric fills the CPU time the model passes leave. Image work is ordered by urgency:
 * the next chunk's preprocessing first, technical quality after. On a first call the images are
 * read, preprocessed and measured while the sessions load. Only a bounded number of chunks is
 * preprocessed ahead, so memory does not grow with the number of images.
 * `pipeline: 'serial'` does the same steps one after the other, and gives the same scores.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '../config/env.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { modelDir, resolveModelsDir } from '../models/store.js';
import { loadAnchors, type Anchors } from './anchors.js';
import { CLIP_FILES, embedBatch, embedTexts, loadClip, ModelUnavailable, requireFiles, type ClipModel } from './clip.js';
import { combine, commonMetrics, MODEL_METRICS } from './combine.js';
import { createInlineHost, createThreadHost, type InferenceHost } from './inference-host.js';
import { AESTHETIC_FILE, AESTHETIC_ID, aestheticScores, loadAesthetic, type AestheticHead } from './metrics/aesthetic.js';
import { clipScore } from './metrics/clip-score.js';
import { pickScore } from './metrics/pickscore.js';
import { technicalQuality } from './metrics/technical.js';
import { createVqaAsker, toDataUrl, vqaConfigFromEnv, vqaScores, type VqaAsker, type VqaConfig } from './metrics/vqa-score.js';
import { loadPreprocess, preprocessImage, type Preprocess } from './preprocess.js';
import { deviceLabel, parseDevice, type Device } from './runtime.js';
import type { ImageScores, MetricResult } from './types.js';

export const DEFAULT_CLIP_MODEL = 'clip-vit-large-patch14';
export const PICKSCORE_MODEL = 'pickscore';

export interface ScorerOptions {
  device?: string | Device;
  modelsDir?: string;
  logger?: Logger;
  /** undefined: from the environment (LOOP_VQA_*); null: VQAScore off. */
  vqa?: VqaConfig | null;
  /** Weights of the overall; default from anchors.json (50/25/15/10). */
  weights?: Record<string, number>;
  anchors?: Anchors;
  /** 'thread' (default): sessions in a worker thread; 'inline': on this thread; or a host to share. */
  host?: InferenceHost | 'thread' | 'inline';
  /** Most images per session.run (bounds memory and the time one run holds the thread). */
  batchSize?: number;
  clipModel?: string;
  /**
   * 'overlap' (default): preprocess chunk k+1 while chunk k runs, technical quality beside the
   * model passes. 'serial': technical quality, then each chunk's preprocessing and passes in turn.
   * Both give the same scores.
   */
  pipeline?: 'overlap' | 'serial';
  /** Image decode/preprocess jobs in flight at once (default: libuv's thread pool size, at least 2). */
  imageConcurrency?: number;
}

export interface ImageInput {
  path: string;
  /** Already-read bytes (saves a read); otherwise read from `path`. */
  bytes?: Uint8Array;
}

export interface ImageScoreResult {
  path: string;
  /** null when the image could not be read or decoded; `error` says why. */
  scores: ImageScores | null;
  error?: string;
}

export interface Availability {
  device: string;
  available: string[];
  unavailable: Record<string, string>;
  models: Record<string, { id: string; file_hashes: Record<string, string> }>;
  warnings: string[];
}

export interface ImageScorer {
  scoreBatch(images: ImageInput[], prompt: string, opts?: { onProgress?: (done: number, total: number) => void }): Promise<ImageScoreResult[]>;
  /** Loads the models (once) and says which metrics exist and why the others do not. */
  availability(): Promise<Availability>;
  readonly weights: Record<string, number>;
  readonly anchors: Anchors;
  /** session.run counts per model file and session loads, for tests and benchmarks. */
  stats(): { runs: Record<string, number>; loads: number; host: 'thread' | 'inline' };
  close(): Promise<void>;
}

interface Loaded {
  clip?: ClipModel;
  pick?: ClipModel;
  aesthetic?: AestheticHead;
  vqa?: VqaAsker;
  unavailable: Record<string, string>;
  warnings: string[];
}

/** Why the aesthetic head is missing too (a CLIP alone would not bring it back), or undefined when its file is there. */
function headMissing(modelsDir: string, clipId: string): string | undefined {
  try {
    requireFiles(AESTHETIC_ID, modelDir(modelsDir, AESTHETIC_ID), [AESTHETIC_FILE]);
    return undefined;
  } catch (e) {
    return `${(e as Error).message} (also needs ${clipId})`;
  }
}

const reasonOf = (e: unknown) => (e instanceof ModelUnavailable ? e.message : `failed to load: ${String((e as Error)?.message ?? e).split('\n')[0]}`);

/**
 * CPU-side image jobs (sharp decodes on libuv's pool, then a little JS) with a bounded number in
 * flight, most urgent (lowest priority value) first, in submission order among equals.
 */
class WorkQueue {
  private readonly queue: { prio: number; seq: number; start: () => void }[] = [];
  private active = 0;
  private seq = 0;
  constructor(private readonly limit: number) {}
  add<T>(prio: number, job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        prio,
        seq: this.seq++,
        start: () => {
          this.active++;
          job()
            .then(resolve, reject)
            .finally(() => {
              this.active--;
              this.pump();
            });
        },
      });
      this.pump();
    });
  }
  private pump() {
    while (this.active < this.limit && this.queue.length) {
      let best = 0;
      for (let i = 1; i < this.queue.length; i++) {
        const a = this.queue[i]!, b = this.queue[best]!;
        if (a.prio < b.prio || (a.prio === b.prio && a.seq < b.seq)) best = i;
      }
      this.queue.splice(best, 1)[0]!.start();
    }
  }
}

/** Chunks preprocessed ahead of the one the inference thread is on (k+1 while k runs, k+2 queued). */
const LOOKAHEAD = 2;
const PRIO_TECHNICAL = 1e9;

const defaultImageConcurrency = () => Math.max(2, Math.min(Number(process.env.UV_THREADPOOL_SIZE) || 4, availableParallelism() + 1));

/** One chunk's pixels for one preprocessing: [n,3,H,W] and which images (input indices) the rows are. */
interface PixelBatch {
  data: Float32Array;
  dims: number[];
  members: number[];
}

export function createImageScorer(opts: ScorerOptions = {}): ImageScorer {
  const device = typeof opts.device === 'object' ? opts.device : parseDevice(opts.device);
  const modelsDir = resolveModelsDir({ modelsDir: opts.modelsDir });
  const logger = opts.logger ?? silentLogger;
  const anchors = opts.anchors ?? loadAnchors();
  const weights = { ...(opts.weights ?? anchors.weights) };
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const clipId = opts.clipModel ?? DEFAULT_CLIP_MODEL;
  const overlap = (opts.pipeline ?? 'overlap') === 'overlap';
  const imageConcurrency = Math.max(1, opts.imageConcurrency ?? defaultImageConcurrency());
  const ownHost = typeof opts.host !== 'object';
  let hostP: Promise<InferenceHost> | undefined;
  let hostRef: InferenceHost | undefined;
  const getHost = () =>
    (hostP ??= (
      typeof opts.host === 'object' ? Promise.resolve(opts.host) : opts.host === 'inline' ? createInlineHost() : Promise.resolve(createThreadHost())
    ).then((h) => (hostRef = h)));
  let loadedP: Promise<Loaded> | undefined;
  let loaded: Loaded | undefined;
  let closed = false;

  // preprocessor_config.json of each CLIP model, read before (and shared with) the session loads,
  // so a first batch can preprocess while the sessions load; null where the model is not installed
  const early = new Map<string, Promise<Preprocess | null>>();
  const earlyPreprocess = (id: string) => {
    let p = early.get(id);
    if (!p) {
      const dir = modelDir(modelsDir, id);
      p = (async () => {
        try {
          requireFiles(id, dir, CLIP_FILES);
        } catch {
          return null;
        }
        return loadPreprocess(join(dir, 'preprocessor_config.json'));
      })();
      p.catch(() => {}); // a bad config is reported by the load
      early.set(id, p);
    }
    return p;
  };

  const load = async (): Promise<Loaded> => {
    const host = await getHost();
    const l: Loaded = { unavailable: {}, warnings: [] };
    const warn = (w: string | undefined) => {
      if (w && !l.warnings.includes(w)) (l.warnings.push(w), logger.warn(w));
    };
    // both CLIPs at once: their sessions queue in the inference thread, their hashes run here
    const clipP = loadClip(host, modelsDir, clipId, device, { preprocess: earlyPreprocess(clipId) });
    const pickP = loadClip(host, modelsDir, PICKSCORE_MODEL, device, { preprocess: earlyPreprocess(PICKSCORE_MODEL) });
    pickP.catch(() => {});
    try {
      l.clip = await clipP;
      warn(l.clip.vision.warning);
    } catch (e) {
      l.unavailable.clip_score = reasonOf(e);
    }
    const aestheticP = l.clip ? loadAesthetic(host, modelsDir, device) : undefined;
    aestheticP?.catch(() => {});
    try {
      l.pick = await pickP;
      warn(l.pick.vision.warning);
    } catch (e) {
      l.unavailable.pickscore = reasonOf(e);
    }
    // it reads CLIP's image embeddings: say so once (clip_score's line says how to get CLIP), and
    // what the head itself still needs
    if (!aestheticP) l.unavailable.aesthetic = headMissing(modelsDir, clipId) ?? `needs ${clipId} image embeddings (see clip_score)`;
    else
      try {
        l.aesthetic = await aestheticP;
      } catch (e) {
        l.unavailable.aesthetic = reasonOf(e);
      }
    if (opts.vqa === null) l.unavailable.vqa_score = 'VQAScore disabled';
    else {
      const v = opts.vqa ?? vqaConfigFromEnv(loadEnv());
      if ('unavailable' in v) l.unavailable.vqa_score = v.unavailable;
      else l.vqa = createVqaAsker(v); // one client and one in-flight limit for every batch this scorer scores
    }
    for (const [m, r] of Object.entries(l.unavailable)) logger.debug(`${m} unavailable: ${r}`);
    return (loaded = l);
  };
  const ensure = () => {
    if (closed) throw new Error('scorer is closed');
    return (loadedP ??= load());
  };

  async function scoreBatch(images: ImageInput[], prompt: string, o: { onProgress?: (d: number, t: number) => void } = {}): Promise<ImageScoreResult[]> {
    const loadP = ensure(); // not awaited yet: on a first call, the image work starts while the models load
    const total = images.length;
    const results: ImageScoreResult[] = images.map((i) => ({ path: i.path, scores: null }));
    const metrics: Record<string, MetricResult>[] = images.map(() => ({}));
    const decodeError: (string | undefined)[] = images.map(() => undefined);
    const fail = (i: number, e: unknown) => void (decodeError[i] ??= `cannot decode image: ${errLine(e)}`);
    const unavail = (reason: string): MetricResult => ({ available: false, reason });

    // which preprocessings the towers need: the loaded models' once loaded, else their configs
    const towerIds = [clipId, PICKSCORE_MODEL];
    const plan = new Map<string, Preprocess>();
    if (loaded) for (const m of [loaded.clip, loaded.pick]) m && plan.set(m.preprocess.key, m.preprocess);
    else for (const id of towerIds) {
      const p = await earlyPreprocess(id).catch(() => null);
      if (p) plan.set(p.key, p);
    }
    const preps = [...plan.values()];
    const vqaWanted = loaded ? !!loaded.vqa : opts.vqa !== null;

    // each image's bytes are read once, shared by its jobs, and dropped when the last one is done
    const bytes = new Map<number, Promise<Uint8Array>>();
    const users = images.map(() => 1 + preps.length + (vqaWanted ? 1 : 0));
    const bytesOf = (i: number) => {
      let b = bytes.get(i);
      if (!b) bytes.set(i, (b = images[i]!.bytes ? Promise.resolve(images[i]!.bytes!) : readFile(images[i]!.path)));
      return b;
    };
    const release = (i: number) => {
      if (--users[i]! <= 0) bytes.delete(i);
    };
    const work = new WorkQueue(imageConcurrency);

    // technical quality (doubles as the decode check): queued behind every preprocessing job
    const technicalP = Promise.all(
      images.map((_, i) =>
        work.add(PRIO_TECHNICAL + i, async () => {
          try {
            metrics[i]!.technical = await technicalQuality(await bytesOf(i), anchors);
          } catch (e) {
            fail(i, e);
          } finally {
            release(i);
          }
        }),
      ),
    );
    if (!overlap) await technicalP;

    // chunk k's pixels for one preprocessing, written in place into the batch buffer
    const chunkOf = (k: number) => Array.from({ length: Math.min(batchSize, total - k * batchSize) }, (_, j) => k * batchSize + j);
    const pixelBatch = async (k: number, p: Preprocess): Promise<PixelBatch> => {
      const idx = chunkOf(k);
      const stride = 3 * p.height * p.width;
      const data = new Float32Array(idx.length * stride);
      const ok = await Promise.all(
        idx.map((i, j) =>
          work.add(k, async () => {
            try {
              await preprocessImage(await bytesOf(i), p, data.subarray(j * stride, (j + 1) * stride));
              return true;
            } catch (e) {
              fail(i, e);
              return false;
            } finally {
              release(i);
            }
          }),
        ),
      );
      // an image that does not decode leaves the batch; the others close up, in order
      const members: number[] = [];
      idx.forEach((i, j) => {
        if (!ok[j]) return;
        if (members.length !== j) data.copyWithin(members.length * stride, j * stride, (j + 1) * stride);
        members.push(i);
      });
      return { data: members.length === idx.length ? data : data.subarray(0, members.length * stride), dims: [members.length, 3, p.height, p.width], members };
    };
    const nChunks = Math.ceil(total / batchSize);
    const prepared = new Map<number, Promise<Map<string, PixelBatch>>>();
    const prepare = (k: number) => {
      let p = prepared.get(k);
      if (!p && k < nChunks) {
        p = Promise.all(preps.map(async (pp) => [pp.key, await pixelBatch(k, pp)] as const)).then((e) => new Map(e));
        prepared.set(k, p);
      }
      return p;
    };

    // model work: per chunk, one pass per tower (towers sharing a preprocessing share one hand-off)
    const towerError = new Map<string, string>();
    let aestheticError: string | undefined;
    const embeds = new Map<string, Map<number, Float32Array>>();
    const aestheticOf = new Map<number, MetricResult>();
    const runChunk = async (lm: Loaded, host: InferenceHost, batches: Map<string, PixelBatch>) => {
      const towers = [lm.clip, lm.pick].filter((m): m is ClipModel => !!m);
      const byKey = new Map<string, ClipModel[]>();
      for (const t of towers) byKey.set(t.preprocess.key, [...(byKey.get(t.preprocess.key) ?? []), t]);
      await Promise.all(
        [...byKey].map(async ([key, ts]) => {
          const batch = batches.get(key);
          if (!batch) {
            for (const t of ts) if (!towerError.has(t.id)) towerError.set(t.id, 'its preprocessing was not prepared for this batch');
            return;
          }
          const live = ts.filter((t) => !towerError.has(t.id));
          if (!batch.members.length || !live.length) return;
          let out: Float32Array[][];
          try {
            out = await embedBatch(host, live, batch);
          } catch (e) {
            for (const t of live) if (!towerError.has(t.id)) towerError.set(t.id, errLine(e));
            return;
          }
          await Promise.all(
            live.map(async (t, ti) => {
              const per = embeds.get(t.id) ?? new Map<number, Float32Array>();
              embeds.set(t.id, per);
              batch.members.forEach((i, r) => per.set(i, out[ti]![r]!));
              if (t === lm.clip && lm.aesthetic && aestheticError === undefined)
                try {
                  const sc = await aestheticScores(host, lm.aesthetic, out[ti]!, anchors.metrics.aesthetic);
                  batch.members.forEach((i, r) => aestheticOf.set(i, sc[r]!));
                } catch (e) {
                  aestheticError ??= errLine(e);
                }
            }),
          );
        }),
      );
    };

    // VQA (remote, a request per image) starts as soon as the decode check is done, beside the rest
    const vqaP = Promise.all([technicalP, loadP]).then(([, lm]) => {
      const decoded = images.map((_, i) => i).filter((i) => decodeError[i] === undefined && metrics[i]!.technical);
      if (!lm.vqa || !decoded.length) return undefined;
      return Promise.all(decoded.map(async (i) => ({ dataUrl: await toDataUrl(await bytesOf(i)) })))
        .then((imgs) => vqaScores(lm.vqa!, imgs, prompt, anchors.metrics.vqa_score))
        .then((v) => new Map(decoded.map((i, k) => [i, v[k]!])));
    });
    vqaP.catch(() => {});

    // the pipeline: chunk k+1 is preprocessed while chunk k runs; chunk k+DEPTH waits for chunk k
    const depth = overlap ? LOOKAHEAD : 1;
    for (let k = 0; k < depth; k++) prepare(k);
    const runs: Promise<void>[] = [];
    const texts = new Map<string, { embed: Float32Array; truncated: boolean }>();
    const textError = new Map<string, string>();
    const textPs: Promise<void>[] = [];
    let started: { lm: Loaded; host: InferenceHost } | undefined;
    const finished: boolean[] = [];
    let inOrder = 0;
    for (let k = 0; k < nChunks; k++) {
      if (k >= depth) await runs[k - depth];
      const batches = await prepare(k)!;
      if (!started) {
        started = { lm: await loadP, host: await getHost() };
        const { lm, host } = started;
        const towers = [lm.clip, lm.pick].filter((m): m is ClipModel => !!m);
        if (!towers.length) break; // no model: technical quality alone
        // the prompt's text pass goes first in the thread's queue
        for (const t of towers)
          textPs.push(
            embedTexts(host, t, [prompt]).then(
              ([r]) => void texts.set(t.id, r!),
              (e) => void textError.set(t.id, errLine(e)),
            ),
          );
      }
      const { lm, host } = started;
      const run = runChunk(lm, host, batches).finally(() => {
        prepared.delete(k); // its pixels have gone to the thread
        prepare(k + depth);
        // progress counts the chunks done in order (an empty chunk can finish before the one ahead)
        finished[k] = true;
        const before = inOrder;
        while (inOrder < nChunks && finished[inOrder]) inOrder++;
        if (inOrder > before && inOrder < nChunks) o.onProgress?.(inOrder * batchSize, total);
      });
      runs.push(run);
      if (!overlap) await run;
    }
    await Promise.all([...runs, ...textPs, technicalP]);
    const final = await loadP;

    // every image that decoded (technical quality and each preprocessing)
    const ok = images.map((_, i) => i).filter((i) => decodeError[i] === undefined && metrics[i]!.technical);
    for (let i = 0; i < total; i++) if (decodeError[i] !== undefined) results[i]!.error = decodeError[i];

    let truncated = false;
    const towerResult = (m: ClipModel) => {
      const err = towerError.get(m.id) ?? textError.get(m.id);
      const text = texts.get(m.id);
      return err !== undefined || !text ? { err: err ?? 'no text embedding' } : { text };
    };
    if (final.clip && ok.length) {
      const r = towerResult(final.clip);
      if ('err' in r)
        ok.forEach((i) => {
          metrics[i]!.clip_score = unavail(`${final.clip!.id} failed: ${r.err}`);
          if (final.aesthetic) metrics[i]!.aesthetic = unavail(`${final.clip!.id} failed: ${r.err}`);
        });
      else {
        truncated ||= r.text.truncated;
        const e = embeds.get(final.clip.id)!;
        ok.forEach((i) => (metrics[i]!.clip_score = clipScore(e.get(i)!, r.text.embed, final.clip!.id, final.clip!.fileHashes, anchors.metrics.clip_score)));
        if (final.aesthetic)
          ok.forEach((i) => {
            if (aestheticError !== undefined) return void (metrics[i]!.aesthetic = unavail(`aesthetic head failed: ${aestheticError}`));
            const s = aestheticOf.get(i)!;
            // the head's file hash alone does not say which embeddings fed it
            metrics[i]!.aesthetic = s.available ? { ...s, file_hashes: { ...s.file_hashes, ...prefixed(final.clip!) } } : s;
          });
      }
    }
    if (final.pick && ok.length) {
      const r = towerResult(final.pick);
      if ('err' in r) ok.forEach((i) => (metrics[i]!.pickscore = unavail(`${final.pick!.id} failed: ${r.err}`)));
      else {
        truncated ||= r.text.truncated;
        const e = embeds.get(final.pick.id)!;
        ok.forEach((i) => (metrics[i]!.pickscore = pickScore(e.get(i)!, r.text.embed, final.pick!.logitScale, final.pick!.id, final.pick!.fileHashes, anchors.metrics.pickscore)));
      }
    }
    const v = await vqaP;
    if (v) ok.forEach((i) => (metrics[i]!.vqa_score = v.get(i) ?? unavail('image did not decode for the model passes')));
    bytes.clear();
    // fill in unavailable metrics and combine with one formula for the whole batch
    for (const i of ok) for (const m of MODEL_METRICS) metrics[i]![m] ??= unavail(final.unavailable[m] ?? 'not computed');
    const usable = commonMetrics(ok.map((i) => metrics[i]!), weights);
    const scoredAt = new Date().toISOString();
    for (const i of ok) {
      const c = combine(metrics[i]!, weights, usable);
      results[i]!.scores = {
        overall: c.overall,
        rank_key: c.rank_key,
        metrics: metrics[i]!,
        weights_used: c.weights_used,
        anchors_version: anchors.version,
        prompt_truncated: truncated,
        scored_at: scoredAt,
      };
    }
    o.onProgress?.(total, total);
    return results;
  }

  return {
    scoreBatch,
    async availability() {
      const l = await ensure();
      const models: Availability['models'] = {};
      if (l.clip) models.clip_score = { id: l.clip.id, file_hashes: l.clip.fileHashes };
      if (l.pick) models.pickscore = { id: l.pick.id, file_hashes: l.pick.fileHashes };
      if (l.aesthetic) models.aesthetic = { id: l.aesthetic.id, file_hashes: { ...l.aesthetic.fileHashes, ...prefixed(l.clip!) } };
      if (l.vqa) models.vqa_score = { id: l.vqa.model, file_hashes: {} };
      const devices = [l.clip?.vision.device, l.pick?.vision.device].filter(Boolean);
      return {
        device: devices[0] ?? deviceLabel(device),
        available: [...MODEL_METRICS.filter((m) => !l.unavailable[m]), 'technical'],
        unavailable: { ...l.unavailable },
        models,
        warnings: [...l.warnings],
      };
    },
    weights,
    anchors,
    stats() {
      return hostRef ? { ...hostRef.stats(), host: hostRef.mode } : { runs: {}, loads: 0, host: opts.host === 'inline' ? 'inline' : 'thread' };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (hostP && ownHost) await (await hostP).close();
    },
  };

}

function prefixed(m: ClipModel): Record<string, string> {
  return Object.fromEntries(
    Object.entries(m.fileHashes)
      .filter(([k]) => k.includes('vision'))
      .map(([k, v]) => [`${m.id}/${k}`, v]),
  );
}

const errLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0] ?? '';
