import { z } from 'zod';
import { ReviewRecordSchema } from './review.js';
import { STAGES, WORKFLOWS, type Stage } from './stages.js';

/** A run's options: each declared once, with its flag, default and owning stage, in run-options.ts. */
import { RunOptionsSchema, type RunOptions } from './run-options.js';
export { RunOptionsSchema, type RunOptions };

/**
 * A run's specification: what the user asked for, with its backends resolved at enqueue time.
 * `run_dir` is relative to LOOP_OUTPUT_DIR (each worker resolves it against its own, see
 * run-paths.ts); it is absolute only when the run lives outside that root (--output-dir elsewhere).
 */
export const RunSpecSchema = z.object({
  run_id: z.string().regex(/^[A-Za-z0-9_-]+$/),
  workflow: z.enum(WORKFLOWS),
  run_dir: z.string().min(1),
  prompt: z.string(),
  prompt_source: z.string(),
  options: RunOptionsSchema,
  created_at: z.string(),
  /** video-only: the user's image (--input-image), copied into the run directory; relative to it. */
  input_image: z.string().nullable().default(null),
  /** 0 for the first flow of a run; each `loop resume` enqueues round + 1 (its own job ids). */
  round: z.number().int().nonnegative().default(0),
  /** The stage this round's flow starts at (a resume skips the stages already completed). */
  start_stage: z.enum(STAGES).nullable().default(null),
});
export type RunSpec = z.infer<typeof RunSpecSchema>;

/**
 * A stage's summary: the same fields for every stage (the stage wrapper fills them in) and one
 * typed `outputs` per stage. Every path is relative to the run directory.
 */
const common = {
  dir: z.string(),
  /** True when the stage finished with some items failed (e.g. 6 of 8 variations). */
  partial: z.boolean().default(false),
  cost_usd: z.number().nonnegative(),
  duration_ms: z.number().nonnegative(),
  started_at: z.string(),
  ended_at: z.string(),
  scores: z.record(z.string(), z.unknown()).default({}),
  artifacts: z.array(z.string()),
  /** Decisions at this stage's review gate (--review / --interactive), first first. */
  reviews: z.array(ReviewRecordSchema).default([]),
};

export const STAGE_OUTPUTS = {
  'image-prompt': z.object({
    final_prompt: z.string().min(1),
    final_prompt_file: z.string(),
    summary_file: z.string(),
    stop_reason: z.string(),
    backend: z.string(),
    backend_note: z.string(),
  }),
  'image-generation': z.object({
    prompt: z.string(),
    backend: z.string(),
    backend_note: z.string(),
    images: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    generation_dir: z.string(),
    trace_file: z.string(),
  }),
  'image-scoring': z.object({
    ordering: z.enum(['rank', 'generation']),
    backend_note: z.string(),
    generation_dir: z.string(),
    best_image: z.string().nullable().default(null),
    metrics_available: z.array(z.string()).default([]),
    metrics_unavailable: z.record(z.string(), z.string()).default({}),
    weights_used: z.record(z.string(), z.number()).default({}),
    unscorable: z.array(z.object({ file: z.string(), reason: z.string() })).default([]),
    device: z.string().nullable().default(null),
    /** Which worker scored it and how many model sessions its process had loaded by then. */
    worker: z.string().optional(),
    scorer_session_loads: z.number().int().nonnegative().optional(),
  }),
  storyboard: z.object({
    storyboard_dir: z.string(),
    metadata_file: z.string(),
    contact_sheet: z.string(),
    clips: z.number().int().positive(),
    frames_made: z.number().int().nonnegative(),
    failed_frames: z.array(z.string()),
    planner: z.enum(['offline', 'openai']),
    planner_note: z.string(),
    backend: z.string(),
    backend_note: z.string(),
    /** The image clip 1 starts on (stage 2's best image in a run), relative to the run directory. */
    from_image: z.string().nullable(),
  }),
  'video-prompt': z.object({
    motion_file: z.string(),
    clips: z.number().int().positive(),
    backend: z.string(),
    backend_note: z.string(),
  }),
  'video-generation': z.object({
    generation_dir: z.string(),
    trace_file: z.string(),
    clips: z.number().int().positive(),
    videos: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    backend: z.string(),
    model: z.string(),
    backend_note: z.string(),
    estimated_cost_usd: z.number().nullable(),
  }),
  'video-scoring': z.object({
    ordering: z.enum(['rank', 'generation']),
    generation_dir: z.string(),
    backend_note: z.string(),
    /** clip_NNN → its best video (relative to the run directory), null when none could be scored. */
    best_per_clip: z.record(z.string(), z.string().nullable()),
    dimensions_available: z.array(z.string()),
    dimensions_unavailable: z.record(z.string(), z.string()),
    weights_used: z.record(z.string(), z.number()),
    unscorable: z.array(z.object({ file: z.string(), reason: z.string() })),
    /** Mean 0–100 continuity over the cuts between the chosen videos; null with one clip. */
    continuity: z.number().nullable(),
    continuity_substitute: z.boolean(),
    device: z.string(),
    worker: z.string(),
    scorer_session_loads: z.number().int().nonnegative(),
    /** Videos whose scores came from the score cache (the same bytes scored before: no decode, no VQA call). */
    scores_from_cache: z.number().int().nonnegative().default(0),
  }),
} satisfies Partial<Record<Stage, z.ZodType>>;

/** Stages with an output schema (every stage now). */
export type BuiltStage = keyof typeof STAGE_OUTPUTS;
export type StageOutputs<S extends BuiltStage> = z.infer<(typeof STAGE_OUTPUTS)[S]>;
/** What a stage writes into its outputs (fields with defaults may be left out). */
export type StageOutputsInput<S extends BuiltStage> = z.input<(typeof STAGE_OUTPUTS)[S]>;

const summaryOf = <S extends BuiltStage>(stage: S) => z.object({ stage: z.literal(stage), ...common, outputs: STAGE_OUTPUTS[stage] });

export const StageSummarySchema = z.discriminatedUnion('stage', [summaryOf('image-prompt'), summaryOf('image-generation'), summaryOf('image-scoring'), summaryOf('storyboard'), summaryOf('video-prompt'), summaryOf('video-generation'), summaryOf('video-scoring')]);
export type StageSummary = z.infer<typeof StageSummarySchema>;
export type SummaryOf<S extends BuiltStage> = Extract<StageSummary, { stage: S }>;

/** The summary of one stage among a run's summaries, typed by its name. */
export function summaryFor<S extends BuiltStage>(stages: readonly StageSummary[], stage: S): SummaryOf<S> | undefined {
  return stages.find((s): s is SummaryOf<S> => s.stage === stage);
}
