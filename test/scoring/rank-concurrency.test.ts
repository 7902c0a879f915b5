/**
 * Two rankings of one folder at once end consistent; re-ranking a ranked folder changes nothing
 * but what the new scores say; a lost or busy lock stops the ranking before anything moves.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import type { GenerationTrace } from '../../src/generation/metadata.js';
import { fileDirLock, type DirLock } from '../../src/lib/dir-lock.js';
import { RANK_JOURNAL, scoreGenerationDir, type RankResult } from '../../src/scoring/rank.js';
import { createImageScorer, type ImageScorer } from '../../src/scoring/scorer.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { sha256Of, writeGenerationDir, type GenImage } from './gen-dir.js';
import { assertConsistent, scriptedScorer, shaByVariation, snapshot } from './rank-helpers.js';

let root: string;
let scorer: ImageScorer;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-rank-conc-'));
  writeTinyModels(join(root, 'models'));
  scorer = createImageScorer({ modelsDir: join(root, 'models'), vqa: null });
});
afterAll(async () => {
  await scorer.close();
  rmSync(root, { recursive: true, force: true });
});

const IMAGES: GenImage[] = [
  { rgb: [200, 30, 30], seed: 5 },
  { rgb: [20, 180, 60], seed: 3, noise: 40 },
  { rgb: [40, 40, 220], seed: 9 },
  { rgb: [240, 240, 240], seed: 1 },
  { rgb: [90, 90, 90], seed: 2, noise: 10 },
];

const pngShas = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.png')).map((f) => sha256Of(join(dir, f))).sort();
const order = (r: { images: { file: string; variation: number }[] }) => r.images.map((i) => [i.file, i.variation]);

/** Scripted scorers that prefer opposite orders: low variations first (as generated), and high first. */
function opposite(trace: GenerationTrace, gate?: { low?: () => Promise<unknown> }) {
  const v = shaByVariation(trace);
  return {
    low: scriptedScorer((sha) => 30 - v.get(sha)!, { gate: gate?.low }),
    high: scriptedScorer((sha) => 20 + v.get(sha)!),
  };
}

describe('concurrent rankings of one folder', () => {
  it('Promise.all of two rankings with different weights: both succeed, the folder matches the later one', async () => {
    const dir = join(root, 'both');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const before = pngShas(dir);
    const [a, b] = await Promise.all([
      scoreGenerationDir(dir, { scorer, weights: { pickscore: 1 } }),
      scoreGenerationDir(dir, { scorer, weights: { clip_score: 1 } }),
    ]);
    const trace = assertConsistent(dir);
    expect(pngShas(dir)).toEqual(before); // nothing deleted or duplicated
    expect([order(a), order(b)]).toContainEqual(order({ images: trace.images }));
  });

  it('a ranking that scores slowly while another renames waits for it, then ranks what is there', async () => {
    // the case: one ranking (a paused worker's) is mid-way while another runs. Without the
    // lock the slow one plans from the names it read before the other renamed: a scramble.
    const dir = join(root, 'staged');
    const trace = await writeGenerationDir(dir, 'the cat', IMAGES);
    let fastDone!: Promise<RankResult>;
    const { low, high } = opposite(trace, { low: () => fastDone });
    fastDone = scoreGenerationDir(dir, { scorer: high });
    const [fast, slow] = await Promise.all([fastDone, scoreGenerationDir(dir, { scorer: low, lockWaitMs: 60_000 })]);
    expect(fast.images.map((i) => i.variation)).toEqual([5, 4, 3, 2, 1]);
    // the slow one saw the fast one's result: every image moves back
    expect(slow.images.map((i) => i.variation)).toEqual([1, 2, 3, 4, 5]);
    expect(slow.images.map((i) => i.previous_file)).toEqual(['image_005.png', 'image_004.png', 'image_003.png', 'image_002.png', 'image_001.png']);
    const final = assertConsistent(dir);
    expect(final.images.map((i) => [i.file, i.variation])).toEqual(order(slow));
  });

  it('many rankings at once, with opposite preferences, leave a consistent folder', async () => {
    const dir = join(root, 'many');
    const trace = await writeGenerationDir(dir, 'the cat', IMAGES);
    const before = pngShas(dir);
    const { low, high } = opposite(trace);
    const results = await Promise.all([low, high, low, high, low].map((s) => scoreGenerationDir(dir, { scorer: s })));
    const final = assertConsistent(dir);
    expect(pngShas(dir)).toEqual(before);
    expect(results.map(order)).toContainEqual(order({ images: final.images }));
  });
});

