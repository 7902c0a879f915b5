/**
 * The model dimensions with tiny ONNX models built in code (same file layout and tensor names as
 * the real exports): subject consistency (DINO), background consistency (CLIP), the aesthetic
 * head and text alignment, against values computed by hand from the same weights and the colours
 * fed in; "unavailable" with the reason when a model is not installed; one host shared with the
 * image scorer loads each model file once.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinearLayer } from '../../src/models/aesthetic-head.js';
import { encodeModel } from '../../src/models/onnx-graph.js';
import { createInlineHost } from '../../src/scoring/inference-host.js';
import { createImageScorer } from '../../src/scoring/scorer.js';
import { createVideoScorer, scoreVideos } from '../../src/video-scoring/score.js';
import { prng, writeTinyModels, type TinyClip } from '../helpers/tiny-models.js';
import { makeClip, solid } from './clips.js';

type RGB = [number, number, number];
const IMAGENET_MEAN: RGB = [0.485, 0.456, 0.406];
const IMAGENET_STD: RGB = [0.229, 0.224, 0.225];

interface TinyDino {
  side: number;
  dim: number;
  W: Float32Array; // [3·side², dim]
  b: Float32Array;
}

/** A DINO-shaped ViT export: pixel_values → last_hidden_state [N, 2, D]; token 0 (CLS) = x·W + b, token 1 = x·W2. */
function writeTinyDino(dir: string, side = 16, dim = 8, seed = 5): TinyDino {
  const rnd = prng(seed);
  const inD = 3 * side * side;
  const W = Float32Array.from({ length: inD * dim }, () => rnd() * 0.05);
  const b = Float32Array.from({ length: dim }, () => rnd() * 0.1);
  const W2 = Float32Array.from({ length: inD * dim }, () => rnd());
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(
    join(dir, 'onnx/model.onnx'),
    encodeModel({
      name: 'tiny_dino',
      inputs: [{ name: 'pixel_values', type: 'float32', shape: ['batch_size', 3, side, side] }],
      outputs: [{ name: 'last_hidden_state', type: 'float32', shape: ['batch_size', 2, dim] }],
      initializers: [
        { name: 'W', dims: [inD, dim], data: W },
        { name: 'b', dims: [dim], data: b },
        { name: 'W2', dims: [inD, dim], data: W2 },
        { name: 'axis1', dims: [1], data: [1], type: 'int64' },
      ],
      nodes: [
        { op: 'Flatten', inputs: ['pixel_values'], outputs: ['flat'], attrs: { axis: 1 } },
        { op: 'MatMul', inputs: ['flat', 'W'], outputs: ['p0'] },
        { op: 'Add', inputs: ['p0', 'b'], outputs: ['cls'] },
        { op: 'MatMul', inputs: ['flat', 'W2'], outputs: ['tok'] },
        { op: 'Unsqueeze', inputs: ['cls', 'axis1'], outputs: ['cls3'] },
        { op: 'Unsqueeze', inputs: ['tok', 'axis1'], outputs: ['tok3'] },
        { op: 'Concat', inputs: ['cls3', 'tok3'], outputs: ['last_hidden_state'], attrs: { axis: 1 } },
      ],
    }),
  );
  // ViTImageProcessor-style: resize to side × side, no crop, ImageNet mean/std
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({ do_resize: true, size: { height: side, width: side }, resample: 3, do_center_crop: false, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: IMAGENET_MEAN, image_std: IMAGENET_STD }),
  );
  return { side, dim, W, b };
}

