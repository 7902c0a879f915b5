/**
 * Rank videos by score, in two kinds of folder:
 *
 *  - a video generation folder (`clip_NNN/video_NNN.mp4` + `video_NNN_metadata.json`, a
 *    generation_trace.json at the top; or one clip folder on its own): every video is scored (one
 *    overall formula for the whole set), each clip is ranked by rank_key and renamed so that
 *    `video_001.mp4` is its best; its metadata follows its file and records rank and scores; the
 *    trace names the best video per clip and, with several clips, the storyboard continuity of the
 *    chosen videos. Unscorable videos keep rank null and follow the ranked ones in attempt order.
 *  - any other folder of MP4s: scored in place, nothing renamed, results in `video_scores.json`
 *    (one entry per file name: raw and 0–100 per dimension, overall, rank).
 *
 * Renaming is crash-safe like image ranking (src/scoring/rank.ts): one DirLock on the folder for
 * the whole ranking, verified before each irreversible step; before anything moves, each metadata's
 * `file` must be a plain name and the video's sha256 the recorded one; per clip a journal
 * (`clip_NNN/.rank-journal.json`) is written first, the moving videos go to hidden temporary names,
 * then to their final names, then metadata is rewritten from the journal. A crash at any point is
 * finished by the next run (recoverPendingVideoRanking, also run at the start of every ranking).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { LoopError } from '../errors.js';
import { defaultDirLock, type DirLock, type HeldDirLock } from '../lib/dir-lock.js';
import { sha256File } from '../lib/hash.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { mapPool } from '../lib/pool.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import { isPlainFileName } from '../scoring/rank.js';
import { VIDEO_TRACE_FILE, VideoMetadataSchema, videoFile, videoMetaFile, type VideoMetadata } from '../video/generate.js';
import { storyboardContinuity, type ClipSide, type ContinuityResult } from './continuity.js';
import { DIMENSION_IDS, type DimensionId, type DimensionResult } from './dimensions.js';
import { createVideoScorer, scoreVideos, videoRankOrder, type ScoreVideosOptions, type ScoreVideosResult, type ScoredVideo, type VideoScores } from './score.js';

export const VIDEO_SCORES_FILE = 'video_scores.json';
export const VIDEO_RANK_JOURNAL = '.rank-journal.json';
const CLIP_DIR_RE = /^clip_(\d{3,})$/;
const VIDEO_RE = /^video_(\d{3,})\.mp4$/;
const META_RE = /^video_(\d{3,})_metadata\.json$/;
const TMP_PREFIX = '.rank-tmp-';
const TMP_RE = /^\.rank-tmp-/;
const show = (s: string) => JSON.stringify(s);

export interface RankVideosOptions extends Omit<ScoreVideosOptions, 'boundary' | 'promptFor' | 'prompt'> {
  /** Score every video against this prompt; default: each video's own prompt from its metadata (folder mode: none). */
  prompt?: string | null;
  /** Who may rank this folder now (default: a `.rank.lock` file in it). */
  lock?: DirLock;
  lockWaitMs?: number;
  logger?: Logger;
  /** Storyboard continuity between consecutive clips' best videos (default: on with two clips or more). */
  continuity?: boolean;
}

export interface RankedVideo {
  /** Relative to the folder, after renaming (`clip_001/video_001.mp4`, or the file name in folder mode). */
  file: string;
  previous_file: string;
  clip: number | null;
  attempt: number | null;
  /** 1 = best of its clip (generation) or of the folder; null = unscorable. */
  rank: number | null;
  overall: number | null;
  rank_key: number | null;
  /** raw and 0–100 per dimension; null where unavailable. */
  dimensions: Record<DimensionId, { raw: number; value: number } | null>;
  reason?: string;
}

export interface RankedClip {
  clip: number;
  dir: string;
  /** The best video, relative to the folder; null when none could be scored. */
  best: string | null;
  videos: RankedVideo[];
}

