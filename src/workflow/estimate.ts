import { imageCost, tokenCost, videoCost } from '../config/prices.js';
import { DEFAULT_MODEL } from '../generation/replicate-backend.js';
import type { Stage } from './stages.js';
import type { RunOptions } from './run-options.js';

/**
 * What a run would cost, per stage, from the price table, before anything is spent: `loop run
 * --dry-run` prints it and `--max-cost` refuses a run whose estimate passes it. The numbers come
 * from the same table the stages record costs with; LLM stages are estimated from typical token
 * counts (stated), and a model missing from the table makes the total a lower bound.
 */
export interface StageEstimate {
  stage: Stage;
  cost_usd: number | null;
  basis: string;
}

/** Typical tokens of one agent call (prompt + reply), measured on the example prompts. */
const TOKENS_PER_CALL = { input: 1200, output: 400 } as const;
/** The offline planner's clip lengths (establish 5 s, others 4 s); an LLM plan is near that. */
const clipSeconds = (clips: number) => 5 + 4 * (clips - 1);

export function estimateRun(stages: readonly Stage[], o: RunOptions): { stages: StageEstimate[]; total_usd: number; lower_bound: boolean } {
  const llm = (model: string, calls: number): number | null => {
    const c = tokenCost(model, TOKENS_PER_CALL.input * calls, TOKENS_PER_CALL.output * calls);
    return c === undefined ? null : c;
  };
  const openai = o.agent_backend === 'openai';
  const imageModel = o.image_model ?? DEFAULT_MODEL;
  const paidImages = o.image_backend === 'replicate';
  const perImage = paidImages ? (imageCost(imageModel) ?? null) : 0;
  const frames = o.num_clips * 2 * o.frame_variations;
  const out: StageEstimate[] = stages.map((stage) => {
    switch (stage) {
      case 'image-prompt':
        return openai
          ? { stage, cost_usd: sum(llm(o.creative_model, o.max_iterations_image), llm(o.critique_model, o.max_iterations_image)), basis: `up to ${o.max_iterations_image} rounds × 2 calls at ~${TOKENS_PER_CALL.input}+${TOKENS_PER_CALL.output} tokens` }
          : { stage, cost_usd: 0, basis: 'offline agents' };
      case 'image-generation':
        return { stage, cost_usd: perImage === null ? null : perImage * o.num_image_variations, basis: paidImages ? `${o.num_image_variations} × ${imageModel.split(':')[0]}` : 'offline sketches' };
      case 'image-scoring':
        return { stage, cost_usd: 0, basis: 'local models (VQAScore calls, when configured, are extra)' };
      case 'storyboard':
        return {
          stage,
          cost_usd: sum(openai ? llm(o.creative_model, 2) : 0, perImage === null ? null : perImage * frames),
          basis: `${openai ? 'an LLM plan (≤ 2 calls) + ' : ''}up to ${frames} frame candidates${paidImages ? ` × ${imageModel.split(':')[0]}` : ' (offline sketches)'}`,
        };
      case 'video-prompt':
        return openai
          ? { stage, cost_usd: sum(llm(o.creative_model, o.max_iterations_video * o.num_clips), llm(o.critique_model, o.max_iterations_video * o.num_clips)), basis: `${o.num_clips} clips × up to ${o.max_iterations_video} rounds × 2 calls` }
          : { stage, cost_usd: 0, basis: 'offline agents' };
      case 'video-generation': {
        const seconds = clipSeconds(o.num_clips) * o.num_video_attempts;
        if (o.video_backend !== 'replicate') return { stage, cost_usd: 0, basis: 'offline animatic' };
        const c = videoCost(o.video_model, seconds);
        return { stage, cost_usd: c === undefined ? null : c, basis: `${o.num_clips} clips × ${o.num_video_attempts} attempts ≈ ${seconds} s of ${o.video_model}` };
      }
      case 'video-scoring':
        return { stage, cost_usd: 0, basis: 'local models (VQAScore calls on a few frames per video, when configured, are extra)' };
    }
  });
  const total = out.reduce((s, e) => s + (e.cost_usd ?? 0), 0);
  return { stages: out, total_usd: Math.round(total * 1e6) / 1e6, lower_bound: out.some((e) => e.cost_usd === null) };
}

function sum(...xs: (number | null)[]): number | null {
  return xs.some((x) => x === null) ? null : xs.reduce<number>((a, x) => a + (x ?? 0), 0);
}
