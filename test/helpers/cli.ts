/**
 * Spawn the built CLI (`node dist/cli/main.js`) the way a user would, and collect what it did.
 *
 *   const r = await runCli(['enhance-image-prompt', '-'], { stdin: 'a cat', env: { LOOP_OUTPUT_DIR: dir } });
 *   r.code, r.stdout, r.stderr, r.stderrLines, r.cwd
 *
 * The child gets a clean environment: the parent's OPENAI_*, REPLICATE_*, LOOP_* and REDIS_URL are
 * removed and HOME is the working directory so a developer's shell cannot change a test's outcome; pass what the test needs in `env`
 * (a value of undefined removes a variable). It runs in a fresh temp directory unless `cwd` is given,
 * so no .env and no ./output from the repository leak in. Build first (`npm test` does, via pretest).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli', 'main.js');

export interface CliOptions {
  env?: Record<string, string | undefined>;
  stdin?: string | Uint8Array;
  cwd?: string;
  /** Kill the child after this long (default 60 s); the result then has signal set. */
  timeoutMs?: number;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Non-empty stderr lines. */
  stderrLines: string[];
  cwd: string;
}

const SCRUB = /^(OPENAI_|REPLICATE_|LOOP_|REDIS_URL$)/;

export function cliEnv(extra: Record<string, string | undefined> = {}, home?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUB.test(k)) env[k] = v;
  // a private HOME: no user cache (e.g. ~/.cache/loop/models) changes what a test sees
  if (home) {
    env.HOME = home;
    delete env.XDG_CACHE_HOME;
  }
  env.NO_COLOR = '1';
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  else env[k] = v;
  return env;
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: build first (npx tsc -p .)`);
  const cwd = opts.cwd ?? mkdtempSync(join(tmpdir(), 'loop-cli-'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd, env: cliEnv(opts.env, cwd), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, stderrLines: stderr.split('\n').filter((l) => l.trim() !== ''), cwd });
    });
    child.stdin.on('error', () => {}); // the child may exit before reading stdin
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else child.stdin.end();
  });
}
