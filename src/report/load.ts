import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z, type ZodType } from 'zod';
import { GenerationTraceSchema, ImageMetadataSchema, type GenerationTrace, type ImageMetadata } from '../generation/metadata.js';
import { errorLine } from '../errors.js';
import { isInside, realpathInside } from '../lib/rel-path.js';
import { PromptTraceSummarySchema, type PromptTraceSummary } from '../prompt/enhance.js';
import { CritiqueSchema, ScoresSchema, type Scores } from '../prompt/types.js';
import { CONTACT_SHEET, STORYBOARD_METADATA } from '../storyboard/storyboard.js';
import { VIDEO_PLAN_FILE, VIDEO_TRACE_FILE, VideoMetadataSchema, VideoPlanSchema, type VideoMetadata, type VideoPlan } from '../video/generate.js';
import { STORYBOARD_MOTION_FILE, StoryboardMetadataInputSchema, StoryboardMotionFileSchema, VideoPromptTraceFileSchema } from '../video-prompt/storyboard-mode.js';
import { CHECKPOINT_FILE, SUMMARY_FILE, TRACE_FILE } from '../workflow/records.js';
import { STAGE_DIRS, STAGES, WORKFLOW_STAGES, type Stage } from '../workflow/stages.js';
import { RunSpecSchema, StageSummarySchema, type RunSpec, type StageSummary } from '../workflow/types.js';

/**
 * Everything the run report shows, read from a run directory. Reading never throws for what a run
 * directory may legitimately lack (a run in progress has no stage_3 folder yet; a prompt-only run
 * never will): a missing file is null, a file that does not parse against its schema is null plus
 * one line in `problems`. Every media path is checked to be a file inside the run directory (after
 * symlinks) before the report may reference it, so the page never asks for a file that is not
 * there or lies outside the run.
 */

export type RunState = 'running' | 'completed' | 'partial' | 'failed' | 'unknown';
export type StageState = 'done' | 'partial' | 'running' | 'pending' | 'failed' | 'not-run';

/** A file the report links to: its path relative to the run directory, URL-encoded, with a version query; null when absent. */
export type MediaRef = string | null;

export interface StageRow {
  stage: Stage;
  state: StageState;
  summary: StageSummary | null;
  /** Summed over rounds (a resumed run may run a stage again), as workflow_summary.json does. */
  cost_usd: number | null;
  duration_ms: number | null;
  backend_note: string | null;
  /** True when what did the work is one of loop's offline defaults (no model, no paid service). */
  offline: boolean | null;
  cost_lower_bound: boolean;
}

export interface PromptRound {
  iteration: number;
  prompt: string;
  scores: Scores | null;
  feedback: string[];
  cost_usd: number | null;
  duration_ms: number | null;
}

export interface PromptData {
  original: string | null;
  initial: { scores: Scores; feedback: string[] } | null;
  rounds: PromptRound[];
  final_prompt: string | null;
  final_scores: Scores | null;
  best_iteration: number | null;
  stop_reason: string | null;
  backend_note: string | null;
  models: Record<string, string> | null;
  threshold: number | null;
  error: string | null;
  /** Where the rounds came from: the summary, or the numbered trace files of a stage still running. */
  source: 'summary' | 'trace-files';
}

export interface ImageCard {
  file: string;
  src: MediaRef;
  meta: ImageMetadata | null;
}

export interface ImagesData {
  trace: GenerationTrace | null;
  cards: ImageCard[];
  best: string | null;
  ordering: 'rank' | 'generation' | null;
  ordering_note: string | null;
  metrics_unavailable: Record<string, string>;
  weights_used: Record<string, number>;
  overall_note: string | null;
  ranking_in_progress: boolean;
  planned: number | null;
}

