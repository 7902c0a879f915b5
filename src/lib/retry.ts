/**
 * One retry policy for every remote call: exponential backoff with full jitter, and a server's
 * retry-after (seconds or HTTP date) honoured when it gives one.
 */
export interface RetryPolicy {
  retries: number; // retries after the first attempt
  baseMs: number;
  maxMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { retries: 4, baseMs: 500, maxMs: 20_000 };

export interface RetryDecision {
  retry: boolean;
  /** Wait this long before the next attempt (from retry-after); otherwise backoff. */
  afterMs?: number;
}

export function backoffMs(attempt: number, p: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(p.maxMs, p.baseMs * 2 ** attempt);
  // full jitter, but never less than half the step, so retries do spread out
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** Parse a retry-after header value into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return Math.round(secs * 1000);
  const at = Date.parse(value);
  if (Number.isFinite(at)) return Math.max(0, at - now);
  return undefined;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  classify: (err: unknown) => RetryDecision,
  opts: { policy?: RetryPolicy; onRetry?: (err: unknown, attempt: number, waitMs: number) => void; signal?: AbortSignal } = {},
): Promise<T> {
  const policy = opts.policy ?? defaultRetryPolicy;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const d = classify(err);
      if (!d.retry || attempt >= policy.retries) throw err;
      const wait = d.afterMs ?? backoffMs(attempt, policy);
      opts.onRetry?.(err, attempt + 1, wait);
      await sleep(wait, opts.signal);
    }
  }
}
