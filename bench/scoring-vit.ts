/**
 * Scoring at real model cost: loop's scorer against a plain batched script over the SAME model, in
 * the same process, side by side. The model is a synthetic CLIP built by the tests' model builder
 * (test/helpers/tiny-models.ts `writeCostClip`): the Hugging Face export layout and I/O names,
 * 224 px input, and a vision tower that costs what ViT-B/32's does (≈4.4 G multiply-adds per
 * image, ≈88M parameters, ≈350 MB file). It is generated on first use and cached in the temp dir.
 *
 * The plain script is what one would write by hand: create the two sessions, tokenise the prompt
 * and run the text tower, then per batch of 8: decode + resize + crop with sharp, normalise, one
 * session.run, cosine with the text embedding. No hashing, no technical metric, no thread.
 *
 * loop's scorer does the same work plus what it promises on top: file hashes (provenance), the
 * technical-quality metric on every image, inference off the main thread. Measured:
 *   cold  a fresh scorer (load + score + close), as `loop score-images` pays it, against the plain
 *         script including its session load (the comparison of the issue);
 *   warm  models already loaded (a queue worker's second job onward), plain sessions held too.
 *
 *   node dist/bench/scoring-vit.js [--images 32] [--reps 5] [--batch 8] [--fresh]
 *   --fresh  drop the hash sidecar first, so the first load of this process really hashes
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as store from '../src/models/store.js';
import { loadPreprocess } from '../src/scoring/preprocess.js';
import { createImageScorer, DEFAULT_CLIP_MODEL } from '../src/scoring/scorer.js';
import { loadClipTokenizer } from '../src/scoring/tokenizer.js';
import { writeCostClip, type CostClip } from '../test/helpers/tiny-models.js';

type Ort = typeof import('onnxruntime-node');
const BUILD_VERSION = 'cost-clip-v1';

export interface VitBenchOptions {
  images?: number;
  reps?: number;
  batch?: number;
  fresh?: boolean;
  /** The scorer's imageConcurrency (decode/preprocess jobs in flight); default: its own. */
  imageConcurrency?: number;
  width?: number;
  height?: number;
}

