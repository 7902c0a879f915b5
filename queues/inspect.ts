import { FlowProducer, type Job, type JobNode } from 'bullmq';
import { LoopError } from '../src/errors.js';
import type { QueueContext } from './context.js';
import { StageResultSchema, type RunSpec, type StageSummary } from './payloads.js';
import { jobKind, rootOf } from './runs.js';

/** A run's jobs as read from Redis: the source of truth for tail/status (events can be missed). */
export interface JobView {
  queue: string;
  id: string;
  /** What the job is, stable for code: `stage`, or a fan-out kind (`variation`, `frame`, `pick`, `attempt`). */
  name: string;
  /** The BullMQ job name, for people (what Bull Board shows): `<run-id> image-generation variation 3 seed 12345`. */
  label: string;
  depth: number;
  state: string;
  attemptsMade: number;
  progress: unknown;
  processedOn?: number;
  finishedOn?: number;
  durationMs?: number;
  failedReason?: string;
  returnvalue?: unknown;
}

export type RunOutcome = 'waiting' | 'running' | 'completed' | 'partial' | 'failed';

export interface RunView {
  spec: RunSpec;
  outcome: RunOutcome;
  jobs: JobView[];
  stages: StageSummary[]; // stages completed so far, from the jobs' return values
  costUsd: number;
  error?: string;
}

async function viewJob(job: Job, depth: number): Promise<JobView> {
  const state = await job.getState();
  return {
    queue: job.queueName,
    id: job.id ?? '?',
    name: jobKind(job),
    label: job.name,
    depth,
    state,
    attemptsMade: job.attemptsMade,
    progress: job.progress,
    processedOn: job.processedOn,
    finishedOn: job.finishedOn,
    durationMs: job.processedOn && job.finishedOn ? job.finishedOn - job.processedOn : undefined,
    failedReason: job.failedReason || undefined,
    returnvalue: job.returnvalue ?? undefined,
  };
}

async function walk(node: JobNode, depth: number, out: JobView[], seen = new Set<string>()): Promise<void> {
  // a retried fan-out child can be listed twice by BullMQ (as ignored and as processed)
  const key = `${node.job.queueName}:${node.job.id}`;
  if (seen.has(key)) return;
  seen.add(key);
  out.push(await viewJob(node.job, depth));
  for (const c of node.children ?? []) await walk(c, depth + 1, out, seen);
}

const PENDING = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);

export async function inspectRun(ctx: QueueContext, spec: RunSpec): Promise<RunView> {
  const root = rootOf(spec);
  const producer = new FlowProducer({ connection: ctx.connection, prefix: ctx.prefix });
  const jobs: JobView[] = [];
  try {
    const tree = await producer.getFlow({ id: root.id, queueName: root.queue, prefix: ctx.prefix, depth: 8, maxChildren: 200 });
    if (tree?.job) await walk(tree, 0, jobs);
  } finally {
    await producer.close();
  }
  // Completed stage jobs return every stage summary so far; the deepest view wins per stage.
  const byStage = new Map<string, StageSummary>();
  for (const j of [...jobs].reverse()) {
    const r = StageResultSchema.safeParse(j.returnvalue);
    if (j.state === 'completed' && r.success) for (const s of r.data.stages) byStage.set(s.stage, s);
  }
  const stages = [...byStage.values()];
  const rootJob = jobs[0];
  if (!rootJob)
    throw new LoopError('NOT_FOUND', `run ${spec.run_id} has no jobs in Redis any more (expired or removed); its files are in ${spec.run_dir}`);
  // a finished root with a job still pending is a run being retried: it is running again
  // A job that finished after its finished parent (a retried child) is about to re-run that parent
  // (workers/stage.ts rerunFinishedParent): until it has, the run is not over.
  const parentOf = (i: number) => {
    for (let k = i - 1; k >= 0; k--) if (jobs[k]!.depth < jobs[i]!.depth) return jobs[k];
    return undefined;
  };
  const rerunDue = jobs.some((j, i) => {
    const p = j.depth > 0 ? parentOf(i) : undefined;
    return !!p && j.state === 'completed' && (p.state === 'completed' || p.state === 'failed') && (j.finishedOn ?? 0) > (p.finishedOn ?? 0);
  });
  const pending = rerunDue || jobs.some((j) => PENDING.has(j.state));
  let outcome: RunOutcome = 'waiting';
  if (rootJob.state === 'completed' && !pending) outcome = stages.some((s) => s.partial) ? 'partial' : 'completed';
  else if (rootJob.state === 'failed' && !pending) outcome = 'failed';
  else if (jobs.some((j) => j.state === 'active' || j.state === 'completed' || j.state === 'failed' || j.attemptsMade > 0)) outcome = 'running';
  // the deepest failed job is the cause; its ancestors only say "child … failed"
  const failed = jobs.filter((j) => j.state === 'failed').sort((a, b) => b.depth - a.depth)[0];
  return {
    spec,
    outcome,
    jobs,
    stages,
    costUsd: Math.round(stages.reduce((s, x) => s + x.cost_usd, 0) * 1e6) / 1e6,
    error: failed?.failedReason,
  };
}

export const isFinal = (o: RunOutcome) => o === 'completed' || o === 'partial' || o === 'failed';

/** A job as `--json` prints it: the files' snake_case names (`attempts_made`, `duration_ms`, …). */
export function jobToJson(j: JobView) {
  return {
    queue: j.queue,
    id: j.id,
    name: j.name,
    label: j.label,
    depth: j.depth,
    state: j.state,
    attempts_made: j.attemptsMade,
    progress: j.progress ?? null,
    processed_on: j.processedOn ?? null,
    finished_on: j.finishedOn ?? null,
    duration_ms: j.durationMs ?? null,
    failed_reason: j.failedReason ?? null,
    returnvalue: j.returnvalue ?? null,
  };
}

/**
 * A run view as `--json` prints it (run, tail, status): snake_case as in run_spec.json and the
 * stage summaries (`cost_usd`, `attempts_made`, `duration_ms`), so a script reads one set of names.
 */
export function viewToJson(view: RunView) {
  return {
    run_id: view.spec.run_id,
    outcome: view.outcome,
    cost_usd: view.costUsd,
    error: view.error ?? null,
    stages: view.stages,
    jobs: view.jobs.map(jobToJson),
    spec: view.spec,
  };
}
