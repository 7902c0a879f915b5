import { QueueEvents } from 'bullmq';
import { loadEnv } from '../src/config/env.js';
import { LoopError } from '../src/errors.js';
import { createConnection, safeRedisUrl } from './connection.js';
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
  opts: { tickMs?: number; signal?: AbortSignal; outageMs?: number; onRedis?: (state: 'down' | 'back') => void } = {},
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
  const outageMs = opts.outageMs ?? redisOutageMs();
  let downSince: number | undefined;
  try {
    for (;;) {
      let view: RunView;
      try {
        view = await withTimeout(inspectRun(ctx, spec), Math.min(outageMs, 10_000));
        if (downSince !== undefined) opts.onRedis?.('back');
        downSince = undefined;
      } catch (e) {
        if (e instanceof LoopError && e.kind !== 'REDIS') throw e;
        // Redis away: ride through a short outage (a restart, a blip), give up with one line after the bound
        if (downSince === undefined) {
          downSince = Date.now();
          opts.onRedis?.('down');
        }
        if (Date.now() - downSince >= outageMs)
          throw new LoopError('REDIS', `lost Redis at REDIS_URL=${safeRedisUrl(ctx.redisUrl)} for ${Math.round(outageMs / 1000)} s (LOOP_REDIS_OUTAGE_S); the run's files are in place: follow it again with \`loop tail ${spec.run_id}\` when Redis is back`);
        if (opts.signal?.aborted) throw e;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
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
    // bounded: with Redis gone a graceful close never finishes
    await Promise.race([Promise.all(events.map((e) => e.close())).catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    for (const c of connections) c.disconnect();
  }
}

/** How long run/tail wait for a Redis that went away (LOOP_REDIS_OUTAGE_S, default 30 s; validated at start). */
export function redisOutageMs(): number {
  return loadEnv().LOOP_REDIS_OUTAGE_S * 1000;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
