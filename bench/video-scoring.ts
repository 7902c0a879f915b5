/**
 * Video scoring: frames decoded once vs once per dimension, in one run.
 *
 * A storyboard-sized set (default 3 clips × 3 attempts of 4 s at 640×360, 24 fps, H.264 made here
 * from synthetic frames) is scored twice with the same scorer and the same tiny models (CLIP,
 * aesthetic head and DINO built in code with the real tensor names, 224 px input):
 *   once:          one ffmpeg pipe per video feeds every dimension (what `loop score-videos` does);
 *   per-dimension: one ffmpeg pipe per dimension per video (what one script per dimension does).
 * The dimension values are identical (checked); the ratio is the cost of decoding again. Also
 * printed: the bare decode (no dimension) once, for the floor.
 *
 *   node dist/bench/video-scoring.js [--clips 3] [--attempts 3] [--seconds 4] [--width 640] [--height 360]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeModel } from '../src/models/onnx-graph.js';
import { decodeInto, planFrames, probeVideo } from '../src/video-scoring/frames.js';
import { createVideoScorer, scoreVideos, type ScoreVideosResult } from '../src/video-scoring/score.js';
import { makeClip, texture } from '../test/video-scoring/clips.js';
import { prng, writeTinyAesthetic, writeTinyClip } from '../test/helpers/tiny-models.js';

const { values } = parseArgs({
  options: {
    clips: { type: 'string', default: '3' },
    attempts: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    width: { type: 'string', default: '640' },
    height: { type: 'string', default: '360' },
  },
});
const CLIPS = Number(values.clips), ATTEMPTS = Number(values.attempts), SECONDS = Number(values.seconds);
const W = Number(values.width), H = Number(values.height), FPS = 24;

function writeTinyDino(dir: string, side = 224, dim = 32) {
  const rnd = prng(3);
  const inD = 3 * side * side;
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(
    join(dir, 'onnx/model.onnx'),
    encodeModel({
      name: 'tiny_dino',
      inputs: [{ name: 'pixel_values', type: 'float32', shape: ['batch_size', 3, side, side] }],
      outputs: [{ name: 'last_hidden_state', type: 'float32', shape: ['batch_size', 1, dim] }],
      initializers: [
        { name: 'W', dims: [inD, dim], data: Float32Array.from({ length: inD * dim }, () => rnd() * 0.01) },
        { name: 'axis1', dims: [1], data: [1], type: 'int64' },
      ],
      nodes: [
        { op: 'Flatten', inputs: ['pixel_values'], outputs: ['flat'], attrs: { axis: 1 } },
        { op: 'MatMul', inputs: ['flat', 'W'], outputs: ['cls'] },
        { op: 'Unsqueeze', inputs: ['cls', 'axis1'], outputs: ['last_hidden_state'] },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({ do_resize: true, size: { height: side, width: side }, do_center_crop: false, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] }),
  );
}

const root = mkdtempSync(join(tmpdir(), 'loop-bench-video-scoring-'));
try {
  const models = join(root, 'models');
  writeTinyClip(join(models, 'clip-vit-large-patch14'), { side: 224, dim: 32, seed: 1 });
  writeTinyAesthetic(join(models, 'laion-aesthetic-v2'), 32);
  writeTinyDino(join(models, 'dino-vitb16'));
  const paths: string[] = [];
  const t0 = performance.now();
  // one big texture, cropped at a moving offset: frames are cheap to make
  const BW = W + 8 * SECONDS * FPS, BH = H + 8;
  const base = texture(BW, BH);
  const crop = (dx: number, dy: number, bright: number) => {
    const out = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      const row = base.subarray(((y + dy) * BW + dx) * 3, ((y + dy) * BW + dx + W) * 3);
      if (bright) for (let k = 0; k < row.length; k++) out[y * W * 3 + k] = Math.min(255, row[k]! + bright);
      else out.set(row, y * W * 3);
    }
    return out;
  };
  for (let c = 1; c <= CLIPS; c++)
    for (let a = 1; a <= ATTEMPTS; a++) {
      const p = join(root, `clip_${c}`, `video_${a}.mp4`);
      const speed = a + 1; // attempts differ in motion (px per frame)
      await makeClip(p, {
        width: W,
        height: H,
        fps: FPS,
        frames: SECONDS * FPS,
        frame: (i) => crop(speed * i + 7 * c, (i * c) % 5, a === 3 && i % 2 ? 25 : 0),
        codec: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p'],
      });
      paths.push(p);
    }
  const makeMs = performance.now() - t0;
  const n = paths.length;
  const prompt = 'a red car on a coast road';
  const scorer = createVideoScorer({ modelsDir: models, host: 'thread' });
  await scoreVideos([paths[0]!], { scorer, prompt }); // load the models, warm up

  const run = async (decode: 'once' | 'per-dimension') => {
    const t = performance.now();
    const r = await scoreVideos(paths, { scorer, prompt, decode });
    return { ms: performance.now() - t, r };
  };
  const once = await run('once');
  const per = await run('per-dimension');

  // the bare decode at the working size, every frame, nothing else
  const bare = performance.now();
  let frames = 0;
  for (const p of paths) frames += (await decodeInto(p, planFrames(await probeVideo(p)), [])).frames;
  const bareMs = performance.now() - bare;
  await scorer.close();

  const pipes = (r: ScoreVideosResult) => r.videos.reduce((s, v) => s + (v.scores?.analysis.pipes ?? 0), 0);
  const decodeMs = (r: ScoreVideosResult) => r.videos.reduce((s, v) => s + (v.scores?.analysis.decode_ms ?? 0), 0);
  let maxDiff = 0;
  for (let i = 0; i < n; i++)
    for (const [d, a] of Object.entries(once.r.videos[i]!.scores!.dimensions)) {
      const b = (per.r.videos[i]!.scores!.dimensions as Record<string, typeof a>)[d]!;
      if (a.available && b.available) maxDiff = Math.max(maxDiff, Math.abs(a.raw - b.raw));
    }
  const available = once.r.dimensions_available;
  console.log(`video scoring: ${CLIPS} clips × ${ATTEMPTS} attempts = ${n} videos of ${SECONDS} s at ${W}x${H}, ${FPS} fps (${frames / n} frames each; made in ${(makeMs / 1000).toFixed(1)} s); tiny CLIP + aesthetic head + DINO at 224 px`);
  console.log(`  dimensions: ${available.join(', ')}`);
  console.log('  mode            wall_ms  ms/video  ffmpeg_pipes  decode+dimension_ms');
  for (const [name, x] of [['once', once], ['per-dimension', per]] as const)
    console.log(`  ${name.padEnd(14)} ${x.ms.toFixed(0).padStart(8)}  ${(x.ms / n).toFixed(0).padStart(8)}  ${String(pipes(x.r)).padStart(12)}  ${decodeMs(x.r).toFixed(0).padStart(19)}`);
  console.log(`  bare decode (${n} videos, no dimension): ${bareMs.toFixed(0)} ms (${(bareMs / n).toFixed(0)} ms/video)`);
  console.log(`  per-dimension / once: ${(per.ms / once.ms).toFixed(2)}x wall, ${(pipes(per.r) / pipes(once.r)).toFixed(1)}x decodes; largest difference of a dimension's raw value between the two: ${maxDiff.toExponential(1)}`);
  if (maxDiff > 1e-6) throw new Error('decode once and per dimension disagree');
} finally {
  rmSync(root, { recursive: true, force: true });
}
