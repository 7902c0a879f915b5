import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { cacheForRun, cachedVideoBackend } from '../src/cache/generation-cache.js';
import { loadEnv } from '../src/config/env.js';
import { sha256File } from '../src/lib/hash.js';
import { removeStaleTemps } from '../src/runs/atomic.js';
import type { AspectRatio } from '../src/generation/metadata.js';
import { round6 } from '../src/runs/ledger.js';
import {
  clipDir,
  createVideoBackend,
  generateAttempt,
  planVideos,
  VIDEO_PLAN_FILE,
  VIDEO_TRACE_FILE,
  VideoMetadataSchema,
  VideoPlanSchema,
  videoFile,
  videoMetaFile,
  writeVideoTrace,
  type AttemptFailure,
  type VideoPlan,
} from '../src/video/generate.js';
import { restoreVideoAttemptOrder } from '../src/video-scoring/rank-videos.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import { jobName } from '../queues/runs.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { summaryFor } from '../src/workflow/types.js';
import { isItemFailure } from './job-errors.js';
import type { ProcessorModule } from './registry.js';
import type { StageContext, StageDefinition } from './stage.js';

/**
 * Stage 5: video generation (Story 9.2). The plan (backend, model, a seed per attempt, each
 * clip's motion prompt, frames and move) is saved before any job exists; then one `attempt` job
 * per clip × attempt on the video-generation queue, all concurrent; each records its prediction id
 * before waiting, so a restarted job resumes that prediction instead of buying the video again.
 */
const DIR = STAGE_DIRS['video-generation'];

const AttemptJobSchema = z.object({
  runDir: z.string(),
  clip: z.number().int().positive(),
  attempt: z.number().int().positive(),
  /** A review's regenerated attempt carries its revised prompt; otherwise the clip's prompt in the plan. */
  prompt: z.string().min(1).optional(),
  prediction: z.object({ model: z.string(), predictionId: z.string() }).optional(),
});
const AttemptValueSchema = z.object({ metadata: VideoMetadataSchema, reused: z.boolean() });

export const attemptProcessor: ProcessorModule = {
  kind: 'plain',
  name: 'attempt',
  async process(data, ctx) {
    const d = AttemptJobSchema.parse(data);
    const runDir = resolveRunDir(d.runDir, ctx.outputRoot);
    const dir = join(runDir, DIR);
    // the plan the stage saved before adding this job: one place for prompts, frames and seeds
    const plan = VideoPlanSchema.parse(JSON.parse(await readFile(join(dir, VIDEO_PLAN_FILE), 'utf8')));
    const planned = plan.clips.find((c) => c.clip === d.clip);
    const clip = planned && (d.prompt ? { ...planned, prompt: d.prompt } : planned);
    if (!clip) throw new Error(`[internal] clip ${d.clip} is not in ${VIDEO_PLAN_FILE}`);
    // a retry after the folder was ranked: back to attempt order first, so this attempt's own
    // name is free and no ranked video is overwritten (video scoring ranks the whole set again)
    if (existsSync(join(dir, VIDEO_TRACE_FILE))) {
      const t = JSON.parse(await readFile(join(dir, VIDEO_TRACE_FILE), 'utf8')) as { ordering?: string };
      if (t.ordering === 'rank') await restoreVideoAttemptOrder(dir, { signal: ctx.signal });
    }
    await ctx.progress(0, `clip ${d.clip} attempt ${d.attempt}`);
    // behind the generation cache: the same request made before (same prompt, frames, seed, move) is not paid for again
    const backend = cachedVideoBackend(await createVideoBackend(plan.backend, loadEnv()), await cacheForRun(runDir, ctx.outputRoot));
    const r = await generateAttempt(dir, plan, clip, d.attempt, backend, {
      runDir,
      signal: ctx.signal,
      resume: d.prediction,
      onPrediction: (p) => ctx.saveState({ prediction: p }),
    });
    await ctx.progress(100, `${clipDir(d.clip)}/${r.metadata.file}${r.reused ? ' (already made)' : ''}`);
    return r;
  },
};

/** From the video-prompt stage's motion file: each clip's prompt, camera, length and frames (relative to the run directory). */
async function motionInputs(ctx: StageContext<unknown>) {
  const vp = summaryFor(ctx.previous, 'video-prompt');
  if (!vp) throw new Error('[internal] the video-generation stage needs the video-prompt stage before it');
  const { StoryboardMotionFileSchema } = await import('../src/video-prompt/storyboard-mode.js');
  const motion = StoryboardMotionFileSchema.parse(JSON.parse(await readFile(join(ctx.runDir, vp.outputs.motion_file), 'utf8')));
  const boardDir = join(ctx.runDir, vp.outputs.motion_file, '..', motion.storyboard_dir);
  // frames relative to the run directory: every worker resolves them against its own
  const rel = (p: string | null) => (p ? relative(ctx.runDir, join(boardDir, p)) : null);
  const clips = motion.clips.map((c) => ({ clip: c.clip, prompt: c.enhanced_motion_prompt, start_frame: rel(c.start_frame), end_frame: rel(c.end_frame), camera: c.camera, duration_s: c.duration_s }));
  return { clips };
}

