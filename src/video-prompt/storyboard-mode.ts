import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { AGENT_BACKEND_NAMES, requireBackendKey, type AgentBackendName } from '../config/backends.js';
import { loadEnv, type Env } from '../config/env.js';
import { LoopError, errorLine, isLoopError } from '../errors.js';
import { MAX_SEED } from '../generation/limits.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { isInside } from '../lib/rel-path.js';
import { redactValue } from '../lib/secrets.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import { CostLedger } from '../runs/ledger.js';
import { ensureDir } from '../runs/run-dir.js';
import { MovementSchema, SHOT_SIZES, type Movement } from '../storyboard/plan.js';
import { STORYBOARD_METADATA } from '../storyboard/storyboard.js';
import { SUMMARY_FILE } from '../prompt/trace.js';
import { enhanceVideoPrompt, OFFLINE_VIDEO_BACKEND_NOTE, TeeLedger, VIDEO_PROMPT_STAGE, VIDEO_STOP_REASONS, VideoPromptSummarySchema, type VideoPromptSummary } from './enhance.js';
import { OFFLINE_VIDEO_CRITIC_MODEL } from './critic.js';
import { OFFLINE_DIRECTOR_MODEL } from './director.js';
import { VideoClipContextSchema, VideoScoresSchema, type VideoClipContext } from './types.js';

/**
 * Storyboard mode of the video-prompt stage: every clip of a storyboard folder (made by
 * `loop create-storyboard`) through the director/critic loop, with the clip's own context — its
 * planned camera move, duration, motion description and start/end frame prompts — and one trace
 * directory per clip (outDir/clip_001/…). Writes:
 *
 * - storyboard_enhanced_motion_prompts.json (StoryboardMotionFileSchema): what the video
 *   generation stage reads — per clip the enhanced motion prompt, the start/end frame files
 *   (relative to storyboard_dir, which is relative to this file's folder when possible), the
 *   camera move, duration, scores and iteration history;
 * - video_prompt_trace.json (VideoPromptTraceFileSchema): every clip's rounds in one file, the
 *   unified narrative of the stage.
 *
 * Everything a user can get wrong (no metadata, a metadata file that is not a storyboard's, a
 * frame that is missing) is an INPUT error before anything is written. If a clip's loop fails,
 * the other clips are stopped, the unified trace is written with status "error" (every clip's
 * own trace stays) and storyboard_enhanced_motion_prompts.json is NOT written: the video stage
 * never reads a half-enhanced storyboard.
 */
export const STORYBOARD_MOTION_FILE = 'storyboard_enhanced_motion_prompts.json';
/** The same name, shorter (what the pipeline's stage imports). */
export const MOTION_FILE = STORYBOARD_MOTION_FILE;
export const VIDEO_PROMPT_TRACE_FILE = 'video_prompt_trace.json';
export const DEFAULT_CLIP_CONCURRENCY = 4;

// ---- the storyboard metadata we read (storyboard_metadata.json, written by assembleStoryboard) ----

const FrameMetaSchema = z.object({
  file: z.string().nullable(),
  prompt: z.string().min(1),
  size: z.enum(SHOT_SIZES).optional(),
  lens_mm: z.number().positive().optional(),
  framing: z.string().optional(),
});

export const StoryboardMetadataInputSchema = z.object({
  prompt: z.string().optional(),
  entities: z.array(z.object({ id: z.string(), name: z.string() }).loose()).default([]),
  shot_list: z.array(
    z.object({ clip: z.number().int().positive(), size: z.enum(SHOT_SIZES), angle: z.string(), lens_mm: z.number().positive(), movement: MovementSchema, duration_s: z.number().positive().max(60) }).loose(),
  ),
  clips: z
    .array(
      z
        .object({
          clip: z.number().int().positive(),
          description: z.string().min(1),
          background: z.string().optional(),
          entities: z.array(z.string()).default([]),
          camera_movement: z.string(),
          motion: z.object({ camera: z.string(), subject: z.string(), description: z.string().min(1) }),
          start: FrameMetaSchema,
          end: FrameMetaSchema,
        })
        .loose(),
    )
    .min(1),
});
export type StoryboardMetadataInput = z.infer<typeof StoryboardMetadataInputSchema>;

