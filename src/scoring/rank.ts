/**
 * Score a generation directory, rank, rename by rank, rewrite metadata + trace.
 *
 * Renaming is crash-safe: a journal (.rank-journal.json) is written first, every moving image goes
 * to a hidden temporary name, then to its final name, then metadata and trace are rewritten from
 * the journal. No two files ever share a name, and a crash at any point is finished by the next
 * run (recoverPendingRanking). Scored images take image_001… by rank (ties: lower seed first);
 * unscorable ones follow in generation order with rank null.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LoopError } from '../errors.js';
import {
  GENERATION_TRACE,
  GenerationTraceSchema,
  ImageMetadataSchema,
  imageFileName,
  metadataFileName,
  type GenerationTrace,
  type ImageMetadata,
} from '../generation/metadata.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import { combine, commonMetrics, MODEL_METRICS } from './combine.js';
import { createImageScorer, type ImageScorer } from './scorer.js';
import type { ImageScores } from './types.js';

export interface ScoreDirOptions {
  /** Prompt to score against; default: the prompt recorded in generation_trace.json. */
  prompt?: string;
  device?: string; // cpu | cuda | cuda:N
  modelsDir?: string;
  logger?: Logger;
  onProgress?: (done: number, total: number) => void;
  /** A loaded scorer to reuse (a queue worker keeps one per process); not closed here. */
  scorer?: ImageScorer;
  /** Images per scoring batch (default 8). */
  batchSize?: number;
  /** Overall weights (default anchors.json: pickscore 50, clip_score 25, vqa_score 15, aesthetic 10). */
  weights?: Record<string, number>;
  /** CLIP model for CLIPScore (default clip-vit-large-patch14; the aesthetic head needs it). */
  clipModel?: string;
}

export interface RankedImage {
  rank: number | null; // null: could not be scored
  file: string; // file name after renaming, e.g. image_001.png
  previous_file: string;
  seed: number;
  variation: number;
  overall: number | null;
  metrics: Record<string, number | null>; // normalised 0–100 per metric, null = unavailable
}

export interface RankResult {
  dir: string;
  images: RankedImage[];
  best: string | null;
  unscorable: { file: string; reason: string }[];
  metrics_available: string[];
  metrics_unavailable: Record<string, string>;
  /** What the paid metrics (VQAScore) cost, USD. */
  cost_usd: number;
  weights_used: Record<string, number>;
  anchors_version: string;
  device: string;
  prompt_truncated: boolean;
}

export const RANK_JOURNAL = '.rank-journal.json';
const META_RE = /^image_(\d{3,})_metadata\.json$/;

const JournalSchema = z.object({
  version: z.literal(1),
  phase: z.enum(['to-temp', 'to-final']),
  moves: z.array(z.object({ from: z.string(), tmp: z.string(), to: z.string() })),
  metadata: z.array(ImageMetadataSchema),
  trace: GenerationTraceSchema.nullable(),
  stale_metadata: z.array(z.string()),
});
type Journal = z.infer<typeof JournalSchema>;

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

/** Finish a ranking interrupted by a crash (idempotent; nothing to do without a journal). */
export async function recoverPendingRanking(dir: string): Promise<boolean> {
  const jp = join(dir, RANK_JOURNAL);
  if (!existsSync(jp)) return false;
  const j = JournalSchema.parse(await readJson(jp));
  await applyJournal(dir, j);
  return true;
}

async function applyJournal(dir: string, j: Journal): Promise<void> {
  const jp = join(dir, RANK_JOURNAL);
  if (j.phase === 'to-temp') {
    // phase 1: originals to hidden temporary names (no final name is touched yet)
    for (const m of j.moves) if (existsSync(join(dir, m.from)) && !existsSync(join(dir, m.tmp))) await rename(join(dir, m.from), join(dir, m.tmp));
    j = { ...j, phase: 'to-final' };
    await writeJsonAtomic(jp, j);
  }
  // phase 2: temporary names to final names (every final name is free: its owner moved to temp)
  for (const m of j.moves) if (existsSync(join(dir, m.tmp))) await rename(join(dir, m.tmp), join(dir, m.to));
  const keep = new Set(j.metadata.map((m) => metadataFileName(Number(/\d+/.exec(m.file)![0]))));
  for (const md of j.metadata) await writeJsonAtomic(join(dir, metadataFileName(Number(/\d+/.exec(md.file)![0]))), md);
  for (const s of j.stale_metadata) if (!keep.has(s)) await rm(join(dir, s), { force: true });
  if (j.trace) await writeJsonAtomic(join(dir, GENERATION_TRACE), j.trace);
  await rm(jp, { force: true });
}

