/**
 * The cache's own guarantees: prune evicts the least recently used until under the bound (a hit
 * counts as a use); an entry whose bytes do not match its recorded sha256 is a miss, is made
 * again and rewritten, and is never served; concurrent writers of one key (in one process and in
 * several) leave a consistent entry; `loop cache stats|prune` report and bound it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedImageBackend, GenerationCache } from '../../src/cache/generation-cache.js';
import { parseAge, parseSize } from '../../src/cache/units.js';
import type { GenerateRequest } from '../../src/generation/backend.js';
import { ReplicateBackend } from '../../src/generation/replicate-backend.js';
import { sha256Hex } from '../../src/lib/hash.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { CLI_PATH, REPO_ROOT, runCli } from '../helpers/cli.js';

let work: string;
let fake: FakeReplicate;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-cache-store-'));
  fake = await startFakeReplicate({ latencyMs: 10 });
});
afterAll(async () => {
  await fake?.close();
  await rm(work, { recursive: true, force: true });
});

let n = 0;
const keyFor = (s: string) => sha256Hex(`key ${s}`);
const rec = (cost: number | null = 0.003) => ({ kind: 'image' as const, backend: 'replicate', original_cost_usd: cost, inputs: { prompt: 'p' }, result: { model: 'm', width: 8, height: 8, provider: {} } });
const fresh = () => new GenerationCache(join(work, `cache-${++n}`));

/** Set an entry's last use to `msAgo` before now (both files, as a hit would). */
async function lastUsed(cache: GenerationCache, key: string, msAgo: number) {
  const t = new Date(Date.now() - msAgo);
  const p = cache.paths(key);
  await utimes(p.json, t, t);
  await utimes(p.bin, t, t);
}

