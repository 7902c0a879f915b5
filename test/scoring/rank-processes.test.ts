/**
 * Rankings of one folder from separate processes (`loop score-images`, as a user runs it next to
 * a queue worker). Uses the built CLI like cli.test.ts: build first (`npm test` does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIR_LOCK_FILE, fileDirLock } from '../../src/lib/dir-lock.js';
import { CLI_PATH, REPO_ROOT, cliEnv, runCli } from '../helpers/cli.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { sha256Of, writeGenerationDir, type GenImage } from './gen-dir.js';
import { assertConsistent } from './rank-helpers.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-rank-proc-'));
  writeTinyModels(join(root, 'models'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const IMAGES: GenImage[] = [
  { rgb: [200, 30, 30], seed: 5 },
  { rgb: [20, 180, 60], seed: 3, noise: 40 },
  { rgb: [40, 40, 220], seed: 9 },
  { rgb: [240, 240, 240], seed: 1 },
];

const pngShas = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.png')).map((f) => sha256Of(join(dir, f))).sort();
const score = (dir: string, weights: string) => runCli(['score-images', dir, '--models-dir', join(root, 'models'), '--weights', weights, '--json']);

/** Spawn a node process and resolve once its output contains `text`. */
function spawnUntil(args: string[], text: string, env?: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; done: Promise<{ code: number | null; out: string }> }> {
  const child = spawn(process.execPath, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const done = new Promise<{ code: number | null; out: string }>((r) => child.on('close', (code) => r({ code, out })));
  return new Promise((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) resolve({ child, done });
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('close', () => reject(new Error(`exited before printing "${text}": ${out}`)));
  });
}

describe('rankings from two processes', () => {
  it('two `loop score-images` at once, with different weights: both succeed and the folder is consistent', async () => {
    expect(existsSync(CLI_PATH)).toBe(true);
    const dir = join(root, 'two');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const before = pngShas(dir);
    const [a, b] = await Promise.all([score(dir, 'pickscore=1'), score(dir, 'clip_score=1')]);
    expect([a.code, b.code, a.stderr + b.stderr]).toEqual([0, 0, expect.not.stringMatching(/error/)]);
    const trace = assertConsistent(dir);
    expect(pngShas(dir)).toEqual(before);
    const order = (r: { images: { file: string; variation: number }[] }) => r.images.map((i) => [i.file, i.variation]);
    expect([order(JSON.parse(a.stdout)), order(JSON.parse(b.stdout))]).toContainEqual(order({ images: trace.images }));
  });

  it('a CLI ranking waits for a lock held by another process, then ranks', async () => {
    const dir = join(root, 'held');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const held = await fileDirLock().acquire(dir); // this test process plays the queue worker
    const cli = await spawnUntil([CLI_PATH, 'score-images', dir, '--models-dir', join(root, 'models'), '--json'], `waiting for pid ${process.pid}`, cliEnv({}, root));
    expect(readdirSync(dir).filter((f) => f.startsWith('.rank-'))).toEqual([]); // it has not touched the folder
    await held.release();
    const { code } = await cli.done;
    expect(code).toBe(0);
    expect(assertConsistent(dir).ordering).toBe('rank');
  });

  it('a lock left by a killed process is taken over', async () => {
    const dir = join(root, 'killed');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const mod = pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'lib', 'dir-lock.js')).href;
    const script = `const m = await import(${JSON.stringify(mod)}); await m.defaultDirLock.acquire(${JSON.stringify(dir)}); console.log('held'); setInterval(() => {}, 1000);`;
    const holder = await spawnUntil(['--input-type=module', '-e', script], 'held');
    holder.child.kill('SIGKILL');
    await holder.done;
    expect(existsSync(join(dir, DIR_LOCK_FILE))).toBe(true);
    const r = await score(dir, 'pickscore=1');
    expect(r.code).toBe(0);
    assertConsistent(dir);
  });
});
