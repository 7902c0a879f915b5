import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';

/**
 * Redis that goes away for good: `tail` (and `run`, which shares its watcher) gives up after
 * LOOP_REDIS_OUTAGE_S with exit 6 and one line instead of hanging; a short restart is ridden
 * through; `loop worker` still exits on SIGTERM within its grace period.
 */
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A redis-server of the test's own; with an append-only file in `dir`, a restart keeps the jobs. */
async function startRedis(port: number, dir = tmpdir()): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
  procs.push(p);
  await new Promise((r) => setTimeout(r, 300));
  return p;
}

const stop = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null ? r() : (p.once('exit', () => r()), p.kill('SIGKILL'))));

function spawnCli(args: string[], env: Record<string, string>, cwd: string) {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd, env: cliEnv(env, cwd), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
  return { child, exited, out: () => out };
}

const until = async (cond: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('Redis loss', () => {
  it('tail rides through a short restart, then exits 6 with one line when Redis stays away', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-redisloss-'));
    const port = await freePort();
    let redis = await startRedis(port, work);
    const env = { REDIS_URL: `redis://127.0.0.1:${port}`, LOOP_OUTPUT_DIR: join(work, 'out'), LOOP_REDIS_OUTAGE_S: '45' };
    const enq = await runCli(['enqueue', join(REPO_ROOT, 'examples', 'start.txt'), '--workflow', 'prompt-only'], { cwd: work, env });
    expect(enq.code).toBe(0);
    const runId = enq.stdout.trim().split('\n').pop()!;
    const tail = spawnCli(['tail', runId], env, work);
    await new Promise((r) => setTimeout(r, 1500));

    // a blip: down for about a second, back on the same port
    await stop(redis);
    await until(() => tail.out().includes('Redis is not answering'), 30_000);
    redis = await startRedis(port, work);
    await until(() => tail.out().includes('Redis is back'), 44_000); // a loaded CI machine reconnects slowly
    expect(tail.child.exitCode).toBeNull();

    // gone for good
    await stop(redis);
    const code = await tail.exited;
    expect(code).toBe(ExitCode.REDIS);
    const errors = tail.out().split('\n').filter((l) => l.startsWith('loop: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/lost Redis at REDIS_URL=redis:\/\/127\.0\.0\.1:\d+ for 45 s/);
  }, 150_000);

  it('loop worker exits on SIGTERM within its grace period while Redis is down', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-redisloss-'));
    const port = await freePort();
    const redis = await startRedis(port, work);
    const w = spawnCli(['worker', '--queues', 'image-prompt', '--grace', '1'], { REDIS_URL: `redis://127.0.0.1:${port}`, LOOP_OUTPUT_DIR: join(work, 'out') }, work);
    await until(() => w.out().includes('worker ready'));
    await stop(redis);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    w.child.kill('SIGTERM');
    const code = await w.exited;
    // the grace period (1 s) plus the cancel step: well under what a hung close would take
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect([ExitCode.OK, ExitCode.INTERRUPTED]).toContain(code);
  }, 30_000);
});
