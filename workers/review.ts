import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { z } from 'zod';
import { loadEnv } from '../src/config/env.js';
import { LoopError } from '../src/errors.js';
import { MAX_SEED } from '../src/generation/limits.js';
import { variationSeeds } from '../src/generation/seeds.js';
import { ImageMetadataSchema } from '../src/generation/metadata.js';
import { BrandSchema } from '../src/prompt/types.js';
import { CostLedger, round6 } from '../src/runs/ledger.js';
import { ensureDir } from '../src/runs/run-dir.js';
import { MAX_REGENERATIONS, ReviewRecordSchema, ReviewStateSchema, type RegenPlan, type ReviewAnswer, type ReviewGate, type ReviewRecord, type ReviewState } from '../src/workflow/review.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { jobName } from '../queues/runs.js';
import { summaryFor, type StageSummary } from '../src/workflow/types.js';
import type { FanOutGroup, StageContext } from './stage.js';

/**
 * A review gate (src/workflow/review.ts) in the gated stage's job. The stage's summary waits in
 * the job's data with the gate's state; the job sits delayed (no worker held) and looks again
 * every POLL_MS, or at once when `loop review` promotes it. The answer:
 *   continue    the stage completes with its summary (and the decisions in `reviews`);
 *   stop        the run fails here with one line saying who stopped it;
 *   regenerate  the feedback goes through the prompt agents (the cinematographer for images, the
 *               director per clip for videos) into a revised prompt, a new set is made on the
 *               generation queue as its own jobs (children of this job, planned in the job data
 *               before any exists), then the whole folder is scored and ranked again, the earlier
 *               outputs kept, and the gate asks again.
 */
export const POLL_MS = 2000;

export interface GateHooks {
  /** Children of this job: wait without holding a worker. */
  waitForChildren(): Promise<never>;
  addChildren(groups: FanOutGroup[]): Promise<void>;
  collect(groups: FanOutGroup[]): Promise<Record<string, { values: Map<string, unknown>; failures: Map<string, { kind: string; message: string }> }> | 'pending'>;
  /** The stage's own run again (score the folder with the new images). */
  rerun(): Promise<StageSummary>;
  parseSummary(s: unknown): StageSummary;
}

