/**
 * `loop score-videos` as a user runs it (the built CLI): a folder of MP4s gets video_scores.json
 * with one entry per file; a generation folder is ranked per clip; exit codes 0 / 7 / 3 / 10.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { makeClip, texture, writeVideoGeneration } from './clips.js';

let root: string;
const W = 96, H = 64;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-score-videos-cli-'));
  mkdirSync(join(root, 'no-models'));
  const dir = join(root, 'plain');
  await makeClip(join(dir, 'one.mp4'), { width: W, height: H, fps: 24, frames: 24, frame: (i) => texture(W, H, i, 0) });
  await makeClip(join(dir, 'two.mp4'), { width: W, height: H, fps: 24, frames: 24, frame: (i) => texture(W, H, 0, 0, i % 2 ? 50 : 0) });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loop score-videos', () => {
  it('writes video_scores.json with one entry per file (exit 0)', async () => {
    const dir = join(root, 'plain');
    writeFileSync(join(root, 'p.txt'), 'a red car on a coast road');
    const r = await runCli(['score-videos', dir, '--prompt-file', join(root, 'p.txt'), '--models-dir', join(root, 'no-models')], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const out = JSON.parse(readFileSync(join(dir, 'video_scores.json'), 'utf8'));
    expect(Object.keys(out.videos).sort()).toEqual(['one.mp4', 'two.mp4']);
    for (const v of Object.values(out.videos) as { rank: number; overall: number; dimensions: Record<string, { available: boolean; raw?: number; value?: number }> }[]) {
      expect([1, 2]).toContain(v.rank);
      expect(v.overall).toBeGreaterThanOrEqual(0);
      expect(v.dimensions.temporal_flickering).toMatchObject({ available: true, raw: expect.any(Number), value: expect.any(Number) });
      expect(v.dimensions.text_alignment!.available).toBe(false);
    }
    expect(out.videos['one.mp4'].rank).toBe(1); // the flickering one is second
    expect(r.stdout).toMatch(/not a VBench total/);
    expect(r.stdout).toMatch(/unavailable: text_alignment: model clip-vit-large-patch14 not installed/);
  });

  it('--json, and exit 7 when some videos are unscorable (the others are still ranked)', async () => {
    const dir = join(root, 'plain');
    writeFileSync(join(dir, 'three.mp4'), 'not a video');
    const r = await runCli(['score-videos', dir, '--json', '--models-dir', join(root, 'no-models')], { timeoutMs: 120_000 });
    rmSync(join(dir, 'three.mp4'));
    expect(r.code).toBe(7);
    const j = JSON.parse(r.stdout);
    expect(j.mode).toBe('folder');
    expect(j.unscorable).toEqual([{ file: 'three.mp4', reason: expect.stringMatching(/cannot read the video/) }]);
    const out = JSON.parse(readFileSync(join(dir, 'video_scores.json'), 'utf8'));
    expect(Object.keys(out.videos).sort()).toEqual(['one.mp4', 'three.mp4', 'two.mp4']);
    expect(out.videos['three.mp4'].rank).toBeNull();
    expect(out.ranking).toEqual(['one.mp4', 'two.mp4']);
  });

  it('ranks a generation folder per clip with the tiny models', async () => {
    const dir = join(root, 'gen');
    await writeVideoGeneration(dir, [{ clip: 1, prompt: 'the cat', attempts: [(i) => texture(W, H, 0, 0, i % 2 ? 50 : 0), (i) => texture(W, H, i, 0)] }], { width: W, height: H });
    const models = join(root, 'models');
    writeTinyModels(models);
    const r = await runCli(['score-videos', dir, '--json', '--models-dir', models], { timeoutMs: 120_000 });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.best_per_clip).toEqual({ clip_001: 'clip_001/video_001.mp4' });
    expect(j.dimensions_available).toEqual(expect.arrayContaining(['background_consistency', 'text_alignment', 'aesthetic_quality']));
    expect(j.dimensions_unavailable.subject_consistency).toMatch(/dino-vitb16 not installed/);
    const meta = JSON.parse(readFileSync(join(dir, 'clip_001', 'video_001_metadata.json'), 'utf8'));
    expect(meta.rank).toBe(1);
    expect(meta.file).toBe('video_001.mp4');
  });

  it('exit 3 for a folder with no videos or not a folder; exit 10 for a broken installed model', async () => {
    mkdirSync(join(root, 'empty'));
    const e = await runCli(['score-videos', join(root, 'empty'), '--models-dir', join(root, 'no-models')]);
    expect(e.code).toBe(3);
    expect(e.stderr).toMatch(/has no videos/);
    const f = await runCli(['score-videos', join(root, 'p.txt'), '--models-dir', join(root, 'no-models')]);
    expect(f.code).toBe(3);
    expect(f.stderr).toMatch(/is not a folder/);
    const bad = join(root, 'bad-models');
    mkdirSync(join(bad, 'dino-vitb16', 'onnx'), { recursive: true });
    writeFileSync(join(bad, 'dino-vitb16', 'onnx', 'model.onnx'), 'garbage');
    writeFileSync(join(bad, 'dino-vitb16', 'preprocessor_config.json'), '{}');
    const m = await runCli(['score-videos', join(root, 'plain'), '--models-dir', bad]);
    expect(m.code).toBe(10);
    expect(m.stderr).toMatch(/dino-vitb16|failed to load/);
  });
});
