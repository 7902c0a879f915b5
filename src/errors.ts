/**
 * Errors a user can cause end as one clear line and a distinct exit code (see cli/main.ts).
 * Anything else is a bug and exits INTERNAL.
 */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2, // unknown flag, bad flag value
  INPUT: 3, // missing/unreadable/empty/binary prompt or input file
  CONFIG: 4, // missing key, bad env value, bad config file
  REMOTE: 5, // a remote service failed after retries
  REDIS: 6, // Redis unreachable
  PARTIAL: 7, // some items (variations, jobs) failed, the rest were kept
  FAILED: 8, // a run ended failed
  NOT_FOUND: 9, // unknown run id, job, model
  MODEL: 10, // model files missing or failing verification
  CHECKPOINT: 11, // a checkpoint refused: tampered, truncated, traversing, moved
  INTERRUPTED: 130, // SIGINT
} as const;

export type ExitCodeName = keyof typeof ExitCode;

export class LoopError extends Error {
  readonly exitCode: number;
  constructor(
    readonly kind: ExitCodeName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LoopError';
    this.exitCode = ExitCode[kind];
  }
}

export const usageError = (msg: string) => new LoopError('USAGE', msg);
export const inputError = (msg: string) => new LoopError('INPUT', msg);
export const configError = (msg: string) => new LoopError('CONFIG', msg);
export const remoteError = (msg: string, cause?: unknown) => new LoopError('REMOTE', msg, { cause });

export function isLoopError(e: unknown): e is LoopError {
  return e instanceof LoopError;
}

/** One line for the user, whatever was thrown. */
export function errorLine(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? String(e);
  return String(e);
}
