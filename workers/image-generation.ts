import { mkdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeJsonAtomic } from '../src/runs/atomic.js';
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { loadEnv } from '../src/config/env.js';
import { ASPECT_RATIOS, type AspectRatio } from '../src/generation/metadata.js';
import { generateVariation, planGeneration, writeGenerationTrace, type VariationResult } from '../src/generation/generate.js';
import { round6 } from '../src/runs/ledger.js';
import { GenerationFailed } from '../src/generation/backend.js';
import { isItemFailure, parseFailure } from './job-errors.js';
import type { ProcessorModule } from './registry.js';
import type { StageContext, StageDefinition } from './stage.js';

/**
 * Stage 2: one `variation` job per image on the image-generation queue, fanned out at run time;
 * the stage job waits for them and assembles generation_trace.json. Payloads carry paths.
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
  outDir: z.string(),
  /** Saved by an earlier attempt before it waited on the provider: resumed, never bought twice. */
  prediction: z.object({ model: z.string(), predictionId: z.string() }).optional(),
});

const PlanSchema = z.object({
  backend: z.enum(['sketch', 'replicate']),
  model: z.string(),
  fallbackModels: z.array(z.string()),
  seeds: z.array(z.number().int().nonnegative()),
  seedSource: z.enum(['user', 'drawn']),
  negativePrompt: z.string().nullable(),
  prompt: z.string(),
  promptSource: z.string(),
  startedAt: z.string(),
});

export const variationProcessor: ProcessorModule = {
  kind: 'plain',
  name: 'variation',
  async process(data, ctx) {
    const d = VariationJobSchema.parse(data);
    await ctx.progress(0, `variation ${d.variation} seed ${d.seed}`);
    const r = await generateVariation({
      ...d,
      stage: 'image_generation',
      signal: ctx.signal,
      resume: d.prediction,
      onPrediction: (p) => ctx.saveState({ prediction: p }),
    });
    // a variation the provider could not make is a failed job: BullMQ's attempts and backoff retry
    // it, the board shows it red, and the stage records it once it has failed for good
    if (!r.ok) throw new GenerationFailed(r.failure.reason, r.failure.attempts, r.failure.models_tried);
    await ctx.progress(100, `${r.metadata.file} done`);
    return r;
  },
};

/** The prompt this stage draws: the enhanced one when the prompt stage ran, else the run's input. */
function promptFor(ctx: StageContext): { prompt: string; source: string } {
  const p = ctx.previous.find((s) => s.stage === 'image-prompt');
  const fp = p?.outputs.final_prompt;
  if (typeof fp === 'string' && fp.trim()) return { prompt: fp, source: String(p?.outputs.final_prompt_file ?? 'image-prompt stage') };
  return { prompt: ctx.spec.prompt, source: ctx.spec.prompt_source };
}

export const PLAN_FILE = 'generation_plan.json';

/**
 * The plan (backend, models, one seed per variation) is drawn once and saved before any child job
 * is added: a crash between drawing and fanning out, or a re-run of the stage, reuses it, so seeds
 * are never redrawn.
 */
async function loadOrDrawPlan(ctx: StageContext): Promise<z.infer<typeof PlanSchema>> {
  const path = join(ctx.stageDir, PLAN_FILE);
  const saved = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (saved !== undefined) return PlanSchema.parse(JSON.parse(saved));
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
  const plan = PlanSchema.parse({ ...drawn, prompt, promptSource: source, startedAt: new Date().toISOString() });
  await mkdir(ctx.stageDir, { recursive: true });
  await writeJsonAtomic(path, plan);
  return plan;
}

export const imageGenerationStage: StageDefinition = {
  async fanOut(ctx) {
    const plan = await loadOrDrawPlan(ctx);
    const children = plan.seeds.map((seed, i) => ({
      name: 'variation',
      jobId: `${ctx.spec.run_id}.variation.${String(i + 1).padStart(3, '0')}`,
      data: {
        variation: i + 1,
        seed,
        prompt: plan.prompt,
        negativePrompt: plan.negativePrompt,
        aspectRatio: ctx.spec.options.aspect_ratio,
        model: plan.model,
        fallbackModels: plan.fallbackModels,
        backend: plan.backend,
        outDir: ctx.stageDir,
      },
    }));
    await ctx.progress(0, `${children.length} variations queued (${plan.backend})`);
    return { queue: 'image-generation', children, plan };
  },

  async run(ctx) {
    const plan = PlanSchema.parse(ctx.plan);
    const results = Object.values(ctx.fanValues) as VariationResult[];
    const images = results.flatMap((r) => (r.ok ? [r.metadata] : []));
    const failures = results.flatMap((r) => (r.ok ? [] : [r.failure]));
    // Variation jobs that failed for good (a crash, not a recorded generation failure).
    for (const [key, raw] of Object.entries(ctx.fanFailures)) {
      const n = Number(/variation\.(\d+)$/.exec(key)?.[1]);
      const { kind, message } = parseFailure(raw);
      // a bug or a setup error in a variation fails the stage; only provider failures make a partial run
      if (!isItemFailure(kind)) throw new Error(`[${kind}] variation ${n}: ${message}`);
      if (n) failures.push({ variation: n, seed: plan.seeds[n - 1] ?? 0, reason: message, attempts: 3, models_tried: [] });
    }
    const trace = await writeGenerationTrace(ctx.stageDir, {
      backend: plan.backend,
      prompt: plan.prompt,
      negativePrompt: plan.negativePrompt,
      promptSource: plan.promptSource,
      model: plan.model,
      fallbackModels: plan.fallbackModels,
      aspectRatio: ctx.spec.options.aspect_ratio as AspectRatio,
      seeds: plan.seeds,
      seedSource: plan.seedSource,
      images,
      failures,
      costEntries: results.flatMap((r) => (r.ok ? [r.costEntry] : [])),
      startedAt: plan.startedAt,
    });
    if (!images.length) throw new UnrecoverableError(`all ${plan.seeds.length} image variations failed: ${failures[0]?.reason ?? 'unknown'}`);
    const rel = (f: string) => relative(ctx.spec.run_dir, `${ctx.stageDir}/${f}`);
    return {
      stage: 'image-generation',
      dir: ctx.stageDir,
      ok: true,
      partial: failures.length > 0,
      cost_usd: round6(images.reduce((s, m) => s + (m.cost_usd ?? 0), 0)),
      duration_ms: trace.duration_ms,
      started_at: trace.started_at,
      ended_at: trace.ended_at,
      outputs: {
        prompt: plan.prompt,
        backend: plan.backend,
        backend_note: trace.backend_note,
        images: images.length,
        failed: failures.length,
        generation_dir: ctx.stageDir,
        trace_file: `${ctx.stageDir}/generation_trace.json`,
      },
      scores: {},
      // files are renamed by rank in the scoring stage, so the generation checkpoint names the trace only
      artifacts: [rel('generation_trace.json'), rel(PLAN_FILE)],
    };
  },
};
