/**
 * The generation cache in front of image generation, against the fake Replicate API over real
 * HTTP: `loop generate-images` run twice pays once (the second run makes no create request and
 * writes the same bytes, its metadata saying "hit", cost 0); --no-cache pays again; any input
 * that changes the image (seed, prompt, negative prompt, aspect ratio, model, init image) misses.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cachedImageBackend, GenerationCache } from '../../src/cache/generation-cache.js';
import type { GenerateRequest } from '../../src/generation/backend.js';
import { GenerationTraceSchema, ImageMetadataSchema } from '../../src/generation/metadata.js';
import { ReplicateBackend } from '../../src/generation/replicate-backend.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { runCli } from '../helpers/cli.js';

let work: string;
let fake: FakeReplicate;
const PROMPT = 'A lighthouse keeper climbing a spiral stair at dusk, 28mm, warm practical light';
const FLUX = 'black-forest-labs/flux-schnell';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-cache-images-'));
  await writeFile(join(work, 'p.txt'), PROMPT + '\n');
  fake = await startFakeReplicate({ latencyMs: 20 });
});
afterAll(async () => {
  await fake?.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  fake.reset();
  fake.setFaults([]);
});

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

describe('loop generate-images with the generation cache (fake Replicate)', () => {
  const out = () => join(work, 'out');
  const env = () => ({ REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl, LOOP_OUTPUT_DIR: out() });
  const gen = async (label: string, extra: string[] = []) => {
    const runs = join(work, 'runs', label);
    const r = await runCli(['generate-images', 'p.txt', '-n', '2', '--seed', '4242', '-m', FLUX, '--fallback-model', FLUX, '--skip-scoring', '--json', '-o', runs, ...extra], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const trace = GenerationTraceSchema.parse(JSON.parse(r.stdout));
    const dir = join(runs, (await readdir(runs))[0]!);
    const metas = await Promise.all(trace.images.map(async (m) => ImageMetadataSchema.parse(JSON.parse(await readFile(join(dir, m.file.replace('.png', '_metadata.json')), 'utf8')))));
    const bytes = await Promise.all(trace.images.map((m) => readFile(join(dir, m.file))));
    return { r, trace, metas, bytes };
  };

  it('a second identical run makes no create request, writes identical bytes and says hit, cost 0; --no-cache pays again', async () => {
    const first = await gen('first');
    expect(fake.created()).toBe(2);
    expect(first.trace.from_cache).toBe(0);
    expect(first.metas.map((m) => m.cache?.status)).toEqual(['miss', 'miss']);
    const paid = first.metas.map((m) => m.cost_usd);
    expect(paid.every((c) => typeof c === 'number' && c > 0)).toBe(true);

    fake.reset();
    const second = await gen('second');
    expect(fake.creates()).toEqual([]); // not even a failed one: nothing reached the provider
    expect(fake.requests).toEqual([]);
    expect(second.trace.from_cache).toBe(2);
    for (const [i, m] of second.metas.entries()) {
      expect(second.bytes[i]!.equals(first.bytes[i]!), `image ${i + 1} bytes`).toBe(true);
      expect(m.sha256).toBe(first.metas[i]!.sha256);
      expect(m.cache).toMatchObject({ status: 'hit', key: first.metas[i]!.cache!.key, original_cost_usd: paid[i] });
      expect(m.cost_usd).toBe(0);
      // the original provider record, marked
      expect(m.provider.prediction_id).toBe(first.metas[i]!.provider.prediction_id);
      expect(m.provider.cache).toMatchObject({ hit: true, key: m.cache!.key, original_cost_usd: paid[i] });
    }
    expect(second.trace.cost.total_cost_usd).toBe(0);
    expect(second.r.stderr).toMatch(/2 of 2 images came from the generation cache/);

    // --no-cache: both are bought again, marked bypassed, and the cache is not rewritten
    const cacheDir = join(out(), '.cache', 'generations');
    const before = new Map<string, string>();
    for await (const f of walk(cacheDir)) before.set(f, (await readFile(f)).toString('base64'));
    fake.reset();
    const third = await gen('third', ['--no-cache']);
    expect(fake.created()).toBe(2);
    expect(third.trace.from_cache).toBe(0);
    expect(third.metas.map((m) => m.cache?.status)).toEqual(['bypassed', 'bypassed']);
    expect(third.metas.map((m) => m.cache?.key)).toEqual(first.metas.map((m) => m.cache?.key));
    expect(third.metas.map((m) => m.cost_usd)).toEqual(paid);
    const after = new Map<string, string>();
    for await (const f of walk(cacheDir)) after.set(f, (await readFile(f)).toString('base64'));
    expect(after).toEqual(before);

    // no secret in any key or record
    expect(before.size).toBe(4);
    for (const [f, b64] of before) {
      expect(f).not.toContain(fake.token);
      expect(Buffer.from(b64, 'base64').includes(Buffer.from(fake.token)), f).toBe(false);
    }
  }, 60_000);
});

describe('what misses (cachedImageBackend over the Replicate backend, fake API)', () => {
  let cache: GenerationCache;
  let initA: Buffer;
  let initB: Buffer;
  beforeAll(async () => {
    cache = new GenerationCache(join(work, 'keys-cache'));
    initA = await sharp({ create: { width: 64, height: 36, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer();
    initB = await sharp({ create: { width: 64, height: 36, channels: 3, background: { r: 30, g: 200, b: 30 } } }).png().toBuffer();
  });
  const backend = () => cachedImageBackend(new ReplicateBackend({ token: fake.token, baseUrl: fake.baseUrl, pollIntervalMs: 20, firstPollMs: 5 }), cache);
  const base: GenerateRequest = { prompt: PROMPT, negativePrompt: null, aspectRatio: '16:9', seed: 7, model: 'black-forest-labs/flux-dev', fallbackModels: [], width: 1344, height: 768 };
  /** Predictions the request bought. */
  const bought = async (req: GenerateRequest) => {
    fake.reset();
    const r = await backend().generate(req);
    return { n: fake.created(), r };
  };

  it('the same request hits; a changed seed, prompt, negative prompt, aspect ratio, model or init image misses', async () => {
    expect((await bought(base)).n).toBe(1);
    const again = await bought(base);
    expect(again.n).toBe(0);
    expect(again.r.costUsd).toBe(0);
    expect(again.r.provider.cache).toMatchObject({ status: 'hit', hit: true });

    const changes: [string, GenerateRequest][] = [
      ['seed', { ...base, seed: 8 }],
      ['prompt', { ...base, prompt: `${PROMPT}, rain` }],
      ['negative prompt', { ...base, negativePrompt: 'text, watermark' }],
      ['aspect ratio', { ...base, aspectRatio: '1:1', width: 1024, height: 1024 }],
      ['model', { ...base, model: FLUX }],
      ['init image', { ...base, initImage: { bytes: initA, mime: 'image/png', strength: 0.65 } }],
      ['a different init image', { ...base, initImage: { bytes: initB, mime: 'image/png', strength: 0.65 } }],
      ['init strength', { ...base, initImage: { bytes: initB, mime: 'image/png', strength: 0.4 } }],
    ];
    for (const [what, req] of changes) {
      const miss = await bought(req);
      expect(miss.n, `changed ${what}: a new prediction`).toBe(1);
      expect(miss.r.provider.cache, what).toMatchObject({ status: 'miss', hit: false });
      // and that request is now cached too
      expect((await bought(req)).n, `changed ${what}, asked again`).toBe(0);
    }
    // the same init image bytes under another name are the same request
    const copy = Buffer.from(initA);
    expect((await bought({ ...base, initImage: { bytes: copy, mime: 'image/png', strength: 0.65 } })).n).toBe(0);
    // what only changes the transport is not part of the key
    expect((await bought({ ...base, deadlineMs: 12_345, resume: undefined, signal: new AbortController().signal })).n).toBe(0);
  }, 60_000);

  it('a failed generation is not cached: the next call asks the provider again', async () => {
    const req = { ...base, seed: 991 };
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'fail', error: 'injected' } }]);
    await expect(backend().generate(req)).rejects.toThrow(/injected/);
    fake.setFaults([]);
    expect((await bought(req)).n).toBe(1);
    expect((await bought(req)).n).toBe(0);
  });
});