const LooseStoryboardMetaSchema = StoryboardMetadataInputSchema.extend({
  planner_note: z.string().optional(),
  backend_note: z.string().optional(),
  aspect_ratio: z.string().optional(),
  clips: z
    .array(
      z
        .object({
          clip: z.number().int().positive(),
          description: z.string(),
          narrative_role: z.string().optional(),
          camera_movement: z.string().optional(),
          start: z.object({ file: z.string().nullable(), status: z.string().optional() }).loose(),
          end: z.object({ file: z.string().nullable(), status: z.string().optional() }).loose(),
        })
        .loose(),
    )
    .min(1),
  from_image: z.object({ origin: z.string() }).loose().nullable().optional(),
});
export type StoryboardMeta = z.infer<typeof LooseStoryboardMetaSchema>;

export interface StoryboardData {
  sheet: MediaRef;
  meta: StoryboardMeta | null;
  /** Frames that exist, for a storyboard whose contact sheet is not drawn yet. */
  frames: { clip: number; which: 'start' | 'end'; file: string; src: MediaRef }[];
}

export interface MotionClip {
  clip: number;
  original: string | null;
  prompt: string | null;
  scores: Record<string, number | null> | null;
  rounds: { iteration: number; prompt: string; scores: Record<string, number | null>; feedback: string[] }[];
  best_iteration: number | null;
  stop_reason: string | null;
  status: string | null;
  error: string | null;
}

export interface VideoPromptData {
  clips: MotionClip[];
  backend_note: string | null;
  threshold: number | null;
}

const DimensionSchema = z.union([
  z.object({ available: z.literal(true), value: z.number(), substitute: z.boolean().optional(), how: z.string().optional() }).loose(),
  z.object({ available: z.literal(false), reason: z.string() }).loose(),
]);
/** What `loop score-videos` (and the video-scoring stage) write into a video's metadata. */
export const StoredVideoScoresSchema = z
  .object({
    overall: z.number().nullable(),
    dimensions: z.record(z.string(), DimensionSchema).default({}),
    weights_used: z.record(z.string(), z.number()).default({}),
    overall_note: z.string().optional(),
  })
  .loose();
export type StoredVideoScores = z.infer<typeof StoredVideoScoresSchema>;

export interface VideoCard {
  clip: number;
  attempt: number;
  file: string;
  src: MediaRef;
  meta: VideoMetadata | null;
  scores: StoredVideoScores | null;
  /** Scores present in the metadata but in a shape this report does not read. */
  scores_unreadable: boolean;
}

export interface VideoClipGroup {
  clip: number;
  prompt: string | null;
  videos: VideoCard[];
  /** Attempts planned that have neither a video nor a failure yet. */
  pending_attempts: number[];
  failures: { attempt: number; reason: string }[];
  best: string | null;
}

const VideoTraceExtraSchema = z
  .object({
    backend_note: z.string().optional(),
    ordering: z.string().optional(),
    ordering_note: z.string().optional(),
    failures: z.array(z.object({ clip: z.number(), attempt: z.number(), reason: z.string() }).loose()).default([]),
    best_per_clip: z.record(z.string(), z.string().nullable()).nullable().optional(),
    cost_is_lower_bound: z.boolean().optional(),
    total_cost_usd: z.number().optional(),
    estimated_cost_usd: z.number().nullable().optional(),
    scoring: z
      .object({
        dimensions_unavailable: z.record(z.string(), z.string()).default({}),
        weights_used: z.record(z.string(), z.number()).default({}),
        overall_note: z.string().optional(),
        continuity: z
          .object({
            mean: z.number().nullable(),
            substitute: z.boolean().optional(),
            how: z.string().optional(),
            pairs: z.array(z.object({ from_clip: z.number(), to_clip: z.number(), value: z.number().nullable() }).loose()).default([]),
          })
          .loose()
          .nullable()
          .optional(),
      })
      .loose()
      .nullable()
      .optional(),
  })
  .loose();
export type VideoTraceExtra = z.infer<typeof VideoTraceExtraSchema>;

export interface VideosData {
  plan: VideoPlan | null;
  trace: VideoTraceExtra | null;
  clips: VideoClipGroup[];
}

