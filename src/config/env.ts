import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { configError } from '../errors.js';

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
    .refine((v) => /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://'),
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
});

export type Env = z.infer<typeof EnvSchema>;

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
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath, 'utf8')) : {};
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
  if (!opts.env) cached = parsed.data;
  return parsed.data;
}
