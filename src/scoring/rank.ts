/**
 * Score a generation directory, rank, rename by rank, rewrite metadata + trace.
 *
 * One ranking at a time per directory: a DirLock (default: a `.rank.lock` file; the queue worker
 * passes a Redis one) covers recovery, reading, scoring and renaming, and is verified before every
 * irreversible step. Before anything is renamed, each metadata's `file` must be a plain name inside
 * the folder and the image's sha256 must equal the recorded one.
 *
 * Renaming is crash-safe: a journal (.rank-journal.json) is written first, every moving image goes
 * to a hidden temporary name, then to its final name, then metadata and trace are rewritten from
 * the journal. No two files ever share a name, and a crash at any point is finished by the next
 * run (recoverPendingRanking). Scored images take image_001… by rank_key (the overall before
 * clamping; ties: lower seed first); unscorable ones follow in generation order with rank null.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
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
import { defaultDirLock, type DirLock, type HeldDirLock } from '../lib/dir-lock.js';
import { sha256File } from '../lib/hash.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { mapPool } from '../lib/pool.js';
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
  /** Who may rank this directory now (default: a `.rank.lock` file in it). */
  lock?: DirLock;
  /** How long to wait for a ranking that holds the lock (default: the lock's, 60 s for the file lock). */
  lockWaitMs?: number;
  /** Stops waiting for the lock. */
  signal?: AbortSignal;
}