export interface RankVideoFolderResult {
  dir: string;
  mode: 'generation' | 'folder';
  videos: RankedVideo[];
  /** Generation mode: per clip, in clip order ([] in folder mode). */
  clips: RankedClip[];
  /** clip_NNN → its best video (relative path), or null. */
  best_per_clip: Record<string, string | null>;
  /** Folder mode: the best file; generation mode with one clip: its best; else null (see best_per_clip). */
  best: string | null;
  continuity: ContinuityResult | null;
  unscorable: { file: string; reason: string }[];
  dimensions_available: DimensionId[];
  dimensions_unavailable: Partial<Record<DimensionId, string>>;
  weights_used: Partial<Record<DimensionId, number>>;
  overall_note: string;
  anchors_version: string;
  device: string;
  warnings: string[];
  model_errors: string[];
  /** What the paid requests (VQAScore) cost, USD; a lower bound when cost_is_lower_bound. */
  cost_usd: number;
  cost_is_lower_bound: boolean;
  /** Videos whose scores came from the score cache (the same bytes scored before). */
  cache_hits: number;
  /** Folder mode: where the scores were written. */
  scores_file: string | null;
  renamed: { from: string; to: string }[];
}

const JournalSchema = z.object({
  version: z.literal(1),
  kind: z.literal('video-rank'),
  phase: z.enum(['to-temp', 'to-final']),
  moves: z.array(z.object({ from: z.string(), tmp: z.string(), to: z.string() })),
  metadata: z.array(VideoMetadataSchema),
  stale_metadata: z.array(z.string()),
});
type Journal = z.infer<typeof JournalSchema>;

const metaNameOf = (file: string) => videoMetaFile(Number(VIDEO_RE.exec(file)![1]));

async function withLock<T>(dir: string, opts: Pick<RankVideosOptions, 'lock' | 'lockWaitMs' | 'signal' | 'logger'>, fn: (held: HeldDirLock) => Promise<T>): Promise<T> {
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
// Journal (one per clip folder)

function badJournal(jp: string, why: string): LoopError {
  return new LoopError('INPUT', `${jp} ${why}; it cannot be finished. Check that each video_NNN.mp4 matches the sha256 in its video_NNN_metadata.json, then delete ${jp} and score again`);
}

async function readJournal(jp: string): Promise<Journal> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(jp, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw badJournal(jp, code ? `cannot be read (${code})` : 'is not valid JSON');
  }
  const r = JournalSchema.safeParse(raw);
  if (!r.success) throw badJournal(jp, `is not a video ranking journal (${r.error.issues[0]?.path.join('.') || 'root'}: ${r.error.issues[0]?.message.split('\n')[0]})`);
  const j = r.data;
  const checks: [string, string, RegExp | null][] = [
    ...j.moves.flatMap((m): [string, string, RegExp | null][] => [
      ['moves.from', m.from, null],
      ['moves.tmp', m.tmp, TMP_RE],
      ['moves.to', m.to, VIDEO_RE],
    ]),
    ...j.metadata.map((m): [string, string, RegExp | null] => ['metadata.file', m.file, VIDEO_RE]),
    ...j.stale_metadata.map((s): [string, string, RegExp | null] => ['stale_metadata', s, META_RE]),
  ];
  for (const [field, name, re] of checks) {
    if (!isPlainFileName(name)) throw badJournal(jp, `names ${show(name)} (${field}), a path outside the folder`);
    if (re && !re.test(name)) throw badJournal(jp, `names ${show(name)} (${field}), not a file a ranking writes`);
  }
  for (const k of ['from', 'tmp', 'to'] as const) {
    const names = j.moves.map((m) => m[k]);
    if (new Set(names).size !== names.length) throw badJournal(jp, `moves two files to or from one name (${k})`);
  }
  const files = new Set(j.metadata.map((m) => m.file));
  if (files.size !== j.metadata.length) throw badJournal(jp, 'records two metadata for one file');
  const orphan = j.moves.find((m) => !files.has(m.to));
  if (orphan) throw badJournal(jp, `moves a file to ${show(orphan.to)} but has no metadata for it`);
  return j;
}

async function journalMismatch(dir: string, j: Journal): Promise<string | null> {
  const sha = new Map(j.metadata.map((m) => [m.file, m.sha256]));
  const bad = await mapPool(j.moves, 4, async (m) => {
    const name = existsSync(join(dir, m.tmp)) ? m.tmp : j.phase === 'to-temp' ? m.from : m.to;
    if (!existsSync(join(dir, name))) return null;
    return (await sha256File(join(dir, name))) === sha.get(m.to) ? null : name;
  });
  const first = bad.find((b) => b !== null);
  return first ? `does not belong to this folder (${show(first)} is not the video it records for that name)` : null;
}

