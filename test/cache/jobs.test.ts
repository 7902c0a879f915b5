/**
 * The queue jobs that generate images use the cache of their output root (PlainContext.outputRoot):
 * a `variation` job (stage 2) against the fake Replicate API and a storyboard `frame` job (stage
 * 3) on the sketch backend, each run twice in two run directories, and once more in a run whose
 * run_spec.json asked for --no-cache. The jobs are called as a worker calls them, without Redis.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATION_TRACE, GenerationTraceSchema, type ImageMetadata } from '../../src/generation/metadata.js';
import type { FrameResult } from '../../src/storyboard/storyboard.js';
import type { PlainContext, ProcessorModule } from '../../workers/registry.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';

let work: string;
let root: string;
let fake: FakeReplicate;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-cache-jobs-'));
  root = join(work, 'output');
  fake = await startFakeReplicate({ latencyMs: 10 });
  process.env.REPLICATE_API_TOKEN = fake.token;
  process.env.REPLICATE_BASE_URL = fake.baseUrl;
});
afterAll(async () => {
  await fake?.close();
  await rm(work, { recursive: true, force: true });
});

const ctx = (): PlainContext => ({ progress: async () => {}, signal: new AbortController().signal, saveState: async () => {}, outputRoot: root });
const plain = (m: ProcessorModule) => {
  if (m.kind !== 'plain') throw new Error(`${m.kind} is not a plain job`);
  return m;
};
async function newRun(name: string, noCache = false): Promise<string> {
  const rel = `feedback_loops/${name}`;
  await mkdir(join(root, rel), { recursive: true });
  // what enqueueRun writes; the option is only present when --no-cache was given
  await writeFile(join(root, rel, 'run_spec.json'), JSON.stringify({ run_id: name, run_dir: rel, options: noCache ? { no_cache: true } : { seed: 5 } }));
  return rel;
}

describe('variation jobs (stage 2)', () => {
  it('the same variation in another run is served from the cache; a --no-cache run pays again', async () => {
    const { variationProcessor, imageGenerationStage } = await import('../../workers/image-generation.js');
    const job = (runDir: string) => ({
      variation: 1, seed: 777, prompt: 'a brass telescope on a windowsill at night', negativePrompt: null, aspectRatio: '16:9',
      model: 'black-forest-labs/flux-schnell', fallbackModels: [], backend: 'replicate', runDir,
    });
    const make = async (runDir: string) => (await plain(variationProcessor).process(job(runDir), ctx())) as { metadata: ImageMetadata; reused: boolean };
    fake.reset();
    const a = await make(await newRun('va'));
    expect(fake.created()).toBe(1);
    expect(a.metadata.cache?.status).toBe('miss');
    fake.reset();
    const b = await make(await newRun('vb'));
    expect(fake.created()).toBe(0);
    expect(b.reused).toBe(false); // not the run's own earlier file: the cache
    expect(b.metadata.cache).toMatchObject({ status: 'hit', key: a.metadata.cache!.key, original_cost_usd: a.metadata.cost_usd });
    expect(b.metadata.cost_usd).toBe(0);
    expect(b.metadata.sha256).toBe(a.metadata.sha256);
    fake.reset();
    const c = await make(await newRun('vc', true));
    expect(fake.created()).toBe(1);
    expect(c.metadata.cache?.status).toBe('bypassed');

    // the stage's trace counts what came from the cache
    const stageDir = join(root, 'feedback_loops', 'vb', 'stage_2_image_generation');
    const { writeGenerationTrace } = await import('../../src/generation/generate.js');
    await writeGenerationTrace(stageDir, {
      backend: 'replicate', prompt: b.metadata.prompt, negativePrompt: null, promptSource: 'test', model: b.metadata.model, fallbackModels: [], aspectRatio: '16:9',
      seeds: [777], seedSource: 'user', images: [b.metadata], failures: [], costEntries: [], startedAt: new Date().toISOString(),
    });
    expect(GenerationTraceSchema.parse(JSON.parse(await readFile(join(stageDir, GENERATION_TRACE), 'utf8'))).from_cache).toBe(1);
    expect(imageGenerationStage.stage).toBe('image-generation');
  });
});

describe('storyboard frame jobs (stage 3)', () => {
  it('the same frame in another run is served from the cache; a --no-cache run makes it again', async () => {
    const { frameProcessor } = await import('../../workers/storyboard.js');
    const job = (runDir: string) => ({
      runDir,
      spec: { key: 'c001-start', clip: 1, which: 'start', file: 'clip_001_start.png', prompt: 'wide shot of a lighthouse on a cliff at dawn, storm clouds', seed: 4040, consistency_group: 'g1', how: { source: 'generate' } },
      candidate: 1,
      design: { aspect_ratio: '16:9', negative_prompt: null, model: 'sketch', fallback_models: [], from_image: null },
      backend: 'sketch',
    });
    const make = async (runDir: string) => (await plain(frameProcessor).process(job(runDir), ctx())) as FrameResult;
    const mark = (f: FrameResult) => f.provider.cache as { status: string; key: string } | undefined;
    const a = await make(await newRun('fa'));
    expect(mark(a)?.status).toBe('miss');
    const b = await make(await newRun('fb'));
    expect(mark(b)).toMatchObject({ status: 'hit', key: mark(a)!.key });
    expect(b.sha256).toBe(a.sha256);
    expect(b.cost_usd).toBe(0);
    const c = await make(await newRun('fc', true));
    expect(mark(c)?.status).toBe('bypassed');
    expect(c.sha256).toBe(a.sha256); // the sketch is deterministic: made again, the same bytes
  });
});