export interface RankedImage {
  rank: number | null; // null: could not be scored
  file: string; // file name after renaming, e.g. image_001.png
  previous_file: string;
  seed: number;
  variation: number;
  overall: number | null;
  /** What the ranking sorted by: the overall from unclamped metric values (see ImageScores.rank_key). */
  rank_key: number | null;
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
const IMAGE_RE = /^image_(\d{3,})\.png$/;
const TMP_PREFIX = '.rank-tmp-';
const TMP_RE = /^\.rank-tmp-/;

const JournalSchema = z.object({
  version: z.literal(1),
  phase: z.enum(['to-temp', 'to-final']),
  moves: z.array(z.object({ from: z.string(), tmp: z.string(), to: z.string() })),
  metadata: z.array(ImageMetadataSchema),
  trace: GenerationTraceSchema.nullable(),
  stale_metadata: z.array(z.string()),
});
type Journal = z.infer<typeof JournalSchema>;

/** A name that stays in the folder: no separator, no `..`, not absolute, no NUL. */
export function isPlainFileName(name: string): boolean {
  return name.length > 0 && !/[/\\\0]/.test(name) && !name.includes('..') && name !== '.';
}

const metaNameOf = (imageFile: string) => metadataFileName(Number(IMAGE_RE.exec(imageFile)![1]));
const show = (name: string) => JSON.stringify(name); // one line whatever the name holds

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function withLock<T>(dir: string, opts: Pick<ScoreDirOptions, 'lock' | 'lockWaitMs' | 'signal' | 'logger'>, fn: (held: HeldDirLock) => Promise<T>): Promise<T> {
  const logger = opts.logger ?? silentLogger;
  const held = await (opts.lock ?? defaultDirLock).acquire(dir, {
    waitMs: opts.lockWaitMs,
    signal: opts.signal,
    onWait: (holder) => logger.info(`waiting for ${holder} to finish ranking ${dir}`),
  });
  try {
    return await fn(held);
  } finally {
    await held.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Journal

/** Finish a ranking interrupted by a crash (idempotent; nothing to do without a journal). */
export async function recoverPendingRanking(dir: string, opts: Pick<ScoreDirOptions, 'lock' | 'lockWaitMs' | 'signal' | 'logger'> = {}): Promise<boolean> {
  return withLock(dir, opts, (held) => recoverLocked(dir, held));
}

async function recoverLocked(dir: string, held: HeldDirLock): Promise<boolean> {
  const jp = join(dir, RANK_JOURNAL);
  if (!existsSync(jp)) return false;
  const j = await readJournal(jp);
  const foreign = await journalMismatch(dir, j);
  if (foreign) throw badJournal(jp, foreign);
  await applyJournal(dir, j, () => held.verify());
  return true;
}

function badJournal(jp: string, why: string): LoopError {
  return new LoopError(
    'INPUT',
    `${jp} ${why}; it cannot be finished. Check that each image_NNN.png matches the sha256 in its image_NNN_metadata.json, then delete ${jp} and score again`,
  );
}

/** Parse and check a journal; any doubt refuses before a single rename. */
async function readJournal(jp: string): Promise<Journal> {
  let raw: unknown;
  try {
    raw = await readJson(jp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badJournal(jp, code ? `cannot be read (${code})` : 'is not valid JSON');
  }
  const r = JournalSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw badJournal(jp, `is not a ranking journal (${i.path.join('.') || 'root'}: ${i.message.split('\n')[0]})`);
  }
  const problem = journalNameProblem(r.data);
  if (problem) throw badJournal(jp, problem);
  return r.data;
}

/** Every name a journal will rename, write or delete must stay in the folder and be of its kind. */
function journalNameProblem(j: Journal): string | null {
  const checks: [string, string, RegExp | null][] = [
    ...j.moves.flatMap((m): [string, string, RegExp | null][] => [
      ['moves.from', m.from, null],
      ['moves.tmp', m.tmp, TMP_RE],
      ['moves.to', m.to, IMAGE_RE],
    ]),
    ...j.metadata.map((m): [string, string, RegExp | null] => ['metadata.file', m.file, IMAGE_RE]),
    ...j.stale_metadata.map((s): [string, string, RegExp | null] => ['stale_metadata', s, META_RE]),
  ];
  for (const [field, name, re] of checks) {
    if (!isPlainFileName(name)) return `names ${show(name)} (${field}), a path outside the folder`;
    if (re && !re.test(name)) return `names ${show(name)} (${field}), not a file a ranking writes`;
  }
  for (const k of ['from', 'tmp', 'to'] as const) {
    const names = j.moves.map((m) => m[k]);
    if (new Set(names).size !== names.length) return `moves two files to or from one name (${k})`;
  }
  if (new Set(j.metadata.map((m) => m.file)).size !== j.metadata.length) return 'records two metadata for one file';
  const files = new Set(j.metadata.map((m) => m.file));
  const orphan = j.moves.find((m) => !files.has(m.to));
  return orphan ? `moves a file to ${show(orphan.to)} but has no metadata for it` : null;
}

/** Where a move's file is now: its temp name, else (before phase 2) its origin, else its destination. */
function currentName(j: Journal, m: Journal['moves'][number], dir: string): string {
  if (existsSync(join(dir, m.tmp))) return m.tmp;
  return j.phase === 'to-temp' ? m.from : m.to;
}

/** A journal from another folder (or an edited one) names images whose bytes do not match. */
async function journalMismatch(dir: string, j: Journal): Promise<string | null> {
  const sha = new Map(j.metadata.map((m) => [m.file, m.sha256]));
  const bad = await mapPool(j.moves, 4, async (m) => {
    const name = currentName(j, m, dir);
    if (!existsSync(join(dir, name))) return null; // missing before the ranking began: nothing to move
    return (await sha256File(join(dir, name))) === sha.get(m.to) ? null : name;
  });
  const first = bad.find((b) => b !== null);
  return first ? `does not belong to this folder (${show(first)} is not the image it records for that name)` : null;
}

async function applyJournal(dir: string, j: Journal, guard: () => Promise<void>): Promise<void> {
  const jp = join(dir, RANK_JOURNAL);
  const at = (n: string) => join(dir, n);
  if (j.phase === 'to-temp') {
    // phase 1: originals to hidden temporary names (no final name is touched yet); names are distinct, so concurrent
    await guard();
    await Promise.all(j.moves.map(async (m) => (existsSync(at(m.from)) && !existsSync(at(m.tmp)) ? rename(at(m.from), at(m.tmp)) : undefined)));
    j = { ...j, phase: 'to-final' };
    await writeJsonAtomic(jp, j);
  }
  // phase 2: temporary names to final names (each final name's owner has moved to temp; anything else there would be overwritten)
  await guard();
  const blocked = j.moves.find((m) => existsSync(at(m.tmp)) && existsSync(at(m.to)));
  if (blocked) throw badJournal(jp, `would overwrite ${show(blocked.to)} with ${show(blocked.tmp)}`);
  await Promise.all(j.moves.map(async (m) => (existsSync(at(m.tmp)) ? rename(at(m.tmp), at(m.to)) : undefined)));
  const keep = new Set(j.metadata.map((m) => metaNameOf(m.file)));
  await Promise.all(j.metadata.map((md) => writeJsonAtomic(at(metaNameOf(md.file)), md)));
  await Promise.all(j.stale_metadata.filter((s) => !keep.has(s)).map((s) => rm(at(s), { force: true })));
  if (j.trace) await writeJsonAtomic(at(GENERATION_TRACE), j.trace);
  await rm(jp, { force: true });
}

// ---------------------------------------------------------------------------------------------
// Reading and checking the folder

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

/** Why an image cannot be renamed as its metadata says, or null (a missing file is not for here: it is unscorable). */
async function imageProblem(dir: string, m: ImageMetadata): Promise<string | null> {
  const p = join(dir, m.file);
  let isFile: boolean;
  try {
    isFile = (await stat(p)).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? null : `${p} cannot be read (${code})`;
  }
  if (!isFile) return `${p} is not a regular file`;
  return (await sha256File(p)) === m.sha256 ? null : `${p} does not match the sha256 recorded in its metadata`;
}

/**
 * Refuse the whole ranking, before any scoring or renaming, when a metadata names a file outside
 * the folder, two metadata claim one file or variation, or an image's bytes are not the recorded
 * ones. Why refuse rather than mark that one image unscorable: the sha256 is the only thing tying a
 * file to its seed, prompt and scores. With one pairing broken we cannot tell a replaced file from a
 * folder scrambled by an earlier run, and renaming the others around it would write a trace that
 * vouches for identities we cannot check. The user decides (restore the file, or move it and its
 * metadata out) and nothing has moved meanwhile. A deleted image breaks no pairing: it stays
 * "unscorable", as before, and the others are ranked.
 */
async function checkImages(dir: string, metas: ImageMetadata[]): Promise<void> {
  const fix = 'nothing was renamed; restore the original image, or move the image and its metadata out of the folder, then score again';
  const outside = metas.find((m) => !isPlainFileName(m.file));
  if (outside) throw new LoopError('INPUT', `${dir}: the metadata of variation ${outside.variation} names ${show(outside.file)}, not a file inside the folder; ${fix}`);
  for (const key of ['file', 'variation'] as const) {
    const seen = new Map<string | number, ImageMetadata>();
    for (const m of metas) {
      const other = seen.get(m[key]);
      if (other) throw new LoopError('INPUT', `${dir}: variations ${other.variation} and ${m.variation} both claim ${key} ${show(String(m[key]))}; ${fix}`);
      seen.set(m[key], m);
    }
  }
  const problems = (await mapPool(metas, 4, (m) => imageProblem(dir, m))).filter((p): p is string => p !== null);
  if (problems.length) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new LoopError('INPUT', `${problems[0]}${more}: it was replaced after generation or the folder is inconsistent; ${fix}`);
  }
}

/** A final name held by a file no metadata claims would be overwritten or paired with the wrong image. */
function checkTargetsFree(dir: string, metas: ImageMetadata[], newMetas: ImageMetadata[]): void {
  const claimed = new Set(metas.map((m) => m.file));
  const blocked = newMetas.find((m) => !claimed.has(m.file) && existsSync(join(dir, m.file)));
  if (blocked) throw new LoopError('INPUT', `${join(dir, blocked.file)} has no metadata and is in the way of the ranking; nothing was renamed: move it out of the folder, then score again`);
}

// ---------------------------------------------------------------------------------------------
// Ranking

/** Rank order: scored by rank_key (else overall) descending, ties by seed then variation; unscorable last, by variation. */
export function rankOrder<T extends { overall: number | null; rank_key?: number | null; seed: number; variation: number }>(items: T[]): T[] {
  const key = (x: T) => (x.overall === null ? null : (x.rank_key ?? x.overall));
  return [...items].sort((a, b) => {
    const ka = key(a), kb = key(b);
    if ((ka === null) !== (kb === null)) return ka === null ? 1 : -1;
    if (ka !== null && kb !== null && ka !== kb) return kb - ka;
    if (ka !== null && a.seed !== b.seed) return a.seed - b.seed;
    return a.variation - b.variation;
  });
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;

interface Scored {
  scores: Map<ImageMetadata, ImageScores | null>;
  errors: Map<ImageMetadata, string>;
}

async function scoreAll(dir: string, byVariation: ImageMetadata[], scorer: ImageScorer, prompt: string, opts: ScoreDirOptions): Promise<Scored> {
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
  return { scores, errors };
}

/** image_001… in rank order; with nothing scored, the current names where they are image_NNN and distinct. */
function finalNames(current: string[], ranked: boolean): string[] {
  const byRank = current.map((_, i) => imageFileName(i + 1));
  if (ranked) return byRank;
  const kept = current.map((f, i) => {
    const m = IMAGE_RE.exec(f);
    return m ? imageFileName(Number(m[1])) : byRank[i]!;
  });
  return new Set(kept).size === kept.length ? kept : byRank;
}

/**
 * Put a ranked folder back in generation order (image_NNN = variation NNN, unscored) so missing
 * variations can be made under their own names without overwriting ranked files; the scoring
 * stage ranks the whole set again afterwards. Same lock and crash-safe journal as a ranking; a
 * folder already in generation order is left alone. Returns whether anything moved.
 */
export async function restoreGenerationOrder(dir: string, opts: Pick<ScoreDirOptions, 'lock' | 'lockWaitMs' | 'signal' | 'logger'> = {}): Promise<boolean> {
  return withLock(dir, opts, async (held) => {
    await recoverLocked(dir, held);
    const { trace, metas, metaFiles } = await readGenerationDir(dir);
    if (trace?.ordering !== 'rank' && metas.every((m) => m.file === imageFileName(m.variation))) return false;
    await checkImages(dir, metas);
    const token = randomBytes(4).toString('hex');
    const moves: Journal['moves'] = [];
    const newMetas = [...metas]
      .sort((a, b) => a.variation - b.variation)
      .map((m) => {
        const file = imageFileName(m.variation);
        if (file !== m.file && existsSync(join(dir, m.file))) moves.push({ from: m.file, tmp: `${TMP_PREFIX}${token}-${m.file}`, to: file });
        return { ...m, file, rank: null, scores: null };
      });
    const keepNames = new Set(newMetas.map((m) => metaNameOf(m.file)));
    const journal: Journal = {
      version: 1,
      phase: 'to-temp',
      moves,
      metadata: newMetas,
      trace: trace
        ? { ...trace, ordering: 'generation', ordering_note: 'back in generation order to make missing variations; ranked again by the scoring stage', images: newMetas, best: null, scoring: null }
        : null,
      stale_metadata: metaFiles.filter((f) => !keepNames.has(f)),
    };
    await held.verify();
    await writeJsonAtomic(join(dir, RANK_JOURNAL), journal);
    await applyJournal(dir, journal, () => held.verify());
    return true;
  });
}

/** Score every image of a generation directory, rank, rename by rank, rewrite metadata + trace. */
export async function scoreGenerationDir(dir: string, opts: ScoreDirOptions = {}): Promise<RankResult> {
  return withLock(dir, opts, (held) => scoreLocked(dir, opts, held));
}

async function scoreLocked(dir: string, opts: ScoreDirOptions, held: HeldDirLock): Promise<RankResult> {
  const logger = opts.logger ?? silentLogger;
  const started = Date.now();
  if (await recoverLocked(dir, held)) logger.warn(`finished an interrupted ranking in ${dir}`);
  const { trace, metas, metaFiles } = await readGenerationDir(dir);
  await checkImages(dir, metas);
  const prompt = opts.prompt ?? trace?.prompt ?? metas[0]!.prompt;
  const scorer = opts.scorer ?? createImageScorer({ device: opts.device, modelsDir: opts.modelsDir, logger, weights: opts.weights, clipModel: opts.clipModel });
  const weights = opts.weights ?? scorer.weights;
  try {
    const avail = await scorer.availability();
    const byVariation = [...metas].sort((a, b) => a.variation - b.variation);
    const { scores, errors } = await scoreAll(dir, byVariation, scorer, prompt, opts);
    // one overall formula for the whole set: metrics available for every scored image
    const scored = byVariation.filter((m) => scores.get(m));
    const usable = commonMetrics(scored.map((m) => scores.get(m)!.metrics), weights);
    let weightsUsed: Record<string, number> = {};
    for (const m of scored) {
      const s = scores.get(m)!;
      const c = combine(s.metrics, weights, usable);
      s.overall = c.overall;
      s.rank_key = c.rank_key;
      s.weights_used = c.weights_used;
      weightsUsed = c.weights_used;
    }
    const entry = (m: ImageMetadata) => ({ m, overall: scores.get(m)?.overall ?? null, rank_key: scores.get(m)?.rank_key ?? null, seed: m.seed, variation: m.variation });
    const anyScored = scored.length > 0;
    // nothing scored: keep generation order and names
    const finalOrder = anyScored ? rankOrder(byVariation.map(entry)) : byVariation.map((m) => ({ ...entry(m), overall: null }));
    const token = randomBytes(4).toString('hex');
    const moves: Journal['moves'] = [];
    const names = finalNames(finalOrder.map(({ m }) => m.file), anyScored);
    const newMetas: ImageMetadata[] = finalOrder.map(({ m }, idx) => {
      const file = names[idx]!;
      if (file !== m.file && existsSync(join(dir, m.file))) moves.push({ from: m.file, tmp: `${TMP_PREFIX}${token}-${m.file}`, to: file });
      const s = scores.get(m) ?? null;
      return { ...m, file, rank: s ? idx + 1 : null, scores: s };
    });
    checkTargetsFree(dir, metas, newMetas);
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
      ranking:
        'rank_key descending (the overall from unclamped metric values, so images beyond an anchor keep their order); ties by lower seed; unscorable images last in generation order',
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
    const keepNames = new Set(newMetas.map((m) => metaNameOf(m.file)));
    const journal: Journal = {
      version: 1,
      phase: 'to-temp',
      moves,
      metadata: newMetas,
      trace: newTrace,
      stale_metadata: metaFiles.filter((f) => !keepNames.has(f)),
    };
    await held.verify(); // a lease lost while scoring (a paused worker) must not write
    await writeJsonAtomic(join(dir, RANK_JOURNAL), journal);
    await applyJournal(dir, journal, () => held.verify());
    for (const u of unscorable) logger.warn(`${u.previous_file}: ${u.reason}`);
    return {
      dir,
      images: newMetas.map((m, i) => {
        const s = scores.get(finalOrder[i]!.m);
        return {
          rank: m.rank,
          file: m.file,
          previous_file: finalOrder[i]!.m.file,
          seed: m.seed,
          variation: m.variation,
          overall: s?.overall ?? null,
          rank_key: s?.rank_key ?? null,
          metrics: Object.fromEntries(
            [...MODEL_METRICS, 'technical'].map((k) => {
              const r = s?.metrics[k];
              return [k, r?.available ? round(r.normalized) : null];
            }),
          ),
        };
      }),
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
