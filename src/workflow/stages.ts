/**
 * The pipeline's stages, first to last. Each stage is one BullMQ queue of the same name
 * (queues/names.ts); the domain only knows them as names.
 */
export const STAGES = [
  'image-prompt',
  'image-generation',
  'image-scoring',
  'storyboard',
  'video-prompt',
  'video-generation',
  'video-scoring',
] as const;
export type Stage = (typeof STAGES)[number];

export const WORKFLOWS = ['prompt-only', 'image-only', 'video-only', 'full'] as const;
export type Workflow = (typeof WORKFLOWS)[number];

/** Stages of each workflow, first to last. Workflows without an entry are not built yet. */
export const WORKFLOW_STAGES: Partial<Record<Workflow, Stage[]>> = {
  'prompt-only': ['image-prompt'],
  'image-only': ['image-prompt', 'image-generation', 'image-scoring'],
  // from the user's image (--input-image): a storyboard whose clip 1 starts on it, then the videos
  'video-only': ['storyboard', 'video-prompt', 'video-generation', 'video-scoring'],
  full: ['image-prompt', 'image-generation', 'image-scoring', 'storyboard', 'video-prompt', 'video-generation', 'video-scoring'],
};

/** Queues a stage's fan-out puts jobs on besides its own: the storyboard's frames are image jobs, its picks scoring jobs. */
export const FAN_OUT_QUEUES: Partial<Record<Stage, Stage[]>> = {
  storyboard: ['image-generation', 'image-scoring'],
};

/** Every queue a workflow's jobs land on: its stages and the queues their fan-outs use. */
export function queuesOf(stages: readonly Stage[]): Stage[] {
  const all = new Set(stages.flatMap((s) => [s, ...(FAN_OUT_QUEUES[s] ?? [])]));
  return STAGES.filter((s) => all.has(s));
}

/** Folder of each stage inside a run directory (Story 9.3's layout). */
export const STAGE_DIRS: Record<Stage, string> = {
  'image-prompt': 'stage_1_image_prompt',
  'image-generation': 'stage_2_image_generation',
  'image-scoring': 'stage_2_image_generation', // scoring ranks the generation folder in place
  storyboard: 'stage_3_storyboard',
  'video-prompt': 'stage_4_video_prompt',
  'video-generation': 'stage_5_video_generation',
  'video-scoring': 'stage_5_video_generation',
};