async function applyJournal(dir: string, j: Journal, guard: () => Promise<void>): Promise<void> {
  const jp = join(dir, VIDEO_RANK_JOURNAL);
  const at = (n: string) => join(dir, n);
  if (j.phase === 'to-temp') {
    await guard();
    await Promise.all(j.moves.map(async (m) => (existsSync(at(m.from)) && !existsSync(at(m.tmp)) ? rename(at(m.from), at(m.tmp)) : undefined)));
    j = { ...j, phase: 'to-final' };
    await writeJsonAtomic(jp, j);
  }
  await guard();
  const blocked = j.moves.find((m) => existsSync(at(m.tmp)) && existsSync(at(m.to)));
  if (blocked) throw badJournal(jp, `would overwrite ${show(blocked.to)} with ${show(blocked.tmp)}`);
  await Promise.all(j.moves.map(async (m) => (existsSync(at(m.tmp)) ? rename(at(m.tmp), at(m.to)) : undefined)));
  const keep = new Set(j.metadata.map((m) => metaNameOf(m.file)));
  await Promise.all(j.metadata.map((md) => writeJsonAtomic(at(metaNameOf(md.file)), md)));
  await Promise.all(j.stale_metadata.filter((s) => !keep.has(s)).map((s) => rm(at(s), { force: true })));
  await rm(jp, { force: true });
}

async function recoverClip(clipPath: string, held: HeldDirLock): Promise<boolean> {
  const jp = join(clipPath, VIDEO_RANK_JOURNAL);
  if (!existsSync(jp)) return false;
  const j = await readJournal(jp);
  const foreign = await journalMismatch(clipPath, j);
  if (foreign) throw badJournal(jp, foreign);
  await applyJournal(clipPath, j, () => held.verify());
  return true;
}

// ---------------------------------------------------------------------------------------------
// The folder

interface ClipFolder {
  /** Relative to the ranked folder: '' when the folder is itself a clip folder. */
  rel: string;
  path: string;
  metas: VideoMetadata[];
  metaFiles: string[];
}

type Layout = { mode: 'generation'; clips: string[] } | { mode: 'folder'; files: string[] };

async function listDir(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new LoopError('INPUT', `${dir} is not a folder`);
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (e instanceof LoopError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new LoopError('INPUT', code === 'ENOENT' ? `${dir} does not exist` : `cannot read folder ${dir}: ${code ?? e}`);
  }
}

