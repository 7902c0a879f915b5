/**
 * One writer per directory. A `DirLock` hands out a lease on a directory; the holder calls
 * `verify()` before each irreversible step (a lease can be lost: a paused process whose lock went
 * stale, a Redis key that expired) and `release()` when done.
 *
 * The default implementation is a lock file in the directory (`.rank.lock`, created with O_EXCL).
 * Another implementation plugs in through the same interface, e.g. the queue worker's Redis lease:
 *   acquire  = pollAcquire(dir, tryOnce, { waitMs, pollMs, signal, onWait }) where tryOnce is
 *              SET key token NX PX ttl → { held } on OK, else { holder: GET key's owner in words };
 *   held     = a timer renewing the lease (Lua: PEXPIRE if GET key == token) and noting when it
 *              fails; verify() rejects with lockLostError once renewal failed or GET key != token;
 *              release() = stop the timer, Lua DEL if GET key == token.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { LoopError } from '../errors.js';

export interface DirLockAcquireOptions {
  /** How long to wait for a lock someone else holds before failing (0: try once). */
  waitMs?: number;
  /** Stops waiting (LoopError INTERRUPTED); has no effect once the lock is held. */
  signal?: AbortSignal;
  /** Called once, when the lock is busy and the wait begins (for a "waiting for …" log line). */
  onWait?: (holder: string) => void;
}

export interface HeldDirLock {
  /** Resolves while this holder still owns the lock; rejects with LoopError FAILED once it was lost. */
  verify(): Promise<void>;
  /** Gives the lock back. Idempotent; never removes a lock that someone else holds now. */
  release(): Promise<void>;
}

export interface DirLock {
  acquire(dir: string, opts?: DirLockAcquireOptions): Promise<HeldDirLock>;
}

/** One attempt: the lock, or who holds it (in words, for the error line). */
export type TryAcquire = () => Promise<{ held: HeldDirLock } | { holder: string }>;

export const DEFAULT_LOCK_WAIT_MS = 60_000;

/** The one line a busy lock ends with (kind FAILED: nothing is wrong with the input; run again later). */
export function lockBusyError(dir: string, holder: string, waitedMs: number): LoopError {
  return new LoopError('FAILED', `${dir} is being ranked by ${holder}; gave up after waiting ${Math.round(waitedMs / 1000)}s: run again when it has finished`);
}

export function lockLostError(dir: string, why: string): LoopError {
  return new LoopError('FAILED', `lost the lock on ${dir} (${why}): another process may be ranking it; stopped before the next rename, run again`);
}

