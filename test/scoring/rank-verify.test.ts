/** Before anything is renamed: names stay in the folder, and every image is the one its metadata recorded. */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import { metadataFileName } from '../../src/generation/metadata.js';
import { isPlainFileName, scoreGenerationDir } from '../../src/scoring/rank.js';
import { writeGenerationDir, type GenImage } from './gen-dir.js';
import { assertConsistent, scriptedScorer, shaByVariation, snapshot } from './rank-helpers.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'loop-rank-verify-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const IMAGES: GenImage[] = [
  { rgb: [200, 30, 30], seed: 5 },
  { rgb: [20, 180, 60], seed: 3 },
  { rgb: [40, 40, 220], seed: 9 },
];

/** A folder whose ranking reverses generation order (so every refused case would have renamed). */
async function folder(name: string) {
  const dir = join(root, name);
  const trace = await writeGenerationDir(dir, 'the cat', IMAGES);
  const v = shaByVariation(trace);
  // an image the scorer does not know (replaced) scores like the worst
  return { dir, scorer: scriptedScorer((sha) => 20 + (v.get(sha) ?? 0)) };
}

function editMeta(dir: string, n: number, patch: Record<string, unknown>) {
  const p = join(dir, metadataFileName(n));
  writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), ...patch }));
}

async function refused(dir: string, run: () => Promise<unknown>): Promise<string> {
  const before = snapshot(dir);
  const e = await run().then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(LoopError);
  expect((e as LoopError).kind).toBe('INPUT');
  expect((e as LoopError).message).not.toContain('\n');
  expect(snapshot(dir)).toEqual(before); // nothing renamed, written or left behind
  return (e as LoopError).message;
}

describe('checks before renaming', () => {
  it('isPlainFileName accepts a name in the folder and nothing else', () => {
    expect(isPlainFileName('image_001.png')).toBe(true);
    for (const bad of ['', '.', '..', '../image_001.png', 'a/b.png', 'a\\b.png', '/etc/passwd', 'C:\\x.png', 'x\0.png', 'x..png']) expect(isPlainFileName(bad), bad).toBe(false);
  });

  for (const bad of ['../outside.png', '/tmp/image_001.png', 'sub/image_001.png', 'sub\\image_001.png', 'image_\u0000.png']) {
    it(`refuses a metadata naming ${JSON.stringify(bad)}`, async () => {
      const { dir, scorer } = await folder(`name-${bad.length}-${bad.charCodeAt(0)}-${bad.charCodeAt(3)}`);
      editMeta(dir, 2, { file: bad });
      const msg = await refused(dir, () => scoreGenerationDir(dir, { scorer }));
      expect(msg).toContain(JSON.stringify(bad));
      expect(msg).toMatch(/not a file inside the folder/);
      expect(scorer.batches).toBe(0); // refused before any (paid) scoring
    });
  }

  it('refuses, naming the file, when an image was replaced after generation; nothing is renamed', async () => {
    const { dir, scorer } = await folder('replaced');
    writeFileSync(join(dir, 'image_002.png'), readFileSync(join(dir, 'image_001.png'))); // same bytes as another image
    const msg = await refused(dir, () => scoreGenerationDir(dir, { scorer }));
    expect(msg).toContain(join(dir, 'image_002.png'));
    expect(msg).toMatch(/does not match the sha256 recorded in its metadata.*restore the original image/);
    expect(scorer.batches).toBe(0);
  });

  it('refuses a scrambled folder (two images swapped) instead of ranking it', async () => {
    const { dir, scorer } = await folder('swapped');
    renameSync(join(dir, 'image_001.png'), join(dir, 'x.png'));
    renameSync(join(dir, 'image_003.png'), join(dir, 'image_001.png'));
    renameSync(join(dir, 'x.png'), join(dir, 'image_003.png'));
    const msg = await refused(dir, () => scoreGenerationDir(dir, { scorer }));
    expect(msg).toMatch(/image_001\.png does not match .*\(and 1 more\)/);
  });

  it('refuses two metadata claiming one image', async () => {
    const { dir, scorer } = await folder('claimed-twice');
    editMeta(dir, 3, { file: 'image_002.png' });
    expect(await refused(dir, () => scoreGenerationDir(dir, { scorer }))).toMatch(/variations 2 and 3 both claim file "image_002.png"/);
  });

  it('refuses when a file no metadata claims is in the way of a final name', async () => {
    const { dir, scorer } = await folder('in-the-way');
    renameSync(join(dir, 'image_003.png'), join(dir, 'image_007.png'));
    editMeta(dir, 3, { file: 'image_007.png' });
    writeFileSync(join(dir, 'image_003.png'), 'a stray file the user put here');
    const msg = await refused(dir, () => scoreGenerationDir(dir, { scorer }));
    expect(msg).toContain(`${join(dir, 'image_003.png')} has no metadata and is in the way`);
  });

  it('a deleted image is unscorable, the others are ranked, and nothing else is lost', async () => {
    const { dir, scorer } = await folder('deleted');
    rmSync(join(dir, 'image_003.png'));
    const r = await scoreGenerationDir(dir, { scorer });
    expect(r.unscorable).toEqual([{ file: 'image_003.png', reason: 'image file image_003.png is missing' }]);
    expect(r.images.map((i) => [i.variation, i.rank])).toEqual([
      [2, 1],
      [1, 2],
      [3, null],
    ]);
    expect(snapshot(dir)['image_001.png']).toBeDefined();
    const trace = JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8'));
    expect(trace.best).toBe('image_001.png');
    expect(trace.images.find((i: { variation: number }) => i.variation === 2).sha256).toBe(snapshot(dir)['image_001.png']);
  });

  it('after a refusal and a restore, the ranking goes through', async () => {
    const { dir, scorer } = await folder('restored');
    const original = readFileSync(join(dir, 'image_002.png'));
    writeFileSync(join(dir, 'image_002.png'), Buffer.concat([original, Buffer.from('x')]));
    await refused(dir, () => scoreGenerationDir(dir, { scorer }));
    writeFileSync(join(dir, 'image_002.png'), original);
    const r = await scoreGenerationDir(dir, { scorer });
    expect(r.images.map((i) => i.variation)).toEqual([3, 2, 1]);
    assertConsistent(dir);
  });
});
