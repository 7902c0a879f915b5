import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LoopError } from '../src/errors.js';
import { CHECKPOINT_FILE, readCheckpoint, type Checkpoint } from '../src/workflow/records.js';
import { runDirRef } from '../src/workflow/run-paths.js';
import type { QueueContext } from './context.js';
import { inspectRun } from './inspect.js';
import type { RunSpec, StageSummary } from './payloads.js';
import { getRunSpec, stagesOf } from './runs.js';

export type ResumePlan =
  | { kind: 'finished'; checkpoint: Checkpoint }
  | { kind: 'resume'; checkpoint: Checkpoint; spec: RunSpec; carry: StageSummary[] };

/**
 * What `loop resume` enqueues for a checkpoint: after verifying it (schema, self-hash, every
 * artifact's sha256 and path; see readCheckpoint), a new round of the run's flow that starts at
 * the first stage not completed and carries the summaries of the stages before it. The run
 * directory is taken from where the checkpoint lies now, relative to this machine's output root.
 */
export async function planResume(path: string, outputRoot: string): Promise<ResumePlan> {
  const abs = resolve(path);
  const file = (await stat(abs).catch(() => null))?.isDirectory() ? join(abs, CHECKPOINT_FILE) : abs;
  const cp = await readCheckpoint(file);
  const stages = stagesOf(cp.spec.workflow);
  const done = new Set(cp.completed_stages);
  const from = stages.find((s) => !done.has(s));
  if (!from) return { kind: 'finished', checkpoint: cp };
  const carry = cp.stages.filter((s) => stages.indexOf(s.stage) < stages.indexOf(from));
  const spec: RunSpec = {
    ...cp.spec,
    run_dir: runDirRef(dirname(file), resolve(outputRoot)),
    round: cp.spec.round + 1,
    start_stage: from,
  };
  return { kind: 'resume', checkpoint: cp, spec, carry };
}

/** A run whose jobs are still on the queues must not get a second flow writing the same folder. */
export async function assertNotOnQueues(ctx: QueueContext, runId: string): Promise<void> {
  const current = await getRunSpec(ctx, runId).catch((e) => {
    if (e instanceof LoopError && e.kind === 'NOT_FOUND') return undefined;
    throw e;
  });
  if (!current) return;
  const view = await inspectRun(ctx, current).catch((e) => {
    if (e instanceof LoopError && e.kind === 'NOT_FOUND') return undefined;
    throw e;
  });
  if (view && (view.outcome === 'running' || view.outcome === 'waiting'))
    throw new LoopError('USAGE', `run ${runId} is still on the queues (${view.outcome}): follow it with \`loop tail ${runId}\`, or stop its workers before resuming`);
}
