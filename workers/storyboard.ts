import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { cacheForRun, cachedImageBackend } from '../src/cache/generation-cache.js';
import { loadEnv } from '../src/config/env.js';
import { sha256Hex } from '../src/lib/hash.js';
import { removeStaleTemps } from '../src/runs/atomic.js';
import { backendNote, createBackend, planGeneration } from '../src/generation/generate.js';
import type { AspectRatio } from '../src/generation/metadata.js';
import {
  assembleStoryboard,
  designStoryboard,
  frameRequests,
  FrameResultSchema,
  makeFrame,
  STORYBOARD_METADATA,
  CONTACT_SHEET,
  STORYBOARD_PLAN_FILE,
  StoryboardDesignSchema,
  type FrameOutcome,
  type FrameResult,
  type StoryboardDesign,
  FrameSpecSchema,
} from '../src/storyboard/storyboard.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import { jobName } from '../queues/runs.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { summaryFor } from '../src/workflow/types.js';
import { isItemFailure } from './job-errors.js';
import type { ProcessorModule } from './registry.js';
import type { StageContext, StageDefinition } from './stage.js';

/**
 * Stage 3: the storyboard. The design (plan, frame prompts, seeds) is drawn once and saved; then
 * two fan-out phases: every generated frame × --frame-variations on the image-generation queue,
 * and, with more than one candidate, one `pick` per frame on the image-scoring queue, where the
 * scoring worker's held models choose the best. The stage then assembles the folder.
 */
const DIR = STAGE_DIRS.storyboard;

const FrameJobSchema = z.object({
  runDir: z.string(),
  spec: FrameSpecSchema,
  candidate: z.number().int().positive(),
  design: StoryboardDesignSchema.pick({ aspect_ratio: true, negative_prompt: true, model: true, fallback_models: true, from_image: true }),
  backend: z.enum(['sketch', 'replicate']),
  /** Saved before waiting on the provider: a restarted attempt resumes it. */
  prediction: z.object({ model: z.string(), predictionId: z.string() }).optional(),
});

/** What a `pick` job on the scoring queue returns (workers/image-scoring.ts pickProcessor). */
const PickValueSchema = z.object({ best: z.string(), scores: z.array(z.object({ file: z.string(), overall: z.number().nullable(), rank_key: z.number().nullable() })), metrics: z.array(z.string()) });

export const frameProcessor: ProcessorModule = {
  kind: 'plain',
  name: 'frame',
  async process(data, ctx) {
    const d = FrameJobSchema.parse(data);
    const runDir = resolveRunDir(d.runDir, ctx.outputRoot);
    const dir = join(runDir, DIR);
    await ctx.progress(0, `${d.spec.file} candidate ${d.candidate}`);
    // behind the generation cache: a frame requested before (same prompt, seed, init image) is not paid for again
    const backend = cachedImageBackend(await createBackend(d.backend, loadEnv()), await cacheForRun(runDir, ctx.outputRoot));
    const r = await makeFrame(dir, { spec: d.spec, candidate: d.candidate, design: d.design }, backend, {
      signal: ctx.signal,
      resume: d.prediction,
      onPrediction: (p) => ctx.saveState({ prediction: p }),
    });
    await ctx.progress(100, `${r.file}${r.reused ? ' (already made)' : ''}`);
    return r;
  },
};

/** What a board is drawn from: the prompt and the image clip 1 starts on. */
async function boardInputs(ctx: StageContext<unknown>): Promise<{ prompt: string; fromImage?: { bytes: Buffer; origin: string } }> {
  // the enhanced image prompt when stage 1 ran (its style sentences become the style block)
  const prompt = summaryFor(ctx.previous, 'image-prompt')?.outputs.final_prompt ?? ctx.spec.prompt;
  // clip 1 starts on stage 2's best image (or its first, unscored), or in a video-only run on
  // the user's image, and every frame keeps its look
  const scoring = summaryFor(ctx.previous, 'image-scoring');
  const gen = summaryFor(ctx.previous, 'image-generation');
  const best = scoring?.outputs.best_image ?? (gen ? `${gen.outputs.generation_dir}/image_001.png` : ctx.spec.input_image);
  return { prompt, ...(best ? { fromImage: { bytes: await readFile(join(ctx.runDir, best)), origin: best } } : {}) };
}

