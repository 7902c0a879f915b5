import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/workflow/records.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { CLI_PATH, cliEnv, REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('cli');
const START = join(REPO_ROOT, 'examples', 'start.txt');
const tmp = () => mkdtempSync(join(tmpdir(), 'loop-qcli-'));
const spawned: ChildProcess[] = [];

afterAll(async () => {
  for (const c of spawned) if (c.exitCode === null) c.kill('SIGKILL');
  await cleanPrefix(prefix);
});

const base = (work: string, extra: Record<string, string | undefined> = {}) => ({
  REDIS_URL,
  LOOP_QUEUE_PREFIX: prefix,
  LOOP_OUTPUT_DIR: join(work, 'out'),
  ...extra,
});

function startWorker(work: string, args: string[], env: Record<string, string | undefined> = {}) {
  const child = spawn(process.execPath, [CLI_PATH, 'worker', ...args], { cwd: work, env: cliEnv(base(work, env), work), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  spawned.push(child);
  const ready = new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (log.includes('worker ready')) {
        clearInterval(t);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(`worker exited: ${log}`));
      }
    }, 50);
  });
  return { child, ready, log: () => log };
}

const lastLine = (s: string) => s.trim().split('\n').pop()!;

describe('loop run (embedded)', () => {
  it('runs prompt-only end to end on REDIS_URL', async () => {
    const work = tmp();
    const r = await runCli(['run', START, '--workflow', 'prompt-only'], { cwd: work, env: base(work) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/run \S+ completed/);
    const runDir = /run directory: (.+)/.exec(r.stdout)![1]!;
    expect(dirname(runDir)).toBe(join(work, 'out', 'feedback_loops'));
    const summary = JSON.parse(readFileSync(join(runDir, 'workflow_summary.json'), 'utf8'));
    expect(summary.status).toBe('completed');
    expect(summary.stages_completed).toEqual(['image-prompt']);
    expect(readdirSync(join(runDir, 'stage_1_image_prompt'))).toContain('00_original_prompt.txt');
    expect((await readCheckpoint(join(runDir, 'workflow_checkpoint.json'))).status).toBe('completed');
  });

  it('runs image-only end to end with a private redis-server when REDIS_URL is unset', async () => {
    const work = tmp();
    const r = await runCli(['run', START, '--workflow', 'image-only', '--num-image-variations', '3', '--seed', '5'], {
      cwd: work,
      env: { LOOP_OUTPUT_DIR: join(work, 'out') },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/private redis-server at redis:\/\/127\.0\.0\.1:\d+/);
    const runDir = /run directory: (.+)/.exec(r.stdout)![1]!;
    const gen = join(runDir, 'stage_2_image_generation');
    expect(readdirSync(gen).filter((f) => f.endsWith('.png')).sort()).toEqual(['image_001.png', 'image_002.png', 'image_003.png']);
    const trace = JSON.parse(readFileSync(join(gen, 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('rank');
    expect(trace.seeds).toEqual([5, 6, 7]);
    // images are drawn from the enhanced prompt, not the raw input
    const enhanced = readFileSync(join(runDir, 'stage_1_image_prompt', readdirSync(join(runDir, 'stage_1_image_prompt')).find((f) => f.endsWith('final_enhanced_prompt.txt'))!), 'utf8').trim();
    expect(trace.prompt).toBe(enhanced);
    expect(enhanced).toContain('Framed for a 16:9 aspect ratio.'); // the hint follows the images' aspect ratio
    const summary = JSON.parse(readFileSync(join(runDir, 'workflow_summary.json'), 'utf8'));
    expect(summary.best_outputs.best_image).toBe('stage_2_image_generation/image_001.png'); // relative to the run directory
    // the offline defaults say what they are
    expect(summary.backends['image-prompt']).toMatch(/no LLM/);
    expect(summary.backends['image-generation']).toMatch(/not model output/);
    expect(summary.backends['image-scoring']).toMatch(/^ranked by technical; unavailable: .*clip_score/);
    expect(r.stdout).toMatch(/not model output/);
  });

  it('says how to get Redis when there is none', async () => {
    const work = tmp();
    const r = await runCli(['run', START], { cwd: work, env: { PATH: tmp(), LOOP_OUTPUT_DIR: join(work, 'out') } }); // a PATH with no redis-server
    expect(r.code).toBe(6);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/REDIS_URL.*redis-server|redis-server.*REDIS_URL/);
  });
});

describe('enqueue, worker, tail, status, retry', () => {
  it('enqueue prints the run id last; a worker runs it; tail exits 0; status shows it', async () => {
    const work = tmp();
    const e = await runCli(['enqueue', START, '--workflow', 'prompt-only'], { cwd: work, env: base(work) });
    expect(e.code).toBe(0);
    const runId = lastLine(e.stdout);
    expect(runId).toMatch(/^\d{8}_\d{6}(_\d+)?-[0-9a-f]{6}$/);
    const w = startWorker(work, ['--queues', 'image-prompt']);
    await w.ready;
    const t = await runCli(['tail', runId], { cwd: work, env: base(work) });
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/✓ image-prompt done in /);
    const s = await runCli(['status', runId], { cwd: work, env: base(work) });
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/completed/);
    expect(s.stdout).toMatch(/image-prompt/);
    w.child.kill('SIGTERM');
    await new Promise((r) => w.child.once('exit', r));
    expect(w.child.exitCode).toBe(0);
    expect(w.log()).toMatch(/finishing running jobs/);
  });

  it('tail exits 8 on a failed run; once the cause is fixed, retry makes it complete', async () => {
    const work = tmp();
    // the first worker has no key, so the openai agents fail at once as a user error
    const e = await runCli(['enqueue', START, '--workflow', 'prompt-only', '--agent-backend', 'openai', '--max-iterations-image', '1'], { cwd: work, env: base(work) });
    const runId = lastLine(e.stdout);
    const w = startWorker(work, ['--queues', 'image-prompt']);
    await w.ready;
    const t = await runCli(['tail', runId], { cwd: work, env: base(work) });
    expect(t.code).toBe(8);
    expect(t.stdout).toMatch(/OPENAI_API_KEY/);
    w.child.kill('SIGTERM');
    await new Promise((r) => w.child.once('exit', r));
    // the cause fixed: a worker that holds the key
    const fake: FakeOpenAIServer = await startFakeOpenAI({
      responder: (req) =>
        req.body?.response_format
          ? { content: JSON.stringify({ scores: { completeness: 95, specificity: 95, professionalism: 95, cinematography: 95, brand_alignment: null }, feedback: ['good'], flags: [] }) }
          : { content: 'A cat asleep on a sunlit windowsill, medium shot, 50mm lens, soft window light from the left.' },
    });
    try {
      const w2 = startWorker(work, ['--queues', 'image-prompt'], { OPENAI_API_KEY: 'sk-test-retry-123456', OPENAI_BASE_URL: fake.baseURL });
      await w2.ready;
      const r = await runCli(['retry', runId, '--json'], { cwd: work, env: base(work) });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).retried).toHaveLength(1);
      // without a real retry this stays failed (exit 8)
      const t2 = await runCli(['tail', runId], { cwd: work, env: base(work) });
      expect(t2.code, t2.stdout + t2.stderr).toBe(0);
      const s = JSON.parse((await runCli(['status', runId, '--json'], { cwd: work, env: base(work) })).stdout);
      expect(s.outcome).toBe('completed');
      expect(existsSync(join(s.run_dir, 'stage_1_image_prompt', 'prompt_trace_summary.json'))).toBe(true);
      w2.child.kill('SIGTERM');
    } finally {
      await fake.close();
    }
  });

  it('a worker killed with SIGKILL mid-job: a second worker finishes the run, no duplicate or torn file', async () => {
    const work = tmp();
    const fake: FakeOpenAIServer = await startFakeOpenAI({
      responder: (req) =>
        req.body?.response_format
          ? { delayMs: 700, content: JSON.stringify({ scores: { completeness: 95, specificity: 95, professionalism: 95, cinematography: 95, brand_alignment: null }, feedback: ['good'], flags: [] }) }
          : { delayMs: 700, content: 'A cat asleep on a sunlit windowsill, medium shot, 50mm lens, soft window light from the left, warm 3200K, shallow depth of field.' },
    });
    try {
      const keyEnv = { OPENAI_API_KEY: 'sk-test-kill-123456', OPENAI_BASE_URL: fake.baseURL };
      const e = await runCli(['enqueue', START, '--workflow', 'prompt-only', '--agent-backend', 'openai', '--max-iterations-image', '1'], { cwd: work, env: base(work) });
      const runId = lastLine(e.stdout);
      const a = startWorker(work, ['--queues', 'image-prompt', '--lock-duration', '2000'], keyEnv);
      await a.ready;
      while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
      a.child.kill('SIGKILL'); // mid-job: its first model call is in flight
      await new Promise((r) => a.child.once('exit', r));
      const b = startWorker(work, ['--queues', 'image-prompt', '--lock-duration', '2000'], keyEnv);
      await b.ready;
      const t = await runCli(['tail', runId], { cwd: work, env: base(work) });
      expect(t.code).toBe(0);
      const s = JSON.parse((await runCli(['status', runId, '--json'], { cwd: work, env: base(work) })).stdout);
      const stageDir = join(s.run_dir, 'stage_1_image_prompt');
      const files = readdirSync(stageDir).sort();
      expect(files).toEqual(['00_original_prompt.txt', '01_agent1_iteration_1.txt', '02_agent2_iteration_1.txt', '03_final_enhanced_prompt.txt', 'final_enhanced_prompt.txt', 'prompt_trace_summary.json']);
      expect(readdirSync(s.run_dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
      const cp = await readCheckpoint(join(s.run_dir, 'workflow_checkpoint.json'));
      expect(cp.status).toBe('completed');
      expect(b.log()).toMatch(/completed/);
      b.child.kill('SIGTERM');
    } finally {
      await fake.close();
    }
  });
});

describe('bad input and faults', () => {
  it('Redis unreachable: one line naming REDIS_URL, exit 6', async () => {
    const work = tmp();
    const r = await runCli(['status', 'whatever'], { cwd: work, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(r.code).toBe(6);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^loop: error: cannot reach Redis at REDIS_URL=redis:\/\/127\.0\.0\.1:1/);
  });

  it('an unknown run id exits 9', async () => {
    const work = tmp();
    for (const cmd of ['tail', 'status', 'retry']) {
      const r = await runCli([cmd, 'no-such-run'], { cwd: work, env: base(work) });
      expect(r.code, cmd).toBe(9);
      expect(r.stderrLines).toEqual([expect.stringMatching(/unknown run id "no-such-run"/)]);
    }
  });

  it('unknown queue, unknown workflow: usage errors, nothing written', async () => {
    const work = tmp();
    const q = await runCli(['worker', '--queues', 'image-prompt,bogus'], { cwd: work, env: base(work) });
    expect(q.code).toBe(2);
    expect(q.stderrLines).toEqual([expect.stringMatching(/unknown queue "bogus"/)]);
    const w = await runCli(['enqueue', START, '--workflow', 'everything'], { cwd: work, env: base(work) });
    expect(w.code).toBe(2);
    expect(w.stderrLines).toHaveLength(1);
    expect(existsSync(join(work, 'out'))).toBe(false);
  });
});