describe('prune', () => {
  it('removes the least recently used entries until the cache is under the bound, and a hit counts as a use', async () => {
    const cache = fresh();
    const keys = Array.from({ length: 6 }, (_, i) => keyFor(`lru ${n} ${i}`));
    for (const [i, k] of keys.entries()) {
      await cache.put(k, Buffer.alloc(10_000, i), rec());
      await lastUsed(cache, k, (10 - i) * 60_000); // key 0 is the oldest
    }
    const { entries } = await cache.scan();
    const size = entries[0]!.bytes;
    expect(entries).toHaveLength(6);
    // key 0 is the oldest by creation, but a hit makes it the most recent
    expect((await cache.get(keys[0]!)).status).toBe('hit');
    const bound = size * 3 + 10;
    const r = await cache.prune({ maxBytes: bound });
    expect(r.removed.map((x) => x.key)).toEqual([keys[1], keys[2], keys[3]]);
    expect(r.removed.every((x) => x.why === 'max-size')).toBe(true);
    expect(r.kept_bytes).toBeLessThanOrEqual(bound);
    expect(r.kept_entries).toBe(3);
    const left = (await cache.scan()).entries.map((e) => e.key).sort();
    expect(left).toEqual([keys[0], keys[4], keys[5]].sort());
    for (const k of [keys[1]!, keys[2]!, keys[3]!]) {
      expect((await cache.get(k)).status).toBe('absent');
      expect(existsSync(cache.paths(k).bin)).toBe(false);
    }
    for (const k of [keys[0]!, keys[4]!, keys[5]!]) expect((await cache.get(k)).status).toBe('hit');
  });

  it('--older-than removes what was not used since; a dry run removes nothing; leftovers of dead writers go', async () => {
    const cache = fresh();
    const [old, recent] = [keyFor(`age ${n} old`), keyFor(`age ${n} new`)];
    await cache.put(old, Buffer.from('old bytes'), rec());
    await cache.put(recent, Buffer.from('new bytes'), rec());
    await lastUsed(cache, old, 40 * 86_400_000);
    await lastUsed(cache, recent, 2 * 86_400_000);
    // a temp file and half an entry a killed writer left an hour ago
    const stray = join(cache.dir, old.slice(0, 2), `${old}.bin.tmp-1-deadbeef`);
    const half = cache.paths(keyFor(`age ${n} half`)).bin;
    await writeFile(stray, 'x');
    await mkdir(dirname(half), { recursive: true });
    await writeFile(half, 'y');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(stray, hourAgo, hourAgo);
    await utimes(half, hourAgo, hourAgo);

    const dry = await cache.prune({ olderThanMs: parseAge('30d'), dryRun: true });
    expect(dry.removed.map((r) => r.key)).toEqual([old]);
    expect((await cache.get(old)).status).toBe('hit');
    await lastUsed(cache, old, 40 * 86_400_000);

    const r = await cache.prune({ olderThanMs: parseAge('30d') });
    expect(r.removed).toEqual([expect.objectContaining({ key: old, why: 'older-than' })]);
    expect(r.leftovers_removed).toBe(2);
    expect(existsSync(stray) || existsSync(half)).toBe(false);
    expect((await cache.get(old)).status).toBe('absent');
    expect((await cache.get(recent)).status).toBe('hit');
  });

  it('sizes and ages parse as the flags take them', () => {
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('500MB')).toBe(5e8);
    expect(parseSize('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('2 gb')).toBe(2e9);
    for (const bad of ['', 'GB', '-1GB', '1e9', '0x10', '2XB']) expect(parseSize(bad), bad).toBeUndefined();
    expect(parseAge('30d')).toBe(30 * 86_400_000);
    expect(parseAge('12h')).toBe(12 * 3_600_000);
    expect(parseAge('90m')).toBe(90 * 60_000);
    expect(parseAge('2w')).toBe(14 * 86_400_000);
    for (const bad of ['30', 'd', '-1d', '1e2d', '3y']) expect(parseAge(bad), bad).toBeUndefined();
  });
});

describe('a corrupted entry', () => {
  const req: GenerateRequest = { prompt: 'a paper boat on a puddle, macro', negativePrompt: null, aspectRatio: '1:1', seed: 31, model: 'black-forest-labs/flux-schnell', fallbackModels: [], width: 1024, height: 1024 };

  it('is a miss: the image is made again, served fresh, and the entry is rewritten', async () => {
    const cache = fresh();
    const backend = cachedImageBackend(new ReplicateBackend({ token: fake.token, baseUrl: fake.baseUrl }), cache);
    fake.reset();
    const made = await backend.generate(req);
    expect(fake.created()).toBe(1);
    const key = (made.provider.cache as { key: string }).key;
    const p = cache.paths(key);

    // flip one byte: same size, wrong sha256
    const bad = Buffer.from(await readFile(p.bin));
    bad[bad.length >> 1] ^= 0xff;
    await writeFile(p.bin, bad);
    expect(await cache.get(key)).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/sha256/) });
    fake.reset();
    const again = await backend.generate(req);
    expect(fake.created()).toBe(1); // made again, not served
    expect(again.bytes.equals(bad)).toBe(false);
    expect(again.bytes.equals(made.bytes)).toBe(true);
    expect(again.provider.cache).toMatchObject({ status: 'miss' });
    // rewritten: the next call is a hit with the right bytes
    expect((await readFile(p.bin)).equals(made.bytes)).toBe(true);
    fake.reset();
    const third = await backend.generate(req);
    expect(fake.created()).toBe(0);
    expect(third.bytes.equals(made.bytes)).toBe(true);

    // truncated bytes, and a record that is not JSON: misses too
    await writeFile(p.bin, made.bytes.subarray(0, 100));
    expect((await cache.get(key)).status).toBe('corrupt');
    await backend.generate(req);
    await writeFile(p.json, '{"schema_version": 1, "key": "');
    expect((await cache.get(key)).status).toBe('corrupt');
    fake.reset();
    const fourth = await backend.generate(req);
    expect(fake.created()).toBe(1);
    expect(fourth.bytes.equals(made.bytes)).toBe(true);
    expect((await cache.get(key)).status).toBe('hit');
  });
});

