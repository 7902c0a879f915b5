/**
 * Video generation concurrency: 3 clips × 3 attempts through the Replicate video backend against
 * the fake Replicate API (test/fakes/replicate-server.ts) serving a small real MP4
 * (test/fakes/replicate-video-fixtures.ts), 2 s per prediction. The path is the one
 * `loop generate-videos` runs in process (src/video/create.ts: planVideos, then generateAttempt
 * per clip × attempt under a bounded pool; stage 5 runs the same generateAttempt as one queue job
 * each), and the backend is the production one from createVideoBackend (real sleep, real jitter).
 *
 * Printed side by side, as wall time / one prediction's latency: all 9 at once (ideal ~1x), the
 * `generate-videos` default --concurrency 6, and serial (concurrency 1, ideal ~9x). The backend
 * polls in seconds (first poll after 2 s ±20 %, then ×1.5: 3 s, 4.5 s …), so a 2 s prediction
 * is seen done after ~2 s when the jittered first gap lands after it settles, else after ~5 s:
 * the per-attempt column shows what that costs, and it is reported as is.
 *
 *   npx tsc -p . && node dist/bench/video-generation.js
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateVideos } from '../src/video/create.js';
import { createVideoBackend, type VideoClip } from '../src/video/generate.js';
import { FIRST_POLL_MS, MAX_POLL_MS, POLL_FACTOR, POLL_JITTER } from '../src/video/replicate-video.js';
import { startFakeReplicate } from '../test/fakes/replicate-server.js';
import { fixtureSource, mp4Fixture } from '../test/fakes/replicate-video-fixtures.js';

const LATENCY_MS = 2000;
const CLIPS = 3;
const ATTEMPTS = 3;
const N = CLIPS * ATTEMPTS;
const MODEL = 'kwaivgi/kling-v2.1';

interface Row {
  mode: string;
  concurrency: number;
  wallMs: number;
  ratio: number;
  meanAttemptMs: number;
  maxAttemptMs: number;
  polls: number[];
  maxInFlight: number;
  created: number;
  failed: number;
}

async function main() {
  const clip = mp4Fixture({ width: 320, height: 180, seconds: 5, fps: 24 });
  const fake = await startFakeReplicate({
    token: 'r8_bench_video_generation_0123456789',
    latencyMs: LATENCY_MS,
    models: [MODEL],
    outputs: { [MODEL]: { bytes: clip, contentType: 'video/mp4', ext: 'mp4' } },
  });
  const framesRoot = await mkdtemp(join(tmpdir(), 'loop-bench-video-frames-'));
  const rows: Row[] = [];
  try {
    // frames in SDXL's 16:9 (1.75), one start and one end per clip (Kling: start_image + end_image, pro)
    const clips: VideoClip[] = [];
    for (let c = 1; c <= CLIPS; c++) {
      for (const [which, shade] of [['start', 60], ['end', 160]] as const) {
        const png = await sharp({ create: { width: 336, height: 192, channels: 3, background: { r: shade, g: 40 * c, b: 200 - shade } } }).png().toBuffer();
        await writeFile(join(framesRoot, `clip_00${c}_${which}.png`), png);
      }
      clips.push({ clip: c, prompt: `clip ${c}: a red kite over white dunes at noon, slow dolly in`, start_frame: `clip_00${c}_start.png`, end_frame: `clip_00${c}_end.png`, camera: null, duration_s: 5 });
    }
    // the production backend, as the CLI and the stage make it (loads the module before timing)
    const env = { REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl };
    await createVideoBackend('replicate', env);

    for (const [mode, concurrency] of [['all at once', N], ['cli default', 6], ['serial', 1]] as const) {
      fake.reset();
      const dir = await mkdtemp(join(tmpdir(), 'loop-bench-video-'));
      const backend = await createVideoBackend('replicate', env);
      const t0 = performance.now();
      const { trace, failures } = await generateVideos({
        dir,
        backend,
        model: MODEL,
        clips,
        framesRoot,
        attempts: ATTEMPTS,
        aspectRatio: '16:9',
        negativePrompt: null,
        seed: 4242,
        concurrency,
      });
      const wallMs = performance.now() - t0;
      const ms = trace.videos.map((v) => v.duration_ms);
      rows.push({
        mode,
        concurrency,
        wallMs,
        ratio: wallMs / LATENCY_MS,
        meanAttemptMs: ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length),
        maxAttemptMs: Math.max(0, ...ms),
        polls: trace.videos.map((v) => Number(v.provider.polls)),
        maxInFlight: fake.maxActivePredictions(),
        created: fake.created(),
        failed: failures.length,
      });
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await fake.close();
    await rm(framesRoot, { recursive: true, force: true });
  }

  const gaps: string[] = [];
  for (let n = 0, t = FIRST_POLL_MS; n < 4; n++, t = Math.min(MAX_POLL_MS, t * POLL_FACTOR)) gaps.push(`${(t / 1000).toFixed(1)}`);
  console.log(`video-generation: ${CLIPS} clips × ${ATTEMPTS} attempts, fake Replicate (${MODEL}, ${(clip.length / 1024).toFixed(0)} KiB ${fixtureSource()} MP4), ${LATENCY_MS} ms per prediction, real ReplicateVideoBackend`);
  console.log(`poll gaps: ${gaps.join(', ')}, … s (±${POLL_JITTER * 100} % jitter, capped at ${MAX_POLL_MS / 1000} s); a ${LATENCY_MS / 1000} s prediction is seen done at the first or the second poll`);
  console.log('mode          concurrency  wall_ms  latency_ms  wall/latency  attempt_ms(mean/max)  attempt/latency  wall/slowest  polls(1/2/3+)  max_in_flight  created  failed');
  for (const r of rows) {
    const p1 = r.polls.filter((p) => p === 1).length;
    const p2 = r.polls.filter((p) => p === 2).length;
    const p3 = r.polls.filter((p) => p >= 3).length;
    console.log(
      `${r.mode.padEnd(13)} ${String(r.concurrency).padStart(11)}  ${r.wallMs.toFixed(0).padStart(7)}  ${String(LATENCY_MS).padStart(10)}  ${r.ratio.toFixed(2).padStart(11)}x  ${`${r.meanAttemptMs.toFixed(0)}/${r.maxAttemptMs.toFixed(0)}`.padStart(20)}  ${(r.meanAttemptMs / LATENCY_MS).toFixed(2).padStart(14)}x  ${(r.wallMs / r.maxAttemptMs).toFixed(2).padStart(11)}x  ${`${p1}/${p2}/${p3}`.padStart(13)}  ${String(r.maxInFlight).padStart(13)}  ${String(r.created).padStart(7)}  ${String(r.failed).padStart(6)}`,
    );
  }
  const all = rows[0]!;
  const serial = rows[rows.length - 1]!;
  console.log(`all at once: ${all.ratio.toFixed(2)}x one prediction (ideal ~1x, ${N} in flight); serial: ${serial.ratio.toFixed(2)}x (ideal ~${N}x); speed-up ${(serial.wallMs / all.wallMs).toFixed(2)}x (ideal ${N}x)`);
  console.log(
    `polling overhead: one attempt takes ${(all.meanAttemptMs / LATENCY_MS).toFixed(2)}x its ${LATENCY_MS / 1000} s prediction on average, the slowest ${(all.maxAttemptMs / LATENCY_MS).toFixed(2)}x (seconds-scale polls; ideal 1x); all at once, wall is ${(all.wallMs / all.maxAttemptMs).toFixed(2)}x the slowest attempt (1x: nothing waited on anything else)`,
  );
}

await main();
