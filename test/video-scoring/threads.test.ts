/**
 * Analysis threads (src/video-scoring/analysis-pool.ts): several videos at once, each still decoded
 * once, with the same results as everything on the calling thread (`analysisThreads: 0`): the
 * classical dimensions from the threads, the model dimensions (tiny CLIP + aesthetic head) from the
 * model frames the threads send back, the boundary frames, the ranking. An unscorable video is
 * still reported with its reason; an abort still stops the set, and the threads serve the next
 * one. Here the threads run the TypeScript sources (vitest); the last test runs the compiled
 * dist/ build in a plain node process (build first: `npm test` does, via pretest).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVideoScorer, scoreVideos, type ScoreVideosResult, type VideoScorer } from '../../src/video-scoring/score.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { makeClip, texture } from './clips.js';

const W = 160, H = 90;
let root: string;
let models: string;
const paths: string[] = [];
const PROMPTS = ['a red car', 'a blue sky', 'a green field', 'a grey road', 'the sea'];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-video-threads-'));
  models = join(root, 'models');
  writeTinyModels(models);
  // different motion, flicker, shake and length per clip; 12 fps keeps them short
  const kinds: ((i: number) => Uint8Array)[] = [
    (i) => texture(W, H, 2 * i, 0),
    (i) => texture(W, H, 0, 0, i % 2 ? 40 : 0),
    (i) => texture(W, H, i % 2 ? 5 : 0, i % 3 ? 2 : 0),
    () => texture(W, H),
    (i) => texture(W, H, 3 * i, i),
  ];
  for (const [k, frame] of kinds.entries()) {
    const p = join(root, `clip_${k}.mp4`);
    await makeClip(p, { width: W, height: H, fps: 12, frames: 18 + 6 * k, frame });
    paths.push(p);
  }
  writeFileSync(join(root, 'notes.mp4'), 'not a video\n');
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The result without what differs run to run (timestamps, durations). */
function stable(r: ScoreVideosResult) {
  return {
    ...r,
    videos: r.videos.map((v) => ({
      ...v,
      scores: v.scores && { ...v.scores, scored_at: null, duration_ms: null, analysis: { ...v.scores.analysis, decode_ms: null } },
    })),
  };
}

const promptFor = (p: string) => PROMPTS[paths.indexOf(p)] ?? null;

describe('analysis threads', () => {
  let threaded: VideoScorer;
  let inline: VideoScorer;
  beforeAll(() => {
    threaded = createVideoScorer({ modelsDir: models, host: 'inline', analysisThreads: 2, batchSize: 3 });
    inline = createVideoScorer({ modelsDir: models, host: 'inline', analysisThreads: 0, batchSize: 3 });
  });
  afterAll(async () => {
    await threaded.close();
    await inline.close();
  });

  it('give the same scores, boundary frames and ranking as the calling thread alone', async () => {
    const set = [...paths, join(root, 'notes.mp4')];
    const progress: number[] = [];
    const a = await scoreVideos(set, { scorer: threaded, promptFor, boundary: true, onProgress: (d) => progress.push(d) });
    const b = await scoreVideos(set, { scorer: inline, promptFor, boundary: true });
    expect(threaded.concurrency).toBe(2);
    expect(threaded.stats().analysis).toMatchObject({ threads: 2, jobs: paths.length, fallbacks: 0 }); // the threads really ran
    expect(inline.stats().analysis).toMatchObject({ threads: 0, jobs: 0 });
    expect(progress).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(stable(a)).toEqual(stable(b));
    // the model dimensions were there to compare, and every video was decoded once
    expect(a.dimensions_available).toEqual(expect.arrayContaining(['background_consistency', 'aesthetic_quality', 'text_alignment', 'imaging_quality', 'dynamic_degree']));
    for (const v of a.videos.filter((x) => x.scores)) expect(v.scores!.analysis.pipes).toBe(1);
    expect(a.videos.map((v) => v.boundary?.first.rgb.length)).toEqual([...paths.map(() => W * H * 3), undefined]);
    expect(a.unscorable).toEqual([{ path: join(root, 'notes.mp4'), reason: expect.stringMatching(/cannot read the video/) }]);
    expect(a.ranking.length).toBe(paths.length);
  });

  it('an abort stops the set; the threads then score the next one', async () => {
    const ac = new AbortController();
    const run = scoreVideos(paths, { scorer: threaded, signal: ac.signal, onProgress: (d) => d === 1 && ac.abort(new Error('stop here')) });
    await expect(run).rejects.toThrow('stop here');
    const pre = new AbortController();
    pre.abort(new Error('before'));
    await expect(scoreVideos(paths.slice(0, 2), { scorer: threaded, signal: pre.signal })).rejects.toThrow('before');
    const jobs = threaded.stats().analysis!.jobs;
    const again = await scoreVideos(paths.slice(0, 3), { scorer: threaded });
    expect(again.ranking.length).toBe(3);
    expect(threaded.stats().analysis).toMatchObject({ jobs: jobs + 3, fallbacks: 0 });
  });

  it('run from the compiled dist/ build too', async () => {
    const score = pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'video-scoring', 'score.js')).href;
    const script = `
      const { createVideoScorer, scoreVideos } = await import(${JSON.stringify(score)});
      const s = createVideoScorer({ modelsDir: ${JSON.stringify(join(root, 'none'))}, host: 'inline', analysisThreads: 2 });
      const r = await scoreVideos(${JSON.stringify(paths.slice(0, 3))}, { scorer: s });
      console.log(JSON.stringify({ stats: s.stats().analysis, keys: r.videos.map((v) => v.rank_key) }));
      await s.close();`;
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '', e = '';
      c.stdout.on('data', (d) => (o += d));
      c.stderr.on('data', (d) => (e += d));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve(o) : reject(new Error(`exit ${code}: ${e}`))));
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { stats: { threads: number; jobs: number; fallbacks: number }; keys: number[] };
    expect(r.stats).toEqual({ threads: 2, jobs: 3, fallbacks: 0 });
    const here = createVideoScorer({ modelsDir: join(root, 'none'), host: 'inline', analysisThreads: 0 });
    const mine = await scoreVideos(paths.slice(0, 3), { scorer: here });
    await here.close();
    expect(r.keys).toEqual(mine.videos.map((v) => v.rank_key));
  });
});