export const storyboardStage: StageDefinition<'storyboard', StoryboardDesign> = {
  stage: 'storyboard',
  fanOut: {
    planFile: STORYBOARD_PLAN_FILE,
    planSchema: StoryboardDesignSchema,
    // the board follows the prompt and the image it starts on, by content: a retried variation that
    // became the best image draws the board again
    async basis(ctx) {
      const { prompt, fromImage } = await boardInputs(ctx);
      return { prompt, from_image: fromImage ? sha256Hex(fromImage.bytes) : null };
    },
    async draw(ctx) {
      const o = ctx.spec.options;
      const { prompt, fromImage } = await boardInputs(ctx);
      const env = loadEnv();
      const images = planGeneration({ backend: o.image_backend, env, model: o.image_model, fallbackModels: o.fallback_models, numVariations: 1, aspectRatio: o.aspect_ratio, seed: o.seed, negativePrompt: o.negative_prompt });
      return designStoryboard({
        dir: ctx.stageDir,
        prompt,
        numClips: o.num_clips,
        seed: o.seed,
        planner: o.agent_backend === 'openai' ? 'openai' : 'offline',
        plannerModel: o.creative_model,
        env,
        frameVariations: o.frame_variations,
        backend: images.backend,
        model: images.model,
        fallbackModels: images.fallbackModels,
        aspectRatio: o.aspect_ratio as AspectRatio,
        negativePrompt: o.negative_prompt,
        fromImage,
        signal: ctx.signal,
      });
    },
    phases: [
      (ctx) => [
        {
          kind: 'frame',
          queue: 'image-generation',
          schema: FrameResultSchema,
          children: frameRequests(ctx.plan).map((r) => ({
            key: `${r.spec.key}-v${r.candidate}`,
            name: jobName(ctx.spec, `storyboard frame ${r.spec.key} v${r.candidate}`),
            data: { kind: 'frame', runDir: ctx.spec.run_dir, spec: r.spec, candidate: r.candidate, design: pickDesign(ctx.plan), backend: ctx.plan.backend },
          })),
        },
      ],
      (ctx) => {
        if (ctx.plan.frame_variations === 1) return [];
        const made = byFrame(ctx.plan, ctx.groups.frame!.values as Map<string, FrameResult>);
        return [
          {
            kind: 'pick',
            queue: 'image-scoring',
            schema: PickValueSchema,
            children: [...made.entries()]
              .filter(([, cs]) => cs.length > 1)
              .map(([key, cs]) => ({
                key,
                name: jobName(ctx.spec, `storyboard pick ${key} from ${cs.length} candidates`),
                data: { kind: 'pick', runDir: ctx.spec.run_dir, prompt: ctx.plan.frame_specs.find((f) => f.key === key)!.prompt, candidates: cs.map((c) => c.file) },
              })),
          },
        ];
      },
    ],
  },

  async run(ctx) {
    const d = ctx.plan;
    const frames = ctx.groups.frame!;
    for (const [k, f] of frames.failures) if (!isItemFailure(f.kind)) throw new Error(`[${f.kind}] frame ${k}: ${f.message}`);
    const made = byFrame(d, frames.values as Map<string, FrameResult>);
    const picks = ctx.groups.pick;
    const outcomes = new Map<string, FrameOutcome>();
    for (const spec of d.frame_specs.filter((f) => f.how.source === 'generate')) {
      const cs = made.get(spec.key) ?? [];
      const pick = picks?.values.get(spec.key) as z.infer<typeof PickValueSchema> | undefined;
      const failure = [...frames.failures.entries()].find(([k]) => k.startsWith(`${spec.key}-`))?.[1];
      outcomes.set(spec.key, {
        candidates: cs,
        chosen: pick?.best ?? cs[0]?.file,
        failed: cs.length ? undefined : (failure?.message ?? 'no candidate was made'),
        pick: pick ? { scores: pick.scores, metrics: pick.metrics } : undefined,
      });
    }
    if (picks) for (const [k, f] of picks.failures) throw new Error(`[${f.kind}] picking the best candidate of ${k}: ${f.message}`);
    // every frame job has finished: what a killed writer left half-written can go
    await Promise.all([removeStaleTemps(ctx.stageDir), removeStaleTemps(join(ctx.stageDir, 'frames'))]);
    const note = backendNote(d.backend);
    const r = await assembleStoryboard(ctx.stageDir, d, outcomes, { backendNote: note, logger: ctx.logger });
    const files = [STORYBOARD_PLAN_FILE, STORYBOARD_METADATA, CONTACT_SHEET, ...r.clips.flatMap((c) => [c.start, c.end]).filter((f): f is string => !!f)];
    return {
      partial: r.failed_frames.length > 0,
      cost_usd: r.cost_usd,
      started_at: d.started_at,
      outputs: {
        storyboard_dir: DIR,
        metadata_file: `${DIR}/${STORYBOARD_METADATA}`,
        contact_sheet: `${DIR}/${CONTACT_SHEET}`,
        clips: d.num_clips,
        frames_made: d.frame_specs.length - r.failed_frames.length,
        failed_frames: r.failed_frames,
        planner: d.planner,
        planner_note: d.planner_note,
        backend: d.backend,
        backend_note: `${d.planner_note}; frames: ${note}`,
        from_image: d.from_image?.origin ?? null,
      },
      scores: {},
      artifacts: [...new Set(files)].map((f) => `${DIR}/${f}`),
    };
  },
};

const pickDesign = (d: StoryboardDesign) => ({ aspect_ratio: d.aspect_ratio, negative_prompt: d.negative_prompt, model: d.model, fallback_models: d.fallback_models, from_image: d.from_image });

/** Each generated frame's candidates that were made, in candidate order. */
function byFrame(d: StoryboardDesign, values: Map<string, FrameResult>): Map<string, FrameResult[]> {
  const out = new Map<string, FrameResult[]>();
  for (const f of d.frame_specs.filter((x) => x.how.source === 'generate')) {
    const cs = Array.from({ length: d.frame_variations }, (_, k) => values.get(`${f.key}-v${k + 1}`)).filter((c): c is FrameResult => !!c);
    out.set(f.key, cs);
  }
  return out;
}
