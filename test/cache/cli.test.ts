/**
 * `loop create-storyboard` and `loop generate-videos` (offline backends) put their frames and
 * videos behind the cache of LOOP_OUTPUT_DIR too: the second identical run is served from it,
 * `--no-cache` makes everything again and says "bypassed".
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-cache-cli-'));
  await writeFile(join(work, 'clip.txt'), 'A heron lifts off a misty river at dawn and glides over the reeds\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const out = () => join(work, 'out');
const newest = async (dir: string) => join(dir, (await readdir(dir)).sort().at(-1)!);

describe('the other generating commands use the cache', () => {
  it('create-storyboard: frames from the cache on the second run, bypassed with --no-cache', async () => {
    const statuses = async (args: string[]) => {
      const r = await runCli(['create-storyboard', 'clip.txt', '--num-clips', '1', '--seed', '12', ...args], { cwd: work, env: { LOOP_OUTPUT_DIR: out() } });
      expect(r.code, r.stderr).toBe(0);
      const board = await newest(join(out(), 'storyboards'));
      const metas = (await readdir(join(board, 'frames'))).filter((f) => f.endsWith('.json')).sort();
      return Promise.all(metas.map(async (f) => (JSON.parse(await readFile(join(board, 'frames', f), 'utf8')) as { provider: { cache?: { status: string } } }).provider.cache?.status));
    };
    expect(await statuses([])).toEqual(['miss', 'miss']);
    expect(await statuses([])).toEqual(['hit', 'hit']);
    expect(await statuses(['--no-cache'])).toEqual(['bypassed', 'bypassed']);
  }, 60_000);

  it('generate-videos: videos from the cache on the second run, bypassed with --no-cache', async () => {
    const trace = async (args: string[]) => {
      const r = await runCli(['generate-videos', 'clip.txt', '-n', '2', '--duration', '1', '--seed', '3', '--backend', 'animatic', ...args], { cwd: work, env: { LOOP_OUTPUT_DIR: out() } });
      expect(r.code, r.stderr).toBe(0);
      const t = JSON.parse(await readFile(join(await newest(join(out(), 'video_generations')), 'generation_trace.json'), 'utf8')) as { from_cache: number; videos: { cache?: { status: string } }[] };
      return { from: t.from_cache, statuses: t.videos.map((v) => v.cache?.status), stderr: r.stderr };
    };
    expect(await trace([])).toMatchObject({ from: 0, statuses: ['miss', 'miss'] });
    const second = await trace([]);
    expect(second).toMatchObject({ from: 2, statuses: ['hit', 'hit'] });
    expect(second.stderr).toMatch(/attempt 1: done \(from the generation cache\)/);
    expect(await trace(['--no-cache'])).toMatchObject({ from: 0, statuses: ['bypassed', 'bypassed'] });
  }, 60_000);
});