/** generation: clip_NNN folders with video metadata (or the folder is one clip); else the MP4s in it. */
async function layoutOf(dir: string): Promise<Layout> {
  const entries = await listDir(dir);
  if (entries.some((e) => e.isFile() && META_RE.test(e.name)) || existsSync(join(dir, VIDEO_RANK_JOURNAL))) return { mode: 'generation', clips: [''] };
  const clips: string[] = [];
  for (const e of entries)
    if (e.isDirectory() && CLIP_DIR_RE.test(e.name)) {
      const inner = await readdir(join(dir, e.name)).catch(() => [] as string[]);
      if (inner.some((n) => META_RE.test(n) || n === VIDEO_RANK_JOURNAL)) clips.push(e.name);
    }
  if (clips.length) return { mode: 'generation', clips: clips.sort() };
  const files = entries.filter((e) => e.isFile() && /\.mp4$/i.test(e.name) && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (!files.length) throw new LoopError('INPUT', `${dir} has no videos: no .mp4 files and no clip_NNN/video_NNN_metadata.json`);
  return { mode: 'folder', files };
}

async function readClip(dir: string, rel: string): Promise<ClipFolder> {
  const path = rel ? join(dir, rel) : dir;
  const names = await readdir(path);
  const metaFiles = names.filter((n) => META_RE.test(n)).sort();
  const metas: VideoMetadata[] = [];
  for (const f of metaFiles) {
    const r = VideoMetadataSchema.safeParse(await readFile(join(path, f), 'utf8').then(JSON.parse).catch(() => null));
    if (!r.success) throw new LoopError('INPUT', `${join(path, f)} is not valid video metadata${r.error.issues[0] ? `: ${r.error.issues[0].path.join('.')} ${r.error.issues[0].message}` : ''}`);
    metas.push(r.data);
  }
  return { rel, path, metas, metaFiles };
}

/** Refuse before any scoring or renaming when a pairing of file and metadata cannot be trusted. */
async function checkClip(c: ClipFolder): Promise<void> {
  const fix = 'nothing was renamed; restore the original video, or move the video and its metadata out of the folder, then score again';
  const outside = c.metas.find((m) => !isPlainFileName(m.file) || !VIDEO_RE.test(m.file));
  if (outside) throw new LoopError('INPUT', `${c.path}: the metadata of attempt ${outside.attempt} names ${show(outside.file)}, not a video_NNN.mp4 inside the folder; ${fix}`);
  for (const key of ['file', 'attempt'] as const) {
    const seen = new Map<string | number, VideoMetadata>();
    for (const m of c.metas) {
      const other = seen.get(m[key]);
      if (other) throw new LoopError('INPUT', `${c.path}: attempts ${other.attempt} and ${m.attempt} both claim ${key} ${show(String(m[key]))}; ${fix}`);
      seen.set(m[key], m);
    }
  }
  const problems = (
    await mapPool(c.metas, 4, async (m) => {
      const p = join(c.path, m.file);
      try {
        if (!(await stat(p)).isFile()) return `${p} is not a regular file`;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return code === 'ENOENT' ? null : `${p} cannot be read (${code})`;
      }
      return (await sha256File(p)) === m.sha256 ? null : `${p} does not match the sha256 recorded in its metadata`;
    })
  ).filter((p): p is string => p !== null);
  if (problems.length) throw new LoopError('INPUT', `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}: it was replaced after generation or the folder is inconsistent; ${fix}`);
}

const r6 = (v: number) => Math.round(v * 1e6) / 1e6;

function dimensionValues(s: VideoScores | null): RankedVideo['dimensions'] {
  return Object.fromEntries(
    DIMENSION_IDS.map((d) => {
      const r = s?.dimensions[d];
      return [d, r?.available ? { raw: r6(r.raw), value: r6(r.value) } : null];
    }),
  ) as RankedVideo['dimensions'];
}

/** Finish every interrupted ranking in a folder (a generation folder or one clip folder). */
export async function recoverPendingVideoRanking(dir: string, opts: Pick<RankVideosOptions, 'lock' | 'lockWaitMs' | 'signal' | 'logger'> = {}): Promise<boolean> {
  await listDir(dir);
  return withLock(dir, opts, async (held) => {
    const layout = await layoutOf(dir);
    if (layout.mode !== 'generation') return false;
    let any = false;
    for (const rel of layout.clips) any = (await recoverClip(rel ? join(dir, rel) : dir, held)) || any;
    return any;
  });
}

/**
 * Put a ranked video generation folder back in attempt order (video_NNN = attempt NNN, unscored),
 * so a retried or resumed attempt is made under its own name without overwriting a ranked file;
 * the scoring stage ranks the whole set again afterwards. Same lock and crash-safe journal as a
 * ranking; clips already in attempt order are left alone. Returns whether anything moved.
 */
export async function restoreVideoAttemptOrder(dir: string, opts: Pick<RankVideosOptions, 'lock' | 'lockWaitMs' | 'signal' | 'logger'> = {}): Promise<boolean> {
  await listDir(dir);
  return withLock(dir, opts, async (held) => {
    const layout = await layoutOf(dir);
    if (layout.mode !== 'generation') return false;
    let moved = false;
    for (const rel of layout.clips) {
      await recoverClip(rel ? join(dir, rel) : dir, held);
      const c = await readClip(dir, rel);
      if (c.metas.every((m) => m.file === videoFile(m.attempt) && m.rank === null)) continue;
      await checkClip(c);
      const token = randomBytes(4).toString('hex');
      const moves: Journal['moves'] = [];
      const metadata = [...c.metas]
        .sort((a, b) => a.attempt - b.attempt)
        .map((m) => {
          const file = videoFile(m.attempt);
          if (file !== m.file && existsSync(join(c.path, m.file))) moves.push({ from: m.file, tmp: `${TMP_PREFIX}${token}-${m.file}`, to: file });
          return { ...m, file, rank: null, scores: null };
        });
      const keep = new Set(metadata.map((m) => metaNameOf(m.file)));
      const journal: Journal = { version: 1, kind: 'video-rank', phase: 'to-temp', moves, metadata, stale_metadata: c.metaFiles.filter((f) => !keep.has(f)) };
      await held.verify();
      await writeJsonAtomic(join(c.path, VIDEO_RANK_JOURNAL), journal);
      await applyJournal(c.path, journal, () => held.verify());
      moved = true;
    }
    const tp = join(dir, VIDEO_TRACE_FILE);
    if (existsSync(tp)) {
      const trace = JSON.parse(await readFile(tp, 'utf8')) as Record<string, unknown>;
      if (trace.ordering === 'rank') {
        await held.verify();
        await writeJsonAtomic(tp, { ...trace, ordering: 'generation', ordering_note: 'back in attempt order to make missing attempts; ranked again by the video-scoring stage', best_per_clip: null, scoring: null });
      }
    }
    return moved;
  });
}

/**
 * Score and rank a folder of videos (see the top of this file for the two kinds). Unscorable
 * videos are reported with their reason and the others are still ranked.
 */
export async function rankVideoFolder(dir: string, opts: RankVideosOptions = {}): Promise<RankVideoFolderResult> {
  await layoutOf(dir); // not a folder, or no videos: an input error before any lock file is made
  return withLock(dir, opts, async (held) => {
    const layout = await layoutOf(dir);
    const scorer = opts.scorer ?? createVideoScorer(opts);
    try {
      return layout.mode === 'folder'
        ? await rankFlatFolder(dir, layout.files, { ...opts, scorer }, held)
        : await rankGeneration(dir, layout.clips, { ...opts, scorer }, held);
    } finally {
      if (!opts.scorer) await scorer.close();
    }
  });
}

function common(r: ScoreVideosResult) {
  return {
    dimensions_available: r.dimensions_available,
    dimensions_unavailable: r.dimensions_unavailable,
    weights_used: r.weights_used,
    overall_note: r.overall_note,
    anchors_version: r.anchors_version,
    device: r.device,
    warnings: r.warnings,
    model_errors: r.model_errors,
    cost_usd: r.cost_usd,
    cost_is_lower_bound: r.cost_is_lower_bound,
    cache_hits: r.cache_hits,
  };
}

/** The scores as the files carry them: each dimension in full (raw, value, how, substitute …). */
function storedScores(s: VideoScores): Record<string, unknown> {
  return s as unknown as Record<string, unknown>;
}

async function rankFlatFolder(dir: string, files: string[], opts: RankVideosOptions, held: HeldDirLock): Promise<RankVideoFolderResult> {
  const paths = files.map((f) => join(dir, f));
  const r = await scoreVideos(paths, { ...opts, prompt: opts.prompt ?? null });
  const byPath = new Map(r.videos.map((v) => [v.path, v]));
  const videos: RankedVideo[] = files.map((f, i) => {
    const v = byPath.get(paths[i]!)!;
    return {
      file: f,
      previous_file: f,
      clip: null,
      attempt: null,
      rank: v.rank,
      overall: v.overall,
      rank_key: v.rank_key,
      dimensions: dimensionValues(v.scores),
      ...(v.error ? { reason: v.error } : {}),
    };
  });
  videos.sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || files.indexOf(a.file) - files.indexOf(b.file));
  const scoresFile = join(dir, VIDEO_SCORES_FILE);
  const out = {
    schema_version: 1,
    kind: 'loop-video-scores',
    folder: dir,
    prompt: opts.prompt ?? null,
    scored_at: new Date().toISOString(),
    ...common(r),
    ranking: videos.filter((v) => v.rank !== null).map((v) => v.file),
    unscorable: videos.filter((v) => v.rank === null).map((v) => ({ file: v.file, reason: v.reason ?? 'not scored' })),
    videos: Object.fromEntries(
      files.map((f, i) => {
        const v = byPath.get(paths[i]!)!;
        return [
          f,
          v.scores
            ? { rank: v.rank, overall: v.overall, rank_key: v.rank_key, dimensions: v.scores.dimensions, weights_used: v.scores.weights_used, video: v.scores.video, analysis: v.scores.analysis }
            : { rank: null, overall: null, rank_key: null, error: v.error ?? 'not scored' },
        ];
      }),
    ),
  };
  await held.verify();
  await writeJsonAtomic(scoresFile, out);
  return {
    dir,
    mode: 'folder',
    videos,
    clips: [],
    best_per_clip: {},
    best: videos[0]?.rank ? videos[0].file : null,
    continuity: null,
    unscorable: out.unscorable,
    ...common(r),
    scores_file: scoresFile,
    renamed: [],
  };
}

