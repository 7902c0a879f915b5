import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createThreadHost } from '../../src/scoring/inference-host.js';
import { createImageScorer, type ImageScoreResult } from '../../src/scoring/scorer.js';
import { prng, writeTinyAesthetic, writeTinyClip } from '../helpers/tiny-models.js';

let root: string;
const paths: string[] = [];

/** Noisy images of assorted sizes (so resize, crop and every pixel matter), one that is not an image. */
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-pipeline-'));
  const models = join(root, 'models');
  writeTinyClip(join(models, 'clip-vit-large-patch14'), { seed: 3, dim: 8, side: 16 });
  // PickScore with its own preprocessing (24 px): two pixel batches per chunk, two hand-offs
  writeTinyClip(join(models, 'pickscore'), { seed: 5, dim: 8, side: 24, withMask: false });
  writeTinyAesthetic(join(models, 'laion-aesthetic-v2'), 8);
  const rnd = prng(17);
  const sizes: [number, number][] = [[64, 40], [30, 50], [80, 80], [17, 33], [120, 45], [48, 48], [90, 30]];
  for (const [i, [w, h]] of sizes.entries()) {
    const raw = Buffer.from(Array.from({ length: w * h * 3 }, () => Math.floor((rnd() + 1) * 127.5)));
    const p = join(root, `img${i}.png`);
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toFile(p);
    paths.push(p);
    if (i === 3) {
      const bad = join(root, 'broken.png');
      writeFileSync(bad, 'not an image');
      paths.push(bad);
    }
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const withoutTime = (rs: ImageScoreResult[]) => rs.map((r) => (r.scores ? { ...r, scores: { ...r.scores, scored_at: 'x' } } : r));

async function score(pipeline: 'overlap' | 'serial', batchSize: number) {
  const s = createImageScorer({ modelsDir: join(root, 'models'), vqa: null, pipeline, batchSize });
  const progress: number[] = [];
  try {
    // the first call loads the models (the overlapped one preprocesses meanwhile); the second is warm
    const cold = await s.scoreBatch(paths.map((path) => ({ path })), 'the cat');
    const warm = await s.scoreBatch(paths.map((path) => ({ path })), 'a cat', { onProgress: (d) => progress.push(d) });
    return { cold, warm, progress, stats: s.stats() };
  } finally {
    await s.close();
  }
}

describe('overlapped scoring pipeline', () => {
  it('gives exactly the scores of the serial pipeline, cold and warm, for several batch sizes', async () => {
    for (const batchSize of [1, 3, 8]) {
      const serial = await score('serial', batchSize);
      const overlap = await score('overlap', batchSize);
      expect(withoutTime(overlap.cold)).toEqual(withoutTime(serial.cold));
      expect(withoutTime(overlap.warm)).toEqual(withoutTime(serial.warm));
      // the images are really scored by every metric, and the broken one is reported
      const good = overlap.warm.filter((r) => r.scores);
      expect(good).toHaveLength(7);
      for (const r of good) for (const m of ['clip_score', 'pickscore', 'aesthetic', 'technical']) expect(r.scores!.metrics[m]!.available).toBe(true);
      expect(overlap.warm[4]!.error).toMatch(/cannot decode image/);
      // one vision run per model per chunk of `batchSize` inputs that holds a decodable image
      const chunks = Array.from({ length: Math.ceil(paths.length / batchSize) }, (_, k) => k).filter(
        (k) => !(batchSize === 1 && k === 4), // the broken image alone: nothing to run
      ).length;
      const runsOf = (id: string) => Object.entries(overlap.stats.runs).find(([k]) => k.includes(`${id}/onnx/vision`))![1];
      expect(runsOf('clip-vit-large-patch14')).toBe(2 * chunks);
      expect(runsOf('pickscore')).toBe(2 * chunks);
      expect(overlap.progress.at(-1)).toBe(paths.length);
      expect(overlap.progress).toEqual([...overlap.progress].sort((a, b) => a - b));
    }
  });

  it('scores the same in one call as in chunks of one (row results do not depend on the batch)', async () => {
    const whole = await score('overlap', 8);
    const ones = await score('overlap', 1);
    for (const [i, r] of whole.warm.entries()) {
      if (!r.scores) continue;
      for (const m of ['clip_score', 'pickscore', 'aesthetic']) {
        const a = r.scores.metrics[m] as { raw: number };
        const b = ones.warm[i]!.scores!.metrics[m] as { raw: number };
        expect(Math.abs(a.raw - b.raw)).toBeLessThan(1e-4);
      }
    }
  });
});

describe('inference host hand-off', () => {
  it('moves a pixel batch to the thread without copying it, once for several sessions', async () => {
    const host = createThreadHost();
    try {
      const dir = join(root, 'models', 'clip-vit-large-patch14', 'onnx');
      const v = await host.load(join(dir, 'vision_model.onnx'), { kind: 'cpu' });
      const data = new Float32Array(2 * 3 * 16 * 16).fill(0.25);
      const copy = data.slice();
      const kept = await host.run(v.key, { pixel_values: { type: 'float32', dims: [2, 3, 16, 16], data: copy } }, ['image_embeds']);
      expect(copy.length).toBe(data.length); // not transferred: still usable here
      const [a, b] = await host.runEach(
        [
          { key: v.key, fetches: ['image_embeds'] },
          { key: v.key, fetches: ['image_embeds'] },
        ],
        { pixel_values: { type: 'float32', dims: [2, 3, 16, 16], data } },
        { transfer: true },
      );
      expect(data.byteLength).toBe(0); // moved: detached on this side
      expect(Array.from(a!.image_embeds!.data as Float32Array)).toEqual(Array.from(kept.image_embeds!.data as Float32Array));
      expect(Array.from(b!.image_embeds!.data as Float32Array)).toEqual(Array.from(kept.image_embeds!.data as Float32Array));
      expect(host.stats().runs[v.key]).toBe(3);
    } finally {
      await host.close();
    }
  });
});
