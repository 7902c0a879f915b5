import { readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { recordScoringOutcome } from '../src/generation/generate.js';
import { removeStaleTemps } from '../src/runs/atomic.js';
import { round6 } from '../src/runs/ledger.js';
import { scoreGenerationDir } from '../src/scoring/rank.js';
import { imageScorerFor } from './scoring-models.js';
import { summaryFor } from '../src/workflow/types.js';
import type { StageDefinition } from './stage.js';
import type { ProcessorModule } from './registry.js';
import { z } from 'zod';
import { silentLogger } from '../src/lib/log.js';
import { pickBest } from '../src/storyboard/storyboard.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';

/**
 * Stage 3: score the generation folder in one batch job, rank, rename by rank. The scorer (ONNX
 * sessions on their own inference thread, shared with video scoring) is created once per worker
 * process and device and held across jobs: models load once, however many runs this worker scores.
 */
export { closeScoringModels } from './scoring-models.js';

/** Which metrics made the ranking, in words: a technical-only ranking must not pass for a model one. */
function scoringNote(available: string[], unavailable: Record<string, string>): string {
  const missing = Object.keys(unavailable);
  return `ranked by ${available.join(', ') || 'nothing'}${missing.length ? `; unavailable: ${missing.join(', ')} (reasons in generation_trace.json; loop models list)` : ''}`;
}

export const imageScoringStage: StageDefinition<'image-scoring'> = {
  stage: 'image-scoring',
  async run(ctx) {
    const gen = summaryFor(ctx.previous, 'image-generation');
    if (!gen) throw new UnrecoverableError('[internal] image-scoring needs the image-generation stage before it');
    const rel = gen.outputs.generation_dir;
    const dir = join(ctx.runDir, rel);
    const artifacts = async () =>
      (await readdir(dir)).filter((f) => /^image_\d+(_metadata\.json|\.png)$|^generation_trace\.json$/.test(f)).map((f) => `${rel}/${f}`);

    if (ctx.spec.options.skip_scoring) {
      await recordScoringOutcome(dir, { status: 'skipped', reason: '--skip-scoring' });
      return {
        partial: gen.partial,
        outputs: { ordering: 'generation', generation_dir: rel, backend_note: 'scoring skipped (--skip-scoring): files keep generation order' },
        artifacts: await artifacts(),
      };
    }

    // generation has finished: what a killed writer left half-written can go
    await removeStaleTemps(dir);
    const device = ctx.device ?? 'cpu';
    const scorer = imageScorerFor(device, ctx.logger);
    const r = await scoreGenerationDir(dir, {
      scorer,
      device,
      logger: ctx.logger,
      signal: ctx.signal,
      onProgress: (done, total) => void ctx.progress((done / Math.max(1, total)) * 100, `scored ${done}/${total} on ${device}`),
    });
    const best = r.images.find((i) => i.rank === 1);
    return {
      cost_usd: round6(r.cost_usd),
      partial: gen.partial || r.unscorable.length > 0,
      outputs: {
        ordering: 'rank',
        generation_dir: rel,
        backend_note: scoringNote(r.metrics_available, r.metrics_unavailable),
        best_image: r.best ? `${rel}/${r.best}` : null,
        metrics_available: r.metrics_available,
        metrics_unavailable: r.metrics_unavailable,
        weights_used: r.weights_used,
        unscorable: r.unscorable,
        device: r.device,
        // which worker scored it, and how many model sessions its process has loaded so far:
        // a worker that holds its models shows the same count on every job after its first
        worker: `${hostname()}:${process.pid}`,
        scorer_session_loads: scorer.stats().loads,
      },
      scores: best ? { best_overall: best.overall, best_metrics: best.metrics, ranked: r.images.map((i) => ({ rank: i.rank, file: i.file, overall: i.overall })) } : {},
      artifacts: await artifacts(),
    };
  },
};

const PickJobSchema = z.object({ runDir: z.string(), prompt: z.string(), candidates: z.array(z.string()).min(1) });

/**
 * A storyboard frame's candidates (--frame-variations K > 1), scored by this worker's held models:
 * the best is kept. Paths are relative to the storyboard folder of the run.
 */
export const pickProcessor: ProcessorModule = {
  kind: 'plain',
  name: 'pick',
  async process(data, ctx) {
    const d = PickJobSchema.parse(data);
    const dir = join(resolveRunDir(d.runDir, ctx.outputRoot), STAGE_DIRS.storyboard);
    await ctx.progress(0, `scoring ${d.candidates.length} candidates`);
    return pickBest(dir, d.candidates, d.prompt, imageScorerFor(ctx.device ?? 'cpu', silentLogger));
  },
};
