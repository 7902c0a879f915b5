/**
 * Helpers every command uses. Keep this file light: it is imported at start-up, so nothing heavy
 * (bullmq, openai, sharp, onnxruntime) may be imported here or in any cli/commands/*.ts top level.
 */
import { InvalidArgumentError } from 'commander';
import type { ZodType } from 'zod';
import { ExitCode, LoopError, errorLine } from '../src/errors.js';
import { deviceName, deviceSyntaxProblem, parseDevice } from '../src/lib/device.js';
import { redact } from '../src/lib/secrets.js';
import { clipSafe, termSafe } from '../src/lib/terminal.js';

/** A flag value quoted in a usage message: terminal-safe, and short enough for one line. */
const quoted = (value: string) => `"${clipSafe(value, 80)}"`;

/** Whole numbers in plain decimal only: no hex (0x10), binary, octal, exponent or Infinity. */
const INTEGER = /^-?\d+$/;
/** Plain decimals only: digits, an optional fraction, an optional leading minus ("-1.5", ".5"). */
const DECIMAL = /^-?(?:\d+(?:\.\d+)?|\.\d+)$/;

export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const v = value.trim();
    if (!INTEGER.test(v)) throw new InvalidArgumentError(`${name} must be a whole number, got ${quoted(value)}`);
    const n = Number(v) + 0; // + 0: "-0" is 0
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${quoted(v)}`);
    return n;
  };
}

/**
 * A number flag. Number() alone would take "0x10" (16), "0b1", "0o7", "1e3" and " " (0): a
 * typo or a pasted value must not silently become a different number, so only plain decimals
 * pass.
 */
export function floatArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const v = value.trim();
    if (!DECIMAL.test(v)) throw new InvalidArgumentError(`${name} must be a plain decimal number (like 85 or 72.5), got ${quoted(value)}`);
    const n = Number(v) + 0;
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${quoted(v)}`);
    return n;
  };
}

/**
 * `--device cpu | cuda | cuda:N` (N 0–15), checked when the flag is parsed; returns the canonical
 * spelling (`cpu` or `cuda:N`). Whether cuda:N exists on this machine is checked when the command
 * starts (resolveDevice in src/lib/device.ts), not here: parsing must stay cheap.
 */
export function deviceArg(name = '--device') {
  return (value: string): string => {
    const problem = deviceSyntaxProblem(value);
    if (problem) throw new InvalidArgumentError(`${name} ${problem}, got ${quoted(value)}`);
    return deviceName(parseDevice(value, name));
  };
}

export function choiceArg<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value))
      throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got ${quoted(value)}`);
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

/**
 * Print one line to stderr and set the exit code from a thrown error. Messages carry file names,
 * file contents (a JSON parser's excerpt) and provider text: redacted, then made terminal-safe,
 * so one error is always exactly one line. --verbose adds the cause's stack (multi-line).
 */
export function reportError(e: unknown, verbose = false): number {
  const line = (text: string) => process.stderr.write(termSafe(redact(text)) + '\n');
  const block = (text: string) => process.stderr.write(termSafe(redact(text), { multiline: true }) + '\n');
  if (e instanceof LoopError) {
    line(`loop: error: ${e.message}`);
    if (verbose && e.cause) block(String((e.cause as Error)?.stack ?? e.cause));
    return e.exitCode;
  }
  line(`loop: internal error: ${errorLine(e)} (run with --verbose for details)`);
  if (verbose) block(String((e as Error)?.stack ?? e));
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
