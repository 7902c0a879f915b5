import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueContext } from '../../queues/context.js';
import { RunOptionsSchema, summaryFor, type RunSpec } from '../../queues/payloads.js';
import { childJobId, enqueueRun } from '../../queues/runs.js';
import { watchRun } from '../../queues/watch.js';
import { GenerationFailed } from '../../src/generation/backend.js';
import { silentLogger } from '../../src/lib/log.js';
import { startWorkers } from '../../workers/host.js';
import { imageGenerationStage } from '../../workers/image-generation.js';
import type { ProcessorModule } from '../../workers/registry.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * Variation jobs on real Redis: a variation the provider could not make is a *failed* job (BullMQ
 * retries it), its prediction id is saved in the job before waiting, and a bug in a variation
 * fails the run instead of passing for a partial result.
 */
const prefix = uniquePrefix('variations');
const TOKEN = 'r8_fake_variation_jobs_token';
let ctx: QueueContext;
let root: string;
let fake: FakeReplicate;
let seq = 0;

beforeAll(async () => {
  fake = await startFakeReplicate({ token: TOKEN });
  process.env.REPLICATE_API_TOKEN = TOKEN;
  process.env.REPLICATE_BASE_URL = fake.baseUrl;
  ctx = new QueueContext(REDIS_URL, prefix);
  root = await mkdtemp(join(tmpdir(), 'loop-variations-'));
});
afterAll(async () => {
  await ctx.close();
  await fake.close();
  await cleanPrefix(prefix);
});

function spec(options: Record<string, unknown>): RunSpec {
  const id = `v${++seq}-${Date.now()}`;
  return {
    run_id: id,
    workflow: 'image-only',
    run_dir: `feedback_loops/${id}`,
    prompt: 'a red bicycle against a white wall',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ seed: 100, num_image_variations: 3, skip_scoring: true, max_iterations_image: 1, ...options }),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
}
const dirOf = (s: RunSpec) => join(root, s.run_dir);

async function run(s: RunSpec, processors?: Parameters<typeof startWorkers>[0]['processors']) {
  const host = await startWorkers({ redisUrl: REDIS_URL, prefix, queues: ['image-prompt', 'image-generation', 'image-scoring'], concurrency: 3, logger: silentLogger, processors, outputRoot: root });
  try {
    await enqueueRun(ctx, s, { outputRoot: root });
    return await watchRun(ctx, s, () => {}, { tickMs: 200 });
  } finally {
    await host.close();
  }
}

const variationJob = (s: RunSpec, n: number) => Job.fromId(ctx.queue('image-generation'), childJobId(s, 'variation', String(n).padStart(3, '0')));

describe('variation jobs', () => {
  it('a provider failure is a failed attempt that BullMQ retries; the run completes with every image', async () => {
    const s = spec({ image_backend: 'replicate', image_model: 'black-forest-labs/flux-schnell', fallback_models: [] });
    fake.reset();
    // variation 2 (seed 101) fails once at the provider, then the retried job makes it
    fake.setFaults([{ on: 'create', match: ({ input }) => input?.seed === 101, times: 1, fault: { kind: 'fail', error: 'NSFW filter tripped' } }]);
    const view = await run(s);
    expect(view.outcome).toBe('completed');
    const v2 = await variationJob(s, 2);
    expect(await v2!.getState()).toBe('completed');
    // the failure went through BullMQ's attempts, not into a completed job's value
    expect(v2!.attemptsMade).toBe(2);
    const gen = summaryFor(view.stages, 'image-generation')!;
    expect(gen.outputs.images).toBe(3);
    expect(gen.partial).toBe(false);
  });

  it('saves the prediction id in the job before waiting, so a restarted attempt resumes it', async () => {
    // no_cache: the test above made these very images, and the generation cache would serve them
    const s = spec({ image_backend: 'replicate', image_model: 'black-forest-labs/flux-schnell', fallback_models: [], no_cache: true });
    fake.setFaults([]);
    fake.reset();
    const view = await run(s);
    expect(view.outcome).toBe('completed');
    const ids = fake.creates().filter((r) => r.status === 201).map((r) => r.predictionId);
    for (const n of [1, 2, 3]) {
      const j = await variationJob(s, n);
      const saved = (j!.data as { prediction?: { predictionId: string; model: string } }).prediction;
      expect(saved?.model).toBe('black-forest-labs/flux-schnell');
      expect(ids).toContain(saved?.predictionId);
    }
  });

  it('a variation that keeps failing at the provider is red on the board and the run ends partial', async () => {
    const s = spec({ image_backend: 'sketch' });
    const failing: ProcessorModule = {
      kind: 'plain',
      name: 'variation',
      async process(data) {
        if ((data as { variation: number }).variation === 3) throw new GenerationFailed('provider down', 1, ['m']);
        const real = (await import('../../workers/image-generation.js')).variationProcessor;
        return real.kind === 'plain' ? real.process(data, { progress: async () => {}, signal: new AbortController().signal, saveState: async () => {}, outputRoot: root }) : undefined;
      },
    };
    const view = await run(s, { 'image-generation': async () => [{ kind: 'stage', def: imageGenerationStage }, failing] });
    expect(view.outcome).toBe('partial');
    const v3 = await variationJob(s, 3);
    expect(await v3!.getState()).toBe('failed');
    expect(v3!.attemptsMade).toBe(3);
    expect(v3!.failedReason).toBe('[remote] provider down');
  }, 60_000);

  it('a bug in a variation (TypeError) fails the run as internal, never as a partial result', async () => {
    const s = spec({ image_backend: 'sketch', num_image_variations: 2 });
    const buggy: ProcessorModule = {
      kind: 'plain',
      name: 'variation',
      async process(data, c) {
        // one variation hits a bug, the other is made: without the rule this would pass as "partial"
        if ((data as { variation: number }).variation === 2) throw new TypeError("Cannot read properties of undefined (reading 'width')");
        const real = (await import('../../workers/image-generation.js')).variationProcessor;
        return real.kind === 'plain' ? real.process(data, c) : undefined;
      },
    };
    const view = await run(s, { 'image-generation': async () => [{ kind: 'stage', def: imageGenerationStage }, buggy] });
    expect(view.outcome).toBe('failed');
    expect(view.error).toMatch(/^\[internal\] (variation 2: )?TypeError: Cannot read properties/);
  }, 60_000);

  it('reuses a saved plan: a stage started again after a crash draws no new seeds', async () => {
    const s = spec({ image_backend: 'sketch', num_image_variations: 2, seed: undefined });
    const stageDir = join(dirOf(s), 'stage_2_image_generation');
    await mkdir(stageDir, { recursive: true });
    // what an earlier attempt saved before it died
    await writeFile(
      join(stageDir, 'generation_plan.json'),
      JSON.stringify({ backend: 'sketch', model: 'sketch', fallbackModels: [], seeds: [4242, 777], seedSource: 'drawn', negativePrompt: null, prompt: 'a red bicycle against a white wall', promptSource: 'test', aspectRatio: '16:9', startedAt: new Date().toISOString() }),
    );
    const view = await run(s, { 'image-generation': async () => { const m = await import('../../workers/image-generation.js'); return [{ kind: 'stage', def: m.imageGenerationStage }, m.variationProcessor]; } });
    expect(view.outcome).toBe('completed');
    const trace = JSON.parse(await readFile(join(stageDir, 'generation_trace.json'), 'utf8'));
    expect(trace.seeds).toEqual([4242, 777]);
    expect(trace.images.map((m: { seed: number }) => m.seed).sort((a: number, b: number) => a - b)).toEqual([777, 4242]);
  });
});