export async function reviewGate(job: Job, token: string | undefined, ctx: StageContext, gate: ReviewGate, fresh: StageSummary | null, hooks: GateHooks): Promise<StageSummary> {
  const save = (st: ReviewState) => job.updateData({ ...(job.data as object), review: st });
  const parsed = ReviewStateSchema.safeParse((job.data as { review?: unknown }).review);
  let st: ReviewState;
  if (parsed.success) st = parsed.data;
  else {
    if (!fresh) throw new Error('[internal] a review gate without its summary');
    st = { gate, round: 0, asked_at: new Date().toISOString(), summary: fresh, answer: null, regen: null, history: [], extra_cost_usd: 0 };
    await save(st);
  }
  for (;;) {
    if (st.regen) {
      const group = regenGroup(st.regen);
      // idempotent, so a crash anywhere after the state was saved loses nothing: the extended
      // video plan is written (once), the children added (deterministic ids add nothing twice)
      if (st.regen.video_plan) await extendVideoPlan(ctx, st.regen.video_plan);
      await hooks.addChildren([group]);
      const out = await hooks.collect([group]);
      if (out === 'pending') return hooks.waitForChildren();
      const g = out[group.kind]!;
      const made = [...g.values.values()] as { metadata?: { cost_usd?: number | null } }[];
      const spent = st.regen.revision_cost_usd + made.reduce((s, v) => s + (v.metadata?.cost_usd ?? 0), 0);
      const summary = await hooks.rerun();
      const failed = [...g.failures.entries()].map(([k, f]) => `${k}: ${f.message}`);
      const last = st.history[st.history.length - 1];
      const history = last && failed.length ? [...st.history.slice(0, -1), { ...last, notes: [...last.notes, `${failed.length} of ${st.regen.children.length} regenerated failed: ${failed[0]}`] }] : st.history;
      st = { ...st, regen: null, summary, answer: null, asked_at: new Date().toISOString(), history, extra_cost_usd: round6(st.extra_cost_usd + spent) };
      await save(st);
      continue;
    }
    const answer = st.answer ?? timedOut(st, ctx.spec.options.review_timeout_s ?? null);
    if (!answer) {
      await ctx.progress(100, `waiting for review of the ${gate} (round ${st.round}): loop review ${ctx.spec.run_id}`);
      await job.moveToDelayed(Date.now() + POLL_MS, token);
      throw new DelayedError();
    }
    const record: ReviewRecord = ReviewRecordSchema.parse({ ...answer, gate, round: st.round, asked_at: st.asked_at });
    const summary = hooks.parseSummary(st.summary);
    if (answer.action === 'continue') {
      const history = [...st.history, record];
      await save({ ...st, answer: null, history });
      return { ...summary, cost_usd: round6(summary.cost_usd + st.extra_cost_usd), reviews: history };
    }
    if (answer.action === 'stop') {
      await save({ ...st, answer: null, history: [...st.history, record] });
      throw new UnrecoverableError(`[usage] stopped at the ${gate} review (${answer.by}${answer.feedback ? `: ${answer.feedback}` : ''})`);
    }
    // regenerate
    if (st.round >= MAX_REGENERATIONS) throw new UnrecoverableError(`[usage] the ${gate} were regenerated ${MAX_REGENERATIONS} times: continue or stop`);
    const round = st.round + 1;
    const r = gate === 'images' ? await planImageRegeneration(ctx, round, answer.feedback) : await planVideoRegeneration(ctx, round, answer.feedback);
    const regen: RegenPlan =
      gate === 'images'
        ? // the image-generation queue's own `variation` jobs, keyed apart from the first set's by round
          { round, kind: 'variation', queue: 'image-generation', children: r.children.map((c) => ({ ...c, key: `review${round}-${c.key}` })), revision_cost_usd: r.cost_usd, video_plan: r.video_plan }
        : // the video-generation queue's own `attempt` jobs under the keys the extended plan gives them
          { round, kind: 'attempt', queue: 'video-generation', children: r.children, revision_cost_usd: r.cost_usd, video_plan: r.video_plan };
    // the plan is in the job before any child exists (the regen branch above adds them): a crash
    // before this line plans again from the same state, one after it goes on from here
    st = { ...st, round, answer: null, regen, history: [...st.history, { ...record, revised_prompt: r.prompt, notes: r.notes }] };
    await save(st);
  }
}

async function extendVideoPlan(ctx: StageContext, to: { attempts: number; seeds: number[] }): Promise<void> {
  const { VIDEO_PLAN_FILE, VideoPlanSchema } = await import('../src/video/generate.js');
  const { writeJsonAtomic } = await import('../src/runs/atomic.js');
  const path = join(ctx.runDir, STAGE_DIRS['video-generation'], VIDEO_PLAN_FILE);
  const plan = VideoPlanSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  if (plan.attempts >= to.attempts) return;
  await writeJsonAtomic(path, VideoPlanSchema.parse({ ...plan, attempts: to.attempts, seeds: to.seeds }));
}

function timedOut(st: ReviewState, timeoutS: number | null): ReviewAnswer | null {
  if (timeoutS === null || Date.now() - Date.parse(st.asked_at) < timeoutS * 1000) return null;
  return { action: 'continue', feedback: null, by: `timeout (--review-timeout ${timeoutS})`, at: new Date().toISOString() };
}

/** What a regenerated child returns: its metadata (the cost is read from it); the rest as is. */
const MadeValue = z.object({ metadata: z.object({ cost_usd: z.number().nullable().optional() }).passthrough() }).passthrough();

function regenGroup(r: RegenPlan): FanOutGroup {
  return { kind: r.kind, queue: r.queue, schema: MadeValue, children: r.children };
}

