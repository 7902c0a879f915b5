import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { RunOptionsSchema, summaryFor, type BuiltStage, type RunSpec, type StageOutputsInput } from '../../queues/payloads.js';
import { retryRun } from '../../queues/retry.js';
import { enqueueRun, buildFlow, childJobId, stageJobId } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { startWorkers, type WorkerHost } from '../../workers/host.js';
import type { ProcessorModule } from '../../workers/registry.js';
import type { AnyStageDefinition, StageContext, StageDefinition } from '../../workers/stage.js';
import { LoopError } from '../../src/errors.js';
import { silentLogger } from '../../src/lib/log.js';
import { readCheckpoint } from '../../src/workflow/records.js';
import type { Stage, Workflow } from '../../src/workflow/stages.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('spine');
let ctx: QueueContext;
let root: string;
let seq = 0;

beforeAll(async () => {
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-spine-'));
});
afterAll(async () => {
  await ctx.close();
  await cleanPrefix(prefix);
});

function spec(workflow: Workflow): RunSpec {
  const id = `t${++seq}-${Date.now()}`;
  return {
    run_id: id,
    workflow,
    // relative to the output root the workers resolve it against (relocatable runs)
    run_dir: `feedback_loops/${id}`,
    prompt: 'a cat on a windowsill',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({}),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
}
const dirOf = (s: RunSpec) => join(root, s.run_dir);

/** Minimal valid outputs per stage: the stage contract validates every summary. */
function outputsFor(stage: BuiltStage, extra: { fan?: number; failed?: number } = {}): StageOutputsInput<BuiltStage> {
  const note = `test ${stage} (fan ${extra.fan ?? 0}, failed ${extra.failed ?? 0})`;
  if (stage === 'image-prompt') return { final_prompt: 'p', final_prompt_file: 'f', summary_file: 's', stop_reason: 'threshold', backend: 'offline', backend_note: note };
  if (stage === 'image-generation') return { prompt: 'p', backend: 'sketch', backend_note: note, images: extra.fan ?? 0, failed: extra.failed ?? 0, generation_dir: 'g', trace_file: 'g/t' };
  return { ordering: 'rank', backend_note: note, generation_dir: 'g' };
}

/** A stage that writes one artifact and records the order it ran in. */
function recordingStage<S extends BuiltStage>(stage: S, order: string[], hook?: (c: StageContext) => Promise<void> | void): StageDefinition<S> {
  return {
    stage,
    async run(c) {
      order.push(stage);
      await hook?.(c);
      await mkdir(c.runDir, { recursive: true });
      await writeFile(join(c.runDir, `${stage}.txt`), `${stage} saw ${c.previous.map((p) => p.stage).join(',')}`);
      const g = c.groups.n;
      return {
        partial: (g?.failures.size ?? 0) > 0,
        cost_usd: 0.01,
        outputs: outputsFor(stage, { fan: g?.values.size, failed: g?.failures.size }) as StageOutputsInput<S>,
        artifacts: [`${stage}.txt`],
      };
    },
  };
}

const mod = (def: AnyStageDefinition, extra: ProcessorModule[] = []) => async (): Promise<ProcessorModule[]> => [{ kind: 'stage', def }, ...extra];

async function withWorkers<T>(processors: Parameters<typeof startWorkers>[0]['processors'], fn: (h: WorkerHost) => Promise<T>): Promise<T> {
  const host = await startWorkers({
    redisUrl: REDIS_URL,
    prefix,
    queues: Object.keys(processors ?? {}) as Stage[],
    concurrency: 2,
    logger: silentLogger,
    processors,
    outputRoot: root,
  });
  try {
    return await fn(host);
  } finally {
    await host.close();
  }
}

const go = async (s: RunSpec) => {
  await enqueueRun(ctx, s, { outputRoot: root });
  return watchRun(ctx, s, () => {}, { tickMs: 200 });
};

/** A fan-out of three children `n` on the generation queue; the plan is drawn through `draw`. */
function fanStage(draw: () => { ns: number[] }, hooks: { groups?: () => void; order?: string[] } = {}): StageDefinition<'image-generation', { ns: number[] }> {
  return {
    stage: 'image-generation',
    fanOut: {
      planFile: 'plan.json',
      planSchema: z.object({ ns: z.array(z.number()) }),
      draw: async () => draw(),
      phases: [
        (c) => {
          hooks.groups?.();
          return [{ kind: 'n', queue: 'image-generation', schema: z.object({ n: z.number() }), children: c.plan.ns.map((n) => ({ key: String(n), data: { n } })) }];
        },
      ],
    },
    run: recordingStage('image-generation', hooks.order ?? []).run as StageDefinition<'image-generation', { ns: number[] }>['run'],
  };
}

const childModule = (fn: (n: number) => unknown): ProcessorModule => ({ kind: 'plain', name: 'n', process: async (data) => fn((data as { n: number }).n) });

describe('run flows', () => {
  it('chains stages parent over child: the first stage runs first and finds the previous result by its job key', async () => {
    const flow = buildFlow(spec('image-only'));
    expect(flow.queueName).toBe('image-scoring');
    expect(flow.children?.[0]?.queueName).toBe('image-generation');
    expect(flow.children?.[0]?.opts?.failParentOnFailure).toBe(true);
    expect(flow.children?.[0]?.children?.[0]?.queueName).toBe('image-prompt');

    const order: string[] = [];
    const s = spec('image-only');
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', order)),
        'image-generation': mod(recordingStage('image-generation', order)),
        'image-scoring': mod(recordingStage('image-scoring', order)),
      },
      () => go(s),
    );
    expect(order).toEqual(['image-prompt', 'image-generation', 'image-scoring']);
    expect(view.outcome).toBe('completed');
    expect(view.stages.map((x) => x.stage)).toEqual(order);
    expect(view.costUsd).toBeCloseTo(0.03, 6);
    // the run directory resolved against the workers' output root
    expect(await readFile(join(dirOf(s), 'image-scoring.txt'), 'utf8')).toBe('image-scoring saw image-prompt,image-generation');
    // the wrapper filled in the common fields
    const gen = view.stages[1]!;
    expect(gen.dir).toBe('stage_2_image_generation');
    expect(Date.parse(gen.ended_at)).toBeGreaterThanOrEqual(Date.parse(gen.started_at));

    const cp = await readCheckpoint(join(dirOf(s), 'workflow_checkpoint.json'));
    expect(cp.status).toBe('completed');
    expect(cp.completed_stages).toEqual(order);
    expect(cp.artifacts.map((a) => a.path).sort()).toEqual(['image-generation.txt', 'image-prompt.txt', 'image-scoring.txt']);
    const summary = JSON.parse(await readFile(join(dirOf(s), 'workflow_summary.json'), 'utf8'));
    expect(summary.status).toBe('completed');
    expect(summary.total_cost_usd).toBeCloseTo(0.03, 6);
    expect(Object.keys(summary.time_by_stage)).toEqual(order);
    expect(existsSync(join(dirOf(s), 'workflow_trace.json'))).toBe(true);
  });

  it('a tampered artifact makes the checkpoint fail verification', async () => {
    const s = spec('prompt-only');
    await withWorkers({ 'image-prompt': mod(recordingStage('image-prompt', [])) }, () => go(s));
    await writeFile(join(dirOf(s), 'image-prompt.txt'), 'changed');
    await expect(readCheckpoint(join(dirOf(s), 'workflow_checkpoint.json'))).rejects.toThrow(/changed since the checkpoint/);
  });

  it('retries a transient failure with backoff and then succeeds', async () => {
    const s = spec('prompt-only');
    let calls = 0;
    const view = await withWorkers(
      {
        'image-prompt': mod(
          recordingStage('image-prompt', [], () => {
            if (++calls === 1) throw new Error('ECONNRESET: upstream hung up');
          }),
        ),
      },
      () => go(s),
    );
    expect(calls).toBe(2);
    expect(view.outcome).toBe('completed');
    expect(view.jobs[0]!.attemptsMade).toBe(2); // the failed attempt and the one that succeeded
  });

  it('fails a user error at once, records the failed run, and retryRun re-runs the failed stage and the ones after it', async () => {
    const s = spec('image-only');
    let broken = true;
    let genRuns = 0;
    const order: string[] = [];
    const processors = {
      'image-prompt': mod(recordingStage('image-prompt', order)),
      'image-generation': mod(
        recordingStage('image-generation', order, () => {
          genRuns++;
          if (broken) throw new LoopError('INPUT', 'the prompt file vanished');
        }),
      ),
      'image-scoring': mod(recordingStage('image-scoring', order)),
    };
    await withWorkers(processors, async () => {
      const failed = await go(s);
      expect(failed.outcome).toBe('failed');
      expect(genRuns).toBe(1); // unrecoverable: no second attempt
      expect(failed.error).toContain('the prompt file vanished'); // the cause, not the parent's "child … failed"
      const gen = failed.jobs.find((j) => j.queue === 'image-generation')!;
      expect(gen.state).toBe('failed');
      expect(gen.failedReason).toBe('[input] the prompt file vanished');
      // the failing stage wrote the failed run's records; the parent's deferred failure did not overwrite them
      await new Promise((r) => setTimeout(r, 300));
      const summary = JSON.parse(await readFile(join(dirOf(s), 'workflow_summary.json'), 'utf8'));
      expect(summary.status).toBe('failed');
      expect(summary.error).toContain('image-generation');
      expect(summary.stages_completed).toEqual(['image-prompt']);

      broken = false;
      const retried = await retryRun(ctx, s);
      // only the job that failed for its own reason; the scoring stage follows on its own
      expect(retried.map((j) => j.queue)).toEqual(['image-generation']);
      const done = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      expect(done.outcome).toBe('completed');
      expect(done.stages.map((x) => x.stage)).toEqual(['image-prompt', 'image-generation', 'image-scoring']);
      expect(order).toEqual(['image-prompt', 'image-generation', 'image-generation', 'image-scoring']);
      expect(JSON.parse(await readFile(join(dirOf(s), 'workflow_summary.json'), 'utf8')).status).toBe('completed');
    });
  });

  it('fans out a group of children after saving the plan, reads each child by its key, and degrades on a failed child', async () => {
    const s = spec('image-only');
    let planSavedFirst = true;
    const child = childModule((n) => {
      if (!existsSync(join(dirOf(s), 'stage_2_image_generation', 'plan.json'))) planSavedFirst = false;
      if (n === 2) throw new LoopError('INPUT', 'child 2 cannot be made');
      return { n };
    });
    let seenAtDraw: string[] = [];
    const gen = fanStage(() => ({ ns: [1, 2, 3] }));
    const draw = gen.fanOut!.draw;
    gen.fanOut!.draw = async (c) => {
      seenAtDraw = c.previous.map((p) => p.stage); // the plan is decided from the previous stage's result
      return draw(c);
    };
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', [])),
        'image-generation': mod(gen, [child]),
        'image-scoring': mod(recordingStage('image-scoring', [])),
      },
      () => go(s),
    );
    expect(planSavedFirst).toBe(true);
    expect(seenAtDraw).toEqual(['image-prompt']);
    const genStage = summaryFor(view.stages, 'image-generation')!;
    expect(genStage.outputs.images).toBe(2);
    expect(genStage.outputs.failed).toBe(1);
    expect(genStage.partial).toBe(true);
    expect(view.outcome).toBe('partial');
    expect(view.jobs.filter((j) => j.name === 'n')).toHaveLength(3);
    expect(view.jobs.find((j) => j.id === childJobId(s, 'n', '2'))?.state).toBe('failed');
    expect(stageJobId(s, 'image-scoring')).toBe(view.jobs[0]!.id);
  });

  it('a crash after the plan was saved and before the children were added redraws nothing', async () => {
    const s = spec('image-only');
    let draws = 0;
    let crashes = 0;
    const seen: number[] = [];
    const gen = fanStage(
      () => ({ ns: [10 + ++draws, 20 + draws] }),
      {
        groups: () => {
          // the first attempt dies between saving the plan and adding the children
          if (crashes++ === 0) throw new Error('ENOSPC: no space left on device');
        },
      },
    );
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', [])),
        'image-generation': mod(gen, [childModule((n) => (seen.push(n), { n }))]),
        'image-scoring': mod(recordingStage('image-scoring', [])),
      },
      () => go(s),
    );
    expect(view.outcome).toBe('completed');
    expect(draws).toBe(1);
    expect(seen.sort()).toEqual([11, 21]);
  }, 30_000);

  it('a partial run whose failed child works again ends completed after retryRun: the child, then every stage after it', async () => {
    const s = spec('image-only');
    let down = true;
    const order: string[] = [];
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', order)),
        'image-generation': mod(fanStage(() => ({ ns: [1, 2, 3] }), { order }), [
          childModule((n) => {
            if (n === 3 && down) throw new LoopError('INPUT', 'provider down');
            return { n };
          }),
        ]),
        'image-scoring': mod(recordingStage('image-scoring', order)),
      },
      async () => {
        const first = await go(s);
        expect(first.outcome).toBe('partial');
        down = false;
        const retried = await retryRun(ctx, s);
        expect(retried.map((j) => j.id)).toEqual([childJobId(s, 'n', '3')]);
        return watchRun(ctx, s, () => {}, { tickMs: 200 });
      },
    );
    expect(view.outcome).toBe('completed');
    expect(summaryFor(view.stages, 'image-generation')!.outputs.images).toBe(3);
    expect(order).toEqual(['image-prompt', 'image-generation', 'image-scoring', 'image-generation', 'image-scoring']);
    const cp = await readCheckpoint(join(dirOf(s), 'workflow_checkpoint.json'));
    expect(cp.status).toBe('completed');
  }, 30_000);

  it('a fan-out plan whose upstream changed is drawn again under a new revision: new children, the old files superseded', async () => {
    const s = spec('image-only');
    let down = true;
    const made: number[][] = [];
    // image-scoring fans out too here: one child per image stage 2 made, its plan drawn from that count
    const scoring: StageDefinition<'image-scoring', { made: number }> = {
      stage: 'image-scoring',
      fanOut: {
        planFile: 'scoring_plan.json',
        planSchema: z.object({ made: z.number() }),
        basis: async (c) => ({ made: summaryFor(c.previous, 'image-generation')!.outputs.images }),
        draw: async (c) => ({ made: summaryFor(c.previous, 'image-generation')!.outputs.images }),
        phases: [(c) => [{ kind: 'm', queue: 'image-scoring', schema: z.object({ m: z.number() }), children: Array.from({ length: c.plan.made }, (_, i) => ({ key: String(i + 1), data: { m: i + 1 } })) }]],
      },
      async run(c) {
        made.push([...c.groups.m!.values.values()].map((v) => (v as { m: number }).m).sort());
        await writeFile(join(c.stageDir, `scored_r${c.planRevision}.txt`), String(c.plan.made));
        return { outputs: outputsFor('image-scoring') as StageOutputsInput<'image-scoring'>, artifacts: [] };
      },
    };
    const mChild: ProcessorModule = { kind: 'plain', name: 'm', process: async (data) => ({ m: (data as { m: number }).m }) };
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', [])),
        'image-generation': mod(fanStage(() => ({ ns: [1, 2, 3] })), [
          childModule((n) => {
            if (n === 3 && down) throw new LoopError('INPUT', 'provider down');
            return { n };
          }),
        ]),
        'image-scoring': mod(scoring, [mChild]),
      },
      async () => {
        const first = await go(s);
        expect(first.outcome).toBe('partial');
        down = false;
        await retryRun(ctx, s); // child 3 works now: stage 2 re-runs with 3 images, then stage 3 sees its basis changed
        return watchRun(ctx, s, () => {}, { tickMs: 200 });
      },
    );
    expect(view.outcome).toBe('completed');
    // revision 0 scored the 2 images the partial stage 2 made, revision 1 all 3, with children of its own
    expect(made).toEqual([[1, 2], [1, 2, 3]]);
    expect(view.jobs.find((j) => j.id === childJobId(s, 'm', '3.r1'))?.state).toBe('completed');
    expect(view.jobs.find((j) => j.id === childJobId(s, 'm', '1'))?.state).toBe('completed'); // revision 0's stay as they were
    const dir = join(dirOf(s), 'stage_2_image_generation');
    expect(JSON.parse(await readFile(join(dir, 'scoring_plan.json'), 'utf8'))).toEqual({ made: 3 });
    expect(JSON.parse(await readFile(join(dir, 'scoring_plan.basis.json'), 'utf8'))).toMatchObject({ revision: 1, state: 'drawn' });
    // what revision 0 wrote moved aside before revision 1 was drawn
    expect(await readFile(join(dir, '.superseded', 'r0', 'scoring_plan.json'), 'utf8')).toContain('"made": 2');
    expect(existsSync(join(dir, '.superseded', 'r0', 'scored_r0.txt'))).toBe(true);
    expect(existsSync(join(dir, 'scored_r1.txt'))).toBe(true);
  }, 60_000);

  it('a re-run whose upstream is unchanged keeps its plan and its children (revision 0)', async () => {
    const s = spec('image-only');
    let draws = 0;
    const gen = fanStage(() => (draws++, { ns: [1, 2] }));
    gen.fanOut!.basis = async (c) => ({ prompt: summaryFor(c.previous, 'image-prompt')!.outputs.final_prompt });
    let down = true;
    const view = await withWorkers(
      {
        'image-prompt': mod(recordingStage('image-prompt', [])),
        'image-generation': mod(gen, [
          childModule((n) => {
            if (n === 2 && down) throw new LoopError('INPUT', 'provider down');
            return { n };
          }),
        ]),
        'image-scoring': mod(recordingStage('image-scoring', [])),
      },
      async () => {
        expect((await go(s)).outcome).toBe('partial');
        down = false;
        await retryRun(ctx, s);
        return watchRun(ctx, s, () => {}, { tickMs: 200 });
      },
    );
    expect(view.outcome).toBe('completed');
    expect(draws).toBe(1);
    expect(JSON.parse(await readFile(join(dirOf(s), 'stage_2_image_generation', 'plan.basis.json'), 'utf8'))).toMatchObject({ revision: 0 });
    expect(existsSync(join(dirOf(s), 'stage_2_image_generation', '.superseded'))).toBe(false);
  }, 60_000);

  it('BullMQ\'s AbortSignal reaches the stage: a cancelled job stops waiting on its provider', async () => {
    const s = spec('prompt-only');
    let aborted = false;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const hang: StageDefinition<'image-prompt'> = {
      stage: 'image-prompt',
      async run(c) {
        started();
        await new Promise<void>((_, reject) =>
          c.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          }),
        );
        throw new Error('unreachable');
      },
    };
    await withWorkers({ 'image-prompt': mod(hang) }, async (host) => {
      await enqueueRun(ctx, s, { outputRoot: root });
      await running;
      host.workers[0]!.cancelJob(stageJobId(s, 'image-prompt'), 'test cancels it');
      await new Promise((r) => setTimeout(r, 300));
    });
    expect(aborted).toBe(true);
  });
});

