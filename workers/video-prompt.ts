import { join } from 'node:path';
import { loadEnv } from '../src/config/env.js';
import { LoopError } from '../src/errors.js';
import { CostLedger } from '../src/runs/ledger.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { summaryFor } from '../src/workflow/types.js';
import type { StageDefinition } from './stage.js';

/**
 * Stage 4: the video prompt loop (Story 9.1) in storyboard mode: each clip of stage 3's
 * storyboard gets its motion prompt rewritten by the director and scored by the critic, into
 * stage_4_video_prompt/storyboard_enhanced_motion_prompts.json (per clip: the enhanced motion
 * prompt, its start and end frames, scores, the rounds) and one unified trace.
 */
const DIR = STAGE_DIRS['video-prompt'];

export const videoPromptStage: StageDefinition<'video-prompt'> = {
  stage: 'video-prompt',
  async run(ctx) {
    const o = ctx.spec.options;
    const sb = summaryFor(ctx.previous, 'storyboard');
    if (!sb) throw new Error('[internal] the video-prompt stage needs the storyboard stage before it');
    // a clip without its frames has no arc to write for: the run waits for `loop retry` to make them
    if (sb.outputs.failed_frames.length)
      throw new LoopError('INPUT', `the storyboard has failed frames (${sb.outputs.failed_frames.join(', ')}): \`loop retry ${ctx.spec.run_id}\` makes them, then the video stages run`);
    const { enhanceStoryboardMotion, MOTION_FILE } = await import('../src/video-prompt/storyboard-mode.js');
    const ledger = new CostLedger();
    const r = await enhanceStoryboardMotion({
      storyboardDir: join(ctx.runDir, sb.outputs.storyboard_dir),
      outDir: ctx.stageDir,
      maxIterations: o.max_iterations_video,
      threshold: o.threshold_video,
      backend: o.agent_backend === 'openai' ? 'openai' : 'offline',
      creativeModel: o.creative_model,
      critiqueModel: o.critique_model,
      seed: o.seed,
      ledger,
      logger: ctx.logger,
      signal: ctx.signal,
      env: loadEnv(),
    });
    const overall = r.clips.map((c) => c.scores.overall);
    return {
      cost_usd: ledger.total(),
      outputs: {
        motion_file: `${DIR}/${MOTION_FILE}`,
        clips: r.clips.length,
        backend: r.backend,
        backend_note: r.backend_note,
      },
      scores: {
        video_prompt_overall: overall.length ? Math.round((overall.reduce((a, b) => a + b, 0) / overall.length) * 100) / 100 : null,
        per_clip: r.clips.map((c) => ({ clip: c.clip, overall: c.scores.overall, stop_reason: c.stop_reason })),
      },
      artifacts: r.files.map((f) => `${DIR}/${f}`),
    };
  },
};