const GenPlanSchema = z.object({
  backend: z.enum(['sketch', 'replicate']),
  model: z.string(),
  fallbackModels: z.array(z.string()),
  negativePrompt: z.string().nullable(),
  prompt: z.string(),
  aspectRatio: z.string(),
});

/**
 * The feedback through the prompt agents (a revision trace in stage_1_image_prompt/review_NN/),
 * then one new variation per --num-image-variations, numbered after the ones already made.
 */
async function planImageRegeneration(ctx: StageContext, round: number, feedback: string | null) {
  if (!feedback) throw new LoopError('USAGE', 'regenerating images needs feedback (loop review --regenerate images --feedback "…")');
  const o = ctx.spec.options;
  const genDir = join(ctx.runDir, STAGE_DIRS['image-generation']);
  const plan = GenPlanSchema.parse(JSON.parse(await readFile(join(genDir, 'generation_plan.json'), 'utf8')));
  const revising = summaryFor(ctx.previous, 'image-prompt')?.outputs.final_prompt ?? plan.prompt;
  const traceDir = join(ctx.runDir, STAGE_DIRS['image-prompt'], `review_${String(round).padStart(2, '0')}`);
  await ensureDir(traceDir);
  const { enhanceImagePrompt } = await import('../src/prompt/enhance.js');
  const ledger = new CostLedger();
  const s = await enhanceImagePrompt({
    prompt: ctx.spec.prompt,
    runDir: traceDir,
    maxIterations: o.max_iterations_image,
    threshold: o.threshold_image,
    skipThreshold: o.skip_threshold,
    brand: o.brand ? BrandSchema.parse(o.brand) : null,
    aspectRatio: o.aspect_ratio,
    backend: o.agent_backend === 'openai' ? 'openai' : 'offline',
    creativeModel: o.creative_model,
    critiqueModel: o.critique_model,
    seed: (o.seed ?? 0) + round,
    ledger,
    signal: ctx.signal,
    env: loadEnv(),
    stage: 'image_prompt_review',
    feedback: { text: feedback, revising },
  });
  const made = (await readdir(genDir)).filter((f) => /^image_\d+_metadata\.json$/.test(f));
  const numbers = await Promise.all(made.map(async (f) => ImageMetadataSchema.parse(JSON.parse(await readFile(join(genDir, f), 'utf8'))).variation));
  const first = Math.max(0, ...numbers) + 1;
  // a user's --seed keeps the new set reproducible without repeating the first set's seeds
  const { seeds } = variationSeeds(o.num_image_variations, o.seed === undefined ? undefined : (o.seed + first - 1) % (MAX_SEED + 1));
  const notes = s.iterations.flatMap((i) => i.agent1_notes ?? []).filter((n) => n.startsWith('feedback '));
  return {
    prompt: s.final_prompt,
    notes: [...new Set(notes)],
    cost_usd: ledger.total(),
    video_plan: null,
    children: seeds.map((seed, i) => {
      const variation = first + i;
      return {
        key: String(variation).padStart(3, '0'),
        name: jobName(ctx.spec, `image-generation review ${round} variation ${variation} seed ${seed}`),
        // `kind` routes the job to the image-generation queue's variation processor
        data: { kind: 'variation', variation, seed, prompt: s.final_prompt, negativePrompt: plan.negativePrompt, aspectRatio: plan.aspectRatio, model: plan.model, fallbackModels: plan.fallbackModels, backend: plan.backend, runDir: ctx.spec.run_dir },
      };
    }),
  };
}

/**
 * The feedback through the video director, clip by clip (revision traces in
 * stage_4_video_prompt/review_NN/clip_NNN/), then --num-video-attempts new attempts per clip with
 * the revised prompt, numbered after the ones already made. The video plan is extended (attempt
 * count and seeds) before any job exists, so the attempts' keys and seeds are the plan's own.
 */