describe('job errors', () => {
  it('a user error while drawing the fan-out plan fails at once, and no secret reaches Redis', async () => {
    const secret = 'sk-spine-SECRET-424242';
    process.env.OPENAI_API_KEY = secret;
    try {
      const s = spec('image-only');
      let draws = 0;
      const gen = fanStage(() => {
        draws++;
        throw new LoopError('CONFIG', `the provider rejected key ${secret}`);
      });
      const view = await withWorkers(
        {
          'image-prompt': mod(recordingStage('image-prompt', [])),
          'image-generation': mod(gen),
          'image-scoring': mod(recordingStage('image-scoring', [])),
        },
        () => go(s),
      );
      expect(view.outcome).toBe('failed');
      expect(draws).toBe(1);
      expect(view.error).toContain('the provider rejected key [redacted]');
      const raw = await ctx.connection.hget(`${prefix}:image-generation:${stageJobId(s, 'image-generation')}`, 'failedReason');
      expect(raw).toContain('[redacted]');
      expect(raw).not.toContain(secret);
    } finally {
      delete process.env.OPENAI_API_KEY;
    }
  });
});

describe('Bull Board', () => {
  it('answers at / and lists all seven queues in its API', async () => {
    const { serveBoard } = await import('../../queues/board.js');
    const server = await serveBoard(ctx, { port: 0, host: '127.0.0.1', readOnly: true });
    try {
      const addr = server.address() as { port: number };
      const page = await fetch(`http://127.0.0.1:${addr.port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const api = await fetch(`http://127.0.0.1:${addr.port}/api/queues`);
      expect(api.status).toBe(200);
      const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      expect(body.queues.map((q) => q.name).sort()).toEqual(
        ['image-generation', 'image-prompt', 'image-scoring', 'storyboard', 'video-generation', 'video-prompt', 'video-scoring'],
      );
      expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
