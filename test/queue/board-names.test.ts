/**
 * What Bull Board shows, read through its own API on real Redis: job names a person can read
 * (`<run-id> stage image-prompt`, `<run-id> image-generation variation 2 seed 12346`), while the
 * workers still route every job by the `kind` in its data; and a failed job's stack is the one-line
 * message, without loop's or BullMQ's frames, unless the worker is verbose.
 */
import { mkdtemp } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveBoard } from '../../queues/board.js';
import { QueueContext } from '../../queues/context.js';
import { inspectRun, viewToJson } from '../../queues/inspect.js';
import { RunOptionsSchema, type RunSpec } from '../../queues/payloads.js';
import { childJobId, enqueueRun, jobName, stageJobId } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { LoopError } from '../../src/errors.js';
import { silentLogger } from '../../src/lib/log.js';
import type { QueueName } from '../../queues/names.js';
import { startWorkers } from '../../workers/host.js';
import { imageGenerationStage } from '../../workers/image-generation.js';
import type { ProcessorModule } from '../../workers/registry.js';
import type { StageDefinition } from '../../workers/stage.js';
import { videoGenerationStage } from '../../workers/video-generation.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('board-names');
let ctx: QueueContext;
let root: string;
let board: Server;
let base: string;
let seq = 0;
const verboseBefore = process.env.LOOP_VERBOSE;

