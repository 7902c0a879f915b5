import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RANK_JOURNAL, rankOrder, recoverPendingRanking, scoreGenerationDir } from '../../src/scoring/rank.js';
import { createImageScorer, type ImageScorer } from '../../src/scoring/scorer.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { sha256Of, writeGenerationDir } from './gen-dir.js';
import { assertConsistent } from './rank-helpers.js';

let root: string;
let scorer: ImageScorer;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-rank-'));
  writeTinyModels(join(root, 'models'));
  scorer = createImageScorer({ modelsDir: join(root, 'models'), vqa: null });
});
afterAll(async () => {
  await scorer.close();
  rmSync(root, { recursive: true, force: true });
});

describe('scoreGenerationDir', () => {
  it('ranks, renames by rank, and keeps metadata and trace consistent with the files', async () => {
    const dir = join(root, 'gen1');
    await writeGenerationDir(dir, 'the cat', [
      { rgb: [200, 30, 30], seed: 5 },
      { rgb: [20, 180, 60], seed: 3, noise: 40 },
      { rgb: [40, 40, 220], seed: 9 },
      { rgb: [240, 240, 240], seed: 1 },
      { rgb: [90, 90, 90], seed: 2, noise: 10 },
    ]);
    const before = new Map(readdirSync(dir).filter((f) => f.endsWith('.png')).map((f) => [sha256Of(join(dir, f)), f]));
    const progress: number[] = [];
    const r = await scoreGenerationDir(dir, { scorer, batchSize: 2, onProgress: (d) => progress.push(d) });
    expect(progress.at(-1)).toBe(5);
    // ranked by the unclamped key (overall, clamped per metric, may tie or cross beyond the anchors)
    const keys = r.images.map((i) => i.rank_key!);
    expect(keys.every((k) => typeof k === 'number')).toBe(true);
    expect([...keys].sort((a, b) => b - a)).toEqual(keys);
    expect(r.images.every((i) => i.overall !== null && i.overall >= 0 && i.overall <= 100)).toBe(true);
    expect(r.images.map((i) => i.file)).toEqual(['image_001.png', 'image_002.png', 'image_003.png', 'image_004.png', 'image_005.png']);
    expect(r.images.map((i) => i.rank)).toEqual([1, 2, 3, 4, 5]);
    expect(r.best).toBe('image_001.png');
    const trace = assertConsistent(dir);
    expect(trace.ordering).toBe('rank');
    expect(trace.best).toBe('image_001.png');
    const scoring = trace.scoring as Record<string, unknown>;
    expect(scoring.metrics_available).toEqual(['pickscore', 'clip_score', 'aesthetic', 'technical']);
    expect((scoring.metrics_unavailable as Record<string, string>).vqa_score).toBeDefined();
    expect(scoring.anchors_version).toBe(scorer.anchors.version);
    expect(Object.keys(scoring.weights_used as object).sort()).toEqual(['aesthetic', 'clip_score', 'pickscore']);
    // every original image still exists exactly once, under its rank name
    for (const img of r.images) expect(before.get(sha256Of(join(dir, img.file)))).toBe(img.previous_file);
    // re-scoring a ranked directory is stable
    const again = await scoreGenerationDir(dir, { scorer });
    expect(again.images.map((i) => i.file)).toEqual(r.images.map((i) => i.file));
    expect(again.images.every((i) => i.file === i.previous_file)).toBe(true);
    assertConsistent(dir);
  });

  it('reports an undecodable image, scores the others, and puts it last', async () => {
    const dir = join(root, 'gen2');
    await writeGenerationDir(dir, 'the cat', [
      { rgb: [200, 30, 30], seed: 5 },
      { rgb: [0, 0, 0], seed: 4, corrupt: true },
      { rgb: [40, 40, 220], seed: 9 },
    ]);
    const r = await scoreGenerationDir(dir, { scorer });
    expect(r.unscorable).toHaveLength(1);
    expect(r.unscorable[0]!.reason).toMatch(/cannot decode/);
    expect(r.unscorable[0]!.file).toBe('image_003.png');
    expect(r.images[2]).toMatchObject({ rank: null, seed: 4, previous_file: 'image_002.png' });
    expect(r.images.slice(0, 2).every((i) => i.overall !== null)).toBe(true);
    const trace = assertConsistent(dir);
    expect((trace.scoring as { unscorable: unknown[] }).unscorable).toHaveLength(1);
  });

  it('finishes a ranking interrupted between the two rename phases', async () => {
    const dir = join(root, 'gen3');
    await writeGenerationDir(dir, 'the cat', [
      { rgb: [200, 30, 30], seed: 5 },
      { rgb: [40, 40, 220], seed: 9 },
    ]);
    // simulate a crash: journal written, image_001 moved to its temp name, nothing else
    const m1 = JSON.parse(readFileSync(join(dir, 'image_001_metadata.json'), 'utf8'));
    const m2 = JSON.parse(readFileSync(join(dir, 'image_002_metadata.json'), 'utf8'));
    const moves = [
      { from: 'image_001.png', tmp: '.rank-tmp-x-image_001.png', to: 'image_002.png' },
      { from: 'image_002.png', tmp: '.rank-tmp-x-image_002.png', to: 'image_001.png' },
    ];
    const journal = {
      version: 1,
      phase: 'to-temp',
      moves,
      metadata: [
        { ...m2, file: 'image_001.png', rank: 1 },
        { ...m1, file: 'image_002.png', rank: 2 },
      ],
      trace: null,
      stale_metadata: [],
    };
    writeFileSync(join(dir, RANK_JOURNAL), JSON.stringify(journal));
    renameSync(join(dir, 'image_001.png'), join(dir, '.rank-tmp-x-image_001.png'));
    expect(await recoverPendingRanking(dir)).toBe(true);
    expect(existsSync(join(dir, RANK_JOURNAL))).toBe(false);
    expect(sha256Of(join(dir, 'image_001.png'))).toBe(m2.sha256);
    expect(sha256Of(join(dir, 'image_002.png'))).toBe(m1.sha256);
    expect(readdirSync(dir).filter((f) => f.startsWith('.rank'))).toEqual([]);
  });

  it('orders ties by seed', () => {
    const o = rankOrder([
      { overall: 50, seed: 9, variation: 1 },
      { overall: 50, seed: 2, variation: 2 },
      { overall: null, seed: 1, variation: 3 },
      { overall: 70, seed: 5, variation: 4 },
    ]);
    expect(o.map((x) => x.variation)).toEqual([4, 2, 1, 3]);
  });
});
