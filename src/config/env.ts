import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { configError } from '../errors.js';
import { registerSecret } from '../lib/secrets.js';
import { loadPrices } from './prices.js';

/**
 * Configuration comes from the environment and an optional `.env` in the working directory
 * (the environment wins). Every value is validated here, once; a bad one is named in one line.
 */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== '' ? v.trim() : undefined));
const optionalUrl = optionalString.pipe(z.string().url().optional());

export const EnvSchema = z.object({
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  REPLICATE_API_TOKEN: optionalString,
  REPLICATE_BASE_URL: optionalUrl,
  LOOP_OUTPUT_DIR: z.string().trim().min(1).default('./output'),
  REDIS_URL: z
    .string()
    .trim()
    .default('redis://127.0.0.1:6379')
    .superRefine((v, ctx) => {
      const problem = redisUrlProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  LOOP_QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('loop'),
  LOOP_PRICES_FILE: optionalString,
  LOOP_MODELS_DIR: optionalString,
  /** Vision chat model for VQAScore (OpenAI-compatible); unset means VQAScore is unavailable. */
  LOOP_VQA_MODEL: optionalString,
  LOOP_VQA_BASE_URL: optionalUrl,
  LOOP_VQA_API_KEY: optionalString,
  LOOP_LOG_LEVEL: z.enum(['info', 'debug']).default('info'),
  /** Seconds run/tail/status wait for a Redis that went away before exiting 6. */
  LOOP_REDIS_OUTAGE_S: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'a plain number of seconds, like 30')
    .default('30')
    .transform(Number)
    .refine((n) => n > 0 && n <= 3600, 'between 0 and 3600 seconds'),
});

export type Env = z.infer<typeof EnvSchema>;

// scheme :// [userinfo @] host [: port] [/ db] [? query] [# fragment]
const REDIS_URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?(\[[^\]/?#]*\]|[^:/?#]*)(?::([^/?#]*))?(\/[^?#]*)?(\?[^#]*)?(#.*)?$/;

/**
 * REDIS_URL for a message: the password (and any query string, where ioredis also takes
 * `password=`) masked, so the line can be printed. Works on URLs that do not parse, too.
 */
export function maskRedisUrl(url: string): string {
  const m = REDIS_URL_RE.exec(url.trim());
  if (!m) return '(unparseable)';
  const [, scheme, userinfo, host, port, path, query] = m;
  const user = userinfo === undefined ? '' : userinfo.includes(':') ? `${userinfo.slice(0, userinfo.indexOf(':'))}:***@` : '***@';
  return `${scheme}://${user}${host}${port !== undefined ? `:${port}` : ''}${path ?? ''}${query ? '?***' : ''}`;
}

/**
 * What is wrong with a REDIS_URL, or undefined: a redis:// or rediss:// URL with a host, a port
 * 1–65535 if one is given, and at most a database number as its path (redis://host:6379/2).
 * ioredis would take "redis://" as localhost and fail with a bare "Invalid URL" (or a stack
 * trace, for a path that is not a number) much later; here it is one line at start.
 */
export function redisUrlProblem(url: string): string | undefined {
  const shown = maskRedisUrl(url);
  const m = REDIS_URL_RE.exec(url.trim());
  if (!/^rediss?:\/\//i.test(url.trim())) return 'must start with redis:// or rediss:// (like redis://127.0.0.1:6379)';
  if (!m) return `is not a valid URL (${shown})`;
  const [, , , host, port, path] = m;
  if (!host || host === '[]') return `has no host (${shown}); like redis://127.0.0.1:6379`;
  if (port !== undefined && port !== '') {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `port must be 1–65535, got "${port}" (${shown})`;
  }
  if (path !== undefined && path !== '/' && !/^\/\d{1,9}$/.test(path)) return `the path must be a database number like /0, got "${path}" (${shown})`;
  try {
    new URL(url.trim());
  } catch {
    return `is not a valid URL (${shown})`;
  }
  return undefined;
}

/** A REDIS_URL password is a secret too: from now on redact() hides it wherever it appears. */
function registerRedisSecrets(url: string): void {
  try {
    const u = new URL(url);
    if (u.password) registerSecret(decodeURIComponent(u.password));
    const q = u.searchParams.get('password');
    if (q) registerSecret(q);
  } catch {
    /* validated before; nothing to register */
  }
}

/** A config file named by the environment must be a regular file: a FIFO would hang the read. */
function readConfigText(path: string, what: string): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw configError(`cannot read ${what} ${path}: ${code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw configError(`${what} ${path} is not a regular file`);
  return readFileSync(path, 'utf8');
}

/** Parse a .env file: KEY=VALUE lines, # comments, optional quotes. No interpolation. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, '');
    out[m[1]!] = value;
  }
  return out;
}

let cached: Env | undefined;

export function loadEnv(opts: { cwd?: string; env?: NodeJS.ProcessEnv; fresh?: boolean } = {}): Env {
  if (cached && !opts.fresh && !opts.env) return cached;
  const base = opts.env ?? process.env;
  const dotenvPath = resolve(opts.cwd ?? process.cwd(), '.env');
  const dotenvText = readConfigText(dotenvPath, '.env file');
  const fromFile = dotenvText === undefined ? {} : parseDotenv(dotenvText);
  // The environment wins over .env; .env values are exported so child processes and the secret
  // redactor see them too.
  const merged: Record<string, string | undefined> = { ...fromFile, ...base };
  if (!opts.env) for (const [k, v] of Object.entries(fromFile)) if (process.env[k] === undefined) process.env[k] = v;
  const parsed = EnvSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw configError(`invalid ${name}: ${issue.message}`);
  }
  registerRedisSecrets(parsed.data.REDIS_URL);
  // A price file is configuration too: a missing, unparseable or wrong-shaped LOOP_PRICES_FILE is
  // named here, at start, not when the first paid image needs its price (one line, exit 4).
  loadPrices(parsed.data.LOOP_PRICES_FILE ?? '');
  if (!opts.env) cached = parsed.data;
  return parsed.data;
}
