/**
 * The image scorer: loads its models once (lazily, on first use) and keeps them for every later
 * call, so a queue worker creates one scorer per process and reuses it across batch jobs.
 * All ONNX sessions live in one inference thread (see inference-host.ts).
 *
 * Per batch: one vision pass per CLIP model serves every metric built on it (CLIPScore and the
 * aesthetic head share ViT-L/14's), each distinct prompt is encoded once, VQA requests run
 * concurrently with the ONNX work, technical quality is always computed.
 */
import { readFile } from 'node:fs/promises';
import { loadEnv } from '../config/env.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { resolveModelsDir } from '../models/store.js';
import { loadAnchors, type Anchors } from './anchors.js';
import { embedImages, embedTexts, loadClip, ModelUnavailable, type ClipModel } from './clip.js';
import { combine, commonMetrics, MODEL_METRICS } from './combine.js';
import { createInlineHost, createThreadHost, type InferenceHost } from './inference-host.js';
import { aestheticScores, loadAesthetic, type AestheticHead } from './metrics/aesthetic.js';
import { clipScore } from './metrics/clip-score.js';
import { pickScore } from './metrics/pickscore.js';
import { technicalQuality } from './metrics/technical.js';
import { toDataUrl, vqaConfigFromEnv, vqaScores, type VqaConfig } from './metrics/vqa-score.js';
import { preprocessImage } from './preprocess.js';
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
  vqa?: VqaConfig;
  unavailable: Record<string, string>;
  warnings: string[];
}

const reasonOf = (e: unknown) => (e instanceof ModelUnavailable ? e.message : `failed to load: ${String((e as Error)?.message ?? e).split('\n')[0]}`);

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