async function planVideoRegeneration(ctx: StageContext, round: number, feedback: string | null) {
  if (!feedback) throw new LoopError('USAGE', 'regenerating videos needs feedback (loop review --regenerate videos --feedback "…")');
  const o = ctx.spec.options;
  const { VIDEO_PLAN_FILE, VideoPlanSchema, MAX_ATTEMPTS } = await import('../src/video/generate.js');
  const { VideoPromptTraceFileSchema, VIDEO_PROMPT_TRACE_FILE } = await import('../src/video-prompt/storyboard-mode.js');
  const { enhanceVideoPrompt } = await import('../src/video-prompt/enhance.js');
  const genDir = join(ctx.runDir, STAGE_DIRS['video-generation']);
  const plan = VideoPlanSchema.parse(JSON.parse(await readFile(join(genDir, VIDEO_PLAN_FILE), 'utf8')));
  const k = o.num_video_attempts;
  if (plan.attempts + k > MAX_ATTEMPTS) throw new LoopError('USAGE', `${plan.attempts} attempts a clip made already; ${k} more would pass the limit of ${MAX_ATTEMPTS}: continue or stop`);
  const traceFile = join(ctx.runDir, STAGE_DIRS['video-prompt'], VIDEO_PROMPT_TRACE_FILE);
  const trace = VideoPromptTraceFileSchema.parse(JSON.parse(await readFile(traceFile, 'utf8')));
  const ledger = new CostLedger();
  const reviewDir = join(ctx.runDir, STAGE_DIRS['video-prompt'], `review_${String(round).padStart(2, '0')}`);
  const revised = new Map<number, string>();
  const notes: string[] = [];
  for (const c of plan.clips) {
    const t = trace.clips.find((x) => x.clip === c.clip);
    const s = await enhanceVideoPrompt({
      prompt: t?.original_prompt ?? c.prompt,
      runDir: join(reviewDir, `clip_${String(c.clip).padStart(3, '0')}`),
      maxIterations: o.max_iterations_video,
      threshold: o.threshold_video,
      backend: o.agent_backend === 'openai' ? 'openai' : 'offline',
      creativeModel: o.creative_model,
      critiqueModel: o.critique_model,
      seed: ((o.seed ?? 0) + c.clip - 1 + round) % (MAX_SEED + 1),
      clip: t?.context,
      ledger,
      signal: ctx.signal,
      env: loadEnv(),
      stage: 'video_prompt_review',
      feedback: { text: feedback, revising: c.prompt },
    });
    if (!s.final_prompt) throw new Error(`[internal] the video prompt revision of clip ${c.clip} gave no prompt: ${s.error?.message ?? s.stop_reason}`);
    revised.set(c.clip, s.final_prompt);
    for (const n of s.iterations.flatMap((i) => i.agent1_notes ?? []).filter((n) => n.startsWith('feedback '))) if (!notes.includes(n)) notes.push(n);
  }
  const { seeds } = variationSeeds(k, o.seed === undefined ? undefined : (o.seed + plan.attempts) % (MAX_SEED + 1));
  const first = plan.attempts + 1;
  const children = plan.clips.flatMap((c) =>
    seeds.map((seed, i) => {
      const attempt = first + i;
      return {
        key: `c${String(c.clip).padStart(3, '0')}-a${attempt}`,
        name: jobName(ctx.spec, `video-generation review ${round} clip ${c.clip} attempt ${attempt} seed ${seed}`),
        // the revised prompt travels with the job: the plan keeps each clip's first prompt
        data: { kind: 'attempt', runDir: ctx.spec.run_dir, clip: c.clip, attempt, prompt: revised.get(c.clip)! },
      };
    }),
  );
  const prompt = [...new Set(revised.values())].length === 1 ? [...revised.values()][0]! : [...revised.entries()].map(([c, p]) => `clip ${c}: ${p}`).join('\n');
  return { prompt, notes, cost_usd: ledger.total(), children, video_plan: { attempts: plan.attempts + k, seeds: [...plan.seeds, ...seeds] } };
}