describe('a provider outage, then retry', () => {
  it('a partial run whose provider came back ends completed after retryRun: every image present and ranked', async () => {
    const { retryRun } = await import('../../queues/retry.js');
    // no_cache: earlier tests made seeds 100-102 of this prompt, and the generation cache would serve them
    const s = spec({ image_backend: 'replicate', image_model: 'black-forest-labs/flux-schnell', fallback_models: [], num_image_variations: 4, skip_scoring: false, no_cache: true });
    fake.reset();
    // variation 3 (seed 102) fails at the provider on every attempt while it is down
    fake.setFaults([{ on: 'create', match: ({ input }) => input?.seed === 102, times: 1000, fault: { kind: 'fail', error: 'provider down for maintenance' } }]);
    const host = await startWorkers({ redisUrl: REDIS_URL, prefix, queues: ['image-prompt', 'image-generation', 'image-scoring'], concurrency: 3, logger: silentLogger, outputRoot: root });
    try {
      await enqueueRun(ctx, s, { outputRoot: root });
      const first = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      expect(first.outcome).toBe('partial');
      const gen = join(dirOf(s), 'stage_2_image_generation');
      const ranked = JSON.parse(await readFile(join(gen, 'generation_trace.json'), 'utf8'));
      expect(ranked.ordering).toBe('rank');
      expect(ranked.images.map((m: { file: string }) => m.file)).toEqual(['image_001.png', 'image_002.png', 'image_003.png']);

      fake.setFaults([]); // the provider is back
      const retried = await retryRun(ctx, s);
      expect(retried.map((j) => j.id)).toEqual([childJobId(s, 'variation', '003')]);
      const done = await watchRun(ctx, s, () => {}, { tickMs: 200 });
      expect(done.outcome).toBe('completed');
      const trace = JSON.parse(await readFile(join(gen, 'generation_trace.json'), 'utf8'));
      expect(trace.ordering).toBe('rank');
      expect(trace.failures).toEqual([]);
      // four images, ranked 1..4, each file the image its metadata vouches for, the best named image_001
      expect(trace.images.map((m: { file: string; rank: number }) => [m.file, m.rank])).toEqual([
        ['image_001.png', 1],
        ['image_002.png', 2],
        ['image_003.png', 3],
        ['image_004.png', 4],
      ]);
      expect(trace.images.map((m: { seed: number }) => m.seed).sort()).toEqual([100, 101, 102, 103]);
      expect(trace.best).toBe('image_001.png');
      const { createHash } = await import('node:crypto');
      for (const m of trace.images as { file: string; sha256: string }[])
        expect(createHash('sha256').update(await readFile(join(gen, m.file))).digest('hex')).toBe(m.sha256);
      expect(summaryFor(done.stages, 'image-scoring')!.outputs.best_image).toBe('stage_2_image_generation/image_001.png');
    } finally {
      await host.close();
    }
  }, 90_000);
});
