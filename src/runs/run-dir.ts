import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LoopError } from '../errors.js';

/** YYYYMMDD_HHMMSS in local time, the seed's run-directory name. */
export function timestampName(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Where a runs root came from, for the message and the exit code when it cannot be used: a
 * flag the user typed (--output-dir: INPUT, exit 3) or the environment (LOOP_OUTPUT_DIR:
 * CONFIG, exit 4).
 */
export type RootOrigin = '--output-dir' | 'LOOP_OUTPUT_DIR';

export interface RunsRoot {
  path: string;
  origin: RootOrigin;
}

/** The default root for a tool's runs: <LOOP_OUTPUT_DIR>/<kind>, or the user's --output-dir. */
export function runsRoot(outputDir: string | undefined, loopOutputDir: string, kind: string): string {
  return resolveRunsRoot(outputDir, loopOutputDir, kind).path;
}

/** runsRoot, remembering whether the path came from --output-dir or from LOOP_OUTPUT_DIR. */
export function resolveRunsRoot(outputDir: string | undefined, loopOutputDir: string, kind: string): RunsRoot {
  return outputDir ? { path: resolve(outputDir), origin: '--output-dir' } : { path: resolve(loopOutputDir, kind), origin: 'LOOP_OUTPUT_DIR' };
}

const REASON: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'a name in the path is too long',
  ELOOP: 'too many symbolic links in the path',
  // mkdir says ENOENT where the parent exists but takes no new entries (/proc, /sys)
  ENOENT: 'this file system does not allow creating it (ENOENT)',
};

/** A path exists where a directory should be, and is not one. */
export class NotADirectory extends Error {
  constructor(readonly path: string) {
    super(`${path} is not a directory`);
  }
}

/**
 * mkdir -p that always ends. Node's own `mkdir(p, { recursive: true })` loops forever at 100% CPU
 * when mkdir answers ENOENT although the parent exists (/proc/sys/x: the parent is a directory,
 * but procfs takes no new entries), because it takes ENOENT to mean "create the parent first".
 * Here: find the deepest existing ancestor, refuse if it is not a directory, then create each
 * missing level once, in order. Throws NotADirectory or the first mkdir error.
 */
export async function ensureDir(path: string): Promise<void> {
  const abs = resolve(path);
  const missing: string[] = [];
  let p = abs;
  for (;;) {
    try {
      const st = await stat(p);
      if (!st.isDirectory()) throw new NotADirectory(p);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      missing.push(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // created meanwhile by another process: fine if it is a directory
      const st = await stat(dir);
      if (!st.isDirectory()) throw new NotADirectory(dir);
    }
  }
}

/**
 * A directory-creation failure as one line: `label` names the path ("--output-dir /x",
 * "LOOP_MODELS_DIR /y"); a file in the way is named, errno codes are said in words.
 */
export function directoryError(e: unknown, label: string, abs: string, kind: 'INPUT' | 'CONFIG'): LoopError {
  if (e instanceof LoopError) return e;
  if (e instanceof NotADirectory) {
    return new LoopError(kind, e.path === abs ? `${label} is a file, not a directory` : `${label}: ${e.path} is a file, not a directory`);
  }
  const code = (e as NodeJS.ErrnoException).code;
  const path = (e as NodeJS.ErrnoException).path;
  const reason = (code && REASON[code]) ?? code ?? (e as Error).message;
  return new LoopError(kind, `cannot create ${label}${path && path !== abs ? ` (at ${path})` : ''}: ${reason}`);
}

/**
 * Create a fresh run directory under `root`. Two runs in the same second never share one: the
 * second gets `_2`, then `_3`… (mkdir without `recursive` fails on an existing dir, so this is
 * race-free across processes).
 *
 * Pass a RunsRoot (resolveRunsRoot) so that a root that cannot be used is reported against its
 * origin: --output-dir → INPUT (exit 3), LOOP_OUTPUT_DIR → CONFIG (exit 4). A plain string is
 * reported as "output directory …", INPUT.
 */
export async function createRunDir(root: string | RunsRoot, now = new Date()): Promise<string> {
  const r = typeof root === 'string' ? { path: root, origin: undefined } : root;
  const absRoot = resolve(r.path);
  const label = r.origin === 'LOOP_OUTPUT_DIR' ? `LOOP_OUTPUT_DIR ${absRoot}` : r.origin === '--output-dir' ? `--output-dir ${absRoot}` : `output directory ${absRoot}`;
  const kind = r.origin === 'LOOP_OUTPUT_DIR' ? 'CONFIG' : 'INPUT';
  try {
    await ensureDir(absRoot);
  } catch (e) {
    throw directoryError(e, label, absRoot, kind);
  }
  const base = timestampName(now);
  for (let i = 1; i < 1000; i++) {
    const dir = join(absRoot, i === 1 ? base : `${base}_${i}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw directoryError(e, label, absRoot, kind);
    }
  }
  throw new LoopError('INPUT', `too many runs in one second under ${absRoot}`);
}
