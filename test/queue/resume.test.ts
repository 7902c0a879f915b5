import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * Resume from a verified checkpoint (Story 9.3 AC 7): a run killed with SIGKILL anywhere and
 * resumed ends with the same files as an uninterrupted run (offline backends, fixed seed); a
 * finished run is left alone; a tampered checkpoint is refused with one line and exit 11. And
 * relocatable runs: an enqueuer and a worker that reach one folder by different paths.
 */
const START = join(REPO_ROOT, 'examples', 'start.txt');
const RUN_FLAGS = ['--workflow', 'image-only', '--seed', '11', '--num-image-variations', '6', '--concurrency', '1', '--agent-backend', 'offline', '--image-backend', 'sketch'];
const tmp = () => mkdtempSync(join(tmpdir(), 'loop-resume-'));
const prefix = uniquePrefix('resume');
afterAll(() => cleanPrefix(prefix));

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** What must be the same, byte for byte, between two runs: images, their ranking, the prompt. */
function fingerprint(runDir: string) {
  const gen = join(runDir, 'stage_2_image_generation');
  const pngs = readdirSync(gen).filter((f) => f.endsWith('.png')).sort();
  const trace = JSON.parse(readFileSync(join(gen, 'generation_trace.json'), 'utf8'));
  return {
    images: Object.fromEntries(pngs.map((f) => [f, sha(join(gen, f))])),
    ranking: trace.images.map((m: { file: string; seed: number; rank: number | null }) => [m.file, m.seed, m.rank]),
    best: trace.best,
    prompt: readFileSync(join(runDir, 'stage_1_image_prompt', readdirSync(join(runDir, 'stage_1_image_prompt')).find((f) => f.endsWith('final_enhanced_prompt.txt'))!), 'utf8'),
    status: JSON.parse(readFileSync(join(runDir, 'workflow_summary.json'), 'utf8')).status,
  };
}

const runDirs = (out: string) => (existsSync(join(out, 'feedback_loops')) ? readdirSync(join(out, 'feedback_loops')).map((d) => join(out, 'feedback_loops', d)) : []);

/** `loop run` in its own process group (it starts a private redis-server), killed with SIGKILL when `when` holds. */
async function runAndKill(work: string, out: string, when: (runDir: string) => boolean, flags = RUN_FLAGS): Promise<string> {
  const child = spawn(process.execPath, [CLI_PATH, 'run', START, ...flags], { cwd: work, env: cliEnv({ LOOP_OUTPUT_DIR: out }, work), stdio: 'ignore', detached: true });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const dir = runDirs(out)[0];
    if (dir && when(dir)) break;
    if (Date.now() > deadline) throw new Error('kill point never reached');
    await new Promise((r) => setTimeout(r, 5));
  }
  process.kill(-child.pid!, 'SIGKILL'); // the CLI and its private redis-server
  await exited;
  return runDirs(out)[0]!;
}

const checkpointHas = (dir: string, stage: string) => {
  try {
    return JSON.parse(readFileSync(join(dir, 'workflow_checkpoint.json'), 'utf8')).completed_stages.includes(stage);
  } catch {
    return false;
  }
};
const pngCount = (dir: string) => (existsSync(join(dir, 'stage_2_image_generation')) ? readdirSync(join(dir, 'stage_2_image_generation')).filter((f) => f.endsWith('.png')).length : 0);

