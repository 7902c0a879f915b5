/**
 * The offline animatic backend: encode time per second of video, as a ratio (wall seconds to
 * render + encode / seconds of video; < 1 is faster than real time), for 4 s clips at 1280x720
 * and 640x360, 24 fps, CRF 12 veryfast, x264 on 2 threads:
 *   (a) a zoom in onto an end frame with a dissolve (both layers sampled per frame: the worst case),
 *   (b) a pan right without an end frame (one layer).
 * Also the frame renderer alone (JS sampling, no encoder), per frame, to show where time goes.
 *
 *   npx tsc -p . && node dist/bench/animatic.js
 */
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import type { Movement } from '../src/storyboard/plan.js';
import { AnimaticBackend, FrameRenderer, cameraPath } from '../src/video/animatic.js';
import { requireFfmpeg } from '../src/video/ffmpeg.js';

const DURATION_S = 4;
const SIZES = [
  [1280, 720],
  [640, 360],
] as const;

/** A simple scene (sky, ground, sun, a house), shifted left by `shift` px, as PNG. */
function scene(W: number, H: number, shift = 0): Promise<Buffer> {
  const u = W / 480;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3a6fd0"/><stop offset="1" stop-color="#f0c080"/></linearGradient></defs><rect width="${W}" height="${H}" fill="url(#s)"/><rect y="${H * 0.65}" width="${W}" height="${H}" fill="#3c6b2a"/><circle cx="${360 * u - shift}" cy="${70 * u}" r="${28 * u}" fill="#ffe060"/><rect x="${150 * u - shift}" y="${120 * u}" width="${90 * u}" height="${70 * u}" fill="#8a3b2a"/><rect x="${300 * u - shift}" y="${140 * u}" width="${14 * u}" height="${60 * u}" fill="#402010"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

const move = (type: Movement['type'], direction: string): Movement => ({ type, direction, speed: 'medium', end_lens_mm: 50, description: '' });

async function main() {
  const ff = await requireFfmpeg();
  console.log(`animatic bench: ${DURATION_S} s clips, 24 fps, CRF 12 veryfast, ${availableParallelism()} cores, ffmpeg ${ff.version} (${ff.source})`);
  const backend = new AnimaticBackend();
  // warm-up: sharp, the encoder's first spawn
  await backend.generate({
    prompt: 'warm up', negativePrompt: null, startImage: { bytes: await scene(320, 180), path: 'w.png' }, endImage: null,
    durationS: 0.5, aspectRatio: '16:9', seed: 1, model: 'animatic', camera: null, attempt: 1,
  });
  for (const [W, H] of SIZES) {
    const start = await scene(W, H);
    const zoomEnd = await sharp(start).extract({ left: Math.round((W - W / 1.3) / 2), top: Math.round((H - H / 1.3) / 2), width: Math.round(W / 1.3), height: Math.round(H / 1.3) }).resize(W, H).png().toBuffer();
    const cases = [
      { label: 'zoom in → end frame, dissolve', endImage: zoomEnd, camera: move('zoom', 'in') },
      { label: 'pan right, no end frame     ', endImage: null, camera: move('pan', 'right') },
    ];
    for (const c of cases) {
      const t0 = performance.now();
      const r = await backend.generate({
        prompt: 'bench', negativePrompt: null, startImage: { bytes: start, path: 'start.png' }, endImage: c.endImage ? { bytes: c.endImage, path: 'end.png' } : null,
        durationS: DURATION_S, aspectRatio: '16:9', seed: 1, model: 'animatic', camera: c.camera, attempt: 1,
      });
      const wall = (performance.now() - t0) / 1000;
      console.log(`  ${W}x${H}  ${c.label}  ${wall.toFixed(2)} s for ${r.duration_s} s   ratio ${(wall / r.duration_s).toFixed(2)}   (${r.provider.frames} frames, ${(r.bytes.length / 1024).toFixed(0)} KiB)`);
    }
    // the renderer alone
    const raw = await sharp(start).removeAlpha().raw().toBuffer();
    const rawEnd = await sharp(zoomEnd).removeAlpha().raw().toBuffer();
    const n = 24;
    for (const [label, end, mv] of [['zoom+dissolve', rawEnd, move('zoom', 'in')], ['pan, one layer', null, move('pan', 'right')]] as const) {
      const fr = new FrameRenderer(W, H, raw, end, raw, cameraPath(mv, { width: W, height: H, hasEnd: !!end, seed: 1, durationS: DURATION_S }));
      const t0 = performance.now();
      for (let i = 1; i <= n; i++) fr.render(i / (n + 1), 0.5);
      console.log(`  ${W}x${H}  renderer only (${label}): ${((performance.now() - t0) / n).toFixed(1)} ms/frame`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
