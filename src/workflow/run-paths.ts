import { isAbsolute, resolve, sep } from 'node:path';
import { relativeInside } from '../lib/rel-path.js';

/**
 * Runs are relocatable: a payload names its run directory relative to LOOP_OUTPUT_DIR, and each
 * process resolves it against its own. `loop enqueue` on a laptop (./output) and a worker in a
 * container (./output mounted at /data/output) then write the same folder.
 */

/** How a payload names `absRunDir`: relative to `outputRoot` when inside it, else absolute. */
export function runDirRef(absRunDir: string, outputRoot: string): string {
  return relativeInside(outputRoot, absRunDir) ?? resolve(absRunDir);
}

/** The absolute run directory of a payload's `run_dir` on this process (its own LOOP_OUTPUT_DIR). */
export function resolveRunDir(runDir: string, outputRoot: string): string {
  return isAbsolute(runDir) ? runDir : resolve(outputRoot, runDir);
}

/** Where the output root lies, given a run directory found on disk and the relative name it was given. */
export function outputRootOf(absRunDir: string, runDir: string): string | undefined {
  if (isAbsolute(runDir)) return undefined;
  const parts = runDir.split('/').filter(Boolean);
  const here = resolve(absRunDir).split(sep);
  const tail = here.slice(here.length - parts.length);
  return tail.join('/') === parts.join('/') ? here.slice(0, here.length - parts.length).join(sep) || sep : undefined;
}
