/**
 * The rename journal: a genuine one (a crash at any point) is finished; a foreign, stale or broken
 * one is refused with one line saying what to do, before anything is renamed.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import { fileDirLock, type DirLock } from '../../src/lib/dir-lock.js';
import { RANK_JOURNAL, recoverPendingRanking, scoreGenerationDir } from '../../src/scoring/rank.js';
import { sha256Of, writeGenerationDir, type GenImage } from './gen-dir.js';
import { assertConsistent, scriptedScorer, shaByVariation, snapshot } from './rank-helpers.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-rank-journal-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const IMAGES: GenImage[] = [
  { rgb: [200, 30, 30], seed: 5 },
  { rgb: [20, 180, 60], seed: 3 },
  { rgb: [40, 40, 220], seed: 9 },
  { rgb: [240, 240, 240], seed: 1 },
];

/** A lock that "crashes" the ranking at its nth verify(): 1 before the journal, 2 before phase 1, 3 before phase 2. */
function crashingLock(n: number): DirLock {
  const inner = fileDirLock();
  let calls = 0;
  return {
    async acquire(dir, o) {
      const h = await inner.acquire(dir, o);
      return {
        verify: async () => {
          if (++calls === n) throw new Error('simulated crash');
          await h.verify();
        },
        release: () => h.release(),
      };
    },
  };
}

/** A folder ranked in reverse generation order by the scripted scorer, crashed at verify n. */
async function crashed(name: string, n: number) {
  const dir = join(root, name);
  const trace = await writeGenerationDir(dir, 'the cat', IMAGES);
  const v = shaByVariation(trace);
  const scorer = scriptedScorer((sha) => 20 + v.get(sha)!);
  await expect(scoreGenerationDir(dir, { scorer, lock: crashingLock(n) })).rejects.toThrow(/simulated crash/);
  expect(existsSync(join(dir, RANK_JOURNAL))).toBe(true);
  return { dir, trace, scorer };
}

/** After recovery: image_001 is variation 4 … image_004 is variation 1, each with its own bytes. */
function expectReversed(dir: string, trace: Awaited<ReturnType<typeof writeGenerationDir>>) {
  const t = assertConsistent(dir);
  expect(t.images.map((i) => [i.file, i.variation])).toEqual([
    ['image_001.png', 4],
    ['image_002.png', 3],
    ['image_003.png', 2],
    ['image_004.png', 1],
  ]);
  for (const img of t.images) expect(sha256Of(join(dir, img.file))).toBe(trace.images[img.variation - 1]!.sha256);
}

describe('a genuine journal is finished', () => {
  it('after a crash before any rename', async () => {
    const { dir, trace } = await crashed('crash-1', 2);
    expect(readdirSync(dir).filter((f) => f.startsWith('.rank-tmp-'))).toEqual([]);
    expect(await recoverPendingRanking(dir)).toBe(true);
    expectReversed(dir, trace);
    expect(await recoverPendingRanking(dir)).toBe(false);
  });

  it('after a crash between the two phases', async () => {
    const { dir, trace } = await crashed('crash-2', 3);
    expect(readdirSync(dir).filter((f) => f.startsWith('.rank-tmp-')).length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(dir, RANK_JOURNAL), 'utf8')).phase).toBe('to-final');
    expect(await recoverPendingRanking(dir)).toBe(true);
    expectReversed(dir, trace);
  });

  it('after a crash half-way through phase 2, by the next ranking, which then ranks again', async () => {
    const { dir, trace, scorer } = await crashed('crash-3', 3);
    const j = JSON.parse(readFileSync(join(dir, RANK_JOURNAL), 'utf8'));
    const m = j.moves[0];
    renameSync(join(dir, m.tmp), join(dir, m.to)); // one of phase 2's renames happened
    const warnings: string[] = [];
    const r = await scoreGenerationDir(dir, { scorer, logger: { info() {}, debug() {}, warn: (w) => warnings.push(w) } });
    expect(warnings).toContain(`finished an interrupted ranking in ${dir}`);
    expect(r.images.every((i) => i.file === i.previous_file)).toBe(true); // the journal had done the ranking
    expectReversed(dir, trace);
  });
});

