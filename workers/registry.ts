import type { QueueName } from '../queues/names.js';
import type { StageDefinition } from './stage.js';

/**
 * Which processor serves each queue. Imported lazily so a worker only loads the code (and the
 * models) of the queues it serves.
 */
export type ProcessorModule =
  | { kind: 'stage'; def: StageDefinition; dispose?: () => Promise<void> }
  /** Plain jobs (e.g. one image variation) that are not stages of their own. */
  | { kind: 'plain'; name: string; process(data: unknown, ctx: { progress(p: number, m: string): Promise<void>; device?: string }): Promise<unknown> };

const notBuilt = (q: QueueName) => async (): Promise<ProcessorModule[]> => {
  throw new Error(`the ${q} stage is not built yet`);
};

export const PROCESSORS: Record<QueueName, () => Promise<ProcessorModule[]>> = {
  'image-prompt': async () => [{ kind: 'stage', def: (await import('./image-prompt.js')).imagePromptStage }],
  'image-generation': async () => {
    const m = await import('./image-generation.js');
    return [{ kind: 'stage', def: m.imageGenerationStage }, m.variationProcessor];
  },
  'image-scoring': async () => {
    const m = await import('./image-scoring.js');
    return [{ kind: 'stage', def: m.imageScoringStage, dispose: m.closeScorers }];
  },
  storyboard: notBuilt('storyboard'),
  'video-prompt': notBuilt('video-prompt'),
  'video-generation': notBuilt('video-generation'),
  'video-scoring': notBuilt('video-scoring'),
};