/** Poll `tryOnce` until it yields the lock or `waitMs` has passed. */
export async function pollAcquire(
  dir: string,
  tryOnce: TryAcquire,
  o: { waitMs: number; pollMs: number; signal?: AbortSignal; onWait?: (holder: string) => void },
): Promise<HeldDirLock> {
  const waitMs = Math.max(0, o.waitMs);
  const deadline = Date.now() + waitMs;
  let waiting = false;
  for (;;) {
    if (o.signal?.aborted) throw new LoopError('INTERRUPTED', `stopped waiting for the lock on ${dir}`);
    const r = await tryOnce();
    if ('held' in r) return r.held;
    const left = deadline - Date.now();
    if (left <= 0) throw lockBusyError(dir, r.holder, waitMs);
    if (!waiting) {
      waiting = true;
      o.onWait?.(r.holder);
    }
    // an abort ends the sleep early; the top of the loop turns it into the error
    await sleep(Math.min(o.pollMs, left), undefined, { signal: o.signal }).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Lock file

export const DIR_LOCK_FILE = '.rank.lock';

export interface FileDirLockOptions {
  /** A lock not refreshed for this long is stale, whoever holds it (default 10 min). */
  staleMs?: number;
  /** How often a holder refreshes its lock file's mtime (default min(30 s, staleMs / 4)). */
  heartbeatMs?: number;
  /** Poll interval while waiting (default 200 ms). */
  pollMs?: number;
  /** Default wait when acquire() is given none (default 60 s). */
  waitMs?: number;
}

const LockInfoSchema = z.object({ pid: z.number().int().positive(), hostname: z.string(), acquired_at: z.string(), token: z.string() });
type LockInfo = z.infer<typeof LockInfoSchema>;

/** Tokens of the locks this process holds: a lock naming our pid but another token is a dead owner's pid, reused. */
const heldTokens = new Set<string>();

const errCode = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

export function fileDirLock(o: FileDirLockOptions = {}): DirLock {
  const staleMs = o.staleMs ?? 10 * 60_000;
  const cfg = { staleMs, heartbeatMs: o.heartbeatMs ?? Math.min(30_000, Math.max(1, Math.floor(staleMs / 4))) };
  return {
    acquire: (dir, a = {}) =>
      pollAcquire(dir, () => tryLockFile(dir, cfg), { waitMs: a.waitMs ?? o.waitMs ?? DEFAULT_LOCK_WAIT_MS, pollMs: o.pollMs ?? 200, signal: a.signal, onWait: a.onWait }),
  };
}

export const defaultDirLock: DirLock = fileDirLock();

interface Seen {
  ino: bigint;
  dev: bigint;
  info: LockInfo | null;
  /** Why it may be taken over, or null while its holder is presumed alive. */
  stale: string | null;
}

async function tryLockFile(dir: string, cfg: { staleMs: number; heartbeatMs: number }): ReturnType<TryAcquire> {
  const path = join(dir, DIR_LOCK_FILE);
  // a few rounds: the lock can vanish or go stale between our create and our look
  for (let round = 0; round < 4; round++) {
    const held = await createLockFile(dir, path, cfg.heartbeatMs);
    if (held) return { held };
    const seen = await inspect(path, cfg.staleMs);
    if (!seen) continue; // released meanwhile
    if (!seen.stale) return { holder: holderText(seen, path) };
    await takeOver(path, seen, cfg.staleMs);
  }
  return { holder: `another process (the lock ${path} keeps changing hands)` };
}

/** O_EXCL create; null when the file exists. */
async function createLockFile(dir: string, path: string, heartbeatMs: number): Promise<HeldDirLock | null> {
  // registered before the content is visible: a look from this process must see it as ours, not as a reused pid
  const token = randomBytes(8).toString('hex');
  heldTokens.add(token);
  let fh: FileHandle;
  try {
    fh = await open(path, 'wx');
  } catch (e) {
    heldTokens.delete(token);
    const code = errCode(e);
    if (code === 'EEXIST') return null;
    if (code === 'ENOENT') throw new LoopError('NOT_FOUND', `cannot read generation directory ${dir}: ENOENT`);
    if (code === 'ENOTDIR') throw new LoopError('INPUT', `cannot read generation directory ${dir}: ENOTDIR`);
    throw new LoopError('INPUT', `cannot lock ${dir} (creating ${DIR_LOCK_FILE}): ${code ?? e}`);
  }
  const info: LockInfo = { pid: process.pid, hostname: hostname(), acquired_at: new Date().toISOString(), token };
  try {
    await fh.writeFile(JSON.stringify(info) + '\n');
    await fh.sync();
    const st = await fh.stat({ bigint: true });
    return holdLockFile(dir, path, fh, st, token, heartbeatMs);
  } catch (e) {
    heldTokens.delete(token);
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw new LoopError('INPUT', `cannot lock ${dir} (writing ${DIR_LOCK_FILE}): ${errCode(e) ?? e}`);
  }
}

function holdLockFile(dir: string, path: string, fh: FileHandle, own: { ino: bigint; dev: bigint }, token: string, heartbeatMs: number): HeldDirLock {
  let released = false;
  // the heartbeat touches our own inode through the open handle, never a successor's file
  const beat = setInterval(() => void fh.utimes(new Date(), new Date()).catch(() => undefined), heartbeatMs);
  beat.unref();
  const owned = async () => {
    try {
      const st = await stat(path, { bigint: true });
      return st.ino === own.ino && st.dev === own.dev;
    } catch {
      return false;
    }
  };
  return {
    async verify() {
      if (released) throw lockLostError(dir, 'it was released');
      if (!(await owned())) throw lockLostError(dir, `${path} was removed or taken over as stale`);
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      heldTokens.delete(token);
      try {
        if (await owned()) await unlink(path).catch(() => undefined);
      } finally {
        await fh.close().catch(() => undefined);
      }
    },
  };
}

/** Read the lock through one handle, so the identity and the content belong to the same file. */
async function inspect(path: string, staleMs: number): Promise<Seen | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw new LoopError('INPUT', `cannot read the lock ${path}: ${errCode(e) ?? e}`);
  }
  try {
    const st = await fh.stat({ bigint: true });
    let info: LockInfo | null = null;
    try {
      info = LockInfoSchema.parse(JSON.parse(await fh.readFile('utf8')));
    } catch {
      info = null; // being written right now, or garbage: only its age can make it stale
    }
    const ageMs = Date.now() - Number(st.mtimeMs);
    return { ino: st.ino, dev: st.dev, info, stale: staleReason(info, ageMs, staleMs) };
  } finally {
    await fh.close();
  }
}

