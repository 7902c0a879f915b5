import { join } from 'node:path';
import { DelayedError, Job, UnrecoverableError, WaitingChildrenError, type Processor, type Queue } from 'bullmq';
import type { ZodType } from 'zod';
import { loadOrDrawPlan, revisionKey } from './fan-out-plan.js';
import { parseFailure, toJobError, type FailureKind } from './job-errors.js';
import type { Logger } from '../src/lib/log.js';
import { writeCheckpoint, writeRunRecords } from '../src/workflow/records.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import { gateOf } from '../src/workflow/review.js';
import { STAGE_DIRS } from '../src/workflow/stages.js';
import { childJobId, STAGE_JOB_OPTS, stageJobId, stagesOf } from '../queues/runs.js';
import type { QueueName } from '../queues/names.js';
import {
  StageJobSchema,
  StageResultSchema,
  StageSummarySchema,
  type BuiltStage,
  type RunSpec,
  type StageJob,
  type StageOutputsInput,
  type StageResult,
  type StageSummary,
} from '../queues/payloads.js';

/**
 * The stage contract. A stage module says how to fan out and how to run; the wrapper here does
 * the rest: validates the payload, finds the previous stage's result by its job key, saves the
 * fan-out plan before any child exists, adds the children, waits for them, reads each child's
 * outcome by its job key, fills in the summary's common fields (stage, folder, times, cost),
 * checkpoints, and at the root writes the run's records.
 */

/** One group of fan-out children: every child of a kind runs on one queue and returns one schema. */
export interface FanOutGroup {
  kind: string;
  queue: QueueName;
  /** The job name (what Bull Board shows); defaults to the kind. Jobs are routed by `data.kind`, never by name. */
  name?: string;
  schema: ZodType;
  /** `name`: this child's job name for people (Bull Board), e.g. `<run-id> image-generation variation 3 seed 12345`. */
  children: { key: string; data: Record<string, unknown>; name?: string }[];
}

/** What a group's children came to, by child key: values parsed with the group's schema. */
export interface GroupOutcome<T = unknown> {
  values: Map<string, T>;
  failures: Map<string, { kind: FailureKind; message: string }>;
}

export interface StageContext<P = unknown> {
  job: Job;
  spec: RunSpec;
  /** This process's absolute run directory (spec.run_dir resolved against its LOOP_OUTPUT_DIR). */
  runDir: string;
  /** That LOOP_OUTPUT_DIR (the generation and score cache live under it). */
  outputRoot: string;
  /** Absolute folder of this stage; summaries name it relative to runDir. */
  stageDir: string;
  /** The fan-out plan, read back from the stage folder (see FanOut.planFile). */
  plan: P;
  /** Its revision: 0, or how many times it was drawn again after its upstream changed. */
  planRevision: number;
  /** Summaries of the stages before this one, first first. */
  previous: StageSummary[];
  /** Each fan-out group's outcome, by kind. */
  groups: Record<string, GroupOutcome>;
  /** Aborts when the job is cancelled or the worker shuts down: remote calls stop waiting. */
  signal: AbortSignal;
  progress(pct: number, message: string): Promise<void>;
  logger: Logger;
  device?: string;
}

export interface FanOut<P> {
  /** File in the stage folder the plan is saved to before any child is added. */
  planFile: string;
  planSchema: ZodType<P>;
  /** Decide the plan (seeds included); called once: a re-run after a crash reads the saved one. */
  draw(ctx: StageContext<undefined>): Promise<P>;
  /**
   * What the plan is drawn from (upstream outputs, by content). When a re-run of the stage finds it
   * changed, the saved plan is stale and is drawn again under a new revision (fan-out-plan.ts).
   * Without it a saved plan is always reused.
   */
  basis?(ctx: StageContext<undefined>): Promise<unknown>;
  /**
   * The children, phase by phase: phase n+1's groups are decided from the plan and the outcomes of
   * the earlier phases (ctx.groups), e.g. frames first, then picking the best candidate of each.
   * Deterministic: every later step recomputes them to find the children by their keys.
   */
  phases: ((ctx: StageContext<P>) => FanOutGroup[])[];
}

/** What a stage's run returns; the wrapper adds stage, dir, times and duration. */
export interface StageOutput<S extends BuiltStage> {
  outputs: StageOutputsInput<S>;
  scores?: Record<string, unknown>;
  /** Files relative to the run directory, hashed into the checkpoint. */
  artifacts: string[];
  cost_usd?: number;
  partial?: boolean;
  /** When the stage's work began, if earlier than this step (default: the fan-out or this attempt). */
  started_at?: string;
}

export interface StageDefinition<S extends BuiltStage = BuiltStage, P = unknown> {
  stage: S;
  fanOut?: FanOut<P>;
  run(ctx: StageContext<P>): Promise<StageOutput<S>>;
}