const LooseCheckpointSchema = z
  .object({
    run_id: z.string().optional(),
    workflow: z.string().optional(),
    status: z.enum(['running', 'completed', 'partial', 'failed']),
    completed_stages: z.array(z.string()).default([]),
    next_stage: z.string().nullable().default(null),
    stages: z.array(z.unknown()).default([]),
    error: z.string().nullable().default(null),
    updated_at: z.string().optional(),
    spec: z.unknown().optional(),
  })
  .loose();

const LooseRunSummarySchema = z
  .object({
    status: z.enum(['running', 'completed', 'partial', 'failed']).optional(),
    error: z.string().nullable().optional(),
    total_cost_usd: z.number().optional(),
    total_time_ms: z.number().optional(),
    wall_time_ms: z.number().optional(),
    ended_at: z.string().optional(),
    stages: z.array(z.unknown()).optional(),
  })
  .loose();

export interface RunData {
  generated_at: string;
  run_id: string | null;
  workflow: string | null;
  spec: RunSpec | null;
  status: RunState;
  error: string | null;
  updated_at: string | null;
  next_stage: string | null;
  /** The workflow's stages, first to last, each with its state. */
  stages: StageRow[];
  total_cost_usd: number | null;
  total_cost_lower_bound: boolean;
  total_time_ms: number | null;
  wall_time_ms: number | null;
  prompt: PromptData | null;
  images: ImagesData | null;
  storyboard: StoryboardData | null;
  videoPrompts: VideoPromptData | null;
  videos: VideosData | null;
  /** Record files that exist, for the report's links. */
  records: string[];
  problems: string[];
}

// ---- reading ------------------------------------------------------------------------------------

class Reader {
  readonly problems: string[] = [];
  constructor(readonly runDir: string) {}

  /** The text of a file inside the run directory; null when absent or not a file. */
  async text(rel: string): Promise<string | null> {
    if (!isInside(rel)) return null;
    try {
      const abs = await realpathInside(this.runDir, rel);
      return await readFile(abs, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.problems.push(`${rel}: cannot read it (${code ?? errorLine(e)})`);
      return null;
    }
  }

  /** A JSON file parsed with its schema; null (and one problem line) when it does not fit. */
  async json<T>(rel: string, schema: ZodType<T>, o: { quiet?: boolean } = {}): Promise<T | null> {
    const text = await this.text(rel);
    if (text === null) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      // a file being written is never torn (atomic writes), so this one is corrupt
      this.problems.push(`${rel}: not valid JSON`);
      return null;
    }
    const r = schema.safeParse(raw);
    if (!r.success) {
      if (!o.quiet) this.problems.push(`${rel}: ${r.error.issues[0]?.path.join('.') || '(root)'}: ${r.error.issues[0]?.message}`);
      return null;
    }
    return r.data;
  }

  /** A link to a file that exists inside the run directory (not through a symlink out of it). */
  async media(rel: string | null | undefined): Promise<MediaRef> {
    if (!rel || !isInside(rel)) return null;
    try {
      const abs = await realpathInside(this.runDir, rel);
      const st = await stat(abs);
      if (!st.isFile() || st.size === 0) return null;
      // a ranked folder renames files in place: the version makes a reloaded page fetch the new bytes
      const v = `${Math.round(st.mtimeMs).toString(36)}${st.size.toString(36)}`;
      return `${rel.split('/').map(encodeURIComponent).join('/')}?v=${v}`;
    } catch {
      return null;
    }
  }

  async list(rel: string): Promise<string[]> {
    if (rel !== '.' && !isInside(rel)) return [];
    try {
      return (await readdir(join(this.runDir, rel))).sort();
    } catch {
      return [];
    }
  }

  async exists(rel: string): Promise<boolean> {
    return (await this.media(rel)) !== null;
  }
}