// ---- by hand, from the weights: a solid colour is the same normalised value at every pixel ----
const norm = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
function linearEmbed(side: number, dim: number, W: Float32Array, b: Float32Array, mean: RGB, std: RGB, rgb: RGB): number[] {
  const plane = side * side;
  const out = Array.from(b);
  for (let c = 0; c < 3; c++) {
    const px = (rgb[c]! / 255 - mean[c]!) / std[c]!;
    for (let i = 0; i < plane; i++) for (let d = 0; d < dim; d++) out[d]! += px * W[(c * plane + i) * dim + d]!;
  }
  return norm(out);
}
const clipEmbed = (m: TinyClip, rgb: RGB) => linearEmbed(m.side, m.dim, m.Wv, m.bv, m.mean, m.std, rgb);
const dinoEmbed = (m: TinyDino, rgb: RGB) => linearEmbed(m.side, m.dim, m.W, m.b, IMAGENET_MEAN, IMAGENET_STD, rgb);
function mlp(layers: LinearLayer[], x: number[]): number {
  let v = x;
  for (const L of layers) v = L.weight.map((row, o) => row.reduce((s, w, k) => s + w * v[k]!, L.bias[o]!));
  return v[0]!;
}
/** VBench: frames 1..n−1 score (max(0, cos prev) + max(0, cos first)) / 2; the mean. */
function vbenchConsistency(e: number[][]): number {
  let s = 0;
  for (let i = 1; i < e.length; i++) s += (Math.max(0, dot(e[i - 1]!, e[i]!)) + Math.max(0, dot(e[0]!, e[i]!))) / 2;
  return s / (e.length - 1);
}

