import { z } from 'zod';
import { QUEUE_NAMES } from './names.js';
import { RunSpecSchema, StageSummarySchema } from '../src/workflow/types.js';

export * from '../src/workflow/types.js';

/**
 * Job payloads: paths and small JSON only, never image bytes, never secrets (workers read keys
 * from their own environment). A stage job carries the whole (small) run spec, so any worker on
 * any host can run it.
 */
export const StageJobSchema = z.object({
  kind: z.literal('stage'),
  stage: z.enum(QUEUE_NAMES),
  spec: RunSpecSchema,
  /** Fan-out stages keep their step here across moveToWaitingChildren. */
  step: z.enum(['start', 'collect']).default('start'),
  /** What a fan-out stage decided when it fanned out (seeds, backend…), for its collect step. */
  plan: z.record(z.string(), z.unknown()).optional(),
});
export type StageJob = z.infer<typeof StageJobSchema>;

export const StageResultSchema = z.object({
  run_id: z.string(),
  /** Every stage summary so far, first stage first: getChildrenValues() sees one level only. */
  stages: z.array(StageSummarySchema),
});
export type StageResult = z.infer<typeof StageResultSchema>;
