import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LoopError } from '../errors.js';

/** YYYYMMDD_HHMMSS in local time, the seed's run-directory name. */
export function timestampName(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Create a fresh run directory under `root`. Two runs in the same second never share one: the
 * second gets `_2`, then `_3`… (mkdir without `recursive` fails on an existing dir, so this is
 * race-free across processes).
 */
export async function createRunDir(root: string, now = new Date()): Promise<string> {
  const absRoot = resolve(root);
  try {
    await mkdir(absRoot, { recursive: true });
  } catch (e) {
    throw new LoopError('INPUT', `cannot create output directory ${absRoot}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const st = await stat(absRoot);
  if (!st.isDirectory()) throw new LoopError('INPUT', `output directory ${absRoot} is not a directory`);
  const base = timestampName(now);
  for (let i = 1; i < 1000; i++) {
    const dir = join(absRoot, i === 1 ? base : `${base}_${i}`);
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new LoopError('INPUT', `too many runs in one second under ${absRoot}`);
}

/** The default root for a tool's runs: <LOOP_OUTPUT_DIR>/<kind>, or the user's --output-dir. */
export function runsRoot(outputDir: string | undefined, loopOutputDir: string, kind: string): string {
  return outputDir ? resolve(outputDir) : resolve(loopOutputDir, kind);
}
