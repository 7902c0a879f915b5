import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { FlowProducer, type FlowJob, type JobsOptions } from 'bullmq';
import { LoopError } from '../src/errors.js';
import { writeJsonAtomic } from '../src/runs/atomic.js';
import type { QueueContext } from './context.js';
import { WORKFLOW_STAGES, WORKFLOWS, type QueueName, type Workflow } from './names.js';
import { writeCheckpoint } from '../src/workflow/records.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import { RunSpecSchema, type RunSpec, type StageJob, type StageSummary } from './payloads.js';

/**
 * A run is a BullMQ flow: the workflow's stages chain parent over child, so the first stage is the
 * deepest child and runs first, and the last stage is the root. Job ids derive from the run id,
 * which makes enqueueing idempotent and lets tail/status/retry find every job.
 */
export const runKey = (spec: Pick<RunSpec, 'run_id' | 'round'>) => (spec.round ? `${spec.run_id}.r${spec.round}` : spec.run_id);
export const stageJobId = (spec: Pick<RunSpec, 'run_id' | 'round'>, stage: QueueName) => `${runKey(spec)}.${stage}`;
/** A fan-out child's id: deterministic, so adding the children again after a crash adds nothing. */
export const childJobId = (spec: Pick<RunSpec, 'run_id' | 'round'>, kind: string, key: string) => `${runKey(spec)}.${kind}.${key}`;

/**
 * A job's name, for people (Bull Board lists jobs by it): `<run-id> <what>`, e.g.
 * `20250101_120000-ab12cd image-generation variation 3 seed 12345`, with ` round N` after a
 * resume or retry round. Nothing routes by it: workers route by `kind` in the job's data
 * (jobKind): `stage` for a stage job, the processor's name for a fan-out child (`variation`,
 * `frame`, `pick`, `attempt`).
 */
export const jobName = (spec: Pick<RunSpec, 'run_id' | 'round'>, what: string) => `${spec.run_id}${spec.round ? ` round ${spec.round}` : ''} ${what}`;

/** What a job is, for routing and readers: `kind` in its data, else (jobs enqueued before names were readable) its name. */
export function jobKind(job: { name: string; data?: unknown }): string {
  const k = (job.data as { kind?: unknown } | null | undefined)?.kind;
  return typeof k === 'string' && k ? k : job.name;
}

/**
 * Options of every job (stages and their fan-out children): transient failures retry with
 * exponential backoff and jitter; user errors fail at once (UnrecoverableError).
 */
export const STAGE_JOB_OPTS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2000, jitter: 0.5 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};
const RUN_RECORD_TTL_S = 30 * 24 * 3600;

export function newRunId(runDir: string): string {
  return `${basename(runDir).replace(/[^A-Za-z0-9_-]/g, '')}-${randomBytes(3).toString('hex')}`;
}

export function stagesOf(workflow: Workflow): QueueName[] {
  const stages = WORKFLOW_STAGES[workflow];
  if (!stages)
    throw new LoopError(
      'USAGE',
      `workflow "${workflow}" is not available yet; available: ${WORKFLOWS.filter((w) => WORKFLOW_STAGES[w]).join(', ')}`,
    );
  return stages;
}

/** The stages of this round's flow: the workflow's, from `start_stage` on (a resume skips the done ones). */
export function flowStages(spec: Pick<RunSpec, 'workflow' | 'start_stage'>): QueueName[] {
  const stages = stagesOf(spec.workflow);
  const from = spec.start_stage ? stages.indexOf(spec.start_stage) : 0;
  if (from < 0) throw new LoopError('USAGE', `stage ${spec.start_stage} is not part of the ${spec.workflow} workflow`);
  return stages.slice(from);
}

export function rootOf(spec: RunSpec): { queue: QueueName; id: string } {
  const stages = stagesOf(spec.workflow);
  const last = stages[stages.length - 1]!;
  return { queue: last, id: stageJobId(spec, last) };
}

/** The flow's jobs, first stage deepest; `carry` goes to the first (the stages before this round). */
export function buildFlow(spec: RunSpec, carry: StageSummary[] = []): FlowJob {
  let child: FlowJob | undefined;
  for (const stage of flowStages(spec)) {
    const data: StageJob = { kind: 'stage', stage, spec, step: 'start', phases_added: 0, carry: child ? [] : carry };
    const node: FlowJob = {
      name: jobName(spec, `stage ${stage}`),
      queueName: stage,
      data,
      opts: { ...STAGE_JOB_OPTS, jobId: stageJobId(spec, stage) },
      children: child ? [{ ...child, opts: { ...child.opts, failParentOnFailure: true } }] : undefined,
    };
    child = node;
  }
  return child!;
}

/** Put a run on the queues and record it, so tail/status/retry can find it by id. */
export async function enqueueRun(
  ctx: QueueContext,
  spec: RunSpec,
  opts: { outputRoot: string; carry?: StageSummary[] },
): Promise<{ runId: string; root: { queue: QueueName; id: string } }> {
  RunSpecSchema.parse(spec);
  const runDir = resolveRunDir(spec.run_dir, opts.outputRoot);
  await writeJsonAtomic(join(runDir, 'run_spec.json'), spec);
  // a checkpoint from the start: a run killed before its first stage ends can be resumed too
  if (spec.round === 0) await writeCheckpoint(runDir, spec, [], 'running', flowStages(spec)[0]!);
  // run records live as long as their failed jobs do (STAGE_JOB_OPTS.removeOnFail)
  const now = Date.now();
  await ctx.connection.set(ctx.key('run', spec.run_id), JSON.stringify(spec), 'EX', RUN_RECORD_TTL_S);
  await ctx.connection.zadd(ctx.key('runs'), now, spec.run_id);
  await ctx.connection.zremrangebyscore(ctx.key('runs'), 0, now - RUN_RECORD_TTL_S * 1000);
  const producer = new FlowProducer({ connection: ctx.connection, prefix: ctx.prefix });
  try {
    await producer.add(buildFlow(spec, opts.carry));
  } finally {
    await producer.close();
  }
  return { runId: spec.run_id, root: rootOf(spec) };
}

export async function getRunSpec(ctx: QueueContext, runId: string): Promise<RunSpec> {
  const raw = await ctx.connection.get(ctx.key('run', runId));
  if (!raw) throw new LoopError('NOT_FOUND', `unknown run id "${runId}" (under prefix "${ctx.prefix}"); list runs with: loop status`);
  return RunSpecSchema.parse(JSON.parse(raw));
}

export async function listRuns(ctx: QueueContext, limit = 20): Promise<string[]> {
  return ctx.connection.zrevrange(ctx.key('runs'), 0, limit - 1);
}
