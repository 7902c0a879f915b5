import { realpath } from 'node:fs/promises';
import { isAbsolute, normalize, relative, resolve, sep } from 'node:path';
import { LoopError } from '../errors.js';

/**
 * Paths in payloads, checkpoints and summaries are relative to a root the reader resolves: the run
 * directory relative to LOOP_OUTPUT_DIR, an artifact relative to its run directory.
 */

/** True when `p` is a relative path that stays inside its root (no absolute path, no `..`, no NUL). */
export function isInside(p: string): boolean {
  if (!p || p.includes('\0') || isAbsolute(p) || /^[A-Za-z]:/.test(p) || p.includes('\\')) return false;
  const n = normalize(p);
  return n !== '..' && !n.startsWith(`..${sep}`) && n !== '.';
}

/** `abs` relative to `root`, or undefined when it is not inside it. */
export function relativeInside(root: string, abs: string): string | undefined {
  const r = relative(resolve(root), resolve(abs));
  return isInside(r) ? r.split(sep).join('/') : undefined;
}

/** Resolve a relative path under `root`; refuses anything that escapes it. */
export function resolveInside(root: string, rel: string, what = 'path'): string {
  if (!isInside(rel)) throw new LoopError('INPUT', `${what} "${rel}" is not a relative path inside ${root}`);
  return resolve(root, rel);
}

/**
 * Like resolveInside, and the file must also stay inside after following symlinks: a link in a
 * run directory pointing at /etc/passwd is not an artifact of that run.
 */
export async function realpathInside(root: string, rel: string, what = 'path'): Promise<string> {
  const abs = resolveInside(root, rel, what);
  const [realRoot, realAbs] = await Promise.all([realpath(root), realpath(abs)]);
  if (!relativeInside(realRoot, realAbs)) throw new LoopError('INPUT', `${what} "${rel}" leads outside ${root} (symlink)`);
  return realAbs;
}
