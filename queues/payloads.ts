import { z } from 'zod';
import { QUEUE_NAMES } from './names.js';
import { RunSpecSchema, StageSummarySchema } from '../src/workflow/types.js';

export * from '../src/workflow/types.js';

/**
 * Job payloads: paths (relative to a root the worker resolves) and small JSON only, never image
 * bytes, never secrets (workers read keys from their own environment). A stage job carries the
 * whole (small) run spec, so any worker on any host can run it.
 */
export const StageJobSchema = z.object({
  kind: z.literal('stage'),
  stage: z.enum(QUEUE_NAMES),
  spec: RunSpecSchema,
  /** Fan-out stages keep their step here across moveToWaitingChildren. */
  step: z.enum(['start', 'collect']).default('start'),
  /** How many of a fan-out stage's phases have had their children added. */
  phases_added: z.number().int().nonnegative().default(0),
  /** The plan revision those phases belong to (workers/fan-out-plan.ts): a new revision adds its children anew. */
  plan_revision: z.number().int().nonnegative().optional(),
  /** When a fan-out stage began (its children ran in between). */
  started_at: z.string().optional(),
  /**
   * Summaries of the stages before this flow's first stage (a resumed run carries what its
   * checkpoint verified); stages inside the flow read their previous stage by its job key.
   */
  carry: z.array(StageSummarySchema).default([]),
});
export type StageJob = z.infer<typeof StageJobSchema>;

export const StageResultSchema = z.object({
  run_id: z.string(),
  /** Every stage summary so far, first stage first. */
  stages: z.array(StageSummarySchema),
});
export type StageResult = z.infer<typeof StageResultSchema>;