/** The synthetic model and the test images, built once and kept in the temp dir. */
async function fixtures(nImages: number, w: number, h: number): Promise<{ root: string; modelsDir: string; info: CostClip; paths: string[] }> {
  const root = join(tmpdir(), `loop-bench-${BUILD_VERSION}`);
  const modelsDir = join(root, 'models');
  const marker = join(root, 'model.json');
  let info: CostClip;
  if (existsSync(marker)) info = JSON.parse(readFileSync(marker, 'utf8')) as CostClip;
  else {
    rmSync(modelsDir, { recursive: true, force: true });
    const t = performance.now();
    process.stdout.write(`  building the ViT-B/32-cost CLIP in ${root} (once) … `);
    info = writeCostClip(join(modelsDir, DEFAULT_CLIP_MODEL), { seed: 32 });
    writeFileSync(marker, JSON.stringify(info));
    console.log(`${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const imgDir = join(root, `images-${w}x${h}`);
  mkdirSync(imgDir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < nImages; i++) {
    const p = join(imgDir, `image_${i}.png`);
    if (!existsSync(p)) await sharp(syntheticPhoto(w, h, i), { raw: { width: w, height: h, channels: 3 } }).png().toFile(p);
    paths.push(p);
  }
  return { root, modelsDir, info, paths };
}

/** Smooth colour fields, edges and a little sensor-like noise: compresses and decodes like a render. */
function syntheticPhoto(w: number, h: number, seed: number): Buffer {
  const raw = Buffer.alloc(w * h * 3);
  let s = seed * 7919 + 1;
  const cx = w * (0.3 + 0.05 * (seed % 8)), cy = h * 0.5, rad = h * 0.3;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      const n = ((s >> 16) % 9) - 4;
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < rad * rad ? 60 : 0;
      const o = (y * w + x) * 3;
      raw[o] = Math.max(0, Math.min(255, 120 + 90 * Math.sin(x / (40 + seed) + y / 90) + n + inside));
      raw[o + 1] = Math.max(0, Math.min(255, 110 + 80 * Math.cos(y / (30 + seed * 2)) + n));
      raw[o + 2] = Math.max(0, Math.min(255, 100 + 60 * Math.sin((x + y) / 70 + seed) + n - inside));
    }
  return raw;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function runVitBench(o: VitBenchOptions = {}): Promise<{ cold: number; warm: number }> {
  const N = o.images ?? 32, R = o.reps ?? 7, B = o.batch ?? 8, W = o.width ?? 1024, H = o.height ?? 576;
  const { modelsDir, info, paths } = await fixtures(N, W, H);
  const dir = join(modelsDir, DEFAULT_CLIP_MODEL);
  if (o.fresh) rmSync(join(dir, '.loop-hashes.json'), { force: true });
  const prompt = 'the cat';
  const ort = (await import('onnxruntime-node')) as unknown as Ort;

  // ---- the plain script ----
  const opts = { graphOptimizationLevel: 'all' as const, logSeverityLevel: 3 as const };
  const plainLoad = async () => ({
    vision: await ort.InferenceSession.create(join(dir, 'onnx/vision_model.onnx'), opts),
    text: await ort.InferenceSession.create(join(dir, 'onnx/text_model.onnx'), opts),
  });
  const pre = await loadPreprocess(join(dir, 'preprocessor_config.json'));
  const [mean, std] = [pre.cfg.image_mean, pre.cfg.image_std];
  const side = pre.height, plane = side * side;
  const plainScore = async (s: Awaited<ReturnType<typeof plainLoad>>): Promise<number[]> => {
    const tok = (await loadClipTokenizer(dir)).encode(prompt);
    const ids = new ort.Tensor('int64', BigInt64Array.from(tok.ids, BigInt), [1, 77]);
    const mask = new ort.Tensor('int64', BigInt64Array.from(tok.attentionMask, BigInt), [1, 77]);
    const t = (await s.text.run({ input_ids: ids, attention_mask: mask })).text_embeds!.data as Float32Array;
    const tn = Math.hypot(...t);
    const cos: number[] = [];
    for (let i = 0; i < paths.length; i += B) {
      const batch = paths.slice(i, i + B);
      const data = new Float32Array(batch.length * 3 * plane);
      await Promise.all(
        batch.map(async (p, j) => {
          const px = await sharp(p).removeAlpha().resize(side, side, { fit: 'cover', kernel: 'cubic' }).raw().toBuffer();
          for (let c = 0; c < 3; c++) for (let k = 0; k < plane; k++) data[(j * 3 + c) * plane + k] = (px[k * 3 + c]! / 255 - mean[c]!) / std[c]!;
        }),
      );
      const out = (await s.vision.run({ pixel_values: new ort.Tensor('float32', data, [batch.length, 3, side, side]) })).image_embeds!;
      const e = out.data as Float32Array, d = out.dims[1]!;
      for (let j = 0; j < batch.length; j++) {
        let dot = 0, nn = 0;
        for (let k = 0; k < d; k++) (dot += e[j * d + k]! * t[k]!), (nn += e[j * d + k]! ** 2);
        cos.push(dot / (Math.sqrt(nn) * tn));
      }
    }
    return cos;
  };
  const plainCold = async () => {
    const s = await plainLoad();
    const r = await plainScore(s);
    await s.vision.release();
    await s.text.release();
    return r;
  };

  // ---- loop's scorer ----
  const images = paths.map((path) => ({ path }));
  let hashed = 0;
  const onHash = (store as { onModelFileHashed?: (f: (p: string) => void) => () => void }).onModelFileHashed;
  const unwatch = onHash?.(() => hashed++);
  const loopCold = async () => {
    const scorer = createImageScorer({ modelsDir, vqa: null, batchSize: B, imageConcurrency: o.imageConcurrency });
    const r = await scorer.scoreBatch(images, prompt);
    await scorer.close();
    return r;
  };
  /** Wall time; CPU time (all threads of this process) goes to `cpu`, less sensitive to other load. */
  const cpu = new Map<number[], number[]>();
  const time = async <T>(f: () => Promise<T>, acc?: number[]): Promise<[number, T]> => {
    const c = process.cpuUsage();
    const t = performance.now();
    const r = await f();
    const wall = performance.now() - t;
    const u = process.cpuUsage(c);
    if (acc) (acc.push(wall), cpu.set(acc, [...(cpu.get(acc) ?? []), (u.user + u.system) / 1000]));
    return [wall, r];
  };

  console.log(
    `scoring at ViT-B/32 cost: ${N} PNG ${W}×${H} → ${side} px, batch ${B}, ${R} reps, ${process.arch} ${(await import('node:os')).cpus().length} CPUs\n` +
      `  model: synthetic CLIP, vision ${(info.visionParams / 1e6).toFixed(0)}M params, ${(info.visionMacsPerImage / 1e9).toFixed(2)} GMAC/image, ` +
      `${info.tokens} tokens; text ${(info.textParams / 1e6).toFixed(0)}M params`,
  );
  // first load of this process (the OS cache is warm from here on for both)
  const [first, firstRes] = await time(loopCold);
  const firstHashed = hashed;
  await plainCold(); // warm-up of the plain path (sharp, ORT)
  const loopT: number[] = [], plainT: number[] = [];
  let plainCos: number[] = [];
  for (let r = 0; r < R; r++) {
    const pair: [() => Promise<unknown>, number[]][] = [
      [loopCold, loopT],
      [async () => (plainCos = await plainCold()), plainT],
    ];
    if (r % 2) pair.reverse();
    for (const [f, acc] of pair) await time(f, acc);
  }
  const hashedLater = hashed - firstHashed;

  // ---- warm: models held on both sides ----
  const held = createImageScorer({ modelsDir, vqa: null, batchSize: B, imageConcurrency: o.imageConcurrency });
  await held.scoreBatch(images.slice(0, 2), prompt);
  const sessions = await plainLoad();
  await plainScore(sessions);
  const loopW: number[] = [], plainW: number[] = [], loopByB: number[] = [];
  // how src/scoring/rank.ts calls the scorer today: one scoreBatch per `batch` images, in turn
  const inTurns = async () => {
    for (let i = 0; i < images.length; i += B) await held.scoreBatch(images.slice(i, i + B), prompt);
  };
  for (let r = 0; r < R; r++) {
    const pair: [() => Promise<unknown>, number[]][] = [
      [() => held.scoreBatch(images, prompt), loopW],
      [() => plainScore(sessions), plainW],
      [inTurns, loopByB],
    ];
    if (r % 2) pair.reverse();
    for (const [f, acc] of pair) await time(f, acc);
  }
  await held.close();
  await sessions.vision.release();
  await sessions.text.release();
  unwatch?.();

  // the two did the same model work: cosines agree up to the resampling difference of the two crops
  const loopCos = firstRes.map((r) => (r.scores?.metrics.clip_score as { detail?: { cosine?: number } } | undefined)?.detail?.cosine ?? NaN);
  const maxDiff = Math.max(...loopCos.map((c, i) => Math.abs(c - plainCos[i]!)));

  const lc = median(loopT), pc = median(plainT), lw = median(loopW), pw = median(plainW);
  const mc = (a: number[]) => median(cpu.get(a)!);
  const f = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
  const min = (a: number[]) => Math.min(...a);
  console.log(`  medians of ${R} interleaved reps (wall; CPU time of all threads; best wall)`);
  console.log(
    `  cold (load + score ${N}; fresh scorer per rep)   loop ${f(lc)}   plain ${f(pc)}   loop/plain = ${(lc / pc).toFixed(2)}×` +
      `   CPU ${(mc(loopT) / mc(plainT)).toFixed(2)}×   best ${(min(loopT) / min(plainT)).toFixed(2)}×`,
  );
  console.log(
    `  warm (models loaded; score ${N})                 loop ${f(lw)}   plain ${f(pw)}   loop/plain = ${(lw / pw).toFixed(2)}×` +
      `   CPU ${(mc(loopW) / mc(plainW)).toFixed(2)}×   best ${(min(loopW) / min(plainW)).toFixed(2)}×`,
  );
  console.log(`  warm, ${B} images per scoreBatch call, calls in turn (no overlap across calls)   loop ${f(median(loopByB))}   = ${(median(loopByB) / pw).toFixed(2)}× plain warm`);
  console.log(`  first load of the process (loop)              ${f(first)}   = ${(first / pc).toFixed(2)}× plain cold` + (onHash ? `   (files hashed: ${firstHashed})` : ''));
  console.log(`  CPU ms (median)  loop cold ${mc(loopT).toFixed(0)}  plain cold ${mc(plainT).toFixed(0)}  loop warm ${mc(loopW).toFixed(0)}  plain warm ${mc(plainW).toFixed(0)}`);
  console.log(`  per rep  loop cold: ${loopT.map((x) => x.toFixed(0)).join(' ')}   plain cold: ${plainT.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`           loop warm: ${loopW.map((x) => x.toFixed(0)).join(' ')}   plain warm: ${plainW.map((x) => x.toFixed(0)).join(' ')}`);
  if (onHash) console.log(`  model files hashed after the first load: ${hashedLater} (hashes are cached per process and in a sidecar)`);
  console.log(`  same model work: max |cos(loop) − cos(plain)| = ${maxDiff.toExponential(1)} (plain crops with sharp's cover resize)`);
  return { cold: lc / pc, warm: lw / pw };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      images: { type: 'string', default: '32' },
      reps: { type: 'string', default: '7' },
      batch: { type: 'string', default: '8' },
      fresh: { type: 'boolean', default: false },
      'image-concurrency': { type: 'string' },
    },
  });
  const ic = values['image-concurrency'];
  await runVitBench({ images: Number(values.images), reps: Number(values.reps), batch: Number(values.batch), fresh: values.fresh, imageConcurrency: ic ? Number(ic) : undefined });
}