const PROMPT = 'the cat';
const SEQ: RGB[] = [
  [200, 30, 30],
  [200, 30, 30],
  [20, 180, 60],
  [40, 40, 220],
  [20, 180, 60],
  [240, 240, 240],
  [10, 10, 10],
  [200, 30, 30],
];
let root: string;
let models: ReturnType<typeof writeTinyModels>;
let dino: TinyDino;
const video = () => join(root, 'colours.mp4');

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'loop-video-consistency-'));
  models = writeTinyModels(join(root, 'models'));
  dino = writeTinyDino(join(root, 'models', 'dino-vitb16'));
  // 8 fps: every frame is a model frame (interval round(8/8) = 1)
  await makeClip(video(), { width: 48, height: 32, fps: 8, frames: SEQ.length, frame: (i) => solid(48, 32, SEQ[i]!) });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('model dimensions on tiny models', () => {
  it('match the VBench formulas computed by hand from the same embeddings', async () => {
    const r = await scoreVideos([video()], { modelsDir: join(root, 'models'), host: 'inline', prompt: PROMPT, batchSize: 3 });
    const s = r.videos[0]!.scores!;
    const d = s.dimensions;
    expect(s.analysis.model_interval).toBe(1);

    const subj = dinoEmbed.bind(null, dino);
    const expectedSubject = vbenchConsistency(SEQ.map(subj));
    expect(d.subject_consistency).toMatchObject({ available: true, substitute: false, model_id: 'dino-vitb16' });
    if (d.subject_consistency.available) expect(d.subject_consistency.raw).toBeCloseTo(expectedSubject, 4);

    const clipE = SEQ.map((c) => clipEmbed(models.clip!, c));
    expect(d.background_consistency).toMatchObject({ available: true, model_id: 'clip-vit-large-patch14' });
    if (d.background_consistency.available) {
      expect(d.background_consistency.raw).toBeCloseTo(vbenchConsistency(clipE), 4);
      // VBench's background model is ViT-B/32: another CLIP is named as a substitute
      expect(d.background_consistency.substitute).toBe(true);
    }
    // the two consistencies are different numbers from different models
    expect(Math.abs(vbenchConsistency(clipE) - expectedSubject)).toBeGreaterThan(1e-3);

    const aest = clipE.map((e) => mlp(models.head!.layers, e));
    expect(d.aesthetic_quality.available).toBe(true);
    if (d.aesthetic_quality.available) expect(d.aesthetic_quality.raw).toBeCloseTo(aest.reduce((a, b) => a + b, 0) / aest.length, 3);

    // text alignment: the mean over frames of the CLIPScore the image scorer gives each colour
    const img = createImageScorer({ modelsDir: join(root, 'models'), vqa: null, host: 'inline' });
    const pngs = await Promise.all(SEQ.map((c) => sharp(Buffer.from(solid(48, 32, c)), { raw: { width: 48, height: 32, channels: 3 } }).png().toBuffer()));
    const res = await img.scoreBatch(pngs.map((bytes, i) => ({ path: `f${i}.png`, bytes })), PROMPT);
    await img.close();
    const cs = res.map((x) => (x.scores!.metrics.clip_score as { raw: number }).raw);
    expect(d.text_alignment).toMatchObject({ available: true, substitute: true });
    if (d.text_alignment.available) expect(d.text_alignment.raw).toBeCloseTo(cs.reduce((a, b) => a + b, 0) / cs.length, 3);

    expect(r.dimensions_available).toEqual(expect.arrayContaining(['subject_consistency', 'background_consistency', 'aesthetic_quality', 'text_alignment', 'imaging_quality']));
    expect(Object.values(r.weights_used).reduce((a, b) => a + (b ?? 0), 0)).toBeCloseTo(1, 9);
  });

  it('without DINO or CLIP the dimensions are unavailable with the reason; the others are still scored', async () => {
    const noDino = await scoreVideos([video()], { modelsDir: join(root, 'models'), dinoModel: 'missing-dino', host: 'inline', prompt: PROMPT });
    const d1 = noDino.videos[0]!.scores!.dimensions;
    expect(d1.subject_consistency).toMatchObject({ available: false, reason: expect.stringMatching(/missing-dino not installed/) });
    expect(d1.background_consistency.available).toBe(true);
    expect(noDino.dimensions_unavailable.subject_consistency).toMatch(/not installed/);
    expect(noDino.model_errors).toEqual([]);

    const none = await scoreVideos([video()], { modelsDir: join(root, 'empty'), host: 'inline', prompt: PROMPT });
    const d2 = none.videos[0]!.scores!.dimensions;
    for (const k of ['background_consistency', 'text_alignment', 'aesthetic_quality', 'subject_consistency'] as const)
      expect(d2[k]).toMatchObject({ available: false, reason: expect.stringMatching(/not installed/) });
    expect(d2.temporal_flickering.available && d2.imaging_quality.available).toBe(true);
    expect(none.weights_used.text_alignment).toBeUndefined();
    expect(none.videos[0]!.overall).not.toBeNull();

    const noPrompt = await scoreVideos([video()], { modelsDir: join(root, 'models'), host: 'inline' });
    expect(noPrompt.videos[0]!.scores!.dimensions.text_alignment).toEqual({ available: false, reason: 'no prompt given' });
  });

  it('an installed model that does not load is a model error, not "not installed"', async () => {
    const bad = join(root, 'bad-models');
    writeTinyModels(bad);
    mkdirSync(join(bad, 'dino-vitb16', 'onnx'), { recursive: true });
    writeFileSync(join(bad, 'dino-vitb16', 'onnx', 'model.onnx'), 'not an onnx file');
    writeFileSync(join(bad, 'dino-vitb16', 'preprocessor_config.json'), '{}');
    const s = createVideoScorer({ modelsDir: bad, host: 'inline' });
    const a = await s.availability();
    await s.close();
    expect(a.unavailable.subject_consistency).toMatch(/failed to load/);
    expect(a.model_errors.length).toBe(1);
  });

  it('a video scorer on the image scorer\'s host loads each model file once', async () => {
    const host = await createInlineHost();
    const img = createImageScorer({ modelsDir: join(root, 'models'), vqa: null, host });
    await img.availability();
    const loadsImages = host.stats().loads; // CLIP ×2 files, PickScore ×2, aesthetic head
    const vid = createVideoScorer({ modelsDir: join(root, 'models'), host });
    await vid.score(video(), { prompt: PROMPT });
    expect(loadsImages).toBe(5);
    expect(host.stats().loads).toBe(loadsImages + 1); // only DINO is new
    await vid.close();
    await img.close();
    await host.close();
  });
});