/** A definition of any stage and plan type, as the registry holds them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStageDefinition = StageDefinition<any, any>;

export function nextStageOf(spec: RunSpec, stage: QueueName): QueueName | null {
  const stages = stagesOf(spec.workflow);
  return stages[stages.indexOf(stage) + 1] ?? null;
}

const PENDING = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);
/** How often a stage looks again at children that BullMQ no longer tracks for it (retried ones). */
const RECHECK_MS = 1000;

/**
 * A job's outcome read by its key. BullMQ's own parent bookkeeping does not cover a child retried
 * after it failed (its result never reaches the parent), so outcomes are always read here.
 */
async function outcomeOf(queue: Queue, id: string): Promise<{ state: 'pending' | 'completed' | 'failed' | 'missing'; value?: unknown; reason?: string }> {
  const job = await Job.fromId(queue, id);
  if (!job) return { state: 'missing' };
  const state = await job.getState();
  if (state === 'completed') return { state, value: job.returnvalue };
  if (state === 'failed') return { state, reason: job.failedReason };
  return { state: PENDING.has(state) ? 'pending' : 'missing' };
}

export interface StageEnv {
  queue(name: QueueName): Queue;
  logger: Logger;
  device?: string;
  /** This process's LOOP_OUTPUT_DIR: relative run directories resolve against it. */
  outputRoot: string;
}

export function makeStageProcessor(def: AnyStageDefinition, env: StageEnv) {
  return async (job: Job, token?: string, signal: AbortSignal = new AbortController().signal): Promise<StageResult> => {
    const parsed = StageJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`[internal] invalid stage job payload: ${parsed.error.issues[0]?.message}`);
    const data = parsed.data;
    const { spec, stage } = data;
    const runDir = resolveRunDir(spec.run_dir, env.outputRoot);
    const ctx: StageContext = {
      job,
      spec,
      runDir,
      outputRoot: env.outputRoot,
      stageDir: join(runDir, STAGE_DIRS[stage]),
      plan: undefined,
      planRevision: 0,
      previous: [],
      groups: {},
      signal,
      progress: (pct, message) => job.updateProgress({ pct: Math.round(pct), message }),
      logger: env.logger,
      device: env.device,
    };
    const wait = async (): Promise<never> => {
      // children BullMQ still tracks park the job without holding a worker; others are re-checked
      if (token && (await job.moveToWaitingChildren(token))) throw new WaitingChildrenError();
      await job.moveToDelayed(Date.now() + RECHECK_MS, token);
      throw new DelayedError();
    };
    try {
      const prev = await previousStages(data, env);
      if (prev === 'pending') return await wait();
      ctx.previous = prev;

      let startedAt = data.started_at ?? new Date().toISOString();
      if (def.fanOut) {
        const loaded = await loadOrDrawPlan(def.fanOut, ctx);
        ctx.plan = loaded.plan;
        const revision = (ctx.planRevision = loaded.revision);
        // a new revision's children are all still to add
        let added = (data.plan_revision ?? 0) === revision ? data.phases_added : 0;
        for (const [p, phase] of def.fanOut.phases.entries()) {
          const groups = phase(ctx);
          if (p >= added) {
            if (p === 0) startedAt = new Date().toISOString();
            await addChildren(job, spec, groups, env, revision);
            added = p + 1;
            const next: StageJob = { ...data, step: 'collect', phases_added: added, plan_revision: revision, started_at: startedAt };
            await job.updateData(next);
          }
          const outcomes = await collectGroups(spec, groups, env, revision);
          if (outcomes === 'pending') return await wait();
          Object.assign(ctx.groups, outcomes);
        }
      } else if (token && (await job.moveToWaitingChildren(token))) {
        throw new WaitingChildrenError();
      }

      const runStage = async (): Promise<StageSummary> => {
        const out = await def.run(ctx);
        const ended = new Date().toISOString();
        const started = out.started_at ?? startedAt;
        return StageSummarySchema.parse({
          stage: def.stage,
          dir: STAGE_DIRS[def.stage as BuiltStage],
          partial: out.partial ?? false,
          cost_usd: out.cost_usd ?? 0,
          started_at: started,
          ended_at: ended,
          duration_ms: Math.max(0, Date.parse(ended) - Date.parse(started)),
          outputs: out.outputs,
          scores: out.scores ?? {},
          artifacts: out.artifacts,
        });
      };
      const gate = spec.options.review ? gateOf(stage) : null;
      let summary: StageSummary;
      if (!gate) summary = await runStage();
      else {
        // a gate already asking keeps the summary it asks about: the stage's work is not redone
        const asking = (job.data as { review?: unknown }).review !== undefined;
        const { reviewGate } = await import('./review.js');
        summary = await reviewGate(job, token, ctx, gate, asking ? null : await runStage(), {
          waitForChildren: wait,
          addChildren: (groups) => addChildren(job, spec, groups, env, ctx.planRevision),
          collect: (groups) => collectGroups(spec, groups, env, ctx.planRevision),
          rerun: runStage,
          parseSummary: (s) => StageSummarySchema.parse(s),
        });
      }
      const stages = [...ctx.previous, summary];
      const isRoot = !job.parentKey;
      const status = isRoot ? (stages.some((s) => s.partial) ? 'partial' : 'completed') : 'running';
      await writeCheckpoint(runDir, spec, stages, status, nextStageOf(spec, stage));
      if (isRoot) await writeRunRecords(runDir, spec, stages, status);
      return { run_id: spec.run_id, stages };
    } catch (e) {
      if (e instanceof WaitingChildrenError || e instanceof DelayedError) throw e;
      throw toJobError(e, signal);
    }
  };
}

