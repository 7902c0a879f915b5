import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { cacheForRun } from '../src/cache/generation-cache.js';
import { loadEnv } from '../src/config/env.js';
import { GenerationFailed } from '../src/generation/backend.js';
import { generateVariation, planGeneration, writeGenerationTrace, type VariationResult } from '../src/generation/generate.js';
import { ASPECT_RATIOS, GENERATION_TRACE, ImageMetadataSchema, imageFileName, metadataFileName, type AspectRatio, type ImageMetadata } from '../src/generation/metadata.js';
import { sha256File } from '../src/lib/hash.js';
import { removeStaleTemps } from '../src/runs/atomic.js';
import { round6, type CostEntry } from '../src/runs/ledger.js';
import { restoreGenerationOrder } from '../src/scoring/rank.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import { jobName } from '../queues/runs.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { summaryFor } from '../src/workflow/types.js';
import { isItemFailure } from './job-errors.js';
import type { ProcessorModule } from './registry.js';
import type { StageContext, StageDefinition } from './stage.js';

/**
 * Stage 2: one `variation` job per image on the image-generation queue (a fan-out group), the
 * plan (backend, models, one seed per variation) saved before any of them exists; the stage then
 * assembles generation_trace.json from what each child came to. Payloads carry relative paths.
 */
const VariationJobSchema = z.object({
  variation: z.number().int().positive(),
  seed: z.number().int().nonnegative(),
  prompt: z.string().min(1),
  negativePrompt: z.string().nullable(),
  aspectRatio: z.enum(ASPECT_RATIOS),
  model: z.string(),
  fallbackModels: z.array(z.string()),
  backend: z.enum(['sketch', 'replicate']),
  /** The run directory as the run spec names it (relative to LOOP_OUTPUT_DIR unless absolute). */
  runDir: z.string(),
  /** Saved by an earlier attempt before it waited on the provider: resumed, never bought twice. */
  prediction: z.object({ model: z.string(), predictionId: z.string() }).optional(),
});

const VariationValueSchema = z.object({ metadata: ImageMetadataSchema, costEntry: z.custom<CostEntry>((v) => typeof v === 'object' && v !== null), reused: z.boolean().default(false) });
type VariationValue = z.infer<typeof VariationValueSchema>;

const PlanSchema = z.object({
  backend: z.enum(['sketch', 'replicate']),
  model: z.string(),
  fallbackModels: z.array(z.string()),
  seeds: z.array(z.number().int().nonnegative()),
  seedSource: z.enum(['user', 'drawn']),
  negativePrompt: z.string().nullable(),
  prompt: z.string(),
  promptSource: z.string(),
  aspectRatio: z.enum(ASPECT_RATIOS),
  startedAt: z.string(),
});
type Plan = z.infer<typeof PlanSchema>;

export const PLAN_FILE = 'generation_plan.json';
const key = (variation: number) => String(variation).padStart(3, '0');

/**
 * A variation already made by an earlier attempt or an earlier round (a crash after the file was
 * written, a resume, a retry): same variation, seed and prompt, and the bytes its metadata vouches
 * for. Reusing it makes a resumed run end with the same files as an uninterrupted one.
 */
async function alreadyMade(outDir: string, d: z.infer<typeof VariationJobSchema>): Promise<ImageMetadata | undefined> {
  const metaPath = join(outDir, metadataFileName(d.variation));
  if (!existsSync(metaPath)) return undefined;
  const m = ImageMetadataSchema.safeParse(JSON.parse(await readFile(metaPath, 'utf8').catch(() => 'null')));
  if (!m.success) return undefined;
  const md = m.data;
  if (md.variation !== d.variation || md.seed !== d.seed || md.prompt !== d.prompt || md.file !== imageFileName(d.variation)) return undefined;
  const png = join(outDir, md.file);
  return existsSync(png) && (await sha256File(png)) === md.sha256 ? md : undefined;
}

export const variationProcessor: ProcessorModule = {
  kind: 'plain',
  name: 'variation',
  async process(data, ctx) {
    const d = VariationJobSchema.parse(data);
    const runDir = resolveRunDir(d.runDir, ctx.outputRoot);
    const outDir = join(runDir, STAGE_DIRS['image-generation']);
    // a retry after the folder was ranked: back to generation order first, so this variation's
    // own name is free and no ranked file is overwritten (scoring ranks the whole set again)
    if (existsSync(join(outDir, GENERATION_TRACE))) {
      const t = JSON.parse(await readFile(join(outDir, GENERATION_TRACE), 'utf8')) as { ordering?: string };
      if (t.ordering === 'rank') await restoreGenerationOrder(outDir, { signal: ctx.signal });
    }
    const made = await alreadyMade(outDir, d);
    if (made) {
      await ctx.progress(100, `${made.file} already made (seed ${d.seed})`);
      const costEntry: CostEntry = { stage: 'image_generation', provider: made.backend, model: made.model, kind: 'image', units: 1, cost_usd: made.cost_usd, at: made.ended_at };
      return { metadata: made, costEntry, reused: true } satisfies VariationValue;
    }
    await ctx.progress(0, `variation ${d.variation} seed ${d.seed}`);
    const r: VariationResult = await generateVariation({
      ...d,
      outDir,
      stage: 'image_generation',
      signal: ctx.signal,
      resume: d.prediction,
      onPrediction: (p) => ctx.saveState({ prediction: p }),
      // the same request made before (a re-run, a resume, another run) is not paid for again
      cache: await cacheForRun(runDir, ctx.outputRoot),
    });
    // a variation the provider could not make is a failed job: BullMQ's attempts and backoff retry
    // it, the board shows it red, and the stage records it once it has failed for good
    if (!r.ok) throw new GenerationFailed(r.failure.reason, r.failure.attempts, r.failure.models_tried);
    await ctx.progress(100, `${r.metadata.file} done`);
    return { metadata: r.metadata, costEntry: r.costEntry, reused: false } satisfies VariationValue;
  },
};

