import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelEntry } from '../../src/models/manifest.js';
import { pullModel } from '../../src/models/pull.js';
import { resolveModelsDir, verifyModel } from '../../src/models/store.js';

const BIG = randomBytes(300_000);
const SMALL = Buffer.from('{"tiny": true}\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let server: Server;
let base: string;
let root: string;
const ranges: (string | undefined)[] = [];
let dropFirst = true;
/** While set, every /big.bin response dies half-way (a flaky link). */
let alwaysDrop = false;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-pull-'));
  server = createServer((req, res) => {
    if (req.url === '/small.json') return res.end(SMALL);
    if (req.url !== '/big.bin') return res.writeHead(404).end();
    const range = req.headers.range;
    ranges.push(range);
    const start = range ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
    if (start >= BIG.length) return res.writeHead(416).end();
    const body = BIG.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'content-length': String(body.length),
      ...(range ? { 'content-range': `bytes ${start}-${BIG.length - 1}/${BIG.length}` } : {}),
    });
    if (dropFirst || alwaysDrop) {
      dropFirst = false;
      // send part of the body, then kill the connection
      res.write(body.subarray(0, 100_000), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

const entry = (bigSha: string | null): ModelEntry => ({
  id: 'fake-model',
  role: 'test',
  metrics: ['clip_score'],
  obtain: 'download',
  source: 'test',
  license: 'test',
  files: [
    { path: 'onnx/big.bin', url: `${base}/big.bin`, sha256: bigSha, size: BIG.length },
    { path: 'small.json', url: `${base}/small.json`, sha256: null, size: null },
  ],
});

describe('models pull', () => {
  it('resumes after a dropped connection with a Range request and verifies sha256', async () => {
    const dir = join(root, 'a');
    const seen: number[] = [];
    const r = await pullModel(dir, entry(sha(BIG)), { onProgress: (p) => p.file === 'onnx/big.bin' && seen.push(p.received) });
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(ranges[1]!)![0])).toBeGreaterThan(0);
    expect(r[0]).toMatchObject({ status: 'downloaded', sha256: sha(BIG), pinned: true, resumed: true });
    expect(r[1]).toMatchObject({ status: 'downloaded', pinned: false });
    expect(readFileSync(join(dir, 'fake-model/onnx/big.bin')).equals(BIG)).toBe(true);
    expect(existsSync(join(dir, 'fake-model/onnx/big.bin.part'))).toBe(false);
    expect(seen.at(-1)).toBe(BIG.length);
    expect((await verifyModel(dir, entry(sha(BIG)))).map((f) => f.status)).toEqual(['ok', 'unpinned']);
    // a second pull finds the files present
    expect((await pullModel(dir, entry(sha(BIG))))[0]!.status).toBe('present');
  });

  it('never leaves a partial file under the final name, and resumes it on the next pull', async () => {
    const dir = join(root, 'b');
    alwaysDrop = true;
    await expect(pullModel(dir, entry(sha(BIG)), { attempts: 2 })).rejects.toThrow(/failed after 2 attempts.*run pull again to resume/);
    alwaysDrop = false;
    expect(existsSync(join(dir, 'fake-model/onnx/big.bin'))).toBe(false);
    const partSize = statSync(join(dir, 'fake-model/onnx/big.bin.part')).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(BIG.length);
    const n = ranges.length;
    await pullModel(dir, entry(sha(BIG)));
    expect(ranges[n]).toBe(`bytes=${partSize}-`);
    expect(readFileSync(join(dir, 'fake-model/onnx/big.bin')).equals(BIG)).toBe(true);
  });

  it('discards a download whose sha256 does not match, with exit code MODEL', async () => {
    const dir = join(root, 'c');
    const err = await pullModel(dir, entry('0'.repeat(64))).catch((e) => e);
    expect(err.exitCode).toBe(10);
    expect(err.message).toMatch(/failed verification/);
    expect(existsSync(join(dir, 'fake-model/onnx/big.bin'))).toBe(false);
    expect(existsSync(join(dir, 'fake-model/onnx/big.bin.part'))).toBe(false);
  });

  it('refuses models that cannot be downloaded, naming the recipe', async () => {
    const e = { ...entry(null), obtain: 'export' as const, instructions: 'see models/README.md (PickScore)' };
    await expect(pullModel(join(root, 'd'), e)).rejects.toThrow(/no public ONNX export.*PickScore/);
  });

  it('resolves the models folder: flag, then LOOP_MODELS_DIR, then the user cache', () => {
    expect(resolveModelsDir({ modelsDir: '/x/m', env: { LOOP_MODELS_DIR: '/y' } })).toBe('/x/m');
    expect(resolveModelsDir({ env: { LOOP_MODELS_DIR: '/y' } })).toBe('/y');
    expect(resolveModelsDir({ env: { XDG_CACHE_HOME: '/c' } })).toBe('/c/loop/models');
    expect(resolveModelsDir({ env: {} })).toMatch(/\.cache\/loop\/models$/);
    writeFileSync(join(root, 'touch'), '');
  });
});