const OFFLINE_IDS = new Set(['offline', 'sketch', 'animatic']);
/** Video dimensions that need a model (DINO, CLIP, the aesthetic head, a VQA LLM); the others are computed without one. */
const MODEL_DIMENSIONS = new Set(['subject_consistency', 'background_consistency', 'aesthetic_quality', 'text_alignment', 'text_alignment_vqa']);
const OFFLINE_NOTE = /\boffline\b|not model output|\bno LLM\b/i;

function offlineOf(summary: StageSummary | null, note: string | null): boolean | null {
  if (summary) {
    const o = summary.outputs as Record<string, unknown>;
    const ids = [o.backend, o.planner].filter((v): v is string => typeof v === 'string');
    if (summary.stage === 'image-scoring') {
      const avail = (o.metrics_available as string[] | undefined) ?? [];
      // the offline default of scoring: only the model-free technical metric
      return avail.length === 0 || avail.every((m) => m === 'technical');
    }
    if (summary.stage === 'video-scoring') {
      const avail = (o.dimensions_available as string[] | undefined) ?? [];
      // the offline default: only the model-free dimensions (frame statistics, classical flow)
      return !avail.some((d) => MODEL_DIMENSIONS.has(d));
    }
    if (ids.length) return ids.every((id) => OFFLINE_IDS.has(id));
  }
  return note ? OFFLINE_NOTE.test(note) : null;
}

const stagesOfWorkflow = (workflow: string | null): Stage[] | null => (workflow && (WORKFLOW_STAGES as Record<string, Stage[] | undefined>)[workflow]) || null;

/** The summaries a checkpoint carries, each validated alone so one odd record does not hide the rest. */
function parseSummaries(raw: unknown[], r: Reader, file: string): StageSummary[] {
  const out: StageSummary[] = [];
  raw.forEach((s, i) => {
    const p = StageSummarySchema.safeParse(s);
    if (p.success) out.push(p.data);
    else r.problems.push(`${file}: stages.${i}: ${p.error.issues[0]?.path.join('.')}: ${p.error.issues[0]?.message}`);
  });
  return out;
}

/** Numbered stage-1 trace files (NN_agent1_iteration_K.txt, NN_agent2_iteration_K.txt): the rounds so far. */
async function roundsFromFiles(r: Reader, dir: string): Promise<PromptRound[]> {
  const files = await r.list(dir);
  const rounds = new Map<number, PromptRound>();
  for (const f of files) {
    const m = /^\d+_agent([12])_iteration_(\d+)\.txt$/.exec(f);
    if (!m) continue;
    const k = Number(m[2]);
    const round = rounds.get(k) ?? { iteration: k, prompt: '', scores: null, feedback: [], cost_usd: null, duration_ms: null };
    const text = (await r.text(`${dir}/${f}`)) ?? '';
    if (m[1] === '1') round.prompt = text.trim();
    else {
      // the critic's file ends with its critique as JSON
      const at = text.lastIndexOf('\nJSON:\n');
      if (at >= 0) {
        try {
          const c = CritiqueSchema.safeParse(JSON.parse(text.slice(at + 7)));
          if (c.success) {
            round.scores = c.data.scores;
            round.feedback = c.data.feedback;
          }
        } catch {
          // not JSON: the round shows its prompt without scores
        }
      }
    }
    rounds.set(k, round);
  }
  return [...rounds.values()].sort((a, b) => a.iteration - b.iteration);
}