export function createImageScorer(opts: ScorerOptions = {}): ImageScorer {
  const device = typeof opts.device === 'object' ? opts.device : parseDevice(opts.device);
  const modelsDir = resolveModelsDir({ modelsDir: opts.modelsDir });
  const logger = opts.logger ?? silentLogger;
  const anchors = opts.anchors ?? loadAnchors();
  const weights = { ...(opts.weights ?? anchors.weights) };
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const clipId = opts.clipModel ?? DEFAULT_CLIP_MODEL;
  const ownHost = typeof opts.host !== 'object';
  let hostP: Promise<InferenceHost> | undefined;
  let hostRef: InferenceHost | undefined;
  const getHost = () =>
    (hostP ??= (
      typeof opts.host === 'object' ? Promise.resolve(opts.host) : opts.host === 'inline' ? createInlineHost() : Promise.resolve(createThreadHost())
    ).then((h) => (hostRef = h)));
  let loadedP: Promise<Loaded> | undefined;
  let closed = false;

  const load = async (): Promise<Loaded> => {
    const host = await getHost();
    const l: Loaded = { unavailable: {}, warnings: [] };
    const warn = (w: string | undefined) => {
      if (w && !l.warnings.includes(w)) (l.warnings.push(w), logger.warn(w));
    };
    try {
      l.clip = await loadClip(host, modelsDir, clipId, device);
      warn(l.clip.vision.warning);
    } catch (e) {
      l.unavailable.clip_score = reasonOf(e);
    }
    try {
      l.pick = await loadClip(host, modelsDir, PICKSCORE_MODEL, device);
      warn(l.pick.vision.warning);
    } catch (e) {
      l.unavailable.pickscore = reasonOf(e);
    }
    if (!l.clip) l.unavailable.aesthetic = `needs ${clipId} image embeddings: ${l.unavailable.clip_score}`;
    else
      try {
        l.aesthetic = await loadAesthetic(host, modelsDir, device);
      } catch (e) {
        l.unavailable.aesthetic = reasonOf(e);
      }
    if (opts.vqa === null) l.unavailable.vqa_score = 'VQAScore disabled';
    else {
      const v = opts.vqa ?? vqaConfigFromEnv(loadEnv());
      if ('unavailable' in v) l.unavailable.vqa_score = v.unavailable;
      else l.vqa = v;
    }
    for (const [m, r] of Object.entries(l.unavailable)) logger.debug(`${m} unavailable: ${r}`);
    return l;
  };
  const ensure = () => {
    if (closed) throw new Error('scorer is closed');
    return (loadedP ??= load());
  };

  async function scoreBatch(images: ImageInput[], prompt: string, o: { onProgress?: (d: number, t: number) => void } = {}): Promise<ImageScoreResult[]> {
    const l = await ensure();
    const host = await getHost();
    const total = images.length;
    const results: ImageScoreResult[] = images.map((i) => ({ path: i.path, scores: null }));
    const metrics: Record<string, MetricResult>[] = images.map(() => ({}));
    // 1. read + decode (technical quality doubles as the decode check)
    const bytes: (Uint8Array | null)[] = await Promise.all(
      images.map(async (img, i) => {
        try {
          const b = img.bytes ?? (await readFile(img.path));
          metrics[i]!.technical = await technicalQuality(b, anchors);
          return b;
        } catch (e) {
          results[i]!.error = `cannot decode image: ${String((e as Error)?.message ?? e).split('\n')[0]}`;
          return null;
        }
      }),
    );
    const ok = images.map((_, i) => i).filter((i) => bytes[i] !== null);
    // 2. VQA in flight while the ONNX work runs
    const vqaP = l.vqa
      ? Promise.all(ok.map(async (i) => ({ dataUrl: await toDataUrl(bytes[i]!) }))).then((imgs) => vqaScores(l.vqa!, imgs, prompt, anchors.metrics.vqa_score))
      : undefined;
    // 3. pixels per distinct preprocessing
    const pixelCache = new Map<string, Float32Array[]>();
    const pixelsFor = async (m: ClipModel) => {
      let p = pixelCache.get(m.preprocess.key);
      if (!p) pixelCache.set(m.preprocess.key, (p = await Promise.all(ok.map((i) => preprocessImage(bytes[i]!, m.preprocess)))));
      return p;
    };
    let truncated = false;
    const runTower = async (m: ClipModel) => {
      const pixels = await pixelsFor(m);
      const [text] = await embedTexts(host, m, [prompt]);
      truncated ||= text!.truncated;
      const embeds: Float32Array[] = [];
      for (const c of chunks(pixels, batchSize)) embeds.push(...(await embedImages(host, m, c)));
      return { text: text!.embed, embeds };
    };
    const unavail = (reason: string): MetricResult => ({ available: false, reason });
    if (l.clip && ok.length) {
      try {
        const { text, embeds } = await runTower(l.clip);
        ok.forEach((i, k) => (metrics[i]!.clip_score = clipScore(embeds[k]!, text, l.clip!.id, l.clip!.fileHashes, anchors.metrics.clip_score)));
        if (l.aesthetic) {
          try {
            const scores: MetricResult[] = [];
            for (const c of chunks(embeds, batchSize)) scores.push(...(await aestheticScores(host, l.aesthetic, c, anchors.metrics.aesthetic)));
            ok.forEach((i, k) => {
              const s = scores[k]!;
              // the head's file hash alone does not say which embeddings fed it
              metrics[i]!.aesthetic = s.available ? { ...s, file_hashes: { ...s.file_hashes, ...prefixed(l.clip!) } } : s;
            });
          } catch (e) {
            ok.forEach((i) => (metrics[i]!.aesthetic = unavail(`aesthetic head failed: ${errLine(e)}`)));
          }
        }
      } catch (e) {
        ok.forEach((i) => {
          metrics[i]!.clip_score = unavail(`${l.clip!.id} failed: ${errLine(e)}`);
          if (l.aesthetic) metrics[i]!.aesthetic = unavail(`${l.clip!.id} failed: ${errLine(e)}`);
        });
      }
    }
    if (l.pick && ok.length) {
      try {
        const { text, embeds } = await runTower(l.pick);
        ok.forEach((i, k) => (metrics[i]!.pickscore = pickScore(embeds[k]!, text, l.pick!.logitScale, l.pick!.id, l.pick!.fileHashes, anchors.metrics.pickscore)));
      } catch (e) {
        ok.forEach((i) => (metrics[i]!.pickscore = unavail(`${l.pick!.id} failed: ${errLine(e)}`)));
      }
    }
    if (vqaP) {
      const v = await vqaP;
      ok.forEach((i, k) => (metrics[i]!.vqa_score = v[k]!));
    }
    // 4. fill in unavailable metrics and combine with one formula for the whole batch
    for (const i of ok) for (const m of MODEL_METRICS) metrics[i]![m] ??= unavail(l.unavailable[m] ?? 'not computed');
    const usable = commonMetrics(ok.map((i) => metrics[i]!), weights);
    const scoredAt = new Date().toISOString();
    for (const i of ok) {
      const c = combine(metrics[i]!, weights, usable);
      results[i]!.scores = {
        overall: c.overall,
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

const errLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];
