/**
 * Ranking a video generation folder: each clip renamed by rank (video_001.mp4 is its best), each
 * metadata follows its video, the trace names the best per clip and the storyboard continuity;
 * a crash mid-rename is finished by the next run; a plain folder of MP4s is scored in place into
 * video_scores.json.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import { fileDirLock, type DirLock } from '../../src/lib/dir-lock.js';
import { VideoMetadataSchema } from '../../src/video/generate.js';
import { rankVideoFolder, recoverPendingVideoRanking, restoreVideoAttemptOrder, VIDEO_RANK_JOURNAL, VIDEO_SCORES_FILE } from '../../src/video-scoring/rank-videos.js';
import { createVideoScorer, type VideoScorer } from '../../src/video-scoring/score.js';
import { makeClip, sha256Of, solid, texture, writeVideoGeneration, type GenClip } from './clips.js';

let root: string;
let scorer: VideoScorer;
const W = 128, H = 72;

// attempt 1 flickers (brightness jumps), attempt 2 shakes back and forth, attempt 3 moves smoothly:
// generation order is not rank order
const flicker = (i: number) => texture(W, H, 0, 0, i % 2 ? 60 : 0);
const shaky = (i: number) => texture(W, H, i % 2 ? 6 : 0, i % 3 ? 3 : 0);
const smooth = (i: number) => texture(W, H, i, 0);
const CLIPS: GenClip[] = [
  { clip: 1, prompt: 'a red car', attempts: [flicker, shaky, smooth] },
  { clip: 2, prompt: 'a blue sky', attempts: [smooth, flicker] },
];

/** A lock that "crashes" the ranking at its nth verify(): per clip 1 before the journal, 2 before phase 1, 3 before phase 2. */
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

/** Every metadata names its own file, whose bytes are the recorded ones; names are video_001… */
function assertConsistent(clipPath: string) {
  const names = readdirSync(clipPath);
  expect(names.filter((n) => n.startsWith('.rank-tmp-'))).toEqual([]);
  expect(names).not.toContain(VIDEO_RANK_JOURNAL);
  const metas = names.filter((n) => /_metadata\.json$/.test(n)).sort().map((n) => ({ n, m: VideoMetadataSchema.parse(JSON.parse(readFileSync(join(clipPath, n), 'utf8'))) }));
  for (const { n, m } of metas) {
    expect(n).toBe(m.file.replace('.mp4', '_metadata.json'));
    expect(sha256Of(join(clipPath, m.file))).toBe(m.sha256);
  }
  return metas.map(({ m }) => m);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-video-rank-'));
  scorer = createVideoScorer({ modelsDir: join(root, 'no-models'), host: 'inline' });
}, 60_000);
afterAll(async () => {
  await scorer.close();
  rmSync(root, { recursive: true, force: true });
});