describe('re-ranking a ranked folder', () => {
  it('is stable: no renames, same bytes under the same names, nothing deleted', async () => {
    const dir = join(root, 'again');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const first = await scoreGenerationDir(dir, { scorer });
    const files = snapshot(dir);
    for (let k = 0; k < 2; k++) {
      const again = await scoreGenerationDir(dir, { scorer });
      expect(order(again)).toEqual(order(first));
      expect(again.images.every((i) => i.file === i.previous_file)).toBe(true);
      const trace = assertConsistent(dir);
      expect((trace.scoring as { renamed: unknown[] }).renamed).toEqual([]);
      const now = snapshot(dir);
      expect(Object.keys(now)).toEqual(Object.keys(files));
      for (const f of Object.keys(files).filter((x) => x.endsWith('.png'))) expect(now[f]).toBe(files[f]);
    }
  });

  it('with other scores, moves every image together with its metadata', async () => {
    const dir = join(root, 'reorder');
    const trace = await writeGenerationDir(dir, 'the cat', IMAGES);
    const before = pngShas(dir);
    const { low, high } = opposite(trace);
    await scoreGenerationDir(dir, { scorer: low });
    const r = await scoreGenerationDir(dir, { scorer: high });
    expect(r.images.map((i) => i.variation)).toEqual([5, 4, 3, 2, 1]);
    assertConsistent(dir);
    expect(pngShas(dir)).toEqual(before);
  });
});

describe('the lock', () => {
  it('a ranking that cannot get the lock fails with one line naming the folder and the holder, and changes nothing', async () => {
    const dir = join(root, 'busy');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const lock = fileDirLock();
    const held = await lock.acquire(dir);
    const before = snapshot(dir);
    const e = await scoreGenerationDir(dir, { scorer, lockWaitMs: 0 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LoopError);
    expect((e as LoopError).kind).toBe('FAILED');
    expect((e as LoopError).message).toMatch(new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is being ranked by pid ${process.pid} on `));
    expect((e as LoopError).message).not.toContain('\n');
    expect(snapshot(dir)).toEqual(before);
    await held.release();
  });

  it('an injected lock is held around the whole ranking and released after it', async () => {
    const dir = join(root, 'injected');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const events: string[] = [];
    const inner = fileDirLock();
    const lock: DirLock = {
      async acquire(d, o) {
        events.push(`acquire ${d === dir} wait=${o?.waitMs}`);
        const h = await inner.acquire(d, o);
        return {
          verify: async () => (events.push('verify'), h.verify()),
          release: async () => (events.push('release'), h.release()),
        };
      },
    };
    await scoreGenerationDir(dir, { scorer, lock, lockWaitMs: 1234 });
    expect(events[0]).toBe('acquire true wait=1234');
    expect(events.at(-1)).toBe('release');
    // verified before the journal and before each rename phase
    expect(events.filter((e) => e === 'verify').length).toBeGreaterThanOrEqual(3);
    assertConsistent(dir);
  });

  it('a lock lost while scoring (a paused worker) stops the ranking before the journal or any rename', async () => {
    const dir = join(root, 'lost');
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const before = snapshot(dir);
    let lost = false;
    const lock: DirLock = {
      async acquire() {
        return {
          verify: async () => {
            if (lost) throw new LoopError('FAILED', `lost the lock on ${dir} (test)`);
          },
          release: async () => undefined,
        };
      },
    };
    const slow = scriptedScorer(() => 20, { gate: async () => void (lost = true) });
    await expect(scoreGenerationDir(dir, { scorer: slow, lock })).rejects.toThrow(/lost the lock/);
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(dir)).not.toContain(RANK_JOURNAL);
  });
});
