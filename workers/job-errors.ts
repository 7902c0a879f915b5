import { UnrecoverableError } from 'bullmq';
import { ZodError } from 'zod';
import { LoopError } from '../src/errors.js';
import { GenerationFailed } from '../src/generation/backend.js';
import { redact } from '../src/lib/secrets.js';

/**
 * How a job failure is stored and read back. BullMQ keeps only a message (failedReason), so the
 * kind travels as a `[kind] ` prefix: the parent of a fan-out reads it to tell an item the
 * provider could not make (the run goes on, partial) from a bug or a setup error (the run fails).
 *
 *   remote       provider failed after HTTP retries and fallbacks     retried (job attempts)
 *   interrupted  job cancelled / worker shutting down                 retried (job attempts)
 *   internal     TypeError, ENOSPC, schema error: a bug or the host   retried, then fails the run
 *   config|input|usage|not_found|model: the user must fix something   not retried (Unrecoverable)
 */
export type FailureKind = 'remote' | 'interrupted' | 'internal' | 'config' | 'input' | 'usage' | 'not_found' | 'model';

const USER_KINDS: Partial<Record<LoopError['kind'], FailureKind>> = {
  USAGE: 'usage',
  INPUT: 'input',
  CONFIG: 'config',
  NOT_FOUND: 'not_found',
  MODEL: 'model',
};

export function failureKindOf(e: unknown, signal?: AbortSignal): FailureKind {
  if (signal?.aborted) return 'interrupted';
  if (e instanceof GenerationFailed) return 'remote';
  if (e instanceof LoopError) return USER_KINDS[e.kind] ?? (e.kind === 'REMOTE' ? 'remote' : e.kind === 'INTERRUPTED' ? 'interrupted' : 'internal');
  if (e instanceof ZodError) return 'internal';
  return 'internal';
}

/** The error a processor throws: redacted (failedReason lands in Redis), kind-tagged, user errors unrecoverable. */
export function toJobError(e: unknown, signal?: AbortSignal): Error {
  if (e instanceof Error && /^\[[a-z_]+\] /.test(e.message)) return e; // already converted
  const kind = failureKindOf(e, signal);
  const raw = e instanceof ZodError ? `schema error: ${e.issues[0]?.path.join('.')} ${e.issues[0]?.message}` : e instanceof Error ? e.message : String(e);
  const detail = kind === 'internal' && e instanceof Error && !(e instanceof LoopError) ? `${e.name === 'Error' ? '' : `${e.name}: `}${raw}` : raw;
  const message = redact(`[${kind}] ${detail.split('\n')[0]}`);
  const unrecoverable = e instanceof UnrecoverableError || !['remote', 'interrupted', 'internal'].includes(kind);
  const out = unrecoverable ? new UnrecoverableError(message) : new Error(message);
  if (e instanceof Error && e.stack) out.stack = redact(`${message}\n${e.stack.split('\n').slice(1).join('\n')}`);
  return out;
}

/** Whether failed jobs keep their full stack: asked for (a worker's --verbose), else LOOP_VERBOSE=1. */
export const keepFullStacks = (verbose?: boolean) => verbose || process.env.LOOP_VERBOSE === '1';

/**
 * The error as BullMQ will store it: the stack it keeps (and Bull Board shows) is the one-line
 * message, not loop's or BullMQ's internal frames, unless verbose. BullMQ's own control-flow
 * errors (DelayedError, WaitingChildrenError, …) pass untouched.
 */
export function publicStack(e: unknown, verbose?: boolean): unknown {
  if (!(e instanceof Error) || keepFullStacks(verbose) || CONTROL_FLOW.has(e.name)) return e;
  e.stack = e.message.split('\n')[0] ?? e.message;
  return e;
}
const CONTROL_FLOW = new Set(['DelayedError', 'WaitingChildrenError', 'WaitingError', 'RateLimitError']);

/** Read back what toJobError stored. Reasons without a tag (BullMQ's own, e.g. stalled) are internal. */
export function parseFailure(reason: string | undefined): { kind: FailureKind; message: string } {
  const m = /^\[([a-z_]+)\] ([\s\S]*)$/.exec(reason ?? '');
  if (m) return { kind: m[1] as FailureKind, message: m[2]! };
  return { kind: 'internal', message: reason || 'unknown failure' };
}

/** Items that may fail without failing the run: the provider could not make them. */
export const isItemFailure = (kind: FailureKind) => kind === 'remote' || kind === 'interrupted';
