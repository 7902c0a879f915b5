/**
 * Bad input: a truncated MP4 (index lost, and data cut short), a text file named .mp4, a video
 * over the duration cap: each is reported unscorable with its reason, and the other videos of the
 * set are still scored and ranked.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import { createVideoScorer, scoreVideo, scoreVideos, type VideoScorer } from '../../src/video-scoring/score.js';
import { LOSSLESS, makeClip, texture } from './clips.js';

let root: string;
let scorer: VideoScorer;
const p = (n: string) => join(root, n);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-video-bad-'));
  const spec = (frame: (i: number) => Uint8Array, frames = 24) => ({ width: 128, height: 72, fps: 24, frames, frame });
  await makeClip(p('good.mp4'), spec((i) => texture(128, 72, 2 * i, 0)));
  await makeClip(p('still.mp4'), spec(() => texture(128, 72)));
  await makeClip(p('long.mp4'), spec(() => texture(128, 72), 48)); // 2 s
  // the index (moov) is written last: cut in half, it is gone
  await makeClip(p('full.mp4'), spec((i) => texture(128, 72, i, 0), 48));
  const full = readFileSync(p('full.mp4'));
  writeFileSync(p('truncated.mp4'), full.subarray(0, full.length >> 1));
  // the index first (faststart): cut, the index promises frames the data no longer holds
  await makeClip(p('fast.mp4'), { ...spec((i) => texture(128, 72, i, 0), 32), codec: [...LOSSLESS, '-movflags', '+faststart'] });
  const fast = readFileSync(p('fast.mp4'));
  writeFileSync(p('fast-truncated.mp4'), fast.subarray(0, Math.floor(fast.length * 0.4)));
  writeFileSync(p('notes.mp4'), 'these are my notes, not a video\n');
  scorer = createVideoScorer({ modelsDir: p('no-models'), host: 'inline', maxDurationS: 1.5 });
}, 120_000);
afterAll(async () => {
  await scorer.close();
  rmSync(root, { recursive: true, force: true });
});

describe('unscorable videos', () => {
  it('are reported with their reason while the others are ranked', async () => {
    const names = ['truncated.mp4', 'good.mp4', 'notes.mp4', 'fast-truncated.mp4', 'still.mp4', 'long.mp4'];
    const r = await scoreVideos(names.map(p), { scorer });
    const by = Object.fromEntries(r.videos.map((v) => [v.path.split('/').pop()!, v]));
    expect(by['truncated.mp4']!.scores).toBeNull();
    expect(by['truncated.mp4']!.error).toMatch(/cannot read the video|moov|invalid/i);
    expect(by['notes.mp4']!.scores).toBeNull();
    expect(by['notes.mp4']!.error).toMatch(/cannot read the video/);
    expect(by['fast-truncated.mp4']!.scores).toBeNull();
    expect(by['fast-truncated.mp4']!.error).toMatch(/truncated|decode|cannot read/);
    expect(by['long.mp4']!.error).toMatch(/over the 1\.5 s cap/);
    expect(r.unscorable.map((u) => u.path.split('/').pop()).sort()).toEqual(['fast-truncated.mp4', 'long.mp4', 'notes.mp4', 'truncated.mp4']);
    for (const n of ['truncated.mp4', 'notes.mp4', 'fast-truncated.mp4', 'long.mp4']) expect(by[n]!.rank).toBeNull();
    // the two good ones are ranked 1 and 2, by rank_key
    const ranked = [by['good.mp4']!, by['still.mp4']!].sort((a, b) => a.rank! - b.rank!);
    expect(ranked.map((v) => v.rank)).toEqual([1, 2]);
    expect(ranked[0]!.rank_key!).toBeGreaterThanOrEqual(ranked[1]!.rank_key!);
    expect(r.ranking.length).toBe(2);
  });

  it('scoreVideo throws the reason as an input error', async () => {
    await expect(scoreVideo(p('notes.mp4'), { scorer })).rejects.toThrow(LoopError);
    await expect(scoreVideo(p('notes.mp4'), { scorer })).rejects.toThrow(/notes\.mp4: cannot read the video/);
    const s = await scoreVideo(p('good.mp4'), { scorer });
    expect(s.overall).not.toBeNull();
    expect(s.overall_note).toMatch(/not a VBench total/);
  });
});
