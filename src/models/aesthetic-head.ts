/**
 * The LAION aesthetic predictor v2 head as one affine map. The published MLP
 * (768→1024→128→64→16→1, Dropout between, no activations) is linear end to end, so
 * y = x·W1ᵀ·W2ᵀ·…·W5ᵀ + folded bias. Folding is done in float64; the graph is one MatMul + Add:
 *   embedding [batch, 768] float32 (L2-normalised CLIP ViT-L/14 image embedding) → score [batch, 1]
 */
import { encodeModel } from './onnx-graph.js';

export interface LinearLayer {
  /** [out][in], as torch.nn.Linear stores it. */
  weight: number[][];
  bias: number[];
}

/** Fold a chain of linear layers into W [in, out] (row-major) and b [out]. */
export function foldLinear(layers: LinearLayer[]): { inDim: number; outDim: number; W: Float64Array; b: Float64Array } {
  if (!layers.length) throw new Error('no layers');
  const inDim = layers[0]!.weight[0]!.length;
  // M = identity [in, in], c = 0 [in]; each layer: M ← M·Wᵀ, c ← c·Wᵀ + b
  let cols = inDim;
  let M: Float64Array = new Float64Array(inDim * inDim);
  for (let i = 0; i < inDim; i++) M[i * inDim + i] = 1;
  let c: Float64Array = new Float64Array(inDim);
  for (const [li, L] of layers.entries()) {
    const out = L.weight.length;
    if (L.bias.length !== out) throw new Error(`layer ${li}: bias has ${L.bias.length} values for ${out} outputs`);
    if (L.weight.some((r) => r.length !== cols)) throw new Error(`layer ${li}: expected ${cols} inputs per row`);
    const M2 = new Float64Array(inDim * out);
    const c2 = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      const w = L.weight[o]!;
      for (let r = 0; r < inDim; r++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += M[r * cols + k]! * w[k]!;
        M2[r * out + o] = s;
      }
      let s = L.bias[o]!;
      for (let k = 0; k < cols; k++) s += c[k]! * w[k]!;
      c2[o] = s;
    }
    M = M2;
    c = c2;
    cols = out;
  }
  return { inDim, outDim: cols, W: M, b: c };
}

export function aestheticHeadOnnx(layers: LinearLayer[]): Uint8Array {
  const { inDim, outDim, W, b } = foldLinear(layers);
  if (outDim !== 1) throw new Error(`the head must end in one output, got ${outDim}`);
  return encodeModel({
    name: 'laion_aesthetic_v2_folded',
    inputs: [{ name: 'embedding', type: 'float32', shape: ['batch', inDim] }],
    outputs: [{ name: 'score', type: 'float32', shape: ['batch', 1] }],
    initializers: [
      { name: 'W', dims: [inDim, 1], data: Float32Array.from(W) },
      { name: 'b', dims: [1], data: Float32Array.from(b) },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['embedding', 'W'], outputs: ['xw'] },
      { op: 'Add', inputs: ['xw', 'b'], outputs: ['score'] },
    ],
  });
}

/** The published head's shapes, in state_dict order (layers.0, .2, .4, .6, .7). */
export const LAION_V2_SHAPES: [number, number][] = [
  [1024, 768],
  [128, 1024],
  [64, 128],
  [16, 64],
  [1, 16],
];
export const LAION_V2_KEYS = ['layers.0', 'layers.2', 'layers.4', 'layers.6', 'layers.7'];

/** Cut a flat float32 vector (weight, bias, weight, bias, … in state_dict order) into layers. */
export function layersFromFlat(flat: Float32Array | number[], shapes = LAION_V2_SHAPES): LinearLayer[] {
  const need = shapes.reduce((a, [o, i]) => a + o * i + o, 0);
  if (flat.length !== need) throw new Error(`expected ${need} float32 values (${shapes.map(([o, i]) => `${o}×${i}+${o}`).join(', ')}), got ${flat.length}`);
  let p = 0;
  return shapes.map(([o, i]) => {
    const weight = Array.from({ length: o }, (_, r) => Array.from(flat.slice(p + r * i, p + (r + 1) * i)));
    p += o * i;
    const bias = Array.from(flat.slice(p, p + o));
    p += o;
    return { weight, bias };
  });
}

/** A state_dict as JSON: {"layers.0.weight": [[…]], "layers.0.bias": […], …}. */
export function layersFromStateDict(sd: Record<string, unknown>, keys = LAION_V2_KEYS): LinearLayer[] {
  return keys.map((k) => {
    const weight = sd[`${k}.weight`];
    const bias = sd[`${k}.bias`];
    if (!Array.isArray(weight) || !Array.isArray(bias)) throw new Error(`state dict lacks ${k}.weight / ${k}.bias`);
    return { weight: weight as number[][], bias: bias as number[] };
  });
}

/** Parse a little-endian float32 .npy (1-D or any shape; data taken flat). */
export function parseNpy(buf: Uint8Array): Float32Array {
  const magic = String.fromCharCode(...buf.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new Error('not an .npy file');
  const major = buf[6]!;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(buf.subarray(start, start + hlen));
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`.npy must be little-endian float32 ('<f4'); header: ${header.trim()}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error('.npy in Fortran order is not supported');
  const data = new Uint8Array(buf.subarray(start + hlen)); // a copy, so the offset is aligned
  return new Float32Array(data.buffer, 0, data.byteLength >> 2);
}
