import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { redact } from '../lib/secrets.js';

/**
 * Write a file so that readers see either the old content or the new, never a torn one:
 * temp file in the same directory, fsync, rename. A crash leaves at most a `*.tmp-*` file.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Text that may carry user or provider content goes through the secret redactor. */
export function writeTextAtomic(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, redact(text));
}

export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeTextAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** A temp file writeFileAtomic leaves behind when its process dies mid-write. */
const STALE_TEMP = /\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * Remove the temp files a crashed writer left in `dir` (not recursive). Only call it when nothing
 * else writes there: a stage's collect step, after every child of the folder has finished.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const names = await readdir(dir).catch(() => [] as string[]);
  const stale = names.filter((n) => STALE_TEMP.test(n));
  await Promise.all(stale.map((n) => rm(`${dir}/${n}`, { force: true })));
  return stale;
}
