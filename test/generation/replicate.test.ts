import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateImages, generateVariation } from '../../src/generation/generate.js';
import { GenerationTraceSchema } from '../../src/generation/metadata.js';
import { readPngText } from '../../src/generation/png-text.js';
import { DEFAULT_MODEL, ReplicateBackend, SDXL_VERSION, outputUrl } from '../../src/generation/replicate-backend.js';
import { SDXL_VERSION as FAKE_SDXL_VERSION, startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';

const FAST = { retries: 4, baseMs: 10, maxMs: 50 };
let fake: FakeReplicate;
let dir: string;

beforeAll(async () => {
  fake = await startFakeReplicate({ latencyMs: 40 });
});
afterAll(async () => fake.close());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loop-gen-rep-'));
  fake.reset();
  fake.setFaults([]);
  fake.setLatency(40);
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const env = () => ({ REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl });
const gen = (over: Partial<Parameters<typeof generateImages>[0]> = {}) =>
  generateImages({
    prompt: 'a red fox in fresh snow, close-up, 85mm',
    promptSource: 'test',
    numVariations: 2,
    aspectRatio: '16:9',
    seed: 100,
    backend: 'replicate',
    outDir: dir,
    env: env(),
    replicate: { policy: FAST, pollIntervalMs: 20 },
    ...over,
  });

describe('Replicate backend against the fake API, driven by the real client', () => {
  it('sends seed S+i in each model family’s own input fields and saves verified images', async () => {
    const trace = await gen({ numVariations: 3, seed: 100, fallbackModels: [] });
    const creates = fake.creates().filter((r) => r.status === 201);
    // the default is SDXL pinned to a version: POST /v1/predictions with `version`
    expect(DEFAULT_MODEL).toBe(`stability-ai/sdxl:${SDXL_VERSION}`);
    expect(SDXL_VERSION).toBe(FAKE_SDXL_VERSION);
    expect(creates.map((r) => [r.path, r.version, r.model])).toEqual(Array(3).fill(['/v1/predictions', SDXL_VERSION, 'stability-ai/sdxl']));
    const inputs = creates.map((r) => r.body!.input as Record<string, unknown>).sort((a, b) => Number(a.seed) - Number(b.seed));
    expect(inputs.map((i) => i.seed)).toEqual([100, 101, 102]);
    for (const i of inputs) {
      expect(i.width).toBe(1344);
      expect(i.height).toBe(768);
      expect(i).not.toHaveProperty('aspect_ratio');
    }
    // create uses the API's wait mode
    expect(creates.every((r) => /^wait(=\d+)?$/.test(r.prefer ?? ''))).toBe(true);
    expect(trace.images.map((m) => m.seed)).toEqual([100, 101, 102]);
    expect(trace.images.every((m) => m.model === DEFAULT_MODEL && m.cost_usd === 0.0048)).toBe(true);
    expect(trace.images[0]!.provider).toMatchObject({ version: SDXL_VERSION, pinned_version: false, resumed_prediction: false });
    expect((trace.cost as { total_cost_usd: number }).total_cost_usd).toBeCloseTo(0.0144, 6);
    const png = await readFile(join(dir, 'image_002.png'));
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([1344, 768]);
    expect(readPngText(png).parameters).toContain('Seed: 101');
    expect(readPngText(png).parameters).toContain(`Model: ${DEFAULT_MODEL}`);

    fake.reset();
    await gen({ numVariations: 2, seed: 7, aspectRatio: '9:16', model: 'black-forest-labs/flux-schnell', outDir: dir });
    const flux = fake.creates().map((r) => r.body!.input as Record<string, unknown>).sort((a, b) => Number(a.seed) - Number(b.seed));
    expect(flux.map((i) => [i.seed, i.aspect_ratio, i.output_format])).toEqual([
      [7, '9:16', 'png'],
      [8, '9:16', 'png'],
    ]);
    expect(flux[0]).not.toHaveProperty('width');
  });

  it('honours retry-after on a throttled create (the gap is the server’s, not the backoff’s)', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'status', status: 429, retryAfter: '1' } }]);
    const trace = await gen({ numVariations: 1 });
    expect(trace.failures).toEqual([]);
    const creates = fake.creates();
    expect(creates.map((r) => r.status)).toEqual([429, 201]);
    const gap = creates[1]!.t - creates[0]!.t;
    expect(gap).toBeGreaterThanOrEqual(980); // backoff alone would be 5–10 ms with this policy
    expect(gap).toBeLessThan(3000);
  });

  it('bounds concurrency: predictions in flight at the server never exceed the limit', async () => {
    fake.setLatency(150);
    await gen({ numVariations: 8, concurrency: 3 });
    expect(fake.maxActivePredictions()).toBe(3);
    fake.reset();
    await gen({ numVariations: 8, concurrency: 8 });
    expect(fake.maxActivePredictions()).toBe(8);
  });

  it('walks the fallback chain in order when models fail permanently', async () => {
    fake.setFaults([{ on: 'create', match: (c) => c.model === 'black-forest-labs/flux-dev', fault: { kind: 'fail', error: 'NSFW content detected' } }]);
    const trace = await gen({
      numVariations: 1,
      model: 'acme/does-not-exist',
      fallbackModels: ['black-forest-labs/flux-dev', 'stability-ai/sdxl', 'black-forest-labs/flux-schnell'],
    });
    // a bare stability-ai/sdxl (not an official model: its by-name endpoint 404s) runs pinned
    expect(fake.creates().map((r) => [r.model, r.path, r.status])).toEqual([
      ['acme/does-not-exist', '/v1/models/acme/does-not-exist/predictions', 404],
      ['black-forest-labs/flux-dev', '/v1/models/black-forest-labs/flux-dev/predictions', 201],
      ['stability-ai/sdxl', '/v1/predictions', 201],
    ]);
    const m = trace.images[0]!;
    expect(m.model).toBe('stability-ai/sdxl');
    expect(m.provider).toMatchObject({ version: SDXL_VERSION, pinned_version: true });
    expect(m.provider.fallback_used).toBe(true);
    expect(m.provider.models_tried).toEqual(['acme/does-not-exist', 'black-forest-labs/flux-dev', 'stability-ai/sdxl']);
    const errs = (m.provider.model_errors as { reason: string }[]).map((e) => e.reason);
    expect(errs[0]).toMatch(/404/);
    expect(errs[1]).toMatch(/prediction fake\d+ failed: NSFW/);
    expect(trace.fallback_models).toEqual(['black-forest-labs/flux-dev', 'stability-ai/sdxl', 'black-forest-labs/flux-schnell']);
  });

  it('keeps the others when one variation fails everywhere, and records why', async () => {
    fake.setFaults([{ on: 'create', match: (c) => c.input?.seed === 201, fault: { kind: 'fail', error: 'GPU fell over' } }]);
    const trace = await gen({ numVariations: 3, seed: 200 });
    expect(trace.images.map((m) => m.file)).toEqual(['image_001.png', 'image_003.png']);
    expect(trace.failures).toHaveLength(1);
    const f = trace.failures[0]!;
    expect(f).toMatchObject({ variation: 2, seed: 201, models_tried: [DEFAULT_MODEL, 'black-forest-labs/flux-schnell'] });
    expect(f.reason).toMatch(/GPU fell over/);
    expect(existsSync(join(dir, 'image_002.png'))).toBe(false);
    expect(existsSync(join(dir, 'image_003_metadata.json'))).toBe(true);
    const onDisk = GenerationTraceSchema.parse(JSON.parse(await readFile(join(dir, 'generation_trace.json'), 'utf8')));
    expect(onDisk.failures[0]!.seed).toBe(201);
  });

  it('rejects a truncated download and fetches it again', async () => {
    fake.setFaults([{ on: 'file', times: 1, fault: { kind: 'truncate' } }]);
    const trace = await gen({ numVariations: 1 });
    expect(trace.failures).toEqual([]);
    const files = fake.requests.filter((r) => r.kind === 'file');
    expect(files).toHaveLength(2);
    expect(fake.creates()).toHaveLength(1); // the prediction was not re-run
    const png = await readFile(join(dir, 'image_001.png'));
    const raw = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([raw.info.width, raw.info.height]).toEqual([1344, 768]);
    expect(trace.images[0]!.provider.attempts).toBe(3); // create + 2 downloads
  });

  it('retries 5xx answers and dropped connections with backoff', async () => {
    fake.setFaults([
      { on: 'create', times: 1, fault: { kind: 'status', status: 503 } },
      { on: 'create', times: 1, fault: { kind: 'drop' } },
      { on: 'file', times: 1, fault: { kind: 'status', status: 500 } },
    ]);
    const trace = await gen({ numVariations: 1 });
    expect(trace.failures).toEqual([]);
    expect(fake.creates().map((r) => r.status)).toEqual([503, 0, 201]);
    expect(fake.requests.filter((r) => r.kind === 'file').map((r) => r.status)).toEqual([500, 200]);
  });

  it('keeps polling while a prediction is starting or processing', async () => {
    await fake.close();
    fake = await startFakeReplicate({ latencyMs: 300, waitCapMs: 30 });
    const trace = await gen({ numVariations: 1 });
    expect(trace.failures).toEqual([]);
    const polls = fake.requests.filter((r) => r.kind === 'get');
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(trace.images[0]!.provider.polls).toBe(polls.length);
    await fake.close();
    fake = await startFakeReplicate({ latencyMs: 40 });
  });

  it('stops at an auth failure instead of trying fallbacks with the same bad token', async () => {
    const r = await generateVariation({
      variation: 1,
      seed: 1,
      prompt: 'x',
      negativePrompt: null,
      aspectRatio: '1:1',
      model: DEFAULT_MODEL,
      fallbackModels: ['black-forest-labs/flux-schnell'],
      backend: new ReplicateBackend({ token: 'r8_wrong_token_000000', baseUrl: fake.baseUrl, policy: FAST }),
      outDir: dir,
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.failure.models_tried).toEqual([DEFAULT_MODEL]);
      expect(r.failure.reason).toMatch(/401/);
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('accepts both output forms: URL strings and FileOutput objects', () => {
    expect(outputUrl('http://x/a.png')).toBe('http://x/a.png');
    expect(outputUrl(['https://x/b.png'])).toBe('https://x/b.png');
    expect(outputUrl([{ url: () => new URL('https://x/c.png') }])).toBe('https://x/c.png');
    expect(outputUrl({})).toBeUndefined();
  });
});