/** The stages before this one: the previous stage's job, read by its key, or what the flow carries. */
async function previousStages(data: StageJob, env: StageEnv): Promise<StageSummary[] | 'pending'> {
  const stages = stagesOf(data.spec.workflow);
  const i = stages.indexOf(data.stage);
  const first = data.spec.start_stage ? stages.indexOf(data.spec.start_stage) : 0;
  if (i <= first) return data.carry;
  const prev = stages[i - 1]!;
  const o = await outcomeOf(env.queue(prev), stageJobId(data.spec, prev));
  if (o.state === 'pending') return 'pending';
  if (o.state !== 'completed') throw new Error(`[internal] the ${prev} stage before this one is ${o.state}${o.reason ? `: ${o.reason}` : ''}`);
  return StageResultSchema.parse(o.value).stages;
}

async function addChildren(job: Job, spec: RunSpec, groups: FanOutGroup[], env: StageEnv, revision: number): Promise<void> {
  for (const g of groups) {
    // deterministic ids: adding them again after a crash re-adds nothing
    await env.queue(g.queue).addBulk(
      g.children.map((c) => ({
        name: c.name ?? g.name ?? g.kind,
        data: c.data,
        opts: {
          ...STAGE_JOB_OPTS,
          jobId: childJobId(spec, g.kind, revisionKey(c.key, revision)),
          parent: { id: job.id!, queue: job.queueQualifiedName },
          // a child that fails for good is recorded; the stage goes on with the rest
          ignoreDependencyOnFailure: true,
        },
      })),
    );
  }
}

async function collectGroups(spec: RunSpec, groups: FanOutGroup[], env: StageEnv, revision: number): Promise<Record<string, GroupOutcome> | 'pending'> {
  const out: Record<string, GroupOutcome> = {};
  for (const g of groups) {
    const q = env.queue(g.queue);
    const idOf = (key: string) => childJobId(spec, g.kind, revisionKey(key, revision));
    const outcomes = await Promise.all(g.children.map((c) => outcomeOf(q, idOf(c.key))));
    if (outcomes.some((o) => o.state === 'pending')) return 'pending';
    const r: GroupOutcome = { values: new Map(), failures: new Map() };
    g.children.forEach((c, i) => {
      const o = outcomes[i]!;
      if (o.state === 'completed') r.values.set(c.key, g.schema.parse(o.value));
      else if (o.state === 'failed') r.failures.set(c.key, parseFailure(o.reason));
      else r.failures.set(c.key, { kind: 'internal', message: `job ${idOf(c.key)} is no longer in Redis` });
    });
    out[g.kind] = r;
  }
  return out;
}

/**
 * A job that finished again after its parent had finished (a retried child: `loop retry`, or the
 * board's retry button) re-runs that parent, so the stages after it see the new result. BullMQ
 * does not do this on its own: a retried child's result never reaches a finished parent.
 */
export async function rerunFinishedParent(job: Job, queueOf: (name: string) => Queue | undefined, logger: Logger): Promise<void> {
  // parentKey is "<prefix>:<queue>:<id>"; queue names and job ids hold no colon
  const parts = job.parentKey?.split(':') ?? [];
  const [name, id] = [parts.at(-2) ?? '', parts.at(-1) ?? ''];
  const q = queueOf(name);
  if (!q || !id) return;
  const parent = await Job.fromId(q, id);
  if (!parent) return;
  const state = await parent.getState();
  if (state !== 'completed' && state !== 'failed') return;
  try {
    await parent.retry(state, { resetAttemptsMade: true });
    logger.info(`[${name}] ${parent.id} re-runs: ${job.id} finished after it`);
  } catch {
    // another child got there first (the parent is already waiting or running)
  }
}

/** When the root (or any stage whose failure ends the run) fails for good, record the failed run. */
export async function recordFailedRun(job: Job, err: Error, env: StageEnv): Promise<void> {
  const parsed = StageJobSchema.safeParse(job.data);
  if (!parsed.success) return;
  const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
  // A parent failed because its child stage failed: the child already recorded the run.
  if (!final || /^child .* failed/.test(err.message)) return;
  const { spec, stage } = parsed.data;
  const previous = await previousStages(parsed.data, env).catch(() => parsed.data.carry);
  const stages = previous === 'pending' ? parsed.data.carry : previous;
  const message = `stage ${stage} failed: ${err.message.split('\n')[0]}`;
  const runDir = resolveRunDir(spec.run_dir, env.outputRoot);
  await writeCheckpoint(runDir, spec, stages, 'failed', stage, message);
  await writeRunRecords(runDir, spec, stages, 'failed', message);
}