async function readGenerationDir(dir: string): Promise<{ trace: GenerationTrace | null; metas: ImageMetadata[]; metaFiles: string[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LoopError(code === 'ENOENT' ? 'NOT_FOUND' : 'INPUT', `cannot read generation directory ${dir}: ${code ?? e}`);
  }
  let trace: GenerationTrace | null = null;
  if (names.includes(GENERATION_TRACE)) {
    const r = GenerationTraceSchema.safeParse(await readJson(join(dir, GENERATION_TRACE)).catch(() => null));
    if (!r.success) throw new LoopError('INPUT', `${join(dir, GENERATION_TRACE)} is not a valid generation trace`);
    trace = r.data;
  }
  const metaFiles = names.filter((n) => META_RE.test(n)).sort();
  const metas: ImageMetadata[] = [];
  for (const f of metaFiles) {
    const r = ImageMetadataSchema.safeParse(await readJson(join(dir, f)).catch(() => null));
    if (!r.success) throw new LoopError('INPUT', `${join(dir, f)} is not valid image metadata: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}`);
    metas.push(r.data);
  }
  if (!metas.length && trace?.images.length) metas.push(...trace.images);
  if (!metas.length) throw new LoopError('INPUT', `${dir} has no image_NNN_metadata.json files: not an image generation directory`);
  return { trace, metas, metaFiles };
}

