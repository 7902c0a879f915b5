import { z } from 'zod';
import { STAGES, WORKFLOWS } from './stages.js';

/** A run's specification: what the user asked for. Small JSON; never a secret. */
export const RunOptionsSchema = z.object({
  // image prompt stage (Story 8.1)
  max_iterations_image: z.number().int().min(1).max(10).default(3),
  threshold_image: z.number().min(0).max(100).default(85),
  skip_threshold: z.number().min(0).max(101).default(75),
  agent_backend: z.enum(['offline', 'openai']).optional(),
  creative_model: z.string().default('gpt-4o'),
  critique_model: z.string().default('gpt-4o'),
  brand: z.record(z.string(), z.unknown()).nullable().default(null),
  seed: z.number().int().nonnegative().max(2_147_483_647).optional(),
  // image generation + scoring stages (Story 8.2)
  num_image_variations: z.number().int().min(1).max(32).default(8),
  aspect_ratio: z.string().default('16:9'),
  image_backend: z.enum(['sketch', 'replicate']).optional(),
  image_model: z.string().optional(),
  fallback_models: z.array(z.string()).optional(),
  negative_prompt: z.string().nullable().default(null),
  skip_scoring: z.boolean().default(false),
});
export type RunOptions = z.infer<typeof RunOptionsSchema>;

export const RunSpecSchema = z.object({
  run_id: z.string().regex(/^[A-Za-z0-9_-]+$/),
  workflow: z.enum(WORKFLOWS),
  run_dir: z.string(),
  prompt: z.string(),
  prompt_source: z.string(),
  options: RunOptionsSchema,
  created_at: z.string(),
});
export type RunSpec = z.infer<typeof RunSpecSchema>;

/** A stage's return value: what it made, plus everything earlier stages passed forward. */
export const StageSummarySchema = z.object({
  stage: z.enum(STAGES),
  dir: z.string(),
  ok: z.boolean(),
  /** True when the stage finished with some items failed (e.g. 6 of 8 variations). */
  partial: z.boolean().default(false),
  cost_usd: z.number().nonnegative(),
  duration_ms: z.number().nonnegative(),
  started_at: z.string(),
  ended_at: z.string(),
  outputs: z.record(z.string(), z.unknown()),
  scores: z.record(z.string(), z.unknown()).default({}),
  artifacts: z.array(z.string()),
});
export type StageSummary = z.infer<typeof StageSummarySchema>;