export const videoGenerationStage: StageDefinition<'video-generation', VideoPlan> = {
  stage: 'video-generation',
  fanOut: {
    planFile: VIDEO_PLAN_FILE,
    planSchema: VideoPlanSchema,
    // the videos follow the motion prompts and the storyboard frames, by content: a board drawn
    // again upstream (new frames under the same names) draws the videos again
    async basis(ctx) {
      // what the plan takes from the motion file (not its timestamps), and the frames' bytes
      const { clips } = await motionInputs(ctx);
      const frames = [...new Set(clips.flatMap((c) => [c.start_frame, c.end_frame]).filter((f): f is string => !!f))].sort();
      const shas = await Promise.all(frames.map((f) => sha256File(join(ctx.runDir, f)).catch(() => null)));
      return { clips, frames: Object.fromEntries(frames.map((f, i) => [f, shas[i]])) };
    },
    async draw(ctx) {
      const o = ctx.spec.options;
      const { clips } = await motionInputs(ctx);
      const backend = await createVideoBackend(o.video_backend ?? 'animatic', loadEnv());
      return planVideos({
        backend,
        model: o.video_model,
        aspectRatio: o.aspect_ratio as AspectRatio,
        negativePrompt: o.negative_prompt,
        attempts: o.num_video_attempts,
        seed: o.seed,
        clips,
        framesRoot: '.',
      });
    },
    phases: [
      (ctx) => [
        {
          kind: 'attempt',
          queue: 'video-generation',
          schema: AttemptValueSchema,
          children: ctx.plan.clips.flatMap((c) =>
            Array.from({ length: ctx.plan.attempts }, (_, a) => ({
              key: `c${String(c.clip).padStart(3, '0')}-a${a + 1}`,
              name: jobName(ctx.spec, `video-generation clip ${c.clip} attempt ${a + 1}`),
              data: { kind: 'attempt', runDir: ctx.spec.run_dir, clip: c.clip, attempt: a + 1 },
            })),
          ),
        },
      ],
    ],
  },

  async run(ctx) {
    const plan = ctx.plan;
    const g = ctx.groups.attempt!;
    const made = [...g.values.values()] as z.infer<typeof AttemptValueSchema>[];
    const failures: AttemptFailure[] = [];
    for (const [key, f] of g.failures) {
      const [, clip, attempt] = /^c(\d+)-a(\d+)$/.exec(key)!.map(Number);
      // a bug or a setup error fails the stage; only provider failures make a partial run
      if (!isItemFailure(f.kind)) throw new Error(`[${f.kind}] clip ${clip} attempt ${attempt}: ${f.message}`);
      failures.push({ clip: clip!, attempt: attempt!, seed: plan.seeds[attempt! - 1] ?? 0, reason: f.message });
    }
    const clipsWithout = plan.clips.filter((c) => !made.some((m) => m.metadata.clip === c.clip));
    if (clipsWithout.length === plan.clips.length) throw new Error(`[remote] every video attempt failed: ${failures[0]?.reason ?? 'unknown'}`);
    // every attempt has finished: what a killed writer left half-written can go
    await Promise.all(plan.clips.map((c) => removeStaleTemps(join(ctx.stageDir, clipDir(c.clip)))));
    const backend = await createVideoBackend(plan.backend, loadEnv());
    const trace = await writeVideoTrace(ctx.stageDir, plan, made, failures, backend.note);
    const files = made.flatMap((m) => [`${clipDir(m.metadata.clip)}/${videoFile(m.metadata.attempt)}`, `${clipDir(m.metadata.clip)}/${videoMetaFile(m.metadata.attempt)}`]);
    return {
      partial: failures.length > 0,
      cost_usd: round6(made.filter((m) => !m.reused).reduce((s, m) => s + (m.metadata.cost_usd ?? 0), 0)),
      started_at: plan.started_at,
      outputs: {
        generation_dir: DIR,
        trace_file: `${DIR}/${VIDEO_TRACE_FILE}`,
        clips: plan.clips.length,
        videos: made.length,
        failed: failures.length,
        backend: plan.backend,
        model: plan.model,
        backend_note: backend.note,
        estimated_cost_usd: trace.estimated_cost_usd,
      },
      artifacts: [`${DIR}/${VIDEO_PLAN_FILE}`, `${DIR}/${VIDEO_TRACE_FILE}`, ...files.map((f) => `${DIR}/${f}`)],
    };
  },
};
