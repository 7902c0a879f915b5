import { Job } from 'bullmq';
import type { QueueContext } from './context.js';
import { inspectRun, type JobView } from './inspect.js';
import type { QueueName } from './names.js';
import type { RunSpec } from './payloads.js';

/** BullMQ's reason for a parent failed by its child (failParentOnFailure): "child <key> failed". */
export const isPropagatedFailure = (reason: string | undefined) => /^child \S+ failed/.test(reason ?? '');

/**
 * `loop retry`: re-run what failed, then what follows it. Only jobs that failed for their own
 * reason are retried, deepest first; a stage that failed because its child stage did, and a
 * finished stage whose fan-out child is retried, re-run on their own once that child finishes
 * (workers/stage.ts rerunFinishedParent). The board's retry button takes the same path.
 */
export async function retryRun(ctx: QueueContext, spec: RunSpec): Promise<JobView[]> {
  const view = await inspectRun(ctx, spec);
  const own = (j: JobView) => j.state === 'failed' && !isPropagatedFailure(j.failedReason);
  // A failed job with a failed job under it (a stage that refused a storyboard missing a frame)
  // waits for that one: retrying both at once would let it run on the old result. It re-runs
  // when the job under it has finished, like any finished parent.
  const blocked = new Set<JobView>();
  view.jobs.forEach((j, i) => {
    if (!own(j)) return;
    for (let k = i - 1, depth = j.depth; k >= 0 && depth > 0; k--)
      if (view.jobs[k]!.depth < depth) {
        depth = view.jobs[k]!.depth;
        blocked.add(view.jobs[k]!); // an ancestor of a failed job (jobs are listed parent first)
      }
  });
  const failed = view.jobs.filter((j) => own(j) && !blocked.has(j)).sort((a, b) => b.depth - a.depth);
  for (const j of failed) {
    const job = await Job.fromId(ctx.queue(j.queue as QueueName), j.id);
    await job?.retry('failed', { resetAttemptsMade: true });
  }
  return failed;
}