describe('resume', () => {
  it('a run killed anywhere and resumed ends with the same files as an uninterrupted run', async () => {
    const work = tmp();
    const ref = await runCli(['run', START, ...RUN_FLAGS], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'ref') } });
    expect(ref.code, ref.stderr).toBe(0);
    const expected = fingerprint(runDirs(join(work, 'ref'))[0]!);
    expect(expected.status).toBe('completed');

    const points: [string, (d: string) => boolean][] = [
      ['in the prompt stage', (d) => existsSync(join(d, 'stage_1_image_prompt'))],
      ['mid fan-out', (d) => pngCount(d) >= 2],
      ['after generation', (d) => checkpointHas(d, 'image-generation')],
    ];
    let resumedMidway = 0;
    for (const [name, when] of points) {
      const out = join(work, name.replace(/\W+/g, '-'));
      const dir = await runAndKill(work, out, when);
      // variations whose metadata was written before the kill, in a folder not ranked yet
      const gen = join(dir, 'stage_2_image_generation');
      const unranked = existsSync(join(gen, 'generation_plan.json')) && !checkpointHas(dir, 'image-scoring') && !existsSync(join(gen, 'generation_trace.json'));
      const made = unranked ? readdirSync(gen).filter((f) => /^image_\d+_metadata\.json$/.test(f)).map((f) => [f, statSync(join(gen, f.replace('_metadata.json', '.png'))).mtimeMs] as const) : [];
      const r = await runCli(['run', '--resume', dir], { cwd: work, env: { LOOP_OUTPUT_DIR: out } });
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
      if (/resumed at/.test(r.stdout)) resumedMidway++;
      expect(fingerprint(dir), name).toEqual(expected);
      // made before the kill, reused: not drawn again (the image may have moved to its ranked name)
      const meta = JSON.parse(readFileSync(join(gen, 'generation_trace.json'), 'utf8')).images as { file: string; variation: number }[];
      for (const [f, mtime] of made) {
        const v = Number(/^image_(\d+)_/.exec(f)![1]);
        expect(statSync(join(gen, meta.find((m) => m.variation === v)!.file)).mtimeMs, `${name}: ${f}`).toBe(mtime);
      }
    }
    // the last point may come after the run ended (then resume says so); the first two cannot
    expect(resumedMidway).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('a full run killed mid-storyboard and resumed makes no frame twice and ends with the same storyboard', async () => {
    const work = tmp();
    const FULL = [...RUN_FLAGS, '--workflow', 'full', '--num-clips', '4', '--num-video-attempts', '1'];
    const ref = await runCli(['run', START, ...FULL], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'ref') } });
    expect(ref.code, ref.stderr).toBe(0);
    const board = (d: string) => join(d, 'stage_3_storyboard');
    const files = (d: string) => Object.fromEntries(readdirSync(board(d)).filter((f) => f.endsWith('.png')).sort().map((f) => [f, sha(join(board(d), f))]));
    const expected = files(runDirs(join(work, 'ref'))[0]!);
    expect(Object.keys(expected)).toContain('clip_004_end.png');

    const out = join(work, 'killed');
    const child = spawn(process.execPath, [CLI_PATH, 'run', START, ...FULL], { cwd: work, env: cliEnv({ LOOP_OUTPUT_DIR: out }, work), stdio: 'ignore', detached: true });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const framesMade = (d: string) => (existsSync(join(board(d), 'frames')) ? readdirSync(join(board(d), 'frames')).filter((f) => f.endsWith('.png')).length : 0);
    const deadline = Date.now() + 30_000;
    while (!(runDirs(out)[0] && framesMade(runDirs(out)[0]!) >= 2)) {
      if (Date.now() > deadline) throw new Error('kill point never reached');
      await new Promise((r) => setTimeout(r, 5));
    }
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    const dir = runDirs(out)[0]!;
    // frames whose metadata was written before the kill (a PNG without it cannot be vouched for, so it is made again)
    const before = Object.fromEntries(
      readdirSync(join(board(dir), 'frames'))
        .filter((f) => f.endsWith('.png') && existsSync(join(board(dir), 'frames', f.replace(/\.png$/, '.json'))))
        .map((f) => [f, statSync(join(board(dir), 'frames', f)).mtimeMs]),
    );
    expect(Object.keys(before).length).toBeGreaterThan(0);
    const r = await runCli(['run', '--resume', dir], { cwd: work, env: { LOOP_OUTPUT_DIR: out } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/resumed at storyboard/);
    expect(files(dir)).toEqual(expected);
    // the frames made before the kill were not made again
    for (const [f, mtime] of Object.entries(before)) expect(statSync(join(board(dir), 'frames', f)).mtimeMs, f).toBe(mtime);
  }, 120_000);

  it('a full run killed mid video generation, then mid video scoring, and resumed each time ends with the videos of an uninterrupted run', async () => {
    const work = tmp();
    const FULL = [...RUN_FLAGS, '--workflow', 'full', '--num-image-variations', '2', '--num-clips', '2', '--num-video-attempts', '2'];
    const gen = (d: string) => join(d, 'stage_5_video_generation');
    const videos = (d: string) =>
      existsSync(gen(d))
        ? readdirSync(gen(d)).filter((c) => c.startsWith('clip_')).flatMap((c) => readdirSync(join(gen(d), c)).filter((f) => f.endsWith('.mp4')).map((f) => `${c}/${f}`))
        : [];
    // what an uninterrupted run ends with: per clip, its videos' bytes in rank order
    const ranked = (d: string) => Object.fromEntries(videos(d).sort().map((v) => [v, sha(join(gen(d), v))]));
    const ref = await runCli(['run', START, ...FULL], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'ref') } });
    expect(ref.code, ref.stderr).toBe(0);
    const expected = ranked(runDirs(join(work, 'ref'))[0]!);
    expect(Object.keys(expected)).toHaveLength(4);

    const out = join(work, 'killed');
    const dir = await runAndKill(work, out, (d) => videos(d).length >= 1, FULL);
    const before = videos(dir).length;
    const r1 = spawn(process.execPath, [CLI_PATH, 'run', '--resume', dir], { cwd: work, env: cliEnv({ LOOP_OUTPUT_DIR: out }, work), stdio: 'ignore', detached: true });
    const exited = new Promise<void>((res) => r1.once('exit', () => res()));
    // the second kill: the videos all made, their scoring under way
    const deadline = Date.now() + 60_000;
    while (!checkpointHas(dir, 'video-generation')) {
      if (Date.now() > deadline) throw new Error('kill point never reached');
      await new Promise((res) => setTimeout(res, 5));
    }
    process.kill(-r1.pid!, 'SIGKILL');
    await exited;
    const r2 = await runCli(['run', '--resume', dir], { cwd: work, env: { LOOP_OUTPUT_DIR: out } });
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(before).toBeGreaterThanOrEqual(1);
    expect(ranked(dir)).toEqual(expected);
    const trace = JSON.parse(readFileSync(join(gen(dir), 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('rank');
    expect(JSON.parse(readFileSync(join(dir, 'workflow_summary.json'), 'utf8')).status).toBe('completed');
  }, 240_000);

  it('a finished run is left alone; a tampered checkpoint is refused with one line and exit 11', async () => {
    const work = tmp();
    const out = join(work, 'out');
    expect((await runCli(['run', START, ...RUN_FLAGS], { cwd: work, env: { LOOP_OUTPUT_DIR: out } })).code).toBe(0);
    const dir = runDirs(out)[0]!;
    const before = fingerprint(dir);
    const done = await runCli(['resume', dir], { cwd: work, env: { LOOP_OUTPUT_DIR: out, REDIS_URL } });
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/already finished \(completed\): nothing to resume/);
    expect(fingerprint(dir)).toEqual(before);

    const cpFile = join(dir, 'workflow_checkpoint.json');
    const original = readFileSync(cpFile, 'utf8');
    writeFileSync(cpFile, original.replace('"completed"', '"running"'));
    const bad = await runCli(['resume', dir], { cwd: work, env: { LOOP_OUTPUT_DIR: out, REDIS_URL } });
    expect(bad.code).toBe(ExitCode.CHECKPOINT);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/refused: its sha256 does not match/);

    const both = await runCli(['run', '--resume', dir, '--workflow', 'image-only'], { cwd: work, env: { LOOP_OUTPUT_DIR: out } });
    expect(both.code).toBe(ExitCode.USAGE);
  }, 60_000);

  it('an enqueuer and a worker that reach the output folder by different paths write one run', async () => {
    const work = tmp();
    const laptop = join(work, 'laptop-out'); // where the enqueuer sees it
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix };
    const e = await runCli(['enqueue', START, '--workflow', 'prompt-only', '--json'], { cwd: work, env: { ...env, LOOP_OUTPUT_DIR: laptop } });
    expect(e.code, e.stderr).toBe(0);
    const { run_id, run_dir } = JSON.parse(e.stdout);
    expect(run_dir).toMatch(/^feedback_loops\/\d{8}_\d{6}/); // relative: no machine's absolute path in the payload
    // the worker's mount of the same folder: the enqueuer's path does not exist there
    const container = join(work, 'data-output');
    renameSync(laptop, container);
    const w = spawn(process.execPath, [CLI_PATH, 'worker', '--queues', 'image-prompt'], { cwd: work, env: cliEnv({ ...env, LOOP_OUTPUT_DIR: container }, work), stdio: 'ignore' });
    try {
      const t = await runCli(['tail', run_id], { cwd: work, env: { ...env, LOOP_OUTPUT_DIR: container } });
      expect(t.code, t.stdout + t.stderr).toBe(0);
    } finally {
      w.kill('SIGTERM');
    }
    expect(existsSync(join(container, run_dir, 'stage_1_image_prompt', 'prompt_trace_summary.json'))).toBe(true);
    expect(existsSync(laptop)).toBe(false); // nothing written where the enqueuer's absolute path would point
  }, 60_000);
});
