import { join } from 'node:path';
import { UnrecoverableError, WaitingChildrenError, type Job, type Processor, type Queue } from 'bullmq';
import { toJobError } from './job-errors.js';
import type { Logger } from '../src/lib/log.js';
import { writeCheckpoint, writeRunRecords } from '../src/workflow/records.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { STAGE_JOB_OPTS, stagesOf } from '../queues/runs.js';
import type { QueueName } from '../queues/names.js';
import { StageJobSchema, StageResultSchema, type RunSpec, type StageResult, type StageSummary } from '../queues/payloads.js';

/**
 * The shared shape of every stage processor: validate the payload, wait for children, call the
 * stage's domain code, checkpoint, and (at the root) write the run's summary. Stage modules stay
 * thin: they only say how to fan out and how to run.
 */
export interface StageContext {
  job: Job;
  spec: RunSpec;
  stageDir: string;
  /** What this stage decided when it fanned out (kept in the job's data across the wait). */
  plan?: Record<string, unknown>;
  /** Summaries of the stages before this one (passed forward by the child stage). */
  previous: StageSummary[];
  /** Return values of this stage's fan-out children, by job key. */
  fanValues: Record<string, unknown>;
  /** Fan-out children that failed for good (their failure did not stop this stage). */
  fanFailures: Record<string, string>;
  progress(pct: number, message: string): Promise<void>;
  logger: Logger;
  device?: string;
}

export interface FanOutChild {
  name: string;
  data: Record<string, unknown>;
  jobId: string;
}

export interface StageDefinition {
  /** Children to add at run time (e.g. one job per image variation); the stage then waits. */
  fanOut?(ctx: StageContext): Promise<{ queue: QueueName; children: FanOutChild[]; plan?: Record<string, unknown> }>;
  run(ctx: StageContext): Promise<StageSummary>;
}

/** Tagged with its kind, redacted, user errors unrecoverable: see job-errors.ts. */
export { toJobError } from './job-errors.js';

export function nextStageOf(spec: RunSpec, stage: QueueName): QueueName | null {
  const stages = stagesOf(spec.workflow);
  return stages[stages.indexOf(stage) + 1] ?? null;
}

/** Split children's return values into the previous stage's result and fan-out values. */
function splitChildren(values: Record<string, unknown>): { previous: StageSummary[]; fanValues: Record<string, unknown> } {
  let previous: StageSummary[] = [];
  const fanValues: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(values)) {
    const r = StageResultSchema.safeParse(v);
    if (r.success) previous = r.data.stages;
    else fanValues[key] = v;
  }
  return { previous, fanValues };
}

async function readChildren(job: Job, ctx: StageContext): Promise<void> {
  Object.assign(ctx, splitChildren(await job.getChildrenValues()));
}

export function makeStageProcessor(
  def: StageDefinition,
  env: { queue(name: QueueName): Queue; logger: Logger; device?: string },
): Processor {
  return async (job: Job, token?: string) => {
    const parsed = StageJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid stage job payload: ${parsed.error.issues[0]?.message}`);
    const data = parsed.data;
    const { spec, stage } = data;

    const ctx: StageContext = {
      job,
      spec,
      stageDir: join(spec.run_dir, STAGE_DIRS[stage]),
      plan: data.plan,
      previous: [],
      fanValues: {},
      fanFailures: {},
      progress: (pct, message) => job.updateProgress({ pct: Math.round(pct), message }),
      logger: env.logger,
      device: env.device,
    };

    if (data.step === 'start' && def.fanOut) {
      await readChildren(job, ctx); // the previous stage's result decides what to fan out
      let fanned: Awaited<ReturnType<NonNullable<StageDefinition['fanOut']>>>;
      try {
        fanned = await def.fanOut(ctx);
      } catch (e) {
        throw toJobError(e);
      }
      const { queue, children, plan } = fanned;
      const q = env.queue(queue);
      // Deterministic job ids make this idempotent: a re-run after a crash re-adds nothing.
      await q.addBulk(
        children.map((c) => ({
          name: c.name,
          data: c.data,
          opts: {
            ...STAGE_JOB_OPTS,
            jobId: c.jobId,
            parent: { id: job.id!, queue: job.queueQualifiedName },
            // a variation that fails for good is recorded; the stage goes on with the rest
            ignoreDependencyOnFailure: true,
          },
        })),
      );
      await job.updateData({ ...data, step: 'collect', plan });
      ctx.plan = plan;
    }

    // Wait while children are pending: fan-out children, or a retried child stage (`loop retry`
    // re-queues a failed child and then its parent; the parent parks here until the child is done).
    if (token && (await job.moveToWaitingChildren(token))) throw new WaitingChildrenError();

    await readChildren(job, ctx);
    ctx.fanFailures = await job.getIgnoredChildrenFailures();

    let summary: StageSummary;
    try {
      summary = await def.run(ctx);
    } catch (e) {
      throw toJobError(e);
    }
    const stages = [...ctx.previous, summary];
    const next = nextStageOf(spec, stage);
    const isRoot = !job.parentKey;
    const status = isRoot ? (stages.some((s) => s.partial) ? 'partial' : 'completed') : 'running';
    await writeCheckpoint(spec, stages, status, next);
    if (isRoot) await writeRunRecords(spec, stages, status);
    const result: StageResult = { run_id: spec.run_id, stages };
    return result;
  };
}

/** When the root (or any stage whose failure ends the run) fails for good, record the failed run. */
export async function recordFailedRun(job: Job, err: Error): Promise<void> {
  const parsed = StageJobSchema.safeParse(job.data);
  if (!parsed.success) return;
  const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
  // A parent failed because its child stage failed: the child already recorded the run.
  if (!final || /^child .* failed/.test(err.message)) return;
  const { spec, stage } = parsed.data;
  const { previous } = splitChildren(await job.getChildrenValues().catch(() => ({})));
  const message = `stage ${stage} failed: ${err.message.split('\n')[0]}`;
  await writeCheckpoint(spec, previous, 'failed', stage, message);
  await writeRunRecords(spec, previous, 'failed', message);
}