describe('a journal that is not a genuine one is refused, and nothing moves', () => {
  async function refusedJournal(name: string, journal: (dir: string) => string | object): Promise<string> {
    const dir = join(root, name);
    await writeGenerationDir(dir, 'the cat', IMAGES);
    const j = journal(dir);
    writeFileSync(join(dir, RANK_JOURNAL), typeof j === 'string' ? j : JSON.stringify(j));
    writeFileSync(join(root, 'outside.png'), 'outside');
    const before = snapshot(dir);
    for (const run of [() => recoverPendingRanking(dir), () => scoreGenerationDir(dir, { scorer: scriptedScorer(() => 20) })]) {
      const e = await run().then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(LoopError);
      expect((e as LoopError).kind).toBe('INPUT');
      const msg = (e as LoopError).message;
      expect(msg).not.toContain('\n');
      expect(msg).toContain(`delete ${join(dir, RANK_JOURNAL)} and score again`);
      expect(snapshot(dir)).toEqual(before);
    }
    expect(readFileSync(join(root, 'outside.png'), 'utf8')).toBe('outside');
    return (await recoverPendingRanking(dir).catch((e: Error) => e.message)) as string;
  }

  const meta = (dir: string, n: number) => JSON.parse(readFileSync(join(dir, `image_00${n}_metadata.json`), 'utf8'));
  const journalFor = (dir: string, moves: object[], metadata?: object[], extra: object = {}) => ({
    version: 1,
    phase: 'to-temp',
    moves,
    metadata: metadata ?? [
      { ...meta(dir, 2), file: 'image_001.png', rank: 1 },
      { ...meta(dir, 1), file: 'image_002.png', rank: 2 },
    ],
    trace: null,
    stale_metadata: [],
    ...extra,
  });

  it('not JSON', async () => {
    expect(await refusedJournal('not-json', () => '{"version": 1, "pha')).toMatch(/is not valid JSON/);
  });

  it('not the schema', async () => {
    expect(await refusedJournal('schema', (d) => ({ ...journalFor(d, []), version: 2 }))).toMatch(/is not a ranking journal \(version: /);
  });

  it('a move from outside the folder', async () => {
    const msg = await refusedJournal('outside-from', (d) => journalFor(d, [{ from: '../outside.png', tmp: '.rank-tmp-x-a', to: 'image_001.png' }]));
    expect(msg).toMatch(/names "\.\.\/outside\.png" \(moves\.from\), a path outside the folder/);
  });

  it('a move to an absolute path', async () => {
    const msg = await refusedJournal('outside-to', (d) => journalFor(d, [{ from: 'image_001.png', tmp: '.rank-tmp-x-a', to: join(root, 'outside.png') }]));
    expect(msg).toMatch(/\(moves\.to\), a path outside the folder/);
  });

  it('metadata naming a path outside the folder', async () => {
    const msg = await refusedJournal('outside-meta', (d) => journalFor(d, [], [{ ...meta(d, 1), file: '../image_001.png' }]));
    expect(msg).toMatch(/\(metadata\.file\), a path outside the folder/);
  });

  it('names that are not what a ranking writes (it would overwrite the trace)', async () => {
    expect(await refusedJournal('kind-tmp', (d) => journalFor(d, [{ from: 'image_001.png', tmp: 'generation_trace.json', to: 'image_002.png' }]))).toMatch(
      /"generation_trace.json" \(moves\.tmp\), not a file a ranking writes/,
    );
    expect(await refusedJournal('kind-stale', (d) => journalFor(d, [], undefined, { stale_metadata: ['generation_trace.json'] }))).toMatch(/\(stale_metadata\)/);
  });

  it('a journal from another folder (its images do not match these)', async () => {
    const msg = await refusedJournal('foreign', (d) => {
      const j = journalFor(d, [
        { from: 'image_001.png', tmp: '.rank-tmp-x-image_001.png', to: 'image_002.png' },
        { from: 'image_002.png', tmp: '.rank-tmp-x-image_002.png', to: 'image_001.png' },
      ]);
      j.metadata = j.metadata.map((m) => ({ ...m, sha256: 'f'.repeat(64) }));
      return j;
    });
    expect(msg).toMatch(/does not belong to this folder \("image_001.png" is not the image it records/);
  });

  it('a journal whose phase 2 would overwrite a file that appeared meanwhile', async () => {
    const { dir } = await crashed('overwrite', 3);
    const j = JSON.parse(readFileSync(join(dir, RANK_JOURNAL), 'utf8'));
    writeFileSync(join(dir, j.moves[0].to), 'a file put here after the crash');
    const before = snapshot(dir);
    await expect(recoverPendingRanking(dir)).rejects.toThrow(/would overwrite ".*" with "\.rank-tmp-.*delete .* and score again/);
    expect(snapshot(dir)).toEqual(before);
  });
});
