import { join } from 'node:path';
import { cachedImageBackend, type GenerationCache } from '../cache/generation-cache.js';
import type { Env } from '../config/env.js';
import { GenerationFailed } from '../generation/backend.js';
import { backendNote, createBackend } from '../generation/generate.js';
import type { AspectRatio } from '../generation/metadata.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { mapPool } from '../lib/pool.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import { CostLedger } from '../runs/ledger.js';
import {
  assembleStoryboard,
  designStoryboard,
  frameRequests,
  makeFrame,
  pickBest,
  STORYBOARD_PLAN_FILE,
  type FrameOutcome,
  type FrameResult,
  type StoryboardDesign,
  type StoryboardResult,
} from './storyboard.js';

/**
 * `loop create-storyboard`: the storyboard stage in this process, without Redis. The same design,
 * frames, pick and assembly as the queue stage (workers/storyboard.ts); frames are made
 * concurrently (bounded), candidates picked with an in-process scorer.
 */
export interface CreateStoryboardOptions {
  dir: string;
  prompt: string;
  numClips: number;
  seed?: number;
  planner: 'offline' | 'openai';
  plannerModel: string;
  env: Env;
  frameVariations: number;
  backend: 'sketch' | 'replicate';
  model: string;
  fallbackModels: string[];
  aspectRatio: AspectRatio;
  negativePrompt: string | null;
  fromImage?: { bytes: Buffer; origin: string };
  /** Run each generated frame's prompt through the image prompt loop first (Story 8.1). */
  enhancePrompts?: { backend: 'offline' | 'openai'; maxIterations: number; threshold: number };
  concurrency: number;
  device?: string;
  modelsDir?: string;
  logger?: Logger;
  signal?: AbortSignal;
  onFrame?: (done: number, total: number, failed: number) => void;
  /** The generation cache in front of the frames' backend; null: bypassed (--no-cache); undefined: none. */
  cache?: GenerationCache | null;
}

export async function createStoryboard(o: CreateStoryboardOptions): Promise<{ design: StoryboardDesign; result: StoryboardResult }> {
  const logger = o.logger ?? silentLogger;
  let design = await designStoryboard(o);
  if (o.enhancePrompts) design = await enhanceFramePrompts(design, o, o.enhancePrompts);
  await writeJsonAtomic(join(o.dir, STORYBOARD_PLAN_FILE), design);
  logger.info(`${design.planner_note}`);

  const built = await createBackend(design.backend, o.env, { logger });
  const backend = o.cache === undefined ? built : cachedImageBackend(built, o.cache, { logger });
  const requests = frameRequests(design);
  const results = new Map<string, FrameResult[]>();
  const failures = new Map<string, string>();
  let done = 0;
  await mapPool(requests, o.concurrency, async (r) => {
    try {
      const fr = await makeFrame(o.dir, r, backend, { signal: o.signal });
      results.set(r.spec.key, [...(results.get(r.spec.key) ?? []), fr].sort((a, b) => a.candidate - b.candidate));
    } catch (e) {
      // the provider could not make it: recorded, the rest go on; anything else is a bug or the host
      if (!(e instanceof GenerationFailed) || o.signal?.aborted) throw e;
      failures.set(r.spec.key, e.message);
    }
    o.onFrame?.(++done, requests.length, failures.size);
  });

  const outcomes = new Map<string, FrameOutcome>();
  const needPick = design.frame_variations > 1 && [...results.values()].some((cs) => cs.length > 1);
  const scorer = needPick ? (await import('../scoring/scorer.js')).createImageScorer({ device: o.device, modelsDir: o.modelsDir, logger }) : undefined;
  try {
    for (const spec of design.frame_specs.filter((f) => f.how.source === 'generate')) {
      const cs = results.get(spec.key) ?? [];
      const pick = scorer && cs.length > 1 ? await pickBest(o.dir, cs.map((c) => c.file), spec.prompt, scorer) : undefined;
      outcomes.set(spec.key, {
        candidates: cs,
        chosen: pick?.best ?? cs[0]?.file,
        failed: cs.length ? undefined : (failures.get(spec.key) ?? 'no candidate was made'),
        pick: pick ? { scores: pick.scores, metrics: pick.metrics } : undefined,
      });
    }
  } finally {
    await scorer?.close();
  }
  const result = await assembleStoryboard(o.dir, design, outcomes, { backendNote: backendNote(design.backend), logger });
  return { design, result };
}

/** Each generated frame's prompt through the image prompt loop; its trace under frame_prompt_traces/<frame>/. */
async function enhanceFramePrompts(d: StoryboardDesign, o: CreateStoryboardOptions, e: NonNullable<CreateStoryboardOptions['enhancePrompts']>): Promise<StoryboardDesign> {
  const { enhanceImagePrompt } = await import('../prompt/enhance.js');
  const ledger = new CostLedger();
  const specs = await mapPool(d.frame_specs, Math.min(4, o.concurrency), async (f) => {
    if (f.how.source !== 'generate') return f;
    const s = await enhanceImagePrompt({
      prompt: f.prompt,
      runDir: join(o.dir, 'frame_prompt_traces', f.file.replace(/\.png$/, '')),
      maxIterations: e.maxIterations,
      threshold: e.threshold,
      backend: e.backend,
      creativeModel: o.plannerModel,
      critiqueModel: o.plannerModel,
      env: o.env,
      aspectRatio: d.aspect_ratio,
      seed: f.seed,
      ledger,
      logger: o.logger,
      signal: o.signal,
      stage: 'storyboard',
    });
    return s.final_prompt ? { ...f, prompt: s.final_prompt } : f;
  });
  const cost = ledger.total();
  return { ...d, frame_specs: specs, plan_cost_usd: d.plan_cost_usd === null ? null : d.plan_cost_usd + cost };
}