async function loadPrompt(r: Reader, summary: StageSummary | null): Promise<PromptData | null> {
  const dir = STAGE_DIRS['image-prompt'];
  const files = await r.list(dir);
  if (!files.length) return null;
  const s: PromptTraceSummary | null = files.includes('prompt_trace_summary.json') ? await r.json(`${dir}/prompt_trace_summary.json`, PromptTraceSummarySchema) : null;
  if (s) {
    return {
      original: s.original_prompt,
      initial: { scores: s.initial_assessment.scores, feedback: s.initial_assessment.feedback },
      rounds: s.iterations.map((it) => ({ iteration: it.iteration, prompt: it.prompt, scores: it.scores, feedback: it.feedback, cost_usd: it.cost_usd, duration_ms: it.duration_ms })),
      final_prompt: s.final_prompt,
      final_scores: s.final_scores,
      best_iteration: s.best_iteration,
      stop_reason: s.stop_reason,
      backend_note: s.backend_note,
      models: s.models,
      threshold: s.settings.threshold,
      error: s.error ? `${s.error.kind}: ${s.error.message}` : null,
      source: 'summary',
    };
  }
  const original = files.find((f) => /^\d+_original_prompt\.txt$/.test(f));
  const final = files.find((f) => /^\d+_final_enhanced_prompt\.txt$/.test(f));
  const out = summary?.stage === 'image-prompt' ? summary.outputs : null;
  return {
    original: original ? ((await r.text(`${dir}/${original}`))?.trim() ?? null) : null,
    initial: null,
    rounds: await roundsFromFiles(r, dir),
    final_prompt: final ? ((await r.text(`${dir}/${final}`))?.trim() ?? null) : (out?.final_prompt ?? null),
    final_scores: null,
    best_iteration: null,
    stop_reason: out?.stop_reason ?? null,
    backend_note: out?.backend_note ?? null,
    models: null,
    threshold: null,
    error: null,
    source: 'trace-files',
  };
}

async function loadImages(r: Reader): Promise<ImagesData | null> {
  const dir = STAGE_DIRS['image-generation'];
  const files = await r.list(dir);
  if (!files.length) return null;
  const trace = files.includes('generation_trace.json') ? await r.json(`${dir}/generation_trace.json`, GenerationTraceSchema) : null;
  const metas = new Map<string, ImageMetadata>();
  if (trace) for (const m of trace.images) metas.set(m.file, m);
  else
    for (const f of files.filter((n) => /^image_\d+_metadata\.json$/.test(n))) {
      const m = await r.json(`${dir}/${f}`, ImageMetadataSchema);
      if (m) metas.set(m.file, m);
    }
  const pngs = files.filter((n) => /^image_\d+\.png$/.test(n));
  const names = [...new Set([...metas.keys(), ...(trace ? [] : pngs)])];
  const ordering = trace?.ordering ?? null;
  names.sort((a, b) => {
    const ma = metas.get(a);
    const mb = metas.get(b);
    const ra = ma?.rank ?? Number.MAX_SAFE_INTEGER;
    const rb = mb?.rank ?? Number.MAX_SAFE_INTEGER;
    return ra - rb || (ma?.variation ?? 0) - (mb?.variation ?? 0) || a.localeCompare(b);
  });
  const cards: ImageCard[] = [];
  for (const file of names) cards.push({ file, src: await r.media(`${dir}/${file}`), meta: metas.get(file) ?? null });
  const scoring = (trace?.scoring ?? null) as Record<string, unknown> | null;
  const strRecord = (v: unknown) => z.record(z.string(), z.string()).safeParse(v).data ?? {};
  const numRecord = (v: unknown) => z.record(z.string(), z.number()).safeParse(v).data ?? {};
  const plan = files.includes('generation_plan.json') ? await r.json(`${dir}/generation_plan.json`, z.object({ seeds: z.array(z.number()) }).loose(), { quiet: true }) : null;
  return {
    trace,
    cards,
    best: trace?.best ?? (cards.find((c) => c.meta?.rank === 1)?.file ?? null),
    ordering,
    ordering_note: trace?.ordering_note ?? null,
    metrics_unavailable: strRecord(scoring?.metrics_unavailable),
    weights_used: numRecord(scoring?.weights_used),
    overall_note: typeof scoring?.overall_note === 'string' ? scoring.overall_note : null,
    ranking_in_progress: files.includes('.rank-journal.json'),
    planned: trace?.num_variations ?? plan?.seeds.length ?? null,
  };
}

