/**
 * Where model files live and what state they are in. Resolution order of the models folder:
 * --models-dir, LOOP_MODELS_DIR, then the user cache ($XDG_CACHE_HOME/loop/models or
 * ~/.cache/loop/models). Each model has its own sub-folder named by id.
 *
 * Scorers record the sha256 of every model file they use, and a model is hundreds of MB: hashing
 * it on every load cost more than loading it. `hashModelFiles` hashes a file once and remembers the
 * result by its identity on disk (size, mtime, ctime, inode): in memory for the process, and in a
 * small sidecar per model folder (`.loop-hashes.json`) for the next process. Any change to the file
 * (rewrite, replace, touch) changes that identity and it is hashed again. `verifyModel` never uses
 * the cache: `loop models verify` always reads and hashes every byte.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
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
    const identity = await fileIdentity(abs).catch(() => null);
    const actual = await sha256File(abs); // always the bytes themselves, never the cache
    if (identity) await rememberHash(modelDir(modelsDir, m.id), f.path, identity, actual).catch(() => {});
    let status: VerifyStatus = f.sha256 === null ? 'unpinned' : actual === f.sha256 ? 'ok' : 'mismatch';
    if (status !== 'mismatch' && f.size !== null && size !== f.size) status = 'size-mismatch';
    out.push({ path: f.path, status, sha256: actual, expected: f.sha256 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hashes of model files, computed once per file version
// ---------------------------------------------------------------------------------------------

/** Sidecar file in each model folder: relative path → identity on disk + sha256. */
export const HASH_SIDECAR = '.loop-hashes.json';

const SidecarSchema = z.object({
  version: z.literal(1),
  files: z.record(z.string(), z.object({ identity: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
type Sidecar = z.infer<typeof SidecarSchema>;

/** What says "this is still the same file": size, mtime and ctime in ns, inode. */
async function fileIdentity(abs: string): Promise<string> {
  const s = await stat(abs, { bigint: true });
  if (!s.isFile()) throw new Error(`${abs} is not a file`);
  return `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`;
}

const memo = new Map<string, { identity: string; sha256: Promise<string> }>();
const hashListeners = new Set<(abs: string) => void>();

/**
 * Called with the absolute path every time `hashModelFiles` really reads and hashes a file (a cache
 * miss). Returns the function that stops listening. For tests and benchmarks.
 */
export function onModelFileHashed(listener: (abs: string) => void): () => void {
  hashListeners.add(listener);
  return () => void hashListeners.delete(listener);
}

/** Forget the in-memory hashes (the sidecars stay): as if this were a new process. */
export function forgetModelHashes(): void {
  memo.clear();
}

async function readSidecar(dir: string): Promise<Sidecar | undefined> {
  try {
    const r = SidecarSchema.safeParse(JSON.parse(await readFile(join(dir, HASH_SIDECAR), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Merge entries into a model folder's sidecar (temp file + rename). A read-only folder is fine: no cache. */
async function writeSidecar(dir: string, entries: Sidecar['files'], onlyIfPresent = false): Promise<void> {
  const old = await readSidecar(dir);
  if (onlyIfPresent && !old) return;
  const next: Sidecar = { version: 1, files: { ...old?.files, ...entries } };
  const tmp = join(dir, `${HASH_SIDECAR}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(next, null, 1));
    await rename(tmp, join(dir, HASH_SIDECAR));
  } catch {
    await unlink(tmp).catch(() => {});
  }
}

/**
 * sha256 of each file (relative to `dir`), keyed by relative path. A file whose size, mtime, ctime
 * and inode are those of a version already hashed (by this process, or by any process that wrote
 * the folder's sidecar) is not read again. Concurrent calls for one file share one hash.
 */
export async function hashModelFiles(dir: string, files: string[]): Promise<Record<string, string>> {
  const fresh: Sidecar['files'] = {};
  let sidecar: Promise<Sidecar | undefined> | undefined;
  const one = async (f: string): Promise<[string, string]> => {
    const abs = join(dir, f);
    const identity = await fileIdentity(abs);
    const hit = memo.get(abs);
    if (hit?.identity === identity) return [f, await hit.sha256];
    const stored = (await (sidecar ??= readSidecar(dir)))?.files[f];
    const now = memo.get(abs); // another call may have started on it meanwhile
    if (now?.identity === identity) return [f, await now.sha256];
    let sha256: Promise<string>;
    if (stored?.identity === identity) sha256 = Promise.resolve(stored.sha256);
    else {
      for (const l of hashListeners) l(abs);
      sha256 = sha256File(abs).then(async (h) => {
        // changed while being read: the hash is of no version worth remembering
        if ((await fileIdentity(abs).catch(() => '')) === identity) fresh[f] = { identity, sha256: h };
        else memo.delete(abs);
        return h;
      });
    }
    memo.set(abs, { identity, sha256 });
    try {
      return [f, await sha256];
    } catch (e) {
      if (memo.get(abs)?.sha256 === sha256) memo.delete(abs);
      throw e;
    }
  };
  const out = Object.fromEntries(await Promise.all(files.map(one)));
  if (Object.keys(fresh).length) await writeSidecar(dir, fresh);
  return out;
}

/**
 * A hash computed from the bytes elsewhere (verify): where the in-memory or sidecar cache holds a
 * different value for this file, the verified one replaces it. Creates no sidecar.
 */
async function rememberHash(dir: string, file: string, identity: string, sha256: string): Promise<void> {
  const abs = join(dir, file);
  const hit = memo.get(abs);
  if (hit) memo.set(abs, { identity, sha256: Promise.resolve(sha256) });
  const stored = (await readSidecar(dir))?.files[file];
  if (stored && (stored.identity !== identity || stored.sha256 !== sha256)) await writeSidecar(dir, { [file]: { identity, sha256 } }, true);
}
