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
  const failed = view.jobs.filter((j) => j.state === 'failed' && !isPropagatedFailure(j.failedReason)).sort((a, b) => b.depth - a.depth);
  for (const j of failed) {
    const job = await Job.fromId(ctx.queue(j.queue as QueueName), j.id);
    await job?.retry('failed', { resetAttemptsMade: true });
  }
  return failed;
}
