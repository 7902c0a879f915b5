import { z } from 'zod';
import type { Stage } from './stages.js';

/**
 * Human review gates (Story 9.3): with --review (or --interactive) a run waits after the images
 * are scored and after the videos are scored, until someone answers with `loop review` (or the
 * terminal that runs it). The gate lives in the gated stage's job (workers/review.ts): its state
 * and the answer are in the job's data, so any machine that reaches Redis can answer, and a gate
 * waiting holds no worker (the job sits delayed).
 */
export const REVIEW_GATES = { 'image-scoring': 'images', 'video-scoring': 'videos' } as const satisfies Partial<Record<Stage, string>>;
export type ReviewGate = (typeof REVIEW_GATES)[keyof typeof REVIEW_GATES];
export const gateOf = (stage: Stage): ReviewGate | null => (REVIEW_GATES as Partial<Record<Stage, ReviewGate>>)[stage] ?? null;

export const REVIEW_ACTIONS = ['continue', 'regenerate', 'stop'] as const;
export const MAX_FEEDBACK_CHARS = 2000;

export const ReviewAnswerSchema = z.object({
  action: z.enum(REVIEW_ACTIONS),
  feedback: z.string().trim().min(1).max(MAX_FEEDBACK_CHARS).nullable().default(null),
  /** Who answered: `terminal`, `loop review`, or `timeout`. */
  by: z.string(),
  at: z.string(),
});
export type ReviewAnswer = z.infer<typeof ReviewAnswerSchema>;

/** One decision at a gate, as the trace keeps it. */
export const ReviewRecordSchema = ReviewAnswerSchema.extend({
  gate: z.enum(['images', 'videos']),
  /** 0 for the first set; n for the set made by the n-th regeneration. */
  round: z.number().int().nonnegative(),
  asked_at: z.string(),
  /** What the feedback became: the revised prompt (images) and what the agents did with it. */
  revised_prompt: z.string().nullable().default(null),
  notes: z.array(z.string()).default([]),
});
export type ReviewRecord = z.infer<typeof ReviewRecordSchema>;

/** A gate's state, in the gated stage's job data (workers/review.ts runs it, queues/review.ts answers it). */
export const RegenSchema = z.object({
  round: z.number().int().positive(),
  /** The generation queue's own child kind (`variation`, `attempt`) and queue: the children are its usual jobs. */
  kind: z.string(),
  queue: z.enum(['image-generation', 'video-generation']).default('image-generation'),
  children: z.array(z.object({ key: z.string(), data: z.record(z.string(), z.unknown()), name: z.string().optional() })),
  /** What the revision cost (LLM agents); the variations' cost is read from their results. */
  revision_cost_usd: z.number().nonnegative(),
  /** Videos: the plan's attempt count and seeds once extended for the new attempts (applied after this state is saved). */
  video_plan: z.object({ attempts: z.number().int().positive(), seeds: z.array(z.number().int().nonnegative()) }).nullable().default(null),
});

export const ReviewStateSchema = z.object({
  gate: z.enum(['images', 'videos']),
  /** Regenerations so far. */
  round: z.number().int().nonnegative(),
  asked_at: z.string(),
  /** The stage summary the gate asks about (StageSummarySchema; parsed by the wrapper). */
  summary: z.unknown(),
  answer: ReviewAnswerSchema.nullable(),
  regen: RegenSchema.nullable(),
  history: z.array(ReviewRecordSchema),
  /** Spent on regenerations so far (revisions + variations), added to the stage's cost. */
  extra_cost_usd: z.number().nonnegative(),
});
export type ReviewState = z.infer<typeof ReviewStateSchema>;

export type RegenPlan = z.infer<typeof RegenSchema>;

/** Regenerations one gate allows before it only takes continue or stop. */
export const MAX_REGENERATIONS = 5;