async function loadStoryboard(r: Reader): Promise<StoryboardData | null> {
  const dir = STAGE_DIRS.storyboard;
  const files = await r.list(dir);
  if (!files.length) return null;
  const meta = files.includes(STORYBOARD_METADATA) ? await r.json(`${dir}/${STORYBOARD_METADATA}`, LooseStoryboardMetaSchema) : null;
  const frames: StoryboardData['frames'] = [];
  for (const f of files) {
    const m = /^clip_(\d+)_(start|end)\.png$/.exec(f);
    if (m) frames.push({ clip: Number(m[1]), which: m[2] as 'start' | 'end', file: f, src: await r.media(`${dir}/${f}`) });
  }
  frames.sort((a, b) => a.clip - b.clip || (a.which === 'start' ? -1 : 1));
  return { sheet: files.includes(CONTACT_SHEET) ? await r.media(`${dir}/${CONTACT_SHEET}`) : null, meta, frames };
}

async function loadVideoPrompts(r: Reader): Promise<VideoPromptData | null> {
  const dir = STAGE_DIRS['video-prompt'];
  const files = await r.list(dir);
  if (!files.length) return null;
  const motion = files.includes(STORYBOARD_MOTION_FILE) ? await r.json(`${dir}/${STORYBOARD_MOTION_FILE}`, StoryboardMotionFileSchema) : null;
  if (motion)
    return {
      backend_note: motion.backend_note,
      threshold: motion.settings.threshold,
      clips: motion.clips.map((c) => ({
        clip: c.clip,
        original: c.original_motion_prompt,
        prompt: c.enhanced_motion_prompt,
        scores: c.scores,
        rounds: c.iterations,
        best_iteration: c.best_iteration,
        stop_reason: c.stop_reason,
        status: 'done',
        error: null,
      })),
    };
  const trace = files.includes('video_prompt_trace.json') ? await r.json(`${dir}/video_prompt_trace.json`, VideoPromptTraceFileSchema) : null;
  if (trace)
    return {
      backend_note: trace.backend_note,
      threshold: trace.settings.threshold,
      clips: trace.clips.map((c) => ({
        clip: c.clip,
        original: c.original_prompt,
        prompt: c.final_prompt,
        scores: c.final_scores,
        rounds: c.rounds.map((x) => ({ iteration: x.iteration, prompt: x.prompt, scores: x.scores, feedback: x.feedback })),
        best_iteration: c.best_iteration,
        stop_reason: c.stop_reason,
        status: c.status,
        error: c.error ? `${c.error.kind}: ${c.error.message}` : null,
      })),
    };
  // still running: each clip's folder holds its numbered files
  const clips: MotionClip[] = [];
  for (const f of files) {
    const m = /^clip_(\d+)$/.exec(f);
    if (!m) continue;
    const names = await r.list(`${dir}/${f}`);
    const original = names.find((n) => /^\d+_original_prompt\.txt$/.test(n));
    const agent1 = names.filter((n) => /^\d+_agent1_iteration_\d+\.txt$/.test(n));
    clips.push({
      clip: Number(m[1]),
      original: original ? ((await r.text(`${dir}/${f}/${original}`))?.trim() ?? null) : null,
      prompt: agent1.length ? ((await r.text(`${dir}/${f}/${agent1[agent1.length - 1]}`))?.trim() ?? null) : null,
      scores: null,
      rounds: [],
      best_iteration: null,
      stop_reason: null,
      status: 'running',
      error: null,
    });
  }
  return { backend_note: null, threshold: null, clips };
}