describe('rankVideoFolder on a generation folder', () => {
  it('renames each clip by rank: video_001.mp4 is the best, its metadata follows it', async () => {
    const dir = join(root, 'gen');
    const { videos } = await writeVideoGeneration(dir, CLIPS);
    const shaOf = new Map(videos.map((v) => [`${v.clip}/${v.attempt}`, v.sha256]));
    const r = await rankVideoFolder(dir, { scorer });
    expect(r.mode).toBe('generation');
    expect(r.clips.map((c) => c.clip)).toEqual([1, 2]);
    for (const c of r.clips) {
      const metas = assertConsistent(join(dir, c.dir));
      // ranks 1..n by descending rank key, video_00k holds rank k
      const ranked = [...c.videos].sort((a, b) => a.rank! - b.rank!);
      for (let k = 1; k < ranked.length; k++) expect(ranked[k - 1]!.rank_key!).toBeGreaterThanOrEqual(ranked[k]!.rank_key!);
      for (const m of metas) {
        expect(m.file).toBe(`video_${String(m.rank).padStart(3, '0')}.mp4`);
        expect(m.sha256).toBe(shaOf.get(`${m.clip}/${m.attempt}`)); // the bytes of that attempt, whatever its name now
        expect((m.scores as { overall: number }).overall).toBe(c.videos.find((v) => v.attempt === m.attempt)!.overall);
      }
      expect(c.best).toBe(`${c.dir}/video_001.mp4`);
    }
    // the flickering attempt is last in both clips; in clip 1 it moved from video_001 to video_003
    const c1 = r.clips[0]!;
    expect(c1.videos.find((v) => v.attempt === 1)!.rank).toBe(3);
    expect(c1.videos.find((v) => v.attempt === 1)!.file).toBe('clip_001/video_003.mp4');
    expect(r.clips[1]!.videos.find((v) => v.attempt === 2)!.rank).toBe(2);
    expect(r.renamed.length).toBeGreaterThan(0);
    expect(r.best_per_clip).toEqual({ clip_001: 'clip_001/video_001.mp4', clip_002: 'clip_002/video_001.mp4' });
    // continuity between clip 1's best and clip 2's best (no CLIP installed: the named substitute)
    expect(r.continuity!.substitute).toBe(true);
    expect(r.continuity!.how).toMatch(/substitute for CLIP image similarity/);
    expect(r.continuity!.pairs).toHaveLength(1);
    expect(r.continuity!.pairs[0]).toMatchObject({ from_clip: 1, to_clip: 2, from_file: 'clip_001/video_001.mp4', to_file: 'clip_002/video_001.mp4' });
    const trace = JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('rank');
    expect(trace.best_per_clip).toEqual(r.best_per_clip);
    expect(trace.clips[0].videos[0]).toBe('clip_001/video_001.mp4');
    expect(trace.scoring.overall_note).toMatch(/not a VBench total/);
    // scoring again keeps the order (ranked files are ranked again the same way)
    const again = await rankVideoFolder(dir, { scorer });
    expect(again.renamed).toEqual([]);
    expect(again.clips[0]!.videos.map((v) => v.attempt)).toEqual(c1.videos.map((v) => v.attempt));
  });

  it('restoreVideoAttemptOrder puts a ranked folder back in attempt order (a retry makes its attempt under its own name)', async () => {
    const dir = join(root, 'gen-restore');
    const { videos } = await writeVideoGeneration(dir, CLIPS);
    const shaOf = new Map(videos.map((v) => [`${v.clip}/${v.attempt}`, v.sha256]));
    const r = await rankVideoFolder(dir, { scorer });
    expect(r.renamed.length).toBeGreaterThan(0);
    expect(await restoreVideoAttemptOrder(dir)).toBe(true);
    for (const c of ['clip_001', 'clip_002']) {
      const metas = assertConsistent(join(dir, c));
      for (const m of metas) {
        expect(m.file).toBe(`video_${String(m.attempt).padStart(3, '0')}.mp4`);
        expect(m.sha256).toBe(shaOf.get(`${m.clip}/${m.attempt}`));
        expect(m.rank).toBeNull();
        expect(m.scores).toBeNull();
      }
    }
    const trace = JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8'));
    expect(trace.ordering).toBe('generation');
    // already in attempt order: nothing moves
    expect(await restoreVideoAttemptOrder(dir)).toBe(false);
  });

  it('a crash mid-rename is finished by the next run', async () => {
    const dir = join(root, 'crash');
    const { videos } = await writeVideoGeneration(dir, [CLIPS[0]!]);
    const shaOf = new Map(videos.map((v) => [v.attempt, v.sha256]));
    // verify 3 = just before phase 2 of clip 1: the videos sit at their temporary names
    await expect(rankVideoFolder(dir, { scorer, lock: crashingLock(3) })).rejects.toThrow(/simulated crash/);
    const cd = join(dir, 'clip_001');
    expect(existsSync(join(cd, VIDEO_RANK_JOURNAL))).toBe(true);
    expect(readdirSync(cd).some((n) => n.startsWith('.rank-tmp-'))).toBe(true);
    expect(await recoverPendingVideoRanking(dir)).toBe(true);
    const metas = assertConsistent(cd);
    for (const m of metas) expect(m.sha256).toBe(shaOf.get(m.attempt));
    expect(metas.find((m) => m.file === 'video_001.mp4')!.rank).toBe(1);
    expect(metas.find((m) => m.attempt === 1)!.file).toBe('video_003.mp4');

    // a crash before phase 1, then a plain ranking: it finishes the journal, then ranks again
    const dir2 = join(root, 'crash2');
    await writeVideoGeneration(dir2, [CLIPS[0]!]);
    await expect(rankVideoFolder(dir2, { scorer, lock: crashingLock(2) })).rejects.toThrow(/simulated crash/);
    expect(existsSync(join(dir2, 'clip_001', VIDEO_RANK_JOURNAL))).toBe(true);
    const r = await rankVideoFolder(dir2, { scorer });
    const m2 = assertConsistent(join(dir2, 'clip_001'));
    expect(m2.find((m) => m.file === 'video_001.mp4')!.attempt).toBe(r.clips[0]!.videos[0]!.attempt);
    expect(m2.find((m) => m.attempt === 1)!.file).toBe('video_003.mp4');
  });

  it('refuses before renaming when a video is not the one its metadata records', async () => {
    const dir = join(root, 'tampered');
    await writeVideoGeneration(dir, [CLIPS[0]!]);
    await makeClip(join(dir, 'clip_001', 'video_002.mp4'), { width: W, height: H, fps: 24, frames: 24, frame: () => solid(W, H, [1, 2, 3]) });
    await expect(rankVideoFolder(dir, { scorer })).rejects.toThrow(/does not match the sha256/);
    expect(readdirSync(join(dir, 'clip_001')).sort()).toEqual(['video_001.mp4', 'video_001_metadata.json', 'video_002.mp4', 'video_002_metadata.json', 'video_003.mp4', 'video_003_metadata.json']);
  });

  it('an unscorable attempt is reported and ranked last; the others are ranked', async () => {
    const dir = join(root, 'one-bad');
    const { videos } = await writeVideoGeneration(dir, [{ clip: 1, prompt: 'x', attempts: [smooth, flicker] }]);
    // attempt 3: a text file named .mp4, with metadata that records those bytes
    const bad = join(dir, 'clip_001', 'video_003.mp4');
    writeFileSync(bad, 'not a video');
    const meta = { ...videos[0]!, attempt: 3, file: 'video_003.mp4', seed: 9, sha256: sha256Of(bad), bytes: 11 };
    writeFileSync(join(dir, 'clip_001', 'video_003_metadata.json'), JSON.stringify(meta));
    const r = await rankVideoFolder(dir, { scorer });
    const c = r.clips[0]!;
    expect(c.videos.map((v) => [v.attempt, v.rank])).toEqual([
      [1, 1],
      [2, 2],
      [3, null],
    ]);
    expect(r.unscorable).toEqual([{ file: 'clip_001/video_003.mp4', reason: expect.stringMatching(/cannot read the video/) }]);
    assertConsistent(join(dir, 'clip_001'));
  });
});

