import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * --workflow video-only: from the user's image (--input-image) through the storyboard, the video
 * prompts, the videos and their scores (Story 9.3); without the image, one usage line and nothing
 * written.
 */
const prefix = uniquePrefix('video-only');
const START = join(REPO_ROOT, 'examples', 'start.txt');
afterAll(() => cleanPrefix(prefix));

const tmp = () => mkdtempSync(join(tmpdir(), 'loop-video-only-'));

describe('loop run --workflow video-only', () => {
  it('starts the storyboard on the input image and ends with the best video per clip', async () => {
    const work = tmp();
    const out = join(work, 'out');
    // a JPEG on purpose: the run keeps it as PNG, the one format every stage after reads
    const jpg = join(work, 'hero.jpg');
    await sharp({ create: { width: 320, height: 180, channels: 3, background: { r: 30, g: 120, b: 200 } } }).jpeg().toFile(jpg);
    const r = await runCli(['run', START, '--workflow', 'video-only', '--input-image', jpg, '--num-clips', '2', '--num-video-attempts', '1', '--seed', '3', '--json'], {
      cwd: work,
      env: { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: out },
      timeoutMs: 150_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const view = JSON.parse(r.stdout);
    expect(view.stages.map((s: { stage: string }) => s.stage)).toEqual(['storyboard', 'video-prompt', 'video-generation', 'video-scoring']);
    const dir = view.run_dir as string;
    expect(readdirSync(dir).filter((f) => f.startsWith('stage_'))).toEqual(['stage_3_storyboard', 'stage_4_video_prompt', 'stage_5_video_generation']);
    const spec = JSON.parse(readFileSync(join(dir, 'run_spec.json'), 'utf8'));
    expect(spec.input_image).toBe('input/input_image.png'); // relative to the run directory
    expect((await sharp(join(dir, spec.input_image)).metadata()).format).toBe('png');
    const board = JSON.parse(readFileSync(join(dir, 'stage_3_storyboard', 'storyboard_metadata.json'), 'utf8'));
    expect(board.from_image.origin).toBe('input/input_image.png');
    expect(board.clips[0].start.source).toBe('from-image');
    const vs = view.stages.find((s: { stage: string }) => s.stage === 'video-scoring');
    expect(Object.keys(vs.outputs.best_per_clip)).toEqual(['clip_001', 'clip_002']);
    for (const f of Object.values(vs.outputs.best_per_clip) as string[]) expect(existsSync(join(dir, f))).toBe(true);
  }, 180_000);

  it('without --input-image: one usage line, exit 2, no run directory', async () => {
    const work = tmp();
    const r = await runCli(['run', START, '--workflow', 'video-only'], { cwd: work, env: { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code).toBe(2);
    expect(r.stderrLines).toEqual([expect.stringMatching(/video-only needs --input-image/)]);
    expect(existsSync(join(work, 'out'))).toBe(false);
  });

  it('an input image that is not an image, or one given to another workflow, is refused before anything is written', async () => {
    const work = tmp();
    const notImage = join(work, 'notes.png');
    writeFileSync(notImage, 'not a picture');
    const env = { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') };
    const bad = await runCli(['run', START, '--workflow', 'video-only', '--input-image', notImage], { cwd: work, env });
    expect(bad.code).toBe(3);
    expect(bad.stderrLines).toEqual([expect.stringMatching(/not an image/)]);
    const other = await runCli(['enqueue', START, '--workflow', 'image-only', '--input-image', notImage], { cwd: work, env });
    expect(other.code).toBe(2);
    expect(other.stderrLines).toEqual([expect.stringMatching(/--input-image is for --workflow video-only/)]);
    expect(existsSync(join(work, 'out'))).toBe(false);
  });
});
