/**
 * Helpers every command uses. Keep this file light: it is imported at start-up, so nothing heavy
 * (bullmq, openai, sharp, onnxruntime) may be imported here or in any cli/commands/*.ts top level.
 */
import { InvalidArgumentError } from 'commander';
import type { ZodType } from 'zod';
import { ExitCode, LoopError, errorLine } from '../src/errors.js';
import { redact } from '../src/lib/secrets.js';

export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function floatArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${value}"`);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function choiceArg<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value))
      throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
}

/** A repeatable flag: `--x a --x b` → ['a', 'b']. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Validate the parsed options of a command with zod: the CLI boundary. */
export function parseOptions<T>(schema: ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const flag = i.path.length ? `--${String(i.path[0]).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}` : 'options';
    throw new LoopError('USAGE', `${flag}: ${i.message}`);
  }
  return r.data;
}

/** Print one line to stderr and set the exit code from a thrown error. */
export function reportError(e: unknown, verbose = false): number {
  if (e instanceof LoopError) {
    process.stderr.write(redact(`loop: error: ${e.message}`) + '\n');
    if (verbose && e.cause) process.stderr.write(redact(String((e.cause as Error)?.stack ?? e.cause)) + '\n');
    return e.exitCode;
  }
  process.stderr.write(redact(`loop: internal error: ${errorLine(e)} (run with --verbose for details)`) + '\n');
  if (verbose) process.stderr.write(redact(String((e as Error)?.stack ?? e)) + '\n');
  return ExitCode.INTERNAL;
}

/**
 * Wrap a command action: errors become one line and an exit code. The action returns its exit
 * code (0 by default). process.exitCode is set instead of process.exit() so output flushes.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
    try {
      const code = await fn(...args);
      process.exitCode = code ?? 0;
    } catch (e) {
      process.exitCode = reportError(e, verbose);
    }
  };
}
