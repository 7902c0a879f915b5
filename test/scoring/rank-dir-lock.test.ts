/** The default directory lock: a `.rank.lock` file, exclusive, with stale-lock takeover. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import { DIR_LOCK_FILE, fileDirLock, type HeldDirLock } from '../../src/lib/dir-lock.js';

let root: string;
let n = 0;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-dir-lock-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function freshDir(): string {
  const d = join(root, `d${++n}`);
  mkdirSync(d);
  return d;
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function writeForeignLock(dir: string, info: { pid: number; hostname: string }, ageMs = 0) {
  const path = join(dir, DIR_LOCK_FILE);
  writeFileSync(path, JSON.stringify({ ...info, acquired_at: new Date(Date.now() - ageMs).toISOString(), token: 'foreign' }));
  const t = new Date(Date.now() - ageMs);
  utimesSync(path, t, t);
}

async function rejection(p: Promise<unknown>): Promise<LoopError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LoopError);
  return e as LoopError;
}

describe('fileDirLock', () => {
  const lock = fileDirLock({ pollMs: 10 });

  it('writes pid, hostname and acquired_at, and removes the file on release', async () => {
    const dir = freshDir();
    const held = await lock.acquire(dir);
    const info = JSON.parse(readFileSync(join(dir, DIR_LOCK_FILE), 'utf8'));
    expect(info).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(Number.isNaN(Date.parse(info.acquired_at))).toBe(false);
    await held.verify();
    await held.release();
    await held.release(); // idempotent
    expect(readdirSync(dir)).toEqual([]);
    await expect(held.verify()).rejects.toThrow(/lost the lock/);
  });

  it('a second holder fails after its wait with one line naming the directory and the holder', async () => {
    const dir = freshDir();
    const held = await lock.acquire(dir);
    const e = await rejection(lock.acquire(dir, { waitMs: 30 }));
    expect(e.kind).toBe('FAILED');
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain(dir);
    expect(e.message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(e.message).toContain(join(dir, DIR_LOCK_FILE));
    await held.release();
  });

  it('a waiter gets the lock once the holder releases it', async () => {
    const dir = freshDir();
    const first = await lock.acquire(dir);
    let waited = '';
    const second = lock.acquire(dir, { waitMs: 60_000, onWait: (h) => (waited = h) });
    // release only once the waiter has seen the lock busy: no timing assumptions
    while (!waited) await new Promise((r) => setTimeout(r, 5));
    expect(waited).toMatch(/^pid \d+ on /);
    await first.release();
    const held = await second;
    await held.verify();
    await held.release();
  });

  it('an abort stops the wait with INTERRUPTED', async () => {
    const dir = freshDir();
    const held = await lock.acquire(dir);
    const ac = new AbortController();
    const p = lock.acquire(dir, { waitMs: 60_000, signal: ac.signal, onWait: () => ac.abort() });
    expect((await rejection(p)).kind).toBe('INTERRUPTED');
    await held.release();
  });

  it('takes over a lock whose pid is dead on this host', async () => {
    const dir = freshDir();
    writeForeignLock(dir, { pid: deadPid(), hostname: hostname() });
    const held = await lock.acquire(dir, { waitMs: 0 });
    expect(JSON.parse(readFileSync(join(dir, DIR_LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await held.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("leaves another host's fresh lock alone, but takes it over once it is older than the bound", async () => {
    const dir = freshDir();
    const bounded = fileDirLock({ pollMs: 10, staleMs: 60_000 });
    writeForeignLock(dir, { pid: deadPid(), hostname: 'elsewhere.example' });
    const e = await rejection(bounded.acquire(dir, { waitMs: 0 }));
    expect(e.message).toMatch(/pid \d+ on elsewhere\.example/);
    writeForeignLock(dir, { pid: deadPid(), hostname: 'elsewhere.example' }, 120_000);
    const held = await bounded.acquire(dir, { waitMs: 0 });
    await held.release();
  });

  it('treats an unreadable lock file as held until it is older than the bound', async () => {
    const dir = freshDir();
    const bounded = fileDirLock({ staleMs: 60_000 });
    writeFileSync(join(dir, DIR_LOCK_FILE), '');
    expect((await rejection(bounded.acquire(dir, { waitMs: 0 }))).message).toMatch(/unknown process/);
    const old = new Date(Date.now() - 120_000);
    utimesSync(join(dir, DIR_LOCK_FILE), old, old);
    await (await bounded.acquire(dir, { waitMs: 0 })).release();
  });

  it('of many takers of one stale lock exactly one wins, and nothing is left behind', async () => {
    for (let round = 0; round < 20; round++) {
      const dir = freshDir();
      writeForeignLock(dir, { pid: deadPid(), hostname: hostname() });
      const tries = await Promise.allSettled(Array.from({ length: 4 }, () => fileDirLock({ pollMs: 10 }).acquire(dir, { waitMs: 0 })));
      const won = tries.filter((t): t is PromiseFulfilledResult<HeldDirLock> => t.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const t of tries) if (t.status === 'rejected') expect((t.reason as LoopError).kind).toBe('FAILED');
      await won[0]!.value.verify();
      await won[0]!.value.release();
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('a holder whose lock went stale and was taken over finds out on verify(), and its release leaves the new lock', async () => {
    const dir = freshDir();
    const bounded = fileDirLock({ staleMs: 60_000, heartbeatMs: 60_000 });
    const paused = await bounded.acquire(dir);
    const old = new Date(Date.now() - 120_000); // as if its process had been paused past the bound
    utimesSync(join(dir, DIR_LOCK_FILE), old, old);
    const taker = await bounded.acquire(dir, { waitMs: 0 });
    const e = await rejection(paused.verify());
    expect(e.kind).toBe('FAILED');
    expect(e.message).toMatch(/lost the lock on .*taken over as stale/);
    await paused.release();
    expect(existsSync(join(dir, DIR_LOCK_FILE))).toBe(true);
    await taker.verify();
    await taker.release();
  });

  it('a directory that does not exist is NOT_FOUND', async () => {
    expect((await rejection(lock.acquire(join(root, 'missing')))).kind).toBe('NOT_FOUND');
  });
});
