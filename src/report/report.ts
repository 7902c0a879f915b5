import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LoopError } from '../errors.js';
import { redact } from '../lib/secrets.js';
import { writeFileAtomic } from '../runs/atomic.js';
import { loadRun } from './load.js';
import { renderReport } from './render.js';

/**
 * The run report (issue 12): `<run dir>/report.html`, one self-contained page that opens from
 * disk: the run's status and stages, cost, time and backend per stage, the prompt's rounds with
 * their scores, the ranked images with a bar per metric, the storyboard's contact sheet, the video
 * prompts and the videos (playable, with their scores once scored). It reads only the run
 * directory and works at any point of a run: a stage not started yet is shown as pending.
 */
export const REPORT_FILE = 'report.html';

/**
 * Write `<runDir>/report.html` atomically (readers see the old page or the new one, never a torn
 * one) and return its path. Safe to call after every stage and from several workers at once (the
 * last rename wins; each page is whole). Throws only when the run directory is missing or the page
 * cannot be written; a record that is missing or malformed is shown as such in the page.
 */
export async function writeRunReport(runDir: string): Promise<string> {
  const dir = resolve(runDir);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new LoopError('INPUT', `run directory not found: ${runDir}`);
  const html = renderReport(await loadRun(dir));
  const path = join(dir, REPORT_FILE);
  // every text was redacted as it was escaped; this pass also covers what the page was built from
  await writeFileAtomic(path, redact(html));
  return path;
}
