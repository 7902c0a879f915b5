import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * Human review gates (Story 9.3) on real Redis: a run started with --review waits after its images
 * are scored; `loop review` from another process regenerates them with feedback (folded into the
 * prompt by the agents; the new set is ranked with the earlier one kept), then continues; a gate
 * left alone continues after --review-timeout; --interactive asks in a terminal (a pseudo-terminal
 * here, through util-linux `script`) and is a usage error without one.
 */
const prefix = uniquePrefix('review');
const START = join(REPO_ROOT, 'examples', 'start.txt');
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await cleanPrefix(prefix);
});

const tmp = () => mkdtempSync(join(tmpdir(), 'loop-review-'));
const RUN = ['--workflow', 'image-only', '--num-image-variations', '2', '--seed', '4', '--max-iterations-image', '1', '--concurrency', '2'];

function start(args: string[], env: Record<string, string>, cwd: string) {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd, env: cliEnv(env, cwd), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  return { child, output: () => out, done };
}

async function until<T>(f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('review gates', () => {
  it('loop review from another process: regenerate with feedback, then continue; both sets ranked, the decisions in the trace', async () => {
    const work = tmp();
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') };
    const run = start(['run', START, ...RUN, '--review'], env, work);
    const id = await until(async () => /run (\S+) \(image-only\)/.exec(run.output())?.[1]);
    const waiting = async (round: number) =>
      until(async () => {
        const r = await runCli(['review', id, '--json'], { cwd: work, env });
        const j = JSON.parse(r.stdout || '{}');
        return j.waiting && j.round === round ? j : undefined;
      });
    expect((await waiting(0)).gate).toBe('images');
    // the gate is visible in loop status: the scoring stage's job sits delayed, saying why
    const status = await runCli(['status', id], { cwd: work, env });
    expect(status.stdout).toMatch(/waiting for review of the images/);
    const regen = await runCli(['review', id, '--regenerate', 'images', '--feedback', 'warmer light, less clutter'], { cwd: work, env });
    expect(regen.code, regen.stderr).toBe(0);
    await waiting(1);
    const cont = await runCli(['review', id, '--continue'], { cwd: work, env });
    expect(cont.code, cont.stderr).toBe(0);
    expect(await run.done).toBe(0);

    const dir = /run directory: (.+)/.exec(run.output())![1]!;
    const gen = join(dir, 'stage_2_image_generation');
    // the earlier two kept, the two new ones after them, all four ranked together
    const metas = readdirSync(gen).filter((f) => /^image_\d+_metadata\.json$/.test(f)).map((f) => JSON.parse(readFileSync(join(gen, f), 'utf8')));
    expect(metas.map((m) => m.variation).sort()).toEqual([1, 2, 3, 4]);
    expect(metas.map((m) => m.rank).sort()).toEqual([1, 2, 3, 4]);
    const revised = metas.filter((m) => m.variation > 2).map((m) => m.prompt);
    expect(new Set(revised).size).toBe(1);
    // through the agent: the colour temperature changed and a clean background was asked for, not the words pasted on
    expect(revised[0]).toMatch(/warm at about 3200K/);
    expect(revised[0]).toMatch(/clean and uncluttered/);
    expect(revised[0]).not.toMatch(/warmer light, less clutter/);
    expect(existsSync(join(dir, 'stage_1_image_prompt', 'review_01', 'prompt_trace_summary.json'))).toBe(true);
    const trace = JSON.parse(readFileSync(join(dir, 'workflow_trace.json'), 'utf8'));
    const scoring = trace.stages.find((s: { stage: string }) => s.stage === 'image-scoring');
    expect(scoring.reviews.map((r: { action: string }) => r.action)).toEqual(['regenerate', 'continue']);
    expect(scoring.reviews[0]).toMatchObject({ gate: 'images', round: 0, feedback: 'warmer light, less clutter', by: 'loop review' });
    expect(scoring.reviews[0].revised_prompt).toBe(revised[0]);
    expect(scoring.reviews[0].notes.join(' ')).toMatch(/warmer light/);
    expect(scoring.outputs.best_image).toBe('stage_2_image_generation/image_001.png');
  }, 150_000);

  it('at the videos review: regenerate with feedback makes new attempts from revised motion prompts, ranked with the first ones', async () => {
    const work = tmp();
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') };
    const still = join(REPO_ROOT, 'examples', 'still.png');
    const run = start(['run', START, '--workflow', 'video-only', '--input-image', still, '--num-clips', '1', '--num-video-attempts', '1', '--seed', '4', '--review'], env, work);
    const id = await until(async () => /run (\S+) \(video-only\)/.exec(run.output())?.[1]);
    const waiting = async (round: number) =>
      until(async () => {
        const j = JSON.parse((await runCli(['review', id, '--json'], { cwd: work, env })).stdout || '{}');
        return j.waiting && j.round === round ? j : undefined;
      }, 120_000);
    expect((await waiting(0)).gate).toBe('videos');
    const regen = await runCli(['review', id, '--regenerate', 'videos', '--feedback', 'slower and smoother'], { cwd: work, env });
    expect(regen.code, regen.stderr).toBe(0);
    await waiting(1);
    expect((await runCli(['review', id, '--continue'], { cwd: work, env })).code).toBe(0);
    expect(await run.done).toBe(0);
    const dir = /run directory: (.+)/.exec(run.output())![1]!;
    const clip = join(dir, 'stage_5_video_generation', 'clip_001');
    const metas = readdirSync(clip).filter((f) => /_metadata\.json$/.test(f)).map((f) => JSON.parse(readFileSync(join(clip, f), 'utf8')));
    expect(metas.map((m) => m.attempt).sort()).toEqual([1, 2]);
    expect(metas.map((m) => m.rank).sort()).toEqual([1, 2]);
    const first = metas.find((m) => m.attempt === 1)!.prompt as string;
    const second = metas.find((m) => m.attempt === 2)!.prompt as string;
    // the director changed the pace and steadied the camera; the words were not pasted on
    const speed = (p: string) => /\bone (very slow|slow|medium|fast|very fast) /.exec(p)?.[1];
    const order = ['very slow', 'slow', 'medium', 'fast', 'very fast'];
    expect(order.indexOf(speed(second)!)).toBe(order.indexOf(speed(first)!) - 1);
    expect(second).toMatch(/glides without shake/);
    expect(second).not.toMatch(/slower and smoother/);
    const plan = JSON.parse(readFileSync(join(dir, 'stage_5_video_generation', 'video_plan.json'), 'utf8'));
    expect(plan.attempts).toBe(2);
    const vs = JSON.parse(readFileSync(join(dir, 'workflow_trace.json'), 'utf8')).stages.find((s: { stage: string }) => s.stage === 'video-scoring');
    expect(vs.reviews.map((r: { action: string }) => r.action)).toEqual(['regenerate', 'continue']);
    expect(vs.reviews[0].gate).toBe('videos');
  }, 200_000);

  it('a gate left unanswered continues after --review-timeout, and says so', async () => {
    const work = tmp();
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') };
    const r = await runCli(['run', START, ...RUN, '--review', '--review-timeout', '1', '--json'], { cwd: work, env, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    const scoring = JSON.parse(r.stdout).stages.find((s: { stage: string }) => s.stage === 'image-scoring');
    expect(scoring.reviews).toEqual([expect.objectContaining({ action: 'continue', by: 'timeout (--review-timeout 1)' })]);
  }, 120_000);

  it('--interactive without a terminal is a usage error, before anything is written', async () => {
    const work = tmp();
    const r = await runCli(['run', START, '--interactive'], { cwd: work, env: { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code).toBe(2);
    expect(r.stderrLines).toEqual([expect.stringMatching(/--interactive asks in the terminal/)]);
    expect(existsSync(join(work, 'out'))).toBe(false);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('--interactive asks in the terminal: no, regenerate with feedback, then yes', async () => {
    const work = tmp();
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') };
    const cmd = [process.execPath, CLI_PATH, 'run', START, ...RUN, '--interactive'].map((a) => `'${a}'`).join(' ');
    // util-linux script gives the command a pseudo-terminal; what we write to its stdin is typed there
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: work, env: cliEnv(env, work), stdio: ['pipe', 'pipe', 'pipe'] });
    procs.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const done = new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
    const answer = async (question: RegExp, nth: number, text: string) => {
      await until(async () => ((out.match(new RegExp(question, 'g')) ?? []).length >= nth ? true : undefined));
      child.stdin!.write(`${text}\r`);
    };
    await answer(/Continue to next stage\? \(y\/n\)/, 1, 'n');
    await answer(/Regenerate images with feedback\? \(y\/n\)/, 1, 'y');
    await answer(/Feedback: /, 1, 'closer, cooler light');
    await answer(/Continue to next stage\? \(y\/n\)/, 2, 'y');
    expect(await done, out).toBe(0);
    const dir = /run directory: (\S+)/.exec(out)![1]!;
    const trace = JSON.parse(readFileSync(join(dir, 'workflow_trace.json'), 'utf8'));
    const reviews = trace.stages.find((s: { stage: string }) => s.stage === 'image-scoring').reviews;
    expect(reviews.map((r: { action: string; by: string }) => `${r.action} by ${r.by}`)).toEqual(['regenerate by terminal', 'continue by terminal']);
    expect(reviews[0].revised_prompt).toMatch(/cool at about 6500K/);
  }, 150_000);
});
