/**
 * Video scoring: frames decoded once vs once per dimension, and one video after another on the
 * calling thread vs several at once on analysis threads, in one run.
 *
 * A storyboard-sized set (default 3 clips × 3 attempts of 4 s at 640×360, 24 fps, H.264 made here
 * from synthetic frames) is scored twice with the same scorer and the same tiny models (CLIP,
 * aesthetic head and DINO built in code with the real tensor names, 224 px input):
 *   once, threaded:   one ffmpeg pipe per video feeds every dimension, `--threads` videos at once,
 *                     each decoded and analysed (flow, flicker) in an analysis thread, its model
 *                     frames sent back to the calling thread for the models (what `loop score-videos` does);
 *   once, sequential: the same on the calling thread, one video after another (`analysisThreads: 0`);
 *   per-dimension:    one ffmpeg pipe per dimension per video, sequential (what one script per dimension does).
 * The dimension values are identical (checked: threaded = sequential exactly); the ratios are the
 * gain of the threads and the cost of decoding again. Also printed: the calling thread's event-loop
 * delay (p99 / max: what a BullMQ worker's lock renewal waits) and the bare decode (no dimension)
 * once, for the floor. Both scorers share one inference host (the models load once).
 *
 *   node dist/bench/video-scoring.js [--clips 3] [--attempts 3] [--seconds 4] [--width 640] [--height 360] [--threads N]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { encodeModel } from '../src/models/onnx-graph.js';
import { decodeInto, planFrames, probeVideo } from '../src/video-scoring/frames.js';
import { createThreadHost } from '../src/scoring/inference-host.js';
import { defaultAnalysisThreads } from '../src/video-scoring/analysis-pool.js';
import { createVideoScorer, scoreVideos, type ScoreVideosResult, type VideoScorer } from '../src/video-scoring/score.js';
import { makeClip, texture } from '../test/video-scoring/clips.js';
import { prng, writeTinyAesthetic, writeTinyClip } from '../test/helpers/tiny-models.js';

const { values } = parseArgs({
  options: {
    clips: { type: 'string', default: '3' },
    attempts: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    width: { type: 'string', default: '640' },
    height: { type: 'string', default: '360' },
    threads: { type: 'string' },
  },
});
const CLIPS = Number(values.clips), ATTEMPTS = Number(values.attempts), SECONDS = Number(values.seconds);
const W = Number(values.width), H = Number(values.height), FPS = 24;
const THREADS = values.threads ? Number(values.threads) : defaultAnalysisThreads();

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

const availableCores = () => availableParallelism();
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
  const host = createThreadHost();
  const sequential = createVideoScorer({ modelsDir: models, host, analysisThreads: 0 });
  const threaded = createVideoScorer({ modelsDir: models, host, analysisThreads: THREADS });
  // load the models, warm up (the threaded one: every thread, started and past one video)
  await scoreVideos([paths[0]!], { scorer: sequential, prompt });
  await scoreVideos(paths.slice(0, THREADS), { scorer: threaded, prompt });

  const run = async (scorer: VideoScorer, decode: 'once' | 'per-dimension') => {
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    const r = await scoreVideos(paths, { scorer, prompt, decode });
    const ms = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    lag.disable();
    return { ms, r, cpuMs: (cpu.user + cpu.system) / 1000, lagP99: lag.percentile(99) / 1e6, lagMax: lag.max / 1e6 };
  };
  const seq = await run(sequential, 'once');
  const thr = await run(threaded, 'once');
  const per = await run(sequential, 'per-dimension');
  const stats = threaded.stats().analysis;
  if (!stats || stats.fallbacks > 0 || stats.threads < Math.min(THREADS, n)) throw new Error(`the analysis threads did not run: ${JSON.stringify(stats)}`);

  // the bare decode at the working size, every frame, nothing else
  const bare = performance.now();
  let frames = 0;
  for (const p of paths) frames += (await decodeInto(p, planFrames(await probeVideo(p)), [])).frames;
  const bareMs = performance.now() - bare;
  await sequential.close();
  await threaded.close();
  await host.close();

  const pipes = (r: ScoreVideosResult) => r.videos.reduce((s, v) => s + (v.scores?.analysis.pipes ?? 0), 0);
  const decodeMs = (r: ScoreVideosResult) => r.videos.reduce((s, v) => s + (v.scores?.analysis.decode_ms ?? 0), 0);
  const diff = (x: ScoreVideosResult, y: ScoreVideosResult) => {
    let m = 0;
    for (let i = 0; i < n; i++)
      for (const [d, a] of Object.entries(x.videos[i]!.scores!.dimensions)) {
        const b = (y.videos[i]!.scores!.dimensions as Record<string, typeof a>)[d]!;
        if (a.available !== b.available) return Infinity;
        if (a.available && b.available) m = Math.max(m, Math.abs(a.raw - b.raw));
      }
    return m;
  };
  const maxDiff = diff(seq.r, per.r);
  const threadDiff = Math.max(diff(seq.r, thr.r), ...seq.r.videos.map((v, i) => Math.abs(v.rank_key! - thr.r.videos[i]!.rank_key!)));
  const available = seq.r.dimensions_available;
  console.log(`video scoring: ${CLIPS} clips × ${ATTEMPTS} attempts = ${n} videos of ${SECONDS} s at ${W}x${H}, ${FPS} fps (${frames / n} frames each; made in ${(makeMs / 1000).toFixed(1)} s); tiny CLIP + aesthetic head + DINO at 224 px`);
  console.log(`  dimensions: ${available.join(', ')}`);
  // cpu_ms: this process, every thread (not ffmpeg): with other load on the machine, wall time shrinks less than cores used grows
  console.log('  mode                          wall_ms  ms/video  cpu_ms  cores_used  ffmpeg_pipes  decode+dimension_ms  event_loop_p99_ms  event_loop_max_ms');
  const rows = [
    [`once, ${THREADS} analysis threads`, thr],
    ['once, sequential (0 threads)', seq],
    ['per-dimension, sequential', per],
  ] as const;
  for (const [name, x] of rows)
    console.log(
      `  ${name.padEnd(28)} ${x.ms.toFixed(0).padStart(8)}  ${(x.ms / n).toFixed(0).padStart(8)}  ${x.cpuMs.toFixed(0).padStart(6)}  ${(x.cpuMs / x.ms).toFixed(2).padStart(10)}  ${String(pipes(x.r)).padStart(12)}  ${decodeMs(x.r).toFixed(0).padStart(19)}  ${x.lagP99.toFixed(0).padStart(17)}  ${x.lagMax.toFixed(0).padStart(17)}`,
    );
  console.log(`  bare decode (${n} videos, no dimension): ${bareMs.toFixed(0)} ms (${(bareMs / n).toFixed(0)} ms/video); load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`  sequential / threaded (${THREADS} threads, ${availableCores()} cores): ${(seq.ms / thr.ms).toFixed(2)}x wall; largest difference of a dimension's raw value or rank key between the two: ${threadDiff.toExponential(1)}`);
  console.log(`  per-dimension / once (sequential): ${(per.ms / seq.ms).toFixed(2)}x wall, ${(pipes(per.r) / pipes(seq.r)).toFixed(1)}x decodes; largest difference of a dimension's raw value between the two: ${maxDiff.toExponential(1)}`);
  if (maxDiff > 1e-6) throw new Error('decode once and per dimension disagree');
  if (threadDiff !== 0) throw new Error('threaded and sequential scores disagree');
} finally {
  rmSync(root, { recursive: true, force: true });
}
