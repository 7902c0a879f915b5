import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createProgressView, runLines, type ProgressLine } from '../../cli/progress.js';
import type { JobView, RunView } from '../../queues/inspect.js';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * The live progress view (cli/progress.ts): one line per stage with done/total, failures, rate and
 * ETA; durations from the stage summaries; redrawn in place on a terminal (a pseudo-terminal here,
 * through util-linux `script`), one timestamped line per change of facts otherwise; nothing but
 * the final JSON on stdout under --json.
 */
const prefix = uniquePrefix('progress');
afterAll(() => cleanPrefix(prefix));
const START = join(REPO_ROOT, 'examples', 'start.txt');

const job = (o: Partial<JobView> & Pick<JobView, 'queue' | 'name' | 'depth' | 'state'>): JobView => ({ id: `${o.queue}.${o.name}.${Math.random()}`, label: o.name, attemptsMade: 0, progress: 0, ...o });

function view(): RunView {
  const t = Date.now();
  return {
    spec: {} as RunView['spec'],
    outcome: 'running',
    costUsd: 0,
    // tree order: the last stage is the root; each stage's children follow it
    jobs: [
      job({ queue: 'image-scoring', name: 'stage', depth: 0, state: 'waiting-children' }),
      job({ queue: 'image-generation', name: 'stage', depth: 1, state: 'waiting-children', processedOn: t - 4000 }),
      job({ queue: 'image-prompt', name: 'stage', depth: 2, state: 'completed' }),
      job({ queue: 'image-generation', name: 'variation', depth: 2, state: 'completed', processedOn: t - 4000 }),
      job({ queue: 'image-generation', name: 'variation', depth: 2, state: 'completed', processedOn: t - 3000 }),
      job({ queue: 'image-generation', name: 'variation', depth: 2, state: 'failed', processedOn: t - 3000 }),
      job({ queue: 'image-generation', name: 'variation', depth: 2, state: 'active', processedOn: t - 1000 }),
    ],
    stages: [{ stage: 'image-prompt', dir: 'stage_1_image_prompt', partial: false, cost_usd: 0, duration_ms: 454, started_at: '', ended_at: '', scores: {}, artifacts: [], reviews: [], outputs: {} as never }],
  };
}

describe('runLines', () => {
  it('a line per stage: done with the summary duration, fan-out counts with failures, rate and ETA, waiting', () => {
    const [p, g, s] = runLines(view(), ['image-prompt', 'image-generation', 'image-scoring']);
    expect(p).toMatchObject({ state: 'done', durationMs: 454 }); // the summary's time, not the job's
    expect(g).toMatchObject({ state: 'running', done: 2, total: 4, failed: 1, unit: 'images' });
    expect(g!.rate).toBeGreaterThan(0.5);
    expect(g!.etaMs).toBeGreaterThan(0);
    expect(s).toMatchObject({ state: 'waiting' });
  });
});

class Sink extends PassThrough {
  text = '';
  isTTY = false;
  constructor() {
    super();
    this.on('data', (d) => (this.text += d));
  }
}

describe('createProgressView without a terminal', () => {
  it('one timestamped line per change of facts; a new rate alone prints nothing; waiting stages are not news', async () => {
    const out = new Sink();
    const pv = await createProgressView({ stream: out as unknown as NodeJS.WriteStream, tty: false, clock: () => new Date('2026-12-02T10:00:00Z') });
    const line = (o: Partial<ProgressLine>): ProgressLine => ({ key: 'image-generation', label: 'image-generation', state: 'running', done: 1, total: 4, unit: 'images', ...o });
    pv.set([line({ rate: 1 }), { key: 'image-scoring', label: 'image-scoring', state: 'waiting' }]);
    pv.set([line({ rate: 2 })]);
    pv.set([line({ done: 3, failed: 1 })]);
    pv.set([line({ state: 'done', done: 3, failed: 1, durationMs: 1500 })]);
    const lines = out.text.trim().split('\n');
    expect(lines).toEqual([
      '10:00:00 ▸ image-generation 1/4 images · 1.0/s',
      '10:00:00 ▸ image-generation 3/4 images · 1 failed',
      '10:00:00 ✓ image-generation done 3/4 images · 1 failed in 1.5s',
    ]);
  });
});

describe('loop run progress', () => {
  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal: redrawn in place, then the summary', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-progress-'));
    const cmd = [process.execPath, CLI_PATH, 'run', START, '--workflow', 'image-only', '--num-image-variations', '3'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: work, env: cliEnv({ REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') }, work), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? -1)));
    expect(code, out).toBe(0);
    expect(out).toMatch(/\x1b\[\d*A|\x1b\[2K/); // cursor up / erase line: lines redrawn, not appended
    expect(out).toMatch(/✓ image-generation done 3\/3 images in /);
    expect(out).toMatch(/run \S+ completed/);
    expect(out).not.toMatch(/^\d\d:\d\d:\d\d /m); // no log timestamps on a terminal
  }, 90_000);

  it('without a terminal: timestamped lines; with --json, stdout is the final JSON alone', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-progress-'));
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') };
    const plain = await runCli(['run', START, '--workflow', 'image-only', '--num-image-variations', '2'], { cwd: work, env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^\d\d:\d\d:\d\d ✓ image-prompt done in /m);
    expect(plain.stdout.match(/✓ image-generation done/g)).toHaveLength(1); // each fact once
    const json = await runCli(['run', START, '--workflow', 'image-only', '--num-image-variations', '2', '--json'], { cwd: work, env });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.outcome).toBe('completed');
    expect(json.stderr).toMatch(/✓ image-scoring done/);
  }, 90_000);
});