async function rankGeneration(dir: string, rels: string[], opts: RankVideosOptions, held: HeldDirLock): Promise<RankVideoFolderResult> {
  const logger = opts.logger ?? silentLogger;
  for (const rel of rels) if (await recoverClip(rel ? join(dir, rel) : dir, held)) logger.warn(`finished an interrupted ranking in ${rel ? join(dir, rel) : dir}`);
  const clips = await Promise.all(rels.map((rel) => readClip(dir, rel)));
  for (const c of clips) await checkClip(c);
  const relOf = (c: ClipFolder, file: string) => (c.rel ? `${c.rel}/${file}` : file);
  // every present video of every clip, scored as one set
  const entries = clips.flatMap((c) => [...c.metas].sort((a, b) => a.attempt - b.attempt).map((m) => ({ c, m, path: join(c.path, m.file) })));
  const present = entries.filter((e) => existsSync(e.path));
  const promptOf = new Map(present.map((e) => [e.path, e.m.prompt]));
  const shaOf = new Map(present.map((e) => [e.path, e.m.sha256])); // checkClip verified each against its file
  const wantContinuity = opts.continuity ?? clips.length > 1;
  const r = await scoreVideos(
    present.map((e) => e.path),
    { ...opts, prompt: opts.prompt ?? null, promptFor: opts.prompt ? undefined : (p) => promptOf.get(p), sha256For: (p) => shaOf.get(p), boundary: wantContinuity },
  );
  const scoredOf = new Map<string, ScoredVideo>(r.videos.map((v) => [v.path, v]));
  const renamed: { from: string; to: string }[] = [];
  const rankedClips: RankedClip[] = [];
  const sides: ClipSide[] = [];
  const unscorable: { file: string; reason: string }[] = [];
  for (const c of clips) {
    const mine = entries.filter((e) => e.c === c);
    const items = mine.map((e) => {
      const v = scoredOf.get(e.path);
      return { e, v, overall: v?.scores ? v.overall : null, rank_key: v?.scores ? v.rank_key : null };
    });
    const anyScored = items.some((i) => i.overall !== null);
    const order = anyScored ? videoRankOrder(items, (i) => i.e.m.attempt) : items;
    const token = randomBytes(4).toString('hex');
    const moves: Journal['moves'] = [];
    const newMetas: VideoMetadata[] = [];
    const ranked: RankedVideo[] = [];
    let rank = 0;
    order.forEach((it, idx) => {
      const m = it.e.m;
      // with nothing scored, names stay as they are
      const file = anyScored ? videoFile(idx + 1) : m.file;
      if (file !== m.file && existsSync(join(c.path, m.file))) moves.push({ from: m.file, tmp: `${TMP_PREFIX}${token}-${m.file}`, to: file });
      const scores = it.v?.scores ?? null;
      const myRank = scores ? ++rank : null;
      newMetas.push({ ...m, file, rank: myRank, scores: scores ? storedScores(scores) : null });
      const reason = scores ? undefined : (it.v?.error ?? `video file ${m.file} is missing`);
      ranked.push({
        file: relOf(c, file),
        previous_file: relOf(c, m.file),
        clip: m.clip,
        attempt: m.attempt,
        rank: myRank,
        overall: scores?.overall ?? null,
        rank_key: scores?.rank_key ?? null,
        dimensions: dimensionValues(scores),
        ...(reason ? { reason } : {}),
      });
      if (reason) unscorable.push({ file: relOf(c, file), reason });
      if (myRank === 1 && it.v?.boundary) sides.push({ clip: m.clip, file: relOf(c, file), boundary: it.v.boundary });
    });
    // a final name held by a file no metadata claims would be overwritten
    const claimed = new Set(c.metas.map((m) => m.file));
    const blocked = newMetas.find((m) => !claimed.has(m.file) && existsSync(join(c.path, m.file)));
    if (blocked) throw new LoopError('INPUT', `${join(c.path, blocked.file)} has no metadata and is in the way of the ranking; nothing was renamed in ${c.path}: move it out of the folder, then score again`);
    const keep = new Set(newMetas.map((m) => metaNameOf(m.file)));
    const journal: Journal = { version: 1, kind: 'video-rank', phase: 'to-temp', moves, metadata: newMetas, stale_metadata: c.metaFiles.filter((f) => !keep.has(f)) };
    await held.verify(); // a lease lost while scoring must not write
    await writeJsonAtomic(join(c.path, VIDEO_RANK_JOURNAL), journal);
    await applyJournal(c.path, journal, () => held.verify());
    renamed.push(...moves.map((m) => ({ from: relOf(c, m.from), to: relOf(c, m.to) })));
    const clipNo = newMetas[0]?.clip ?? Number(CLIP_DIR_RE.exec(c.rel)?.[1] ?? 0);
    rankedClips.push({ clip: clipNo, dir: c.rel || '.', best: ranked[0]?.rank === 1 ? ranked[0].file : null, videos: ranked });
  }
  rankedClips.sort((a, b) => a.clip - b.clip);
  const continuity = wantContinuity && sides.length > 1 ? await storyboardContinuity(sides, opts.scorer!.embedFrames) : null;
  const bestPerClip = Object.fromEntries(rankedClips.map((c) => [c.dir === '.' ? `clip_${String(c.clip).padStart(3, '0')}` : c.dir, c.best]));
  await writeTrace(dir, rankedClips, clips, r, continuity, unscorable, renamed, held);
  for (const u of unscorable) logger.warn(`${u.file}: ${u.reason}`);
  return {
    dir,
    mode: 'generation',
    videos: rankedClips.flatMap((c) => c.videos),
    clips: rankedClips,
    best_per_clip: bestPerClip,
    best: rankedClips.length === 1 ? rankedClips[0]!.best : null,
    continuity,
    unscorable,
    ...common(r),
    scores_file: null,
    renamed,
  };
}