export interface StoryboardClipInput {
  clip: number;
  /** The storyboard's motion description: the prompt each clip's loop starts from. */
  motion_prompt: string;
  /** Frame files relative to the storyboard folder. */
  start_frame: string;
  end_frame: string;
  camera: Movement;
  duration_s: number;
  context: VideoClipContext;
}

export interface LoadedStoryboard {
  dir: string;
  prompt: string | null;
  clips: StoryboardClipInput[];
}

/**
 * Read and check a storyboard folder: its metadata (zod) and that every clip's start and end
 * frame exists. Every problem is one INPUT line. Reads only.
 */
export async function loadStoryboardForMotion(storyboardDir: string): Promise<LoadedStoryboard> {
  const dir = resolve(storyboardDir);
  const st = await stat(dir).catch(() => null);
  if (!st) throw new LoopError('INPUT', `storyboard folder not found: ${storyboardDir}`);
  if (!st.isDirectory()) throw new LoopError('INPUT', `${storyboardDir} is not a storyboard folder`);
  const metaPath = join(dir, STORYBOARD_METADATA);
  let text: string;
  try {
    text = await readFile(metaPath, 'utf8');
  } catch {
    throw new LoopError('INPUT', `${storyboardDir} has no ${STORYBOARD_METADATA}: not a storyboard folder (make one with loop create-storyboard)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LoopError('INPUT', `${metaPath} is not valid JSON (${errorLine(e)})`);
  }
  const r = StoryboardMetadataInputSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new LoopError('INPUT', `${metaPath} is not a storyboard's metadata: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const meta = r.data;
  const clips: StoryboardClipInput[] = [];
  for (const c of meta.clips) {
    const shot = meta.shot_list.find((s) => s.clip === c.clip);
    if (!shot) throw new LoopError('INPUT', `${metaPath}: clip ${c.clip} has no shot-list entry`);
    const frame = async (which: 'start' | 'end') => {
      const f = c[which].file;
      if (!f) throw new LoopError('INPUT', `clip ${c.clip}'s ${which} frame was not made (the storyboard marks it failed); remake the storyboard`);
      if (!isInside(f)) throw new LoopError('INPUT', `clip ${c.clip}'s ${which} frame "${f}" is not a path inside ${storyboardDir}`);
      const fst = await stat(join(dir, f)).catch(() => null);
      if (!fst?.isFile()) throw new LoopError('INPUT', `clip ${c.clip}'s ${which} frame ${f} is missing from ${storyboardDir}`);
      return f;
    };
    const start = await frame('start');
    const end = await frame('end');
    const names = c.entities.map((id) => meta.entities.find((e) => e.id === id)?.name).filter((n): n is string => !!n);
    const context: VideoClipContext = {
      clip: c.clip,
      description: c.description,
      subject: names.length ? names.join(' and ') : undefined,
      background: c.background,
      camera: shot.movement,
      shot: { size: shot.size, angle: shot.angle, lens_mm: shot.lens_mm },
      duration_s: shot.duration_s,
      motion: c.motion.description,
      start_frame: { file: start, prompt: c.start.prompt, size: c.start.size, lens_mm: c.start.lens_mm, framing: c.start.framing },
      end_frame: { file: end, prompt: c.end.prompt, size: c.end.size, lens_mm: c.end.lens_mm, framing: c.end.framing },
    };
    clips.push({ clip: c.clip, motion_prompt: c.motion.description, start_frame: start, end_frame: end, camera: shot.movement, duration_s: shot.duration_s, context: VideoClipContextSchema.parse(context) });
  }
  return { dir, prompt: meta.prompt ?? null, clips };
}

// ---- what we write ------------------------------------------------------------------------------

const CostSchema = z.object({
  total_cost_usd: z.number(),
  total_is_lower_bound: z.boolean(),
  by_stage: z.record(z.string(), z.number()),
  tokens: z.object({ input: z.number(), output: z.number() }),
});

export const StoryboardMotionClipSchema = z.object({
  clip: z.number().int().positive(),
  enhanced_motion_prompt: z.string().min(1),
  original_motion_prompt: z.string(),
  /** Relative to storyboard_dir. */
  start_frame: z.string(),
  end_frame: z.string(),
  start_frame_prompt: z.string(),
  end_frame_prompt: z.string(),
  camera: MovementSchema,
  duration_s: z.number().positive(),
  scores: VideoScoresSchema,
  stop_reason: z.enum(VIDEO_STOP_REASONS).exclude(['error']),
  best_iteration: z.number().int().positive(),
  iterations: z.array(z.object({ iteration: z.number().int().positive(), prompt: z.string(), scores: VideoScoresSchema, feedback: z.array(z.string()) })),
  /** The clip's trace directory, relative to this file's folder. */
  trace_dir: z.string(),
});

export const StoryboardMotionFileSchema = z.object({
  schema_version: z.literal(1),
  /** The storyboard folder: relative to this file's folder when possible, else absolute. */
  storyboard_dir: z.string(),
  storyboard_prompt: z.string().nullable(),
  backend: z.enum(AGENT_BACKEND_NAMES),
  backend_note: z.string(),
  models: z.object({ creative: z.string(), critique: z.string() }),
  settings: z.object({ max_iterations: z.number().int(), threshold: z.number(), seed: z.number().int() }),
  /** Every clip's rounds in one document, relative to this file's folder. */
  unified_trace: z.literal(VIDEO_PROMPT_TRACE_FILE),
  clips: z.array(StoryboardMotionClipSchema).min(1),
  cost: CostSchema,
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
});
export type StoryboardMotionFile = z.infer<typeof StoryboardMotionFileSchema>;

const TraceClipSchema = z.object({
  clip: z.number().int().positive(),
  trace_dir: z.string(),
  status: z.enum(['done', 'error', 'not_run']),
  original_prompt: z.string(),
  context: VideoClipContextSchema,
  final_prompt: z.string().nullable(),
  final_scores: VideoScoresSchema.nullable(),
  best_iteration: z.number().int().nullable(),
  stop_reason: z.enum(VIDEO_STOP_REASONS).nullable(),
  error: z.object({ kind: z.string(), message: z.string() }).nullable(),
  rounds: z.array(
    z.object({
      iteration: z.number().int().positive(),
      /** Relative to the trace file's folder. */
      agent1_file: z.string(),
      agent2_file: z.string(),
      prompt: z.string(),
      agent1_notes: z.array(z.string()),
      scores: VideoScoresSchema,
      feedback: z.array(z.string()),
      flags: z.array(z.string()),
      cost_usd: z.number().nullable(),
      started_at: z.string(),
      ended_at: z.string(),
      duration_ms: z.number().nonnegative(),
    }),
  ),
});

export const VideoPromptTraceFileSchema = z.object({
  schema_version: z.literal(1),
  kind: z.literal('video_prompt_trace'),
  status: z.enum(['done', 'error']),
  error: z.object({ clip: z.number().int().nullable(), kind: z.string(), message: z.string() }).nullable(),
  storyboard_dir: z.string(),
  storyboard_prompt: z.string().nullable(),
  backend: z.enum(AGENT_BACKEND_NAMES),
  backend_note: z.string(),
  models: z.object({ creative: z.string(), critique: z.string() }),
  settings: z.object({ max_iterations: z.number().int(), threshold: z.number(), seed: z.number().int(), concurrency: z.number().int() }),
  clips: z.array(TraceClipSchema),
  cost: CostSchema.extend({ entries: z.array(z.record(z.string(), z.unknown())) }),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
});
export type VideoPromptTraceFile = z.infer<typeof VideoPromptTraceFileSchema>;

/** `to` relative to `from` when a relative path can say it, else absolute (another drive). */
function relOrAbs(from: string, to: string): string {
  const r = relative(resolve(from), resolve(to));
  if (!r) return '.';
  return isAbsolute(r) ? resolve(to) : r.split('\\').join('/');
}

/**
 * Read a storyboard_enhanced_motion_prompts.json (the video stage's entry): validated, with the
 * storyboard folder and every frame resolved to absolute paths.
 */
export async function readStoryboardMotionFile(file: string): Promise<StoryboardMotionFile & { storyboard_abs: string; frames_abs: Array<{ clip: number; start: string; end: string }> }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new LoopError('INPUT', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorLine(e)}`);
  }
  const r = StoryboardMotionFileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new LoopError('INPUT', `${file} is not a ${STORYBOARD_MOTION_FILE}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const sb = resolve(dirname(resolve(file)), r.data.storyboard_dir);
  const frames_abs = r.data.clips.map((c) => {
    for (const f of [c.start_frame, c.end_frame]) if (!isInside(f)) throw new LoopError('INPUT', `${file}: clip ${c.clip}'s frame "${f}" is not a path inside the storyboard folder`);
    return { clip: c.clip, start: join(sb, c.start_frame), end: join(sb, c.end_frame) };
  });
  return { ...r.data, storyboard_abs: sb, frames_abs };
}

export interface StoryboardMotionOptions {
  storyboardDir: string;
  /** Where the traces and the two JSON files go (created if missing). */
  outDir: string;
  maxIterations: number;
  threshold: number;
  backend: AgentBackendName;
  creativeModel: string;
  critiqueModel: string;
  seed?: number;
  ledger?: CostLedger;
  logger?: Logger;
  signal?: AbortSignal;
  env?: Env;
  /** Clips enhanced at once (default 4). */
  concurrency?: number;
  /** Replace parts of each clip's run (tests: retry policy, timeouts). */
  clipOptions?: Pick<Parameters<typeof enhanceVideoPrompt>[0], 'retryPolicy' | 'requestTimeoutMs'>;
  onClip?: (clip: number, summary: VideoPromptSummary) => void;
}

/** What was written: storyboard_enhanced_motion_prompts.json's content, and where everything is. */
export type StoryboardMotionResult = StoryboardMotionFile & {
  /** Absolute paths of the motion file and the unified trace. */
  file: string;
  trace_file: string;
  /** Every file written, relative to outDir (the two JSON files, then each clip's trace files). */
  files: string[];
  /** Each clip's prompt_trace_summary.json, in clip order. */
  summaries: VideoPromptSummary[];
};

const pad = (n: number) => String(n).padStart(3, '0');

export async function enhanceStoryboardMotion(o: StoryboardMotionOptions): Promise<StoryboardMotionResult> {
  if (!Number.isInteger(o.maxIterations) || o.maxIterations < 1 || o.maxIterations > 10)
    throw new LoopError('USAGE', `maxIterations must be 1–10, got ${o.maxIterations}`);
  if (!(o.threshold >= 0 && o.threshold <= 100)) throw new LoopError('USAGE', `threshold must be 0–100, got ${o.threshold}`);
  const log = o.logger ?? silentLogger;
  const seed = o.seed ?? 0;
  const concurrency = Math.max(1, Math.floor(o.concurrency ?? DEFAULT_CLIP_CONCURRENCY));
  // everything that can be wrong is found before anything is written
  const board = await loadStoryboardForMotion(o.storyboardDir);
  const env = o.backend === 'openai' ? (o.env ?? loadEnv()) : o.env;
  if (o.backend === 'openai') requireBackendKey('agent', 'openai', env!, '--backend');

  const outDir = resolve(o.outDir);
  await ensureDir(outDir);
  const started = new Date();
  const t0 = performance.now();
  const ledger = new TeeLedger(o.ledger);
  const storyboardRel = relOrAbs(outDir, board.dir);
  const models = o.backend === 'offline' ? { creative: OFFLINE_DIRECTOR_MODEL, critique: OFFLINE_VIDEO_CRITIC_MODEL } : { creative: o.creativeModel, critique: o.critiqueModel };
  let backendNote = o.backend === 'offline' ? OFFLINE_VIDEO_BACKEND_NOTE : `LLM agents (director + video critic) via OpenAI-compatible chat completions at ${env?.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`;

  // one controller for the clips: the caller's interrupt, or the first clip that fails
  const ac = new AbortController();
  const onAbort = () => ac.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const summaries = new Map<number, VideoPromptSummary>();
  const status = new Map<number, 'done' | 'error' | 'not_run'>(board.clips.map((c) => [c.clip, 'not_run']));
  let firstError: { clip: number; error: unknown } | null = null;
  let next = 0;
  const worker = async () => {
    for (;;) {
      if (ac.signal.aborted) return;
      const c = board.clips[next++];
      if (!c) return;
      const runDir = join(outDir, `clip_${pad(c.clip)}`);
      log.info(`clip ${c.clip}/${board.clips.length}: enhancing the motion prompt`);
      try {
        const s = await enhanceVideoPrompt({
          prompt: c.motion_prompt,
          runDir,
          maxIterations: o.maxIterations,
          threshold: o.threshold,
          backend: o.backend,
          creativeModel: o.creativeModel,
          critiqueModel: o.critiqueModel,
          seed: (seed + c.clip - 1) % (MAX_SEED + 1),
          clip: c.context,
          ledger,
          logger: log,
          signal: ac.signal,
          env,
          stage: VIDEO_PROMPT_STAGE,
          ...o.clipOptions,
        });
        summaries.set(c.clip, s);
        status.set(c.clip, 'done');
        backendNote = s.backend_note;
        log.info(`clip ${c.clip}: overall ${s.final_scores?.overall.toFixed(1)} (${s.stop_reason})`);
        o.onClip?.(c.clip, s);
      } catch (e) {
        status.set(c.clip, 'error');
        // a clip stopped because another failed is not the cause
        if (!firstError && !(ac.signal.aborted && !o.signal?.aborted && isLoopError(e) && e.kind === 'INTERRUPTED')) {
          firstError = { clip: c.clip, error: e };
          ac.abort(e);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, board.clips.length) }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }

  // the unified trace: every clip's rounds, including those of a failed clip (from its own summary)
  const clipSummary = async (clip: number): Promise<VideoPromptSummary | null> => {
    const s = summaries.get(clip);
    if (s) return s;
    const raw = await readFile(join(outDir, `clip_${pad(clip)}`, SUMMARY_FILE), 'utf8').catch(() => null);
    const parsed = raw ? VideoPromptSummarySchema.safeParse(JSON.parse(raw)) : null;
    return parsed?.success ? parsed.data : null;
  };
  const traceClips = [];
  for (const c of board.clips) {
    const s = await clipSummary(c.clip);
    const dir = `clip_${pad(c.clip)}`;
    traceClips.push({
      clip: c.clip,
      trace_dir: dir,
      status: status.get(c.clip)!,
      original_prompt: c.motion_prompt,
      context: c.context,
      final_prompt: s?.final_prompt ?? null,
      final_scores: s?.final_scores ?? null,
      best_iteration: s?.best_iteration ?? null,
      stop_reason: s?.stop_reason ?? null,
      error: s?.error ?? null,
      rounds: (s?.iterations ?? []).map((it) => ({
        iteration: it.iteration,
        agent1_file: `${dir}/${it.agent1_file}`,
        agent2_file: `${dir}/${it.agent2_file}`,
        prompt: it.prompt,
        agent1_notes: it.agent1_notes,
        scores: it.scores,
        feedback: it.feedback,
        flags: it.flags,
        cost_usd: it.cost_usd,
        started_at: it.started_at,
        ended_at: it.ended_at,
        duration_ms: it.duration_ms,
      })),
    });
  }
  const own = new CostLedger();
  own.entries.push(...ledger.entries.filter((e) => e.stage === VIDEO_PROMPT_STAGE));
  const cost = own.toJSON();
  const failure = firstError as { clip: number; error: unknown } | null;
  const interrupted = !!o.signal?.aborted;
  const errInfo = failure
    ? { clip: failure.clip, kind: interrupted ? 'INTERRUPTED' : isLoopError(failure.error) ? failure.error.kind : 'INTERNAL', message: interrupted ? 'interrupted' : errorLine(failure.error) }
    : interrupted
      ? { clip: null, kind: 'INTERRUPTED', message: 'interrupted' }
      : null;
  const settings = { max_iterations: o.maxIterations, threshold: o.threshold, seed };
  const trace = VideoPromptTraceFileSchema.parse(
    redactValue({
      schema_version: 1,
      kind: 'video_prompt_trace',
      status: errInfo ? 'error' : 'done',
      error: errInfo,
      storyboard_dir: storyboardRel,
      storyboard_prompt: board.prompt,
      backend: o.backend,
      backend_note: backendNote,
      models,
      settings: { ...settings, concurrency },
      clips: traceClips,
      cost,
      started_at: started.toISOString(),
      ended_at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - t0),
    }),
  );
  const traceFile = join(outDir, VIDEO_PROMPT_TRACE_FILE);
  await writeJsonAtomic(traceFile, trace);

  if (errInfo) {
    if (interrupted) throw new LoopError('INTERRUPTED', `interrupted (partial traces in ${outDir})`, { cause: failure?.error });
    const e = failure!.error;
    if (isLoopError(e)) throw new LoopError(e.kind, `clip ${failure!.clip}: ${e.message.replace(/ \(partial trace in [^)]*\)$/, '')} (partial traces in ${outDir})`, { cause: e.cause ?? e });
    throw e;
  }

  const ordered = board.clips.map((c) => summaries.get(c.clip)!);
  const motion = StoryboardMotionFileSchema.parse(
    redactValue({
      schema_version: 1,
      storyboard_dir: storyboardRel,
      storyboard_prompt: board.prompt,
      backend: o.backend,
      backend_note: backendNote,
      models,
      settings,
      unified_trace: VIDEO_PROMPT_TRACE_FILE,
      clips: board.clips.map((c, i) => {
        const s = ordered[i]!;
        return {
          clip: c.clip,
          enhanced_motion_prompt: s.final_prompt!,
          original_motion_prompt: c.motion_prompt,
          start_frame: c.start_frame,
          end_frame: c.end_frame,
          start_frame_prompt: c.context.start_frame!.prompt,
          end_frame_prompt: c.context.end_frame!.prompt,
          camera: c.camera,
          duration_s: c.duration_s,
          scores: s.final_scores!,
          stop_reason: s.stop_reason,
          best_iteration: s.best_iteration!,
          iterations: s.iterations.map((it) => ({ iteration: it.iteration, prompt: it.prompt, scores: it.scores, feedback: it.feedback })),
          trace_dir: `clip_${pad(c.clip)}`,
        };
      }),
      cost: { total_cost_usd: cost.total_cost_usd, total_is_lower_bound: cost.total_is_lower_bound, by_stage: cost.by_stage, tokens: cost.tokens },
      started_at: started.toISOString(),
      ended_at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - t0),
    }),
  );
  const file = join(outDir, STORYBOARD_MOTION_FILE);
  await writeJsonAtomic(file, motion);
  const files = [STORYBOARD_MOTION_FILE, VIDEO_PROMPT_TRACE_FILE, ...ordered.flatMap((x, i) => x.files.map((f) => `clip_${pad(board.clips[i]!.clip)}/${f}`))];
  return { ...motion, file, trace_file: traceFile, files, summaries: ordered };
}
