/**
 * Scoring benchmarks, in one run:
 *  1. at real model cost (bench/scoring-vit.ts): loop's scorer against a plain batched script over
 *     the same ViT-B/32-cost CLIP, side by side (skip with --no-vit);
 *  2. the overhead on tiny models, below.
 *
 * Tiny-model benchmark: the whole metric suite over 32 images against the floor (bare session.run of
 * the distinct model passes the suite needs, on pre-made tensors), and batched against one image at
 * a time. Runs on TINY models built in code (same names/shapes as the real exports, 224 px input):
 * the ratios show our overhead (decode, preprocessing, technical stats, thread hand-off), not the
 * real ViT cost, which would dominate with real models.
 *
 *   node dist/bench/scoring.js [--device cpu|cuda:N] [--images 32] [--no-vit]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createInlineHost, type HostTensor } from '../src/scoring/inference-host.js';
import { parseDevice } from '../src/scoring/runtime.js';
import { createImageScorer } from '../src/scoring/scorer.js';
import { writeTinyAesthetic, writeTinyClip } from '../test/helpers/tiny-models.js';
import { runVitBench } from './scoring-vit.js';

const { values } = parseArgs({
  options: { device: { type: 'string', default: 'cpu' }, images: { type: 'string', default: '32' }, 'no-vit': { type: 'boolean', default: false } },
});
const N = Number(values.images);
if (!values['no-vit']) {
  await runVitBench({ images: N });
  console.log('');
}
const device = parseDevice(values.device);
const root = mkdtempSync(join(tmpdir(), 'loop-bench-scoring-'));
const models = join(root, 'models');
const dim = 32;
writeTinyClip(join(models, 'clip-vit-large-patch14'), { side: 224, dim, seed: 1 });
writeTinyClip(join(models, 'pickscore'), { side: 224, dim, seed: 2 });
writeTinyAesthetic(join(models, 'laion-aesthetic-v2'), dim);

const paths: string[] = [];
for (let i = 0; i < N; i++) {
  const w = 512, h = 384;
  const raw = Buffer.alloc(w * h * 3);
  for (let p = 0; p < raw.length; p++) raw[p] = (p * (i + 3) + ((p / 3) | 0) % w) & 255;
  const p = join(root, `img_${i}.png`);
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toFile(p);
  paths.push(p);
}
const images = paths.map((path) => ({ path }));
const prompt = 'the cat';
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

// --- suite, batched (batch size = N) and one image at a time, in the inference thread ---
const scorer = createImageScorer({ modelsDir: models, device, vqa: null, batchSize: N });
await scorer.scoreBatch(images.slice(0, 2), prompt); // load + warm up
const batched: number[] = [];
const single: number[] = [];
for (let r = 0; r < 3; r++) {
  let t = process.hrtime.bigint();
  await scorer.scoreBatch(images, prompt);
  batched.push(ms(t));
  t = process.hrtime.bigint();
  for (const img of images) await scorer.scoreBatch([img], prompt);
  single.push(ms(t));
}
const runsPerSuite = scorer.stats();
await scorer.close();

// --- floor: the distinct passes on pre-made tensors, bare session.run on this thread ---
const host = await createInlineHost();
const s = (f: string) => host.load(join(models, f), device);
const cv = await s('clip-vit-large-patch14/onnx/vision_model.onnx');
const ct = await s('clip-vit-large-patch14/onnx/text_model.onnx');
const pv = await s('pickscore/onnx/vision_model.onnx');
const pt = await s('pickscore/onnx/text_model.onnx');
const ah = await s('laion-aesthetic-v2/aesthetic_head.onnx');
const pixels: HostTensor = { type: 'float32', dims: [N, 3, 224, 224], data: new Float32Array(N * 3 * 224 * 224).fill(0.1) };
const ids: HostTensor = { type: 'int64', dims: [1, 77], data: new BigInt64Array(77).fill(1n) };
const emb: HostTensor = { type: 'float32', dims: [N, dim], data: new Float32Array(N * dim).fill(0.01) };
const floorPass = async () => {
  await host.run(cv.key, { pixel_values: pixels }, ['image_embeds']);
  await host.run(ct.key, { input_ids: ids, attention_mask: ids }, ['text_embeds']);
  await host.run(pv.key, { pixel_values: pixels }, ['image_embeds']);
  await host.run(pt.key, { input_ids: ids, attention_mask: ids }, ['text_embeds']);
  await host.run(ah.key, { embedding: emb }, ['score']);
};
await floorPass();
const floor: number[] = [];
for (let r = 0; r < 3; r++) {
  const t = process.hrtime.bigint();
  await floorPass();
  floor.push(ms(t));
}
await host.close();
rmSync(root, { recursive: true, force: true });

const b = median(batched), o = median(single), f = median(floor);
console.log(`scoring bench: ${N} images 512×384 → 224 px, TINY models (dim ${dim}), device ${values.device}, 3 runs, medians`);
console.log(`  floor  (bare session.run: 2 vision + 2 text + 1 head passes)  ${f.toFixed(1)} ms`);
console.log(`  suite  batched (${N} per run, inference thread)             ${b.toFixed(1)} ms   = ${(b / f).toFixed(2)}× floor   (${(b / N).toFixed(2)} ms/image)`);
console.log(`  suite  one image at a time                                  ${o.toFixed(1)} ms   = ${(o / f).toFixed(2)}× floor   (${(o / N).toFixed(2)} ms/image)`);
console.log(`  one-at-a-time / batched = ${(o / b).toFixed(2)}×`);
console.log(`  session loads: ${runsPerSuite.loads} (once), runs total: ${Object.values(runsPerSuite.runs).reduce((a, x) => a + x, 0)}`);
console.log('  note: tiny models make the floor small; with real ViT-L/14 + CLIP-H the model passes dominate and the ratio falls towards 1.');