/** Rank order: scored by overall (desc), ties by seed then variation; unscorable last, by variation. */
export function rankOrder<T extends { overall: number | null; seed: number; variation: number }>(items: T[]): T[] {
  return [...items].sort((a, b) => {
    if ((a.overall === null) !== (b.overall === null)) return a.overall === null ? 1 : -1;
    if (a.overall !== null && b.overall !== null && a.overall !== b.overall) return b.overall - a.overall;
    if (a.overall !== null && a.seed !== b.seed) return a.seed - b.seed;
    return a.variation - b.variation;
  });
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;

/** Score every image of a generation directory, rank, rename by rank, rewrite metadata + trace. */
export async function scoreGenerationDir(dir: string, opts: ScoreDirOptions = {}): Promise<RankResult> {
  const logger = opts.logger ?? silentLogger;
  const started = Date.now();
  if (await recoverPendingRanking(dir)) logger.warn(`finished an interrupted ranking in ${dir}`);
  const { trace, metas, metaFiles } = await readGenerationDir(dir);
  const prompt = opts.prompt ?? trace?.prompt ?? metas[0]!.prompt;
  const scorer = opts.scorer ?? createImageScorer({ device: opts.device, modelsDir: opts.modelsDir, logger, weights: opts.weights, clipModel: opts.clipModel });
  const weights = opts.weights ?? scorer.weights;
  try {
    const avail = await scorer.availability();
    const byVariation = [...metas].sort((a, b) => a.variation - b.variation);
    const scores = new Map<ImageMetadata, ImageScores | null>();
    const errors = new Map<ImageMetadata, string>();
    const batch = Math.max(1, opts.batchSize ?? 8);
    let done = 0;
    opts.onProgress?.(0, byVariation.length);
    for (let i = 0; i < byVariation.length; i += batch) {
      const part = byVariation.slice(i, i + batch);
      const present = part.filter((m) => existsSync(join(dir, m.file)));
      for (const m of part) if (!present.includes(m)) errors.set(m, `image file ${m.file} is missing`);
      const res = await scorer.scoreBatch(present.map((m) => ({ path: join(dir, m.file) })), prompt);
      present.forEach((m, k) => {
        const r = res[k]!;
        scores.set(m, r.scores);
        if (!r.scores) errors.set(m, r.error ?? 'could not be scored');
      });
      done += part.length;
      opts.onProgress?.(done, byVariation.length);
    }
    // one overall formula for the whole set: metrics available for every scored image
    const scored = byVariation.filter((m) => scores.get(m));
    const usable = commonMetrics(scored.map((m) => scores.get(m)!.metrics), weights);
    let weightsUsed: Record<string, number> = {};
    for (const m of scored) {
      const s = scores.get(m)!;
      const c = combine(s.metrics, weights, usable);
      s.overall = c.overall;
      s.weights_used = c.weights_used;
      weightsUsed = c.weights_used;
    }
    const ordered = rankOrder(byVariation.map((m) => ({ m, overall: scores.get(m)?.overall ?? null, seed: m.seed, variation: m.variation })));
    const anyScored = scored.length > 0;
    // nothing scored: keep generation order and names
    const finalOrder = anyScored ? ordered : byVariation.map((m) => ({ m, overall: null, seed: m.seed, variation: m.variation }));
    const token = randomBytes(4).toString('hex');
    const moves: Journal['moves'] = [];
    const newMetas: ImageMetadata[] = finalOrder.map(({ m }, idx) => {
      const n = anyScored ? idx + 1 : Number(/\d+/.exec(m.file)![0]);
      const file = imageFileName(n);
      if (file !== m.file && existsSync(join(dir, m.file))) moves.push({ from: m.file, tmp: `.rank-tmp-${token}-${m.file}`, to: file });
      const s = scores.get(m) ?? null;
      return { ...m, file, rank: s ? idx + 1 : null, scores: s };
    });
    const unscorable = finalOrder.filter(({ m }) => !scores.get(m)).map(({ m }) => ({ file: newMetas.find((x) => x.variation === m.variation)!.file, previous_file: m.file, reason: errors.get(m) ?? 'not scored' }));
    const best = anyScored ? newMetas[0]!.file : null;
    const metricsUnavailable: Record<string, string> = { ...avail.unavailable };
    for (const mm of MODEL_METRICS) {
      const failed = scored.map((m) => scores.get(m)!.metrics[mm]).find((r) => r && !r.available);
      if (!metricsUnavailable[mm] && failed && !failed.available) metricsUnavailable[mm] = `unavailable for some images: ${failed.reason}`;
    }
    const metricsAvailable = [...usable, 'technical'];
    const truncated = scored.some((m) => scores.get(m)!.prompt_truncated);
    // paid metric calls (VQAScore) carry their cost in the metric detail; the trace sums them
    const costs = scored.map((m) => scores.get(m)!.metrics.vqa_score).map((r) => (r?.available ? (r.detail?.cost_usd as number | null | undefined) : undefined));
    const costUsd = Math.round(costs.reduce<number>((a, c) => a + (c ?? 0), 0) * 1e6) / 1e6;
    const costIsLowerBound = costs.some((c) => c === null);
    const scoring = {
      status: anyScored ? 'scored' : 'unscorable',
      prompt_scored: prompt,
      prompt_truncated: truncated,
      metrics_available: metricsAvailable,
      metrics_unavailable: metricsUnavailable,
      weights_configured: weights,
      weights_used: weightsUsed,
      overall_note: Object.keys(weightsUsed).join(',') === 'technical'
        ? 'no model metric was available: overall is the technical quality score (sharpness, exposure, contrast, colourfulness, noise)'
        : 'overall = weighted mean of the normalised model metrics available for every image, weights re-normalised over those',
      anchors_version: scorer.anchors.version,
      anchors_file: 'src/scoring/anchors.json',
      cost_usd: costUsd,
      cost_is_lower_bound: costIsLowerBound,
      models: avail.models,
      device: avail.device,
      device_warnings: avail.warnings,
      unscorable,
      renamed: moves.map((m) => ({ from: m.from, to: m.to })),
      ranking: 'overall descending; ties by lower seed; unscorable images last in generation order',
      scored_at: new Date().toISOString(),
      duration_ms: Date.now() - started,
    };
    const newTrace: GenerationTrace | null = trace
      ? {
          ...trace,
          ordering: anyScored ? 'rank' : 'generation',
          ordering_note: anyScored
            ? `image_001 is the best by overall score (${Object.entries(weightsUsed).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', ')})`
            : 'no image could be scored; files keep generation order',
          images: [...newMetas],
          best,
          scoring,
        }
      : null;
    const keepNames = new Set(newMetas.map((m) => metadataFileName(Number(/\d+/.exec(m.file)![0]))));
    const journal: Journal = {
      version: 1,
      phase: 'to-temp',
      moves,
      metadata: newMetas,
      trace: newTrace,
      stale_metadata: metaFiles.filter((f) => !keepNames.has(f)),
    };
    await writeJsonAtomic(join(dir, RANK_JOURNAL), journal);
    await applyJournal(dir, journal);
    for (const u of unscorable) logger.warn(`${u.previous_file}: ${u.reason}`);
    return {
      dir,
      images: newMetas.map((m, i) => ({
        rank: m.rank,
        file: m.file,
        previous_file: finalOrder[i]!.m.file,
        seed: m.seed,
        variation: m.variation,
        overall: scores.get(finalOrder[i]!.m)?.overall ?? null,
        metrics: Object.fromEntries(
          [...MODEL_METRICS, 'technical'].map((k) => {
            const r = scores.get(finalOrder[i]!.m)?.metrics[k];
            return [k, r?.available ? round(r.normalized) : null];
          }),
        ),
      })),
      best,
      unscorable: unscorable.map(({ file, reason }) => ({ file, reason })),
      metrics_available: metricsAvailable,
      metrics_unavailable: metricsUnavailable,
      weights_used: weightsUsed,
      anchors_version: scorer.anchors.version,
      device: avail.device,
      prompt_truncated: truncated,
      cost_usd: costUsd,
    };
  } finally {
    if (!opts.scorer) await scorer.close();
  }
}