async function loadVideos(r: Reader): Promise<VideosData | null> {
  const dir = STAGE_DIRS['video-generation'];
  const files = await r.list(dir);
  if (!files.length) return null;
  const plan = files.includes(VIDEO_PLAN_FILE) ? await r.json(`${dir}/${VIDEO_PLAN_FILE}`, VideoPlanSchema) : null;
  const trace = files.includes(VIDEO_TRACE_FILE) ? await r.json(`${dir}/${VIDEO_TRACE_FILE}`, VideoTraceExtraSchema) : null;
  const clipNums = new Set<number>(plan?.clips.map((c) => c.clip) ?? []);
  for (const f of files) {
    const m = /^clip_(\d+)$/.exec(f);
    if (m) clipNums.add(Number(m[1]));
  }
  const groups: VideoClipGroup[] = [];
  for (const clip of [...clipNums].sort((a, b) => a - b)) {
    const cdir = `clip_${String(clip).padStart(3, '0')}`;
    const names = await r.list(`${dir}/${cdir}`);
    const videos: VideoCard[] = [];
    for (const mp4 of names.filter((n) => /^video_\d+\.mp4$/.test(n))) {
      const metaName = mp4.replace(/\.mp4$/, '_metadata.json');
      const meta = names.includes(metaName) ? await r.json(`${dir}/${cdir}/${metaName}`, VideoMetadataSchema) : null;
      let scores: StoredVideoScores | null = null;
      let unreadable = false;
      if (meta?.scores) {
        const p = StoredVideoScoresSchema.safeParse(meta.scores);
        if (p.success) scores = p.data;
        else unreadable = true;
      }
      videos.push({ clip, attempt: meta?.attempt ?? Number(/\d+/.exec(mp4)![0]), file: `${cdir}/${mp4}`, src: await r.media(`${dir}/${cdir}/${mp4}`), meta, scores, scores_unreadable: unreadable });
    }
    videos.sort((a, b) => (a.meta?.rank ?? Number.MAX_SAFE_INTEGER) - (b.meta?.rank ?? Number.MAX_SAFE_INTEGER) || a.file.localeCompare(b.file));
    const failures = (trace?.failures ?? []).filter((f) => f.clip === clip).map((f) => ({ attempt: f.attempt, reason: f.reason }));
    const made = new Set(videos.map((v) => v.meta?.attempt ?? v.attempt));
    const failed = new Set(failures.map((f) => f.attempt));
    const planned = plan ? Array.from({ length: plan.attempts }, (_, i) => i + 1) : [];
    groups.push({
      clip,
      prompt: plan?.clips.find((c) => c.clip === clip)?.prompt ?? videos[0]?.meta?.prompt ?? null,
      videos,
      pending_attempts: trace ? [] : planned.filter((a) => !made.has(a) && !failed.has(a)),
      failures,
      best: trace?.best_per_clip?.[cdir] ?? null,
    });
  }
  return { plan, trace, clips: groups };
}

