import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { loadEnv } from '../src/config/env.js';
import { CostLedger } from '../src/runs/ledger.js';
import { enhanceImagePrompt, resolveAgentBackend } from '../src/prompt/enhance.js';
import type { Brand } from '../src/prompt/types.js';
import type { StageDefinition } from './stage.js';

/** Stage 1: two-agent image prompt enhancement into <run>/stage_1_image_prompt/. */
export const imagePromptStage: StageDefinition<'image-prompt'> = {
  stage: 'image-prompt',
  async run(ctx) {
    const { spec, stageDir } = ctx;
    const o = spec.options;
    // A retried or stalled attempt starts clean, so no file of an earlier attempt lingers.
    await rm(stageDir, { recursive: true, force: true });
    await mkdir(stageDir, { recursive: true });
    const ledger = new CostLedger();
    const maxIt = o.max_iterations_image;
    const summary = await enhanceImagePrompt({
      prompt: spec.prompt,
      runDir: stageDir,
      maxIterations: maxIt,
      threshold: o.threshold_image,
      skipThreshold: o.skip_threshold,
      brand: (o.brand as Brand | null) ?? null,
      // the run's ratio (--aspect-ratio or its default) in every workflow: one truth for the prompt,
      // the images and a later `generate-images <trace dir>` (the trace summary records it)
      aspectRatio: o.aspect_ratio,
      backend: resolveAgentBackend(o.agent_backend, loadEnv(), '--agent-backend'),
      creativeModel: o.creative_model,
      critiqueModel: o.critique_model,
      seed: o.seed,
      ledger,
      logger: ctx.logger,
      signal: ctx.signal,
      stage: 'image_prompt',
      onProgress: (e) => {
        const pct = e.phase === 'done' ? 100 : ((e.iteration - 1 + (e.phase === 'agent2' ? 0.5 : 0)) / maxIt) * 100;
        void ctx.progress(pct, `${e.phase}${e.iteration ? ` iteration ${e.iteration}` : ''}${e.overall !== undefined ? ` overall ${e.overall}` : ''}`);
      },
    });
    // enhanceImagePrompt throws on failure; this only narrows the summary's nullable fields
    if (summary.final_prompt === null || summary.final_scores === null)
      throw new Error(`prompt enhancement failed: ${summary.error?.message ?? summary.stop_reason}`);
    const files = (await readdir(stageDir)).sort();
    const dir = STAGE_DIRS['image-prompt'];
    return {
      cost_usd: summary.cost.total_cost_usd,
      started_at: summary.started_at,
      outputs: {
        final_prompt: summary.final_prompt,
        final_prompt_file: `${dir}/${basename(summary.final_prompt_file ?? '')}`,
        summary_file: `${dir}/prompt_trace_summary.json`,
        stop_reason: summary.stop_reason,
        backend: summary.backend,
        backend_note: summary.backend_note,
      },
      scores: { image_prompt_overall: summary.final_scores.overall, ...summary.final_scores },
      artifacts: files.map((f) => `${dir}/${f}`),
    };
  },
};
