import { Job } from 'bullmq';
import { LoopError } from '../src/errors.js';
import { MAX_REGENERATIONS, ReviewAnswerSchema, ReviewStateSchema, REVIEW_GATES, type ReviewAnswer, type ReviewGate, type ReviewState } from '../src/workflow/review.js';
import type { Stage } from '../src/workflow/stages.js';
import type { QueueContext } from './context.js';
import type { RunSpec } from './payloads.js';
import { stageJobId, stagesOf } from './runs.js';

/**
 * Review gates seen from outside the worker (`loop review`, `loop run --interactive`): a gate is
 * the gated stage's job while its data holds a review state with no answer and nothing being
 * regenerated. Answering writes the answer into that job's data and promotes the delayed job, so
 * the worker that takes it next goes on at once.
 */
export interface OpenGate {
  stage: Stage;
  gate: ReviewGate;
  state: ReviewState;
  job: Job;
}

/** The gate a run waits at now, if any. */
export async function openGate(ctx: QueueContext, spec: RunSpec): Promise<OpenGate | null> {
  for (const [stage, gate] of Object.entries(REVIEW_GATES) as [Stage, ReviewGate][]) {
    if (!stagesOf(spec.workflow).includes(stage)) continue;
    const job = await Job.fromId(ctx.queue(stage), stageJobId(spec, stage));
    const st = ReviewStateSchema.safeParse((job?.data as { review?: unknown } | undefined)?.review);
    if (!job || !st.success || st.data.answer || st.data.regen) continue;
    const state = await job.getState();
    if (state === 'delayed' || state === 'active' || state === 'waiting' || state === 'prioritized') return { stage, gate, state: st.data, job };
  }
  return null;
}

export async function answerGate(ctx: QueueContext, spec: RunSpec, answer: Omit<ReviewAnswer, 'at'>): Promise<OpenGate> {
  const open = await openGate(ctx, spec);
  if (!open) throw new LoopError('USAGE', `run ${spec.run_id} is not waiting at a review gate${spec.options.review ? '' : ' (it was not started with --review or --interactive)'}`);
  if (answer.action === 'regenerate') {
    if (!answer.feedback) throw new LoopError('USAGE', '--regenerate needs --feedback "what to change"');
    if (open.state.round >= MAX_REGENERATIONS) throw new LoopError('USAGE', `the ${open.gate} were regenerated ${MAX_REGENERATIONS} times already: --continue or --stop`);
  }
  const a = ReviewAnswerSchema.parse({ ...answer, at: new Date().toISOString() });
  // re-read right before writing: the worker may have moved on (a timeout, another reviewer)
  const fresh = await Job.fromId(ctx.queue(open.stage), open.job.id!);
  const st = ReviewStateSchema.safeParse((fresh?.data as { review?: unknown } | undefined)?.review);
  if (!fresh || !st.success || st.data.answer || st.data.regen || st.data.asked_at !== open.state.asked_at)
    throw new LoopError('USAGE', `the ${open.gate} review of run ${spec.run_id} was answered meanwhile`);
  await fresh.updateData({ ...(fresh.data as object), review: { ...st.data, answer: a } });
  await fresh.promote().catch(() => {}); // not delayed (being looked at now): it sees the answer next
  return { ...open, state: { ...st.data, answer: a } };
}
