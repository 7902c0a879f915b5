/**
 * One retry policy for every remote call: exponential backoff with full jitter, and a server's
 * retry-after (seconds or HTTP date) honoured when it gives one. Waits are interruptible (an
 * aborted signal rejects the sleep at once with the signal's reason) and bounded by an optional
 * deadline: a retry whose wait would end at or after it is not taken (see DeadlineExceeded).
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

/**
 * A retry was not taken because its wait would have ended at or after the caller's deadline.
 * `cause` is the error of the last attempt; the message says both.
 */
export class DeadlineExceeded extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeadlineExceeded';
  }
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
  opts: {
    policy?: RetryPolicy;
    onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
    /** Aborting it interrupts a wait (rejecting with its reason) and stops further attempts. */
    signal?: AbortSignal;
    /** Epoch ms: no wait is started that would end at or after it (DeadlineExceeded instead). */
    deadline?: number;
  } = {},
): Promise<T> {
  const policy = opts.policy ?? defaultRetryPolicy;
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw err; // never retry once the caller has given up
      const d = classify(err);
      if (!d.retry || attempt >= policy.retries) throw err;
      const wait = d.afterMs ?? backoffMs(attempt, policy);
      if (opts.deadline !== undefined && Date.now() + wait >= opts.deadline) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new DeadlineExceeded(`${msg}; not retried: the next try in ${wait} ms would pass the deadline`, { cause: err });
      }
      opts.onRetry?.(err, attempt + 1, wait);
      await sleep(wait, opts.signal);
    }
  }
}
