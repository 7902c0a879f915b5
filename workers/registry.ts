import type { QueueName } from '../queues/names.js';
import type { AnyStageDefinition } from './stage.js';

/**
 * Which processor serves each queue. Imported lazily so a worker only loads the code (and the
 * models) of the queues it serves.
 */
export type ProcessorModule =
  | { kind: 'stage'; def: AnyStageDefinition; dispose?: () => Promise<void> }
  /** Plain jobs (e.g. one image variation) that are not stages of their own. */
  | { kind: 'plain'; name: string; process(data: unknown, ctx: PlainContext): Promise<unknown> };

export interface PlainContext {
  progress(p: number, m: string): Promise<void>;
  device?: string;
  /** Root that relative run directories in a payload resolve against (this process's LOOP_OUTPUT_DIR). */
  outputRoot: string;
  /** Aborts when the job is cancelled or the worker shuts down: remote calls stop waiting. */
  signal: AbortSignal;
  /** Record something in the job before a long wait (a prediction id), so a restarted attempt resumes it. */
  saveState(patch: Record<string, unknown>): Promise<void>;
}

/** Stages not built yet have no entry. */
export const PROCESSORS: Partial<Record<QueueName, () => Promise<ProcessorModule[]>>> = {
  'image-prompt': async () => [{ kind: 'stage', def: (await import('./image-prompt.js')).imagePromptStage }],
  'image-generation': async () => {
    const [m, sb] = await Promise.all([import('./image-generation.js'), import('./storyboard.js')]);
    // the storyboard's frames are image jobs too: whoever generates images generates them
    return [{ kind: 'stage', def: m.imageGenerationStage }, m.variationProcessor, sb.frameProcessor];
  },
  'image-scoring': async () => {
    const m = await import('./image-scoring.js');
    return [{ kind: 'stage', def: m.imageScoringStage, dispose: m.closeScoringModels }, m.pickProcessor];
  },
  storyboard: async () => [{ kind: 'stage', def: (await import('./storyboard.js')).storyboardStage }],
  'video-prompt': async () => [{ kind: 'stage', def: (await import('./video-prompt.js')).videoPromptStage }],
  'video-generation': async () => {
    const m = await import('./video-generation.js');
    return [{ kind: 'stage', def: m.videoGenerationStage }, m.attemptProcessor];
  },
  'video-scoring': async () => {
    const m = await import('./video-scoring.js');
    return [{ kind: 'stage', def: m.videoScoringStage, dispose: m.closeScoringModels }];
  },
};

export const BUILT_QUEUES = (Object.keys(PROCESSORS) as QueueName[]);
