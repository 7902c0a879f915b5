/**
 * Start-of-command configuration checks: what loadEnv() validates (every variable's syntax,
 * REDIS_URL, the LOOP_PRICES_FILE table) plus the folders the environment names. Each problem is
 * one line and exit 4 (CONFIG) when it comes from the environment; the same problem in a flag
 * (--output-dir, --models-dir) is the user's input, exit 3 (INPUT), as elsewhere.
 *
 * Every command calls checkConfig() first; commands that load scorer models (models *,
 * score-images, generate-images unless --skip-scoring, the image-scoring worker) pass
 * `models: true` or call resolveCheckedModelsDir().
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LoopError } from '../errors.js';
import { resolveModelsDir } from '../models/store.js';
import { loadEnv, type Env } from './env.js';

export type PathOrigin = 'env' | 'flag' | 'default';

/** What stands where a directory should be: undefined when it is a directory or does not exist yet. */
export function directoryProblem(path: string): string | undefined {
  const abs = resolve(path);
  let p = abs;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const up = dirname(p);
        if (up === p) return undefined;
        p = up;
        continue;
      }
      return `cannot access ${p} (${code ?? (e as Error).message})`;
    }
    if (st.isDirectory()) return undefined; // p is the deepest existing part; the rest can be created
    const what = st.isFile() ? 'a file' : 'not a directory';
    return p === abs ? `is ${what}, not a directory` : `${p} is ${what}, not a directory`;
  }
}

function assertDirectory(path: string, label: string, origin: PathOrigin): void {
  const problem = directoryProblem(path);
  if (!problem) return;
  const abs = resolve(path);
  const text = problem.startsWith('is ') ? `${label} ${abs} ${problem}` : `${label} ${abs}: ${problem}`;
  if (origin === 'flag') throw new LoopError('INPUT', text);
  throw new LoopError('CONFIG', origin === 'default' ? `${text}; set LOOP_MODELS_DIR to a folder for the scorer models` : text);
}

/** LOOP_OUTPUT_DIR must be a directory or creatable as one (not a file, not under a file). */
export function checkOutputDir(env: Env): void {
  assertDirectory(env.LOOP_OUTPUT_DIR, 'LOOP_OUTPUT_DIR', 'env');
}

/**
 * The models folder a command will read (--models-dir, else LOOP_MODELS_DIR, else the user cache),
 * absolute, after checking it is a directory or does not exist yet (a missing folder only means
 * no model is installed). A file there is exit 4 from LOOP_MODELS_DIR or the cache default,
 * exit 3 from --models-dir.
 */
export function resolveCheckedModelsDir(flag: string | undefined, env: Env = loadEnv()): string {
  const dir = resolveModelsDir({ modelsDir: flag, env: { ...process.env, LOOP_MODELS_DIR: env.LOOP_MODELS_DIR } });
  const origin: PathOrigin = flag ? 'flag' : env.LOOP_MODELS_DIR ? 'env' : 'default';
  assertDirectory(dir, origin === 'flag' ? '--models-dir' : origin === 'env' ? 'LOOP_MODELS_DIR' : 'models folder', origin);
  return dir;
}

export interface CheckConfigOptions {
  /** Also check the models folder (commands that load scorer models). */
  models?: boolean;
  /** The command's --models-dir, if it has one. */
  modelsDir?: string;
}

/**
 * Load and check the configuration; the Env to use. Throws a LoopError (one line) for: a bad
 * variable (REDIS_URL not redis[s]://host[:1-65535][/db], …), a missing / non-JSON / wrong-shaped
 * LOOP_PRICES_FILE, a LOOP_OUTPUT_DIR that is a file, and with `models`, a models folder that is a
 * file.
 */
export function checkConfig(opts: CheckConfigOptions = {}): Env {
  const env = loadEnv();
  checkOutputDir(env);
  if (opts.models) resolveCheckedModelsDir(opts.modelsDir, env);
  return env;
}