/** The prompt this stage draws: the enhanced one when the prompt stage ran, else the run's input. */
function promptFor(ctx: StageContext<unknown>): { prompt: string; source: string } {
  const p = summaryFor(ctx.previous, 'image-prompt');
  if (p) return { prompt: p.outputs.final_prompt, source: p.outputs.final_prompt_file };
  return { prompt: ctx.spec.prompt, source: ctx.spec.prompt_source };
}

export const imageGenerationStage: StageDefinition<'image-generation', Plan> = {
  stage: 'image-generation',
  fanOut: {
    planFile: PLAN_FILE,
    planSchema: PlanSchema,
    // the images follow the prompt: an image-prompt stage that ran again with another result draws again
    basis: async (ctx) => ({ prompt: promptFor(ctx).prompt }),
    async draw(ctx) {
      const o = ctx.spec.options;
      const { prompt, source } = promptFor(ctx);
      const drawn = planGeneration({
        backend: o.image_backend,
        env: loadEnv(),
        model: o.image_model,
        fallbackModels: o.fallback_models,
        numVariations: o.num_image_variations,
        aspectRatio: o.aspect_ratio,
        seed: o.seed,
        negativePrompt: o.negative_prompt,
      });
      return { ...drawn, prompt, promptSource: source, aspectRatio: o.aspect_ratio as AspectRatio, startedAt: new Date().toISOString() };
    },
    phases: [
      (ctx) => {
      const plan = ctx.plan;
      return [
        {
          kind: 'variation',
          queue: 'image-generation',
          schema: VariationValueSchema,
          children: plan.seeds.map((seed, i) => ({
            key: key(i + 1),
            name: jobName(ctx.spec, `image-generation variation ${i + 1} seed ${seed}`),
            data: {
              kind: 'variation',
              variation: i + 1,
              seed,
              prompt: plan.prompt,
              negativePrompt: plan.negativePrompt,
              aspectRatio: plan.aspectRatio,
              model: plan.model,
              fallbackModels: plan.fallbackModels,
              backend: plan.backend,
              runDir: ctx.spec.run_dir,
            },
          })),
        },
      ];
      },
    ],
  },

  async run(ctx) {
    const plan = ctx.plan;
    const group = ctx.groups.variation!;
    const values = [...group.values.values()] as VariationValue[];
    const images = values.map((v) => v.metadata);
    const failures = [];
    for (const [k, f] of group.failures) {
      // a bug or a setup error in a variation fails the stage; only provider failures make a partial run
      if (!isItemFailure(f.kind)) throw new Error(`[${f.kind}] variation ${Number(k)}: ${f.message}`);
      failures.push({ variation: Number(k), seed: plan.seeds[Number(k) - 1] ?? 0, reason: f.message, attempts: 3, models_tried: [] });
    }
    // every variation has finished: what a killed writer left half-written can go
    await removeStaleTemps(ctx.stageDir);
    const trace = await writeGenerationTrace(ctx.stageDir, {
      backend: plan.backend,
      prompt: plan.prompt,
      negativePrompt: plan.negativePrompt,
      promptSource: plan.promptSource,
      model: plan.model,
      fallbackModels: plan.fallbackModels,
      aspectRatio: plan.aspectRatio,
      seeds: plan.seeds,
      seedSource: plan.seedSource,
      images,
      failures,
      costEntries: values.map((v) => v.costEntry),
      startedAt: plan.startedAt,
    });
    if (!images.length) throw new UnrecoverableError(`[remote] all ${plan.seeds.length} image variations failed: ${failures[0]?.reason ?? 'unknown'}`);
    const dir = STAGE_DIRS['image-generation'];
    return {
      partial: failures.length > 0,
      cost_usd: round6(images.reduce((s, m) => s + (m.cost_usd ?? 0), 0)),
      started_at: trace.started_at,
      outputs: {
        prompt: plan.prompt,
        backend: plan.backend,
        backend_note: trace.backend_note,
        images: images.length,
        failed: failures.length,
        generation_dir: dir,
        trace_file: `${dir}/${GENERATION_TRACE}`,
      },
      // files are renamed by rank in the scoring stage, so the generation checkpoint names the trace and plan only
      artifacts: [`${dir}/${GENERATION_TRACE}`, `${dir}/${PLAN_FILE}`],
    };
  },
};
