import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { readHeadWeights } from '../../models/build-aesthetic-head.js';
import { aestheticHeadOnnx, LAION_V2_KEYS, LAION_V2_SHAPES, type LinearLayer } from '../../src/models/aesthetic-head.js';
import { prng } from '../helpers/tiny-models.js';

const root = mkdtempSync(join(tmpdir(), 'loop-head-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function randomLayers(seed: number): LinearLayer[] {
  const r = prng(seed);
  return LAION_V2_SHAPES.map(([o, i]) => ({
    weight: Array.from({ length: o }, () => Array.from({ length: i }, () => r() * 0.05)),
    bias: Array.from({ length: o }, () => r() * 0.05),
  }));
}
function mlp(layers: LinearLayer[], x: number[]): number {
  let v = x;
  for (const L of layers) v = L.weight.map((row, o) => row.reduce((s, w, k) => s + w * v[k]!, L.bias[o]!));
  return v[0]!;
}

describe('aesthetic head builder', () => {
  const layers = randomLayers(3);
  const flat = Float32Array.from(layers.flatMap((L) => [...L.weight.flat(), ...L.bias]));

  it('folds the 5 linear layers into one affine map equal to the layer-by-layer MLP', async () => {
    const path = join(root, 'head.onnx');
    writeFileSync(path, aestheticHeadOnnx(layers));
    const s = await ort.InferenceSession.create(path);
    expect(s.inputNames).toEqual(['embedding']);
    const r = prng(9);
    const xs = [0, 1].map(() => {
      const v = Array.from({ length: 768 }, () => r());
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
    const out = await s.run({ embedding: new ort.Tensor('float32', Float32Array.from(xs.flat()), [2, 768]) });
    const got = out.score!.data as Float32Array;
    expect(out.score!.dims).toEqual([2, 1]);
    xs.forEach((x, i) => expect(got[i]).toBeCloseTo(mlp(layers, x), 4));
  });

  it('reads raw float32, .npy and state-dict JSON weights identically', () => {
    const f32 = join(root, 'head.f32');
    writeFileSync(f32, Buffer.from(flat.buffer));
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${flat.length},), }`.padEnd(118, ' ') + '\n';
    const npy = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0]), Buffer.from([header.length & 255, header.length >> 8]), Buffer.from(header), Buffer.from(flat.buffer)]);
    writeFileSync(join(root, 'head.npy'), npy);
    const sd: Record<string, unknown> = {};
    const asF32 = (L: LinearLayer) => ({ weight: L.weight.map((r) => Array.from(Float32Array.from(r))), bias: Array.from(Float32Array.from(L.bias)) });
    LAION_V2_KEYS.forEach((k, i) => {
      const L = asF32(layers[i]!);
      sd[`${k}.weight`] = L.weight;
      sd[`${k}.bias`] = L.bias;
    });
    writeFileSync(join(root, 'head.json'), JSON.stringify(sd));
    const a = readHeadWeights(f32);
    expect(readHeadWeights(join(root, 'head.npy'))).toEqual(a);
    expect(readHeadWeights(join(root, 'head.json'))).toEqual(a);
    expect(a[0]!.weight.length).toBe(1024);
    expect(a[4]!.weight[0]!.length).toBe(16);
    writeFileSync(join(root, 'short.f32'), Buffer.from(flat.buffer, 0, 400));
    expect(() => readHeadWeights(join(root, 'short.f32'))).toThrow(/expected 927969 float32 values/);
  });
});