function staleReason(info: LockInfo | null, ageMs: number, staleMs: number): string | null {
  if (ageMs > staleMs) return `not refreshed for ${Math.round(ageMs / 1000)}s`;
  if (!info || info.hostname !== hostname()) return null; // another host's pid says nothing here
  if (info.pid === process.pid) return heldTokens.has(info.token) ? null : 'left by an earlier process with our pid';
  return pidAlive(info.pid) ? null : `pid ${info.pid} is not running`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM'; // exists, owned by someone else
  }
}

/** A takeover guard older than this was left by a taker that died mid-takeover (a takeover takes milliseconds). */
const GUARD_STALE_MS = 10_000;

/**
 * Remove a stale lock so that exactly one taker wins. Takers serialise on a guard file (O_EXCL);
 * under it, the lock is looked at again and removed only if it is still the very file (inode)
 * that was judged stale, so a successor's fresh lock is never removed. The lock itself is then
 * won by the usual O_EXCL create, which admits one. A taker that finds the guard busy just tries
 * again on its next poll. (Residual risk: a stale holder that wakes and releases, plus a new
 * creator, both inside the microseconds between the look and the rename; the rename is checked
 * and undone when it moved the wrong file.)
 */
async function takeOver(path: string, seen: Seen, staleMs: number): Promise<void> {
  const guardPath = `${path}.takeover`;
  let guard: FileHandle;
  try {
    guard = await open(guardPath, 'wx');
  } catch (e) {
    if (errCode(e) !== 'EEXIST') throw e;
    await breakStaleGuard(guardPath);
    return;
  }
  try {
    const now = await inspect(path, staleMs);
    if (now?.stale && now.ino === seen.ino && now.dev === seen.dev) await removeIfSame(path, now);
  } finally {
    await guard.close().catch(() => undefined);
    await unlink(guardPath).catch(() => undefined);
  }
}

/** Move the lock aside, and put it back (same inode) if it is not the file we meant to remove. */
async function removeIfSame(path: string, seen: Seen): Promise<void> {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return;
    throw e;
  }
  try {
    const st = await stat(aside, { bigint: true });
    if (st.ino !== seen.ino || st.dev !== seen.dev) await link(aside, path).catch(() => undefined);
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

async function breakStaleGuard(guardPath: string): Promise<void> {
  try {
    const st = await stat(guardPath);
    if (Date.now() - st.mtimeMs > GUARD_STALE_MS) await unlink(guardPath);
  } catch {
    // gone already, or not ours to judge: the next poll looks again
  }
}

function holderText(seen: Seen, path: string): string {
  if (!seen.info) return `an unknown process (unreadable ${path}; delete it if no ranking is running)`;
  const { pid, hostname: host, acquired_at } = seen.info;
  return `pid ${pid} on ${host} since ${acquired_at} (if that process is gone, delete ${path})`;
}