beforeAll(async () => {
  delete process.env.LOOP_VERBOSE;
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-board-names-'));
  board = await serveBoard(ctx, { port: 0, host: '127.0.0.1', readOnly: true });
  base = `http://127.0.0.1:${(board.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise((r) => board.close(r));
  await ctx.close();
  await cleanPrefix(prefix);
  if (verboseBefore !== undefined) process.env.LOOP_VERBOSE = verboseBefore;
});

function spec(workflow: RunSpec['workflow'], options: Record<string, unknown> = {}): RunSpec {
  const id = `b${++seq}-${Date.now()}`;
  return {
    run_id: id,
    workflow,
    run_dir: `feedback_loops/${id}`,
    prompt: 'a red bicycle against a white wall',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ agent_backend: 'offline', image_backend: 'sketch', max_iterations_image: 1, num_image_variations: 2, seed: 12345, ...options }),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
}

interface BoardJob {
  id: string;
  name: string;
  stacktrace: string[];
  failedReason?: string;
}

/** The jobs of one queue in one state, as the board's API lists them. */
async function boardJobs(queue: QueueName, status: 'completed' | 'failed'): Promise<BoardJob[]> {
  const res = await fetch(`${base}/api/queues?activeQueue=${queue}&status=${status}&page=1&jobsPerPage=100`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { queues: { name: string; jobs: BoardJob[] }[] };
  return body.queues.find((q) => q.name === queue)!.jobs;
}

async function withWorkers<T>(o: { processors?: Parameters<typeof startWorkers>[0]['processors']; verbose?: boolean }, fn: () => Promise<T>): Promise<T> {
  const host = await startWorkers({
    redisUrl: REDIS_URL,
    prefix,
    queues: ['image-prompt', 'image-generation', 'image-scoring'],
    concurrency: 3,
    logger: silentLogger,
    outputRoot: root,
    ...o,
  });
  try {
    return await fn();
  } finally {
    await host.close();
  }
}

async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** No frame of loop's code, of a dependency or of a build: what the board shows is the message. */
function expectNoFrames(stack: string[]) {
  expect(stack.length).toBeGreaterThan(0);
  for (const s of stack) {
    expect(s).not.toMatch(/node_modules/);
    expect(s).not.toMatch(/dist\//);
    expect(s).not.toMatch(/\n\s+at /);
  }
}

/** A stage 1 that refuses its input: a user error, failed at once (no retry). */
const refusingPromptStage: StageDefinition<'image-prompt'> = {
  stage: 'image-prompt',
  async run() {
    throw new LoopError('INPUT', 'the prompt names a brand file that does not exist');
  },
};

describe('Bull Board job names', () => {
  it('every job of a run has a name a person can read, and the workers still route each one', async () => {
    const s = spec('image-only');
    const view = await withWorkers({}, async () => {
      await enqueueRun(ctx, s, { outputRoot: root });
      return watchRun(ctx, s, () => {}, { tickMs: 200 });
    });
    expect(view.outcome).toBe('completed');
    const gen = (await boardJobs('image-generation', 'completed')).filter((j) => j.id.startsWith(s.run_id));
    expect(gen.map((j) => j.name).sort()).toEqual([
      `${s.run_id} image-generation variation 1 seed 12345`,
      `${s.run_id} image-generation variation 2 seed 12346`,
      `${s.run_id} stage image-generation`,
    ]);
    for (const q of ['image-prompt', 'image-scoring'] as const) {
      const jobs = (await boardJobs(q, 'completed')).filter((j) => j.id.startsWith(s.run_id));
      expect(jobs.map((j) => j.name)).toEqual([`${s.run_id} stage ${q}`]);
    }
    // code keeps a stable kind; the readable name travels beside it (and in --json)
    const kinds = view.jobs.map((j) => [j.name, j.label]);
    expect(kinds).toContainEqual(['stage', `${s.run_id} stage image-scoring`]);
    expect(kinds).toContainEqual(['variation', `${s.run_id} image-generation variation 2 seed 12346`]);
    const json = viewToJson(await inspectRun(ctx, s));
    expect(json).toMatchObject({ run_id: s.run_id, outcome: 'completed', cost_usd: 0 });
    expect(json.jobs[0]).toMatchObject({ name: 'stage', label: `${s.run_id} stage image-scoring`, attempts_made: expect.any(Number), duration_ms: expect.any(Number) });
    expect(JSON.stringify(json)).not.toMatch(/"(costUsd|attemptsMade|durationMs|failedReason|processedOn|finishedOn)"/);
  }, 60_000);

  it('a later round says so in its names', () => {
    expect(jobName({ run_id: 'r1-abc', round: 0 }, 'stage image-prompt')).toBe('r1-abc stage image-prompt');
    expect(jobName({ run_id: 'r1-abc', round: 2 }, 'stage image-prompt')).toBe('r1-abc round 2 stage image-prompt');
  });

  it('video attempts are named by clip and attempt', () => {
    const s = spec('full');
    const plan = { clips: [{ clip: 1 }, { clip: 2 }], attempts: 2 };
    const groups = videoGenerationStage.fanOut!.phases[0]!({ spec: s, plan } as never);
    const children = groups[0]!.children as { key: string; name?: string; data: Record<string, unknown> }[];
    expect(children.map((c) => c.name)).toEqual([1, 2].flatMap((clip) => [1, 2].map((a) => `${s.run_id} video-generation clip ${clip} attempt ${a}`)));
    expect(new Set(children.map((c) => c.data.kind))).toEqual(new Set(['attempt']));
  });
});

describe('Bull Board failures', () => {
  it('a failed stage and a failed variation show the one-line message, no internal stack frames', async () => {
    const s = spec('prompt-only');
    const v = spec('image-only', { skip_scoring: true });
    const refusing: ProcessorModule = {
      kind: 'plain',
      name: 'variation',
      async process(data, c) {
        if ((data as { variation: number }).variation === 2) throw new LoopError('INPUT', 'variation 2 names an init image that does not exist');
        const real = (await import('../../workers/image-generation.js')).variationProcessor;
        return real.kind === 'plain' ? real.process(data, c) : undefined;
      },
    };
    await withWorkers(
      {
        processors: {
          'image-prompt': async () => [{ kind: 'stage', def: refusingPromptStage }],
          'image-generation': async () => [{ kind: 'stage', def: imageGenerationStage }, refusing],
        },
      },
      async () => {
        await enqueueRun(ctx, s, { outputRoot: root });
        expect((await watchRun(ctx, s, () => {}, { tickMs: 200 })).outcome).toBe('failed');
        // stage 1 of the image run is a plain prompt stage here too: make it pass
        await enqueueRun(ctx, { ...v, start_stage: 'image-generation' }, { outputRoot: root });
        const v2 = childJobId(v, 'variation', '002');
        await until(async () => (await (await Job.fromId(ctx.queue('image-generation'), v2))?.getState()) === 'failed');
      },
    );
    const stage = (await boardJobs('image-prompt', 'failed')).find((j) => j.id === stageJobId(s, 'image-prompt'))!;
    expect(stage.name).toBe(`${s.run_id} stage image-prompt`);
    expect(stage.failedReason).toBe('[input] the prompt names a brand file that does not exist');
    expect(stage.stacktrace).toEqual(['[input] the prompt names a brand file that does not exist']);
    expectNoFrames(stage.stacktrace);
    const variation = (await boardJobs('image-generation', 'failed')).find((j) => j.id === childJobId(v, 'variation', '002'))!;
    expect(variation.name).toBe(`${v.run_id} image-generation variation 2 seed 12346`);
    expect(variation.stacktrace).toEqual(['[input] variation 2 names an init image that does not exist']);
    expectNoFrames(variation.stacktrace);
  }, 60_000);

  it('a verbose worker keeps the stack', async () => {
    const s = spec('prompt-only');
    await withWorkers({ processors: { 'image-prompt': async () => [{ kind: 'stage', def: refusingPromptStage }] }, verbose: true }, async () => {
      await enqueueRun(ctx, s, { outputRoot: root });
      expect((await watchRun(ctx, s, () => {}, { tickMs: 200 })).outcome).toBe('failed');
    });
    const stage = (await boardJobs('image-prompt', 'failed')).find((j) => j.id === stageJobId(s, 'image-prompt'))!;
    expect(stage.stacktrace[0]).toMatch(/^\[input\] the prompt names a brand file that does not exist\n\s+at /);
  }, 30_000);
});
