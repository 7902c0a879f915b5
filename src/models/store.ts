/**
 * Where model files live and what state they are in. Resolution order of the models folder:
 * --models-dir, LOOP_MODELS_DIR, then the user cache ($XDG_CACHE_HOME/loop/models or
 * ~/.cache/loop/models). Each model has its own sub-folder named by id.
 */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ModelEntry } from './manifest.js';
import { sha256File } from '../lib/hash.js';

export function resolveModelsDir(opts: { modelsDir?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = opts.env ?? process.env;
  if (opts.modelsDir) return resolve(opts.modelsDir);
  const fromEnv = env.LOOP_MODELS_DIR?.trim();
  if (fromEnv) return resolve(fromEnv);
  const cache = env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');
  return join(resolve(cache), 'loop', 'models');
}

export const modelDir = (modelsDir: string, id: string) => join(modelsDir, id);

export { sha256File };

export async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

export interface FileState {
  path: string; // relative to the model folder
  abs: string;
  present: boolean;
  size: number | null;
}

export interface ModelState {
  id: string;
  dir: string;
  status: 'present' | 'partial' | 'missing';
  size: number; // bytes present on disk
  files: FileState[];
}

export async function modelState(modelsDir: string, m: ModelEntry): Promise<ModelState> {
  const dir = modelDir(modelsDir, m.id);
  const files: FileState[] = [];
  for (const f of m.files) {
    const abs = join(dir, f.path);
    const size = await fileSize(abs);
    files.push({ path: f.path, abs, present: size !== null, size });
  }
  const n = files.filter((f) => f.present).length;
  return {
    id: m.id,
    dir,
    status: n === files.length ? 'present' : n === 0 ? 'missing' : 'partial',
    size: files.reduce((a, f) => a + (f.size ?? 0), 0),
    files,
  };
}

export type VerifyStatus = 'ok' | 'unpinned' | 'mismatch' | 'size-mismatch' | 'missing';
export interface FileVerify {
  path: string;
  status: VerifyStatus;
  sha256: string | null; // actual
  expected: string | null;
}

/** Hash every file of a model against the manifest. Unpinned (sha256 null) files are not failures. */
export async function verifyModel(modelsDir: string, m: ModelEntry): Promise<FileVerify[]> {
  const out: FileVerify[] = [];
  for (const f of m.files) {
    const abs = join(modelDir(modelsDir, m.id), f.path);
    const size = await fileSize(abs);
    if (size === null) {
      out.push({ path: f.path, status: 'missing', sha256: null, expected: f.sha256 });
      continue;
    }
    const actual = await sha256File(abs);
    let status: VerifyStatus = f.sha256 === null ? 'unpinned' : actual === f.sha256 ? 'ok' : 'mismatch';
    if (status !== 'mismatch' && f.size !== null && size !== f.size) status = 'size-mismatch';
    out.push({ path: f.path, status, sha256: actual, expected: f.sha256 });
  }
  return out;
}
