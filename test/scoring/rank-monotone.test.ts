/**
 * Ranking is strictly monotone in the raw scores, also beyond the anchors where the 0–100 values
 * clamp: two images above a metric's top anchor both show 100 but still rank in raw order.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageMetadataSchema, metadataFileName } from '../../src/generation/metadata.js';
import { loadAnchors, normalizeUnclamped } from '../../src/scoring/anchors.js';
import { combine } from '../../src/scoring/combine.js';
import { rankOrder, scoreGenerationDir } from '../../src/scoring/rank.js';
import { createImageScorer } from '../../src/scoring/scorer.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { writeGenerationDir, type GenImage } from './gen-dir.js';
import { assertConsistent, scriptedScorer, shaByVariation } from './rank-helpers.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-rank-mono-'));
  writeTinyModels(join(root, 'models'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const COLOURS: [number, number, number][] = [
  [200, 30, 30],
  [20, 180, 60],
  [40, 40, 220],
];

/** Score a folder whose images get these raw PickScores (by variation) and seeds; the raws of the ranked files, best first. */
async function rankWith(name: string, raws: number[], seeds: number[]) {
  const dir = join(root, name);
  const trace = await writeGenerationDir(dir, 'the cat', raws.map((_, i): GenImage => ({ rgb: COLOURS[i]!, seed: seeds[i]! })));
  const variationOf = shaByVariation(trace);
  const r = await scoreGenerationDir(dir, { scorer: scriptedScorer((sha) => raws[variationOf.get(sha)! - 1]!) });
  assertConsistent(dir);
  return { dir, r, ranked: r.images.map((i) => raws[i.variation - 1]) };
}

describe('ranking beyond the anchors', () => {
  const top = loadAnchors().metrics.pickscore; // lo 17, hi 25

  it('ranks images above the top anchor in raw order, whatever their seeds; shows them as 100', async () => {
    const raws = [26, 30, 28]; // all above hi: all normalise to 100
    for (const [k, seeds] of [[0, 1, 2], [2, 1, 0], [1, 0, 2]].entries()) {
      const { r, ranked } = await rankWith(`above-${k}`, raws, seeds);
      expect(ranked).toEqual([30, 28, 26]);
      expect(r.images.map((i) => i.overall)).toEqual([100, 100, 100]);
      expect(r.images.map((i) => i.metrics.pickscore)).toEqual([100, 100, 100]);
      // the key is the unclamped linear map, and is recorded
      r.images.forEach((img, i) => expect(img.rank_key).toBeCloseTo(normalizeUnclamped(ranked[i]!, top), 3));
    }
  });

  it('ranks images below the bottom anchor in raw order too (all show 0)', async () => {
    const { r, ranked } = await rankWith('below', [12, 9, 15], [0, 1, 2]);
    expect(ranked).toEqual([15, 12, 9]);
    expect(r.images.map((i) => i.overall)).toEqual([0, 0, 0]);
  });

  it('ties only on equal raw values, broken by the lower seed', async () => {
    const { r } = await rankWith('tie', [27, 27, 26], [8, 3, 1]);
    expect(r.images.map((i) => i.seed)).toEqual([3, 8, 1]);
  });

  it('records the key and the unclamped metric value in the metadata', async () => {
    const { dir } = await rankWith('recorded', [29, 26, 20], [0, 1, 2]);
    const best = ImageMetadataSchema.parse(JSON.parse(readFileSync(join(dir, metadataFileName(1)), 'utf8')));
    const pick = best.scores!.metrics.pickscore!;
    expect(pick.available && pick.normalized).toBe(100);
    expect(pick.available && pick.normalized_unclamped).toBeCloseTo(150, 3);
    expect(best.scores!.overall).toBe(100);
    expect(best.scores!.rank_key).toBeCloseTo(150, 3);
  });

  it('ranks by the real scorer in the order of its raw values when every image is beyond the anchors', async () => {
    // anchors far below anything the tiny models produce: every model metric clamps to 100
    const base = loadAnchors();
    const far = { lo: -1e6 - 1, hi: -1e6 };
    const anchors = { ...base, metrics: { pickscore: far, clip_score: { lo: -2, hi: -1 }, vqa_score: base.metrics.vqa_score, aesthetic: far } };
    const scorer = createImageScorer({ modelsDir: join(root, 'models'), vqa: null, anchors, host: 'inline' });
    try {
      const images = [...COLOURS, [240, 240, 240] as [number, number, number]].map((rgb, i): GenImage => ({ rgb, seed: i }));
      // learn the raw order, then give the best image the highest seed so seed order is the reverse
      await writeGenerationDir(join(root, 'real-a'), 'the cat', images);
      const first = await scoreGenerationDir(join(root, 'real-a'), { scorer });
      const byKey = first.images.map((i) => i.variation);
      const seeds = new Map(byKey.map((v, k) => [v, images.length - k]));
      const dir = join(root, 'real-b');
      await writeGenerationDir(dir, 'the cat', images.map((img, i) => ({ ...img, seed: seeds.get(i + 1)! })));
      const r = await scoreGenerationDir(dir, { scorer });
      expect(r.images.every((i) => i.overall === 100)).toBe(true);
      expect(r.images.map((i) => i.variation)).toEqual(byKey);
      expect(r.images.map((i) => i.seed)).toEqual([...r.images.map((i) => i.seed)].sort((a, b) => b - a)); // clamped ranking would reverse this
      // the order is the weighted raw order, computed here from the recorded raws
      const trace = assertConsistent(dir);
      const keyOf = (m: (typeof trace.images)[number]) => combine(m.scores!.metrics, scorer.weights, Object.keys(m.scores!.weights_used)).rank_key!;
      const keys = trace.images.map(keyOf);
      expect([...keys].sort((a, b) => b - a)).toEqual(keys);
      expect(new Set(keys).size).toBe(keys.length);
    } finally {
      await scorer.close();
    }
  });
});

describe('rankOrder', () => {
  it('sorts by rank_key over overall; overall alone for items without a key', () => {
    const o = rankOrder([
      { overall: 100, rank_key: 120, seed: 1, variation: 1 },
      { overall: 100, rank_key: 140, seed: 2, variation: 2 },
      { overall: null, rank_key: null, seed: 0, variation: 3 },
      { overall: 90, seed: 0, variation: 4 },
    ]);
    expect(o.map((x) => x.variation)).toEqual([2, 1, 4, 3]);
  });

  it('combine: the key keeps the weighted order beyond the anchors, the overall is clamped', () => {
    const m = (n: number, u: number) => ({ available: true as const, raw: 0, normalized: n, normalized_unclamped: u, model_id: 'x', file_hashes: {} });
    const c = combine({ pickscore: m(100, 150), clip_score: m(50, 50) }, { pickscore: 3, clip_score: 1 }, ['pickscore', 'clip_score']);
    expect(c.overall).toBeCloseTo(87.5, 9);
    expect(c.rank_key).toBeCloseTo(125, 9);
  });
});
