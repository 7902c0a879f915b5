import { QueueEvents } from 'bullmq';
import { createConnection } from './connection.js';
import type { QueueContext } from './context.js';
import { inspectRun, isFinal, type RunView } from './inspect.js';
import type { RunSpec } from './payloads.js';
import { stagesOf } from './runs.js';

/**
 * Follow a run until it ends. Queue events make updates prompt, but events can be missed across
 * reconnects, so the jobs themselves are re-read on every event and on a steady tick: the end of
 * a run is always seen.
 */
export async function watchRun(
  ctx: QueueContext,
  spec: RunSpec,
  onView: (view: RunView) => void,
  opts: { tickMs?: number; signal?: AbortSignal } = {},
): Promise<RunView> {
  const events: QueueEvents[] = [];
  const connections: ReturnType<typeof createConnection>[] = [];
  let wake: (() => void) | undefined;
  const poke = () => wake?.();
  for (const q of stagesOf(spec.workflow)) {
    const connection = createConnection(ctx.redisUrl, { blocking: true });
    connections.push(connection);
    const qe = new QueueEvents(q, { connection, prefix: ctx.prefix });
    qe.on('error', () => {});
    for (const ev of ['active', 'progress', 'completed', 'failed', 'waiting-children', 'retries-exhausted'] as const) qe.on(ev, poke);
    events.push(qe);
  }
  try {
    for (;;) {
      const view = await inspectRun(ctx, spec);
      onView(view);
      if (isFinal(view.outcome) || opts.signal?.aborted) return view;
      await new Promise<void>((resolve) => {
        const done = () => {
          opts.signal?.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, opts.tickMs ?? 1000);
        wake = () => {
          clearTimeout(t);
          // coalesce bursts of events into one read
          setTimeout(done, 50);
        };
        opts.signal?.addEventListener('abort', done, { once: true });
      });
      wake = undefined;
    }
  } finally {
    await Promise.all(events.map((e) => e.close()));
    for (const c of connections) c.disconnect();
  }
}