/** Read a run directory for the report. Never throws for a missing or malformed record. */
export async function loadRun(runDir: string): Promise<RunData> {
  const r = new Reader(runDir);
  const rootFiles = await r.list('.');
  const spec = rootFiles.includes('run_spec.json') ? await r.json('run_spec.json', RunSpecSchema) : null;
  const cp = rootFiles.includes(CHECKPOINT_FILE) ? await r.json(CHECKPOINT_FILE, LooseCheckpointSchema) : null;
  const sum = rootFiles.includes(SUMMARY_FILE) ? await r.json(SUMMARY_FILE, LooseRunSummarySchema) : null;
  const cpSpec = cp?.spec !== undefined ? RunSpecSchema.safeParse(cp.spec).data ?? null : null;
  const theSpec = spec ?? cpSpec;

  let summaries = cp ? parseSummaries(cp.stages, r, CHECKPOINT_FILE) : [];
  if (!cp && rootFiles.includes(TRACE_FILE)) {
    const t = await r.json(TRACE_FILE, z.object({ stages: z.array(z.unknown()) }).loose());
    if (t) summaries = parseSummaries(t.stages, r, TRACE_FILE);
  }
  const status: RunState = cp?.status ?? sum?.status ?? (theSpec ? 'running' : 'unknown');
  const workflow = theSpec?.workflow ?? cp?.workflow ?? null;

  const [prompt, images, storyboard, videoPrompts, videos] = await Promise.all([
    loadPrompt(r, summaries.find((s) => s.stage === 'image-prompt') ?? null),
    loadImages(r),
    loadStoryboard(r),
    loadVideoPrompts(r),
    loadVideos(r),
  ]);

  // the stages shown: the workflow's; else every stage with a summary or a folder
  let order = stagesOfWorkflow(workflow);
  if (!order) {
    const seen = new Set<Stage>(summaries.map((s) => s.stage));
    for (const st of STAGES) if (rootFiles.includes(STAGE_DIRS[st])) seen.add(st);
    order = STAGES.filter((s) => seen.has(s));
  }
  for (const s of summaries) if (!order.includes(s.stage)) order = [...order, s.stage];

  const lowerBound: Partial<Record<Stage, boolean>> = {
    'image-generation': images?.cards.some((c) => c.meta && c.meta.cost_usd === null) ?? false,
    'video-generation': videos?.trace?.cost_is_lower_bound ?? false,
  };
  const traceNotes: Partial<Record<Stage, string | null>> = {
    'image-prompt': prompt?.backend_note ?? null,
    'image-generation': images?.trace?.backend_note ?? null,
    storyboard: storyboard?.meta ? [storyboard.meta.planner_note, storyboard.meta.backend_note && `frames: ${storyboard.meta.backend_note}`].filter(Boolean).join('; ') || null : null,
    'video-prompt': videoPrompts?.backend_note ?? null,
    'video-generation': videos?.trace?.backend_note ?? null,
  };

  const failedAt = status === 'failed' ? (cp?.next_stage ?? null) : null;
  const rows: StageRow[] = order.map((stage) => {
    const mine = summaries.filter((s) => s.stage === stage);
    const last = mine[mine.length - 1] ?? null;
    let state: StageState;
    if (last) state = mine.some((s) => s.partial) ? 'partial' : 'done';
    else if (failedAt === stage) state = 'failed';
    else if (status === 'running' && (cp?.next_stage ?? order[0]) === stage) state = 'running';
    else if (status === 'failed' || status === 'completed' || status === 'partial') state = 'not-run';
    else state = 'pending';
    const note = (last?.outputs as { backend_note?: string } | undefined)?.backend_note ?? traceNotes[stage] ?? null;
    return {
      stage,
      state,
      summary: last,
      cost_usd: mine.length ? mine.reduce((a, s) => a + s.cost_usd, 0) : null,
      duration_ms: mine.length ? mine.reduce((a, s) => a + s.duration_ms, 0) : null,
      backend_note: note,
      offline: offlineOf(last, note),
      cost_lower_bound: lowerBound[stage] ?? false,
    };
  });

  const costs = rows.filter((x) => x.cost_usd !== null);
  const records = [SUMMARY_FILE, CHECKPOINT_FILE, TRACE_FILE, 'run_spec.json'].filter((f) => rootFiles.includes(f));
  return {
    generated_at: new Date().toISOString(),
    run_id: theSpec?.run_id ?? cp?.run_id ?? null,
    workflow,
    spec: theSpec,
    status,
    error: cp?.error ?? sum?.error ?? null,
    updated_at: cp?.updated_at ?? sum?.ended_at ?? null,
    next_stage: cp?.next_stage ?? null,
    stages: rows,
    total_cost_usd: costs.length ? costs.reduce((a, x) => a + x.cost_usd!, 0) : null,
    total_cost_lower_bound: rows.some((x) => x.cost_lower_bound),
    total_time_ms: costs.length ? rows.reduce((a, x) => a + (x.duration_ms ?? 0), 0) : null,
    wall_time_ms: status === 'running' ? null : (sum?.wall_time_ms ?? null),
    prompt,
    images,
    storyboard,
    videoPrompts,
    videos,
    records,
    problems: r.problems,
  };
}