describe('concurrent writers of the same key', () => {
  it('in one process: every round ends with one writer\'s whole entry, never a mix', async () => {
    const cache = fresh();
    const key = keyFor(`race ${n}`);
    for (let round = 0; round < 15; round++) {
      // different bytes per writer (a model that is not deterministic): only a consistent pair may remain
      const payloads = Array.from({ length: 8 }, (_, w) => Buffer.alloc(64_000 + w * 1000, (round * 8 + w) % 256));
      const results = await Promise.all(payloads.map((b, w) => cache.put(key, b, rec(w))));
      expect(results).toContain('stored');
      const got = await cache.get(key);
      expect(got.status, `round ${round}`).toBe('hit');
      if (got.status !== 'hit') continue;
      const w = payloads.findIndex((b) => b.equals(got.bytes));
      expect(w, `round ${round}: the bytes are one writer's`).toBeGreaterThanOrEqual(0);
      expect(got.record.original_cost_usd, `round ${round}: the record is the same writer's`).toBe(w);
    }
    expect((await readdir(join(cache.dir, key.slice(0, 2)))).sort()).toEqual([`${key}.bin`, `${key}.json`]);
  });

  it('in several processes: readers never get a torn entry, and it ends consistent', async () => {
    const dist = join(REPO_ROOT, 'dist', 'src', 'cache', 'generation-cache.js');
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build first (npx tsc -p .)`);
    const cache = fresh();
    const key = keyFor(`procs ${n}`);
    // each process writes 25 times, each time its own bytes and a record naming them
    const script = `
      const { GenerationCache } = await import(${JSON.stringify(dist)});
      const c = new GenerationCache(${JSON.stringify(cache.dir)});
      const w = Number(process.argv[1]);
      for (let i = 0; i < 25; i++) {
        const b = Buffer.alloc(40000 + w * 997 + i, (w * 31 + i) % 256);
        await c.put(${JSON.stringify(key)}, b, { kind: 'image', backend: 'x', original_cost_usd: w * 1000 + i, inputs: {}, result: { model: 'm', width: 1, height: 1, provider: {} } });
      }`;
    const procs = Array.from({ length: 4 }, (_, w) =>
      new Promise<number | null>((res) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script, String(w)], { stdio: ['ignore', 'ignore', 'inherit'] });
        c.on('close', res);
      }),
    );
    let reads = 0;
    let hits = 0;
    let done = false;
    const all = Promise.all(procs).finally(() => (done = true));
    while (!done) {
      const got = await cache.get(key);
      reads++;
      if (got.status === 'hit') {
        hits++;
        // a hit is always a whole payload of the writer and round its record names
        const c = got.record.original_cost_usd!;
        const [w, i] = [Math.floor(c / 1000), c % 1000];
        expect(got.bytes.equals(Buffer.alloc(40000 + w * 997 + i, (w * 31 + i) % 256))).toBe(true);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await all).toEqual([0, 0, 0, 0]);
    expect(reads).toBeGreaterThan(0);
    const end = await cache.get(key);
    expect(end.status).toBe('hit');
    expect(hits + 1).toBeGreaterThan(0);
    expect((await readdir(join(cache.dir, key.slice(0, 2)))).sort()).toEqual([`${key}.bin`, `${key}.json`]);
  }, 60_000);
});

describe('loop cache stats | prune', () => {
  it('reports the entries and bounds the cache under LOOP_OUTPUT_DIR', async () => {
    if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: build first`);
    const out = join(work, 'cli-out');
    const cache = GenerationCache.at(out);
    const keys = Array.from({ length: 4 }, (_, i) => keyFor(`cli ${i}`));
    for (const [i, k] of keys.entries()) {
      await cache.put(k, Buffer.alloc(300_000, i), { ...rec(0.01), kind: i === 3 ? 'video' : 'image' });
      await lastUsed(cache, k, (5 - i) * 3_600_000);
    }
    const st = await runCli(['cache', 'stats', '--json'], { env: { LOOP_OUTPUT_DIR: out } });
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ dir: cache.dir, entries: 4, images: 3, videos: 1, original_cost_usd: 0.04 });
    const human = await runCli(['cache', 'stats'], { env: { LOOP_OUTPUT_DIR: out } });
    expect(human.stdout).toMatch(/entries: 4 \(3 images, 1 video\)/);

    const bad = await runCli(['cache', 'prune', '--max-size', 'lots'], { env: { LOOP_OUTPUT_DIR: out } });
    expect(bad.code).toBe(2);
    expect(bad.stderrLines).toEqual([expect.stringMatching(/^loop: error: .*--max-size must be a size like 2GB/)]);

    const pr = await runCli(['cache', 'prune', '--max-size', '700KB', '--json'], { env: { LOOP_OUTPUT_DIR: out } });
    expect(pr.code, pr.stderr).toBe(0);
    const r = JSON.parse(pr.stdout);
    expect(r.removed.map((x: { key: string }) => x.key)).toEqual([keys[0], keys[1]]);
    expect(r.kept_bytes).toBeLessThanOrEqual(700_000);
    expect((await cache.scan()).entries.map((e) => e.key).sort()).toEqual([keys[2], keys[3]].sort());
    const age = await runCli(['cache', 'prune', '--older-than', '150m'], { env: { LOOP_OUTPUT_DIR: out } });
    expect(age.code, age.stderr).toBe(0);
    expect(age.stdout).toMatch(/^removed 1 entry/);
    expect((await cache.scan()).entries.map((e) => e.key)).toEqual([keys[3]]);
    expect((await stat(cache.paths(keys[3]!).bin)).size).toBe(300_000);
  }, 60_000);
});