/** generation_trace.json (when the folder has one): videos in rank order, best per clip, the scoring summary. */
async function writeTrace(
  dir: string,
  ranked: RankedClip[],
  clips: ClipFolder[],
  r: ScoreVideosResult,
  continuity: ContinuityResult | null,
  unscorable: { file: string; reason: string }[],
  renamed: { from: string; to: string }[],
  held: HeldDirLock,
): Promise<void> {
  const tp = join(dir, VIDEO_TRACE_FILE);
  if (!existsSync(tp) || clips.some((c) => c.rel === '')) return;
  let trace: Record<string, unknown>;
  try {
    trace = JSON.parse(await readFile(tp, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new LoopError('INPUT', `${tp} is not valid JSON; the videos were ranked and their metadata written, the trace was not updated`);
  }
  const metas: VideoMetadata[] = [];
  for (const c of clips) metas.push(...(await readClip(dir, c.rel)).metas);
  metas.sort((a, b) => a.clip - b.clip || (a.rank ?? Infinity) - (b.rank ?? Infinity) || a.attempt - b.attempt);
  const byClip = new Map(ranked.map((c) => [c.clip, c]));
  const anyScored = ranked.some((c) => c.best);
  const next = {
    ...trace,
    videos: metas,
    clips: Array.isArray(trace.clips)
      ? (trace.clips as Record<string, unknown>[]).map((c) => {
          const rc = byClip.get(Number(c.clip));
          return rc ? { ...c, videos: rc.videos.map((v) => v.file), best: rc.best } : c;
        })
      : trace.clips,
    ordering: anyScored ? 'rank' : 'generation',
    ordering_note: anyScored
      ? 'video_001 of each clip is its best by overall score (see scoring.weights_used); unscorable videos follow'
      : 'no video could be scored; files keep attempt order',
    best_per_clip: Object.fromEntries(ranked.map((c) => [`clip_${String(c.clip).padStart(3, '0')}`, c.best])),
    scoring: {
      status: anyScored ? 'scored' : 'unscorable',
      dimensions_available: r.dimensions_available,
      dimensions_unavailable: r.dimensions_unavailable,
      weights_configured: r.weights_configured,
      weights_used: r.weights_used,
      overall_note: r.overall_note,
      anchors_version: r.anchors_version,
      device: r.device,
      device_warnings: r.warnings,
      cost_usd: r.cost_usd,
      cost_is_lower_bound: r.cost_is_lower_bound,
      cache_hits: r.cache_hits,
      ranking: 'per clip, rank_key descending (the overall from unclamped dimension values); ties by lower attempt; unscorable videos last in attempt order',
      unscorable,
      renamed,
      continuity,
      scored_at: new Date().toISOString(),
    },
  };
  await held.verify();
  await writeJsonAtomic(tp, next);
}
