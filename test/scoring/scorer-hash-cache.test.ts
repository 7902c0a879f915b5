import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelEntry } from '../../src/models/manifest.js';
import { forgetModelHashes, HASH_SIDECAR, hashModelFiles, onModelFileHashed, verifyModel } from '../../src/models/store.js';
import { createImageScorer } from '../../src/scoring/scorer.js';
import { writeTinyModels } from '../helpers/tiny-models.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
let root: string;
let models: string;
let img: string;
const hashed: string[] = [];
let unwatch: () => void;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-hash-cache-'));
  models = join(root, 'models');
  writeTinyModels(models);
  img = join(root, 'a.png');
  await sharp({ create: { width: 20, height: 14, channels: 3, background: { r: 30, g: 140, b: 90 } } }).png().toFile(img);
  unwatch = onModelFileHashed((p) => hashed.push(p));
});
afterAll(() => {
  unwatch();
  rmSync(root, { recursive: true, force: true });
});

async function loadOnce() {
  const s = createImageScorer({ modelsDir: models, vqa: null });
  try {
    const [r] = await s.scoreBatch([{ path: img }], 'the cat');
    return { av: await s.availability(), r: r! };
  } finally {
    await s.close();
  }
}

describe('model file hashes', () => {
  it('hashes each model file once per process: a second load reads none of them again', async () => {
    const first = await loadOnce();
    // 5 files per CLIP (clip-vit-large-patch14, pickscore) + the aesthetic head
    expect(hashed).toHaveLength(11);
    expect(new Set(hashed).size).toBe(11);
    const before = hashed.length;
    const second = await loadOnce();
    expect(hashed.length - before).toBe(0);
    // and the hashes are the real ones, the same both times
    const vision = join(models, 'clip-vit-large-patch14', 'onnx/vision_model.onnx');
    expect(first.av.models.clip_score!.file_hashes['onnx/vision_model.onnx']).toBe(sha(vision));
    expect(second.av.models).toEqual(first.av.models);
    const cs = second.r.scores!.metrics.clip_score!;
    expect(cs.available && cs.file_hashes['onnx/vision_model.onnx']).toBe(sha(vision));
  });

  it('a new process reuses the sidecar; a changed file (and only it) is hashed again', async () => {
    forgetModelHashes(); // as a fresh process: only the sidecars are left
    expect(existsSync(join(models, 'pickscore', HASH_SIDECAR))).toBe(true);
    let before = hashed.length;
    await loadOnce();
    expect(hashed.length - before).toBe(0);

    const cfg = join(models, 'pickscore', 'config.json');
    appendFileSync(cfg, '\n'); // same JSON, other bytes
    before = hashed.length;
    const { av } = await loadOnce();
    expect(hashed.slice(before)).toEqual([cfg]);
    expect(av.models.pickscore!.file_hashes['config.json']).toBe(sha(cfg));
  });

  it('a file rewritten with its old size and mtime is still hashed again (ctime and inode change)', async () => {
    const cfg = join(models, 'clip-vit-large-patch14', 'config.json');
    const st = statSync(cfg);
    const text = readFileSync(cfg, 'utf8');
    const other = text.replace('"model_type":"clip"', '"model_type":"CLIP"');
    expect(other.length).toBe(text.length);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(cfg, other);
    utimesSync(cfg, st.atime, st.mtime);
    const before = hashed.length;
    const { av } = await loadOnce();
    expect(hashed.slice(before)).toEqual([cfg]);
    expect(av.models.clip_score!.file_hashes['config.json']).toBe(sha(cfg));
  });

  it('`models verify` hashes the bytes whatever the cache says, and corrects a stale cache', async () => {
    const dir = join(models, 'laion-aesthetic-v2');
    const file = 'aesthetic_head.onnx';
    const real = sha(join(dir, file));
    // plant a lie for the file's current identity in the sidecar, as a stale cache would hold
    const side = JSON.parse(readFileSync(join(dir, HASH_SIDECAR), 'utf8'));
    const fake = 'f'.repeat(64);
    side.files[file].sha256 = fake;
    writeFileSync(join(dir, HASH_SIDECAR), JSON.stringify(side));
    forgetModelHashes();
    expect(await hashModelFiles(dir, [file])).toEqual({ [file]: fake }); // the cache is trusted on load…
    const entry: ModelEntry = {
      id: 'laion-aesthetic-v2',
      role: 'test',
      metrics: ['aesthetic'],
      obtain: 'build',
      source: 'test',
      license: 'test',
      files: [{ path: file, url: null, sha256: real, size: null }],
    };
    const before = hashed.length;
    const v = await verifyModel(models, entry); // …never by verify
    expect(v).toEqual([{ path: file, status: 'ok', sha256: real, expected: real }]);
    expect(hashed.length).toBe(before); // verify reads the file itself, not through the cache
    expect(await hashModelFiles(dir, [file])).toEqual({ [file]: real });
    forgetModelHashes();
    expect(await hashModelFiles(dir, [file])).toEqual({ [file]: real }); // the sidecar was corrected too
  });

  it('concurrent loads of one file share one hash', async () => {
    forgetModelHashes();
    rmSync(join(models, 'pickscore', HASH_SIDECAR));
    const before = hashed.length;
    const dir = join(models, 'pickscore');
    const [a, b] = await Promise.all([hashModelFiles(dir, ['onnx/vision_model.onnx']), hashModelFiles(dir, ['onnx/vision_model.onnx'])]);
    expect(a).toEqual(b);
    expect(hashed.length - before).toBe(1);
  });
});