describe('rankVideoFolder on a plain folder of MP4s', () => {
  it('scores in place into video_scores.json: one entry per file, nothing renamed', async () => {
    const dir = join(root, 'plain');
    await makeClip(join(dir, 'b-smooth.mp4'), { width: W, height: H, fps: 24, frames: 24, frame: smooth });
    await makeClip(join(dir, 'a-flicker.mp4'), { width: W, height: H, fps: 24, frames: 24, frame: flicker });
    writeFileSync(join(dir, 'c-broken.mp4'), 'nope');
    writeFileSync(join(dir, 'readme.txt'), 'ignored');
    const r = await rankVideoFolder(dir, { scorer });
    expect(r.mode).toBe('folder');
    expect(readdirSync(dir).sort()).toEqual(['a-flicker.mp4', 'b-smooth.mp4', 'c-broken.mp4', 'readme.txt', VIDEO_SCORES_FILE]);
    const out = JSON.parse(readFileSync(join(dir, VIDEO_SCORES_FILE), 'utf8'));
    expect(Object.keys(out.videos).sort()).toEqual(['a-flicker.mp4', 'b-smooth.mp4', 'c-broken.mp4']);
    expect(out.videos['b-smooth.mp4'].rank).toBe(1);
    expect(out.videos['a-flicker.mp4'].rank).toBe(2);
    expect(out.videos['c-broken.mp4']).toMatchObject({ rank: null, overall: null, error: expect.stringMatching(/cannot read the video/) });
    const f = out.videos['b-smooth.mp4'].dimensions.temporal_flickering;
    expect(f).toMatchObject({ available: true, substitute: false });
    expect(typeof f.raw).toBe('number');
    expect(typeof f.value).toBe('number');
    expect(out.ranking).toEqual(['b-smooth.mp4', 'a-flicker.mp4']);
    expect(r.best).toBe('b-smooth.mp4');
  });

  it('a folder with no videos, or not a folder, is an input error', async () => {
    const empty = join(root, 'empty');
    writeFileSync(join(root, 'file.txt'), 'x');
    await import('node:fs').then((fs) => fs.mkdirSync(empty, { recursive: true }));
    await expect(rankVideoFolder(empty, { scorer })).rejects.toThrow(/has no videos/);
    await expect(rankVideoFolder(join(root, 'file.txt'), { scorer })).rejects.toMatchObject({ kind: 'INPUT' });
    await expect(rankVideoFolder(join(root, 'nope'), { scorer })).rejects.toBeInstanceOf(LoopError);
  });
});
