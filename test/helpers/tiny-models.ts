/**
 * Tiny models with the same file layout, input/output names and shapes as the real Hugging Face
 * ONNX exports, built in code with onnx-proto, so tests load them through the real code path.
 * Weights are deterministic and kept, so tests can compute expected values by hand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aestheticHeadOnnx, type LinearLayer } from '../../src/models/aesthetic-head.js';
import { encodeModel, type NodeSpec, type TensorInit } from '../../src/models/onnx-graph.js';

/** Deterministic pseudo-random numbers in [-1, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.split('');
const MERGES = ['t h', 'th e</w>', 'c a', 'ca t</w>', 'r e', 'a t'];

/** A CLIP-format BPE tokenizer.json (byte-level, </w> suffix, start/end tokens). */
export function tinyTokenizerJson(): { json: object; vocab: Record<string, number>; bos: number; eos: number } {
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const l of LETTERS) vocab[l] = id++;
  for (const l of LETTERS) vocab[`${l}</w>`] = id++;
  for (const m of MERGES) vocab[m.replace(' ', '')] = id++;
  const bos = id++;
  const eos = id++;
  vocab['<|startoftext|>'] = bos;
  vocab['<|endoftext|>'] = eos;
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: bos, content: '<|startoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      { id: eos, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: ['<|endoftext|>', eos],
      cls: ['<|startoftext|>', bos],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES,
    },
  };
  return { json, vocab, bos, eos };
}

export interface TinyClip {
  dir: string;
  dim: number;
  side: number;
  /** Vision: image_embeds = flatten(pixel_values) · Wv + bv; Wv is [3·side², dim] row-major. */
  Wv: Float32Array;
  bv: Float32Array;
  /** Text: text_embeds = (Σ_t mask_t · E[ids_t]) · Wt; E [vocab, dim], Wt [dim, dim]. */
  E: Float32Array;
  Wt: Float32Array;
  vocabSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  logitScale: number | null;
}

export interface TinyClipOptions {
  seed?: number;
  dim?: number;
  side?: number;
  /** Include attention_mask as a text input (newer exports); without it, padding is summed too. */
  withMask?: boolean;
  /** Trained logit_scale (log space) written to config.json; null → omitted. */
  logitScale?: number | null;
}

export function writeTinyClip(dir: string, o: TinyClipOptions = {}): TinyClip {
  const dim = o.dim ?? 8;
  const side = o.side ?? 16;
  const rnd = prng(o.seed ?? 7);
  const tok = tinyTokenizerJson();
  const vocabSize = Object.keys(tok.vocab).length;
  const inV = 3 * side * side;
  const Wv = Float32Array.from({ length: inV * dim }, () => rnd() * 0.05);
  const bv = Float32Array.from({ length: dim }, () => rnd() * 0.1);
  const E = Float32Array.from({ length: vocabSize * dim }, () => rnd());
  const Wt = Float32Array.from({ length: dim * dim }, () => rnd());
  const withMask = o.withMask ?? true;
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(
    join(dir, 'onnx/vision_model.onnx'),
    encodeModel({
      name: 'tiny_clip_vision',
      inputs: [{ name: 'pixel_values', type: 'float32', shape: ['batch_size', 3, side, side] }],
      outputs: [{ name: 'image_embeds', type: 'float32', shape: ['batch_size', dim] }],
      initializers: [
        { name: 'Wv', dims: [inV, dim], data: Wv },
        { name: 'bv', dims: [dim], data: bv },
      ],
      nodes: [
        { op: 'Flatten', inputs: ['pixel_values'], outputs: ['flat'], attrs: { axis: 1 } },
        { op: 'MatMul', inputs: ['flat', 'Wv'], outputs: ['proj'] },
        { op: 'Add', inputs: ['proj', 'bv'], outputs: ['image_embeds'] },
      ],
    }),
  );
  const textInputs = [{ name: 'input_ids', type: 'int64' as const, shape: ['batch_size', 'sequence_length'] }];
  const nodes = [{ op: 'Gather', inputs: ['E', 'input_ids'], outputs: ['tok'] }];
  if (withMask) {
    textInputs.push({ name: 'attention_mask', type: 'int64', shape: ['batch_size', 'sequence_length'] });
    nodes.push(
      { op: 'Cast', inputs: ['attention_mask'], outputs: ['maskf'], attrs: { to: 1 } } as never,
      { op: 'Unsqueeze', inputs: ['maskf', 'axis2'], outputs: ['mask3'] },
      { op: 'Mul', inputs: ['tok', 'mask3'], outputs: ['masked'] },
      { op: 'ReduceSum', inputs: ['masked', 'axis1'], outputs: ['pooled'], attrs: { keepdims: 0 } } as never,
    );
  } else nodes.push({ op: 'ReduceSum', inputs: ['tok', 'axis1'], outputs: ['pooled'], attrs: { keepdims: 0 } } as never);
  nodes.push({ op: 'MatMul', inputs: ['pooled', 'Wt'], outputs: ['text_embeds'] });
  writeFileSync(
    join(dir, 'onnx/text_model.onnx'),
    encodeModel({
      name: 'tiny_clip_text',
      inputs: textInputs,
      outputs: [{ name: 'text_embeds', type: 'float32', shape: ['batch_size', dim] }],
      initializers: [
        { name: 'E', dims: [vocabSize, dim], data: E },
        { name: 'Wt', dims: [dim, dim], data: Wt },
        { name: 'axis1', dims: [1], data: [1], type: 'int64' },
        { name: 'axis2', dims: [1], data: [2], type: 'int64' },
      ],
      nodes,
    }),
  );
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.json));
  const mean: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
  const std: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({
      do_resize: true,
      size: { shortest_edge: side },
      resample: 3,
      do_center_crop: true,
      crop_size: { height: side, width: side },
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: mean,
      image_std: std,
      do_convert_rgb: true,
    }),
  );
  const logitScale = o.logitScale === undefined ? Math.log(100) : o.logitScale;
  const config: Record<string, unknown> = { model_type: 'clip', projection_dim: dim, logit_scale_init_value: 2.6592 };
  if (logitScale !== null) config.logit_scale = logitScale;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return { dir, dim, side, Wv, bv, E, Wt, vocabSize, mean, std, logitScale };
}

export interface TinyHead {
  layers: LinearLayer[];
}

/** An aesthetic-style MLP dim→6→4→3→1 (no activations), written folded like the real builder. */
export function writeTinyAesthetic(dir: string, dim = 8, seed = 11): TinyHead {
  const rnd = prng(seed);
  const sizes = [dim, 6, 4, 3, 1];
  const layers: LinearLayer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++)
    layers.push({
      weight: Array.from({ length: sizes[i + 1]! }, () => Array.from({ length: sizes[i]! }, () => rnd())),
      bias: Array.from({ length: sizes[i + 1]! }, () => rnd()),
    });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'aesthetic_head.onnx'), aestheticHeadOnnx(layers));
  return { layers };
}

/** A whole models folder: clip-vit-large-patch14, pickscore, laion-aesthetic-v2. */
export function writeTinyModels(root: string, o: { skip?: ('clip' | 'pickscore' | 'aesthetic')[] } = {}) {
  const skip = new Set(o.skip ?? []);
  const clip = skip.has('clip') ? undefined : writeTinyClip(join(root, 'clip-vit-large-patch14'), { seed: 7 });
  const pick = skip.has('pickscore') ? undefined : writeTinyClip(join(root, 'pickscore'), { seed: 99, logitScale: Math.log(50), withMask: false });
  const head = skip.has('aesthetic') ? undefined : writeTinyAesthetic(join(root, 'laion-aesthetic-v2'));
  return { clip, pick, head };
}

// ---------------------------------------------------------------------------------------------
// A CLIP whose towers cost what a real one costs (for benchmarks): ViT-B/32-shaped by default.
// ---------------------------------------------------------------------------------------------

export interface TowerShape {
  width: number;
  layers: number;
  heads: number;
  mlp: number;
}

export interface CostClipOptions {
  seed?: number;
  /** Input side (pixels) and patch size: tokens = 1 + (side/patch)². */
  side?: number;
  patch?: number;
  vision?: Partial<TowerShape>;
  text?: Partial<TowerShape>;
  /** Projection (embedding) size of both towers. */
  embedDim?: number;
}

export interface CostClip {
  dir: string;
  side: number;
  embedDim: number;
  tokens: number;
  /** Multiply-accumulates of one image through the vision tower (what papers call "FLOPs"). */
  visionMacsPerImage: number;
  visionParams: number;
  textParams: number;
}

type Graph = { nodes: NodeSpec[]; inits: TensorInit[] };

/** Pre-LN transformer blocks (CLIP layout: MHA + QuickGELU MLP) on x [B, T, W]; returns the output name. */
function transformerBlocks(g: Graph, prefix: string, x: string, s: TowerShape, rnd: () => number): string {
  const { width: W, heads: H, mlp: M } = s;
  const hd = W / H;
  if (!Number.isInteger(hd)) throw new Error(`width ${W} is not divisible by ${H} heads`);
  const weight = (name: string, rows: number, cols: number) => {
    const a = Math.sqrt(3 / rows); // uniform with variance 1/fan_in
    g.inits.push({ name, dims: [rows, cols], data: Float32Array.from({ length: rows * cols }, () => rnd() * a) });
    return name;
  };
  const vec = (name: string, n: number, v?: number) => {
    g.inits.push({ name, dims: [n], data: Float32Array.from({ length: n }, () => v ?? rnd() * 0.02) });
    return name;
  };
  const c = (name: string, dims: number[], data: number[], type: 'float32' | 'int64' = 'float32') => {
    if (!g.inits.some((i) => i.name === name)) g.inits.push({ name, dims, data, type });
    return name;
  };
  const n = (op: string, inputs: string[], out: string, attrs?: NodeSpec['attrs']) => (g.nodes.push({ op, inputs, outputs: [out], attrs }), out);
  const ln = (p: string, x: string) => n('LayerNormalization', [x, vec(`${p}_g`, W, 1), vec(`${p}_b`, W, 0)], `${p}_out`, { axis: -1, epsilon: 1e-5 });
  const linear = (p: string, x: string, i: number, o: number) => n('Add', [n('MatMul', [x, weight(`${p}_w`, i, o)], `${p}_mm`), vec(`${p}_b`, o)], `${p}_out`);
  const heads = c(`${prefix}_heads_shape`, [4], [0, 0, H, hd], 'int64');
  const merge = c(`${prefix}_merge_shape`, [3], [0, 0, W], 'int64');
  const scale = c(`${prefix}_attn_scale`, [], [1 / Math.sqrt(hd)]);
  const gelu = c('quick_gelu_k', [], [1.702]);
  for (let l = 0; l < s.layers; l++) {
    const p = `${prefix}_l${l}`;
    const h = ln(`${p}_ln1`, x);
    const split = (t: string, perm: number[]) => n('Transpose', [n('Reshape', [linear(`${p}_${t}`, h, W, W), heads], `${p}_${t}_h`)], `${p}_${t}_t`, { perm });
    const q = split('q', [0, 2, 1, 3]);
    const k = split('k', [0, 2, 3, 1]);
    const v = split('v', [0, 2, 1, 3]);
    const att = n('Softmax', [n('Mul', [n('MatMul', [q, k], `${p}_qk`), scale], `${p}_qk_s`)], `${p}_att`, { axis: -1 });
    const ctx = n('Reshape', [n('Transpose', [n('MatMul', [att, v], `${p}_ctx_h`)], `${p}_ctx_t`, { perm: [0, 2, 1, 3] }), merge], `${p}_ctx`);
    const x1 = n('Add', [x, linear(`${p}_o`, ctx, W, W)], `${p}_x1`);
    const u = linear(`${p}_fc1`, ln(`${p}_ln2`, x1), W, M);
    const act = n('Mul', [u, n('Sigmoid', [n('Mul', [u, gelu], `${p}_u_k`)], `${p}_sig`)], `${p}_gelu`);
    x = n('Add', [x1, linear(`${p}_fc2`, act, M, W)], `${p}_x2`);
  }
  return x;
}

const towerParams = (s: TowerShape) => s.layers * (4 * s.width * s.width + 2 * s.width * s.mlp);

/**
 * A CLIP in the Hugging Face export layout whose vision tower costs what ViT-B/32's does
 * (patch-embedding conv 3→768 k=32 s=32, 50 tokens, 12 pre-LN blocks of 12-head attention and a
 * 768→3072→768 QuickGELU MLP, projection to 512: ≈88M parameters, ≈4.4 G multiply-adds per image)
 * and whose text tower is CLIP's 12×512 transformer over 77 tokens. Weights are random (seeded);
 * the point is the cost, not the embeddings. Files: about 350 MB + 150 MB.
 */
export function writeCostClip(dir: string, o: CostClipOptions = {}): CostClip {
  const side = o.side ?? 224;
  const patch = o.patch ?? 32;
  const vs: TowerShape = { width: 768, layers: 12, heads: 12, mlp: 3072, ...o.vision };
  const ts: TowerShape = { width: 512, layers: 12, heads: 8, mlp: 2048, ...o.text };
  const D = o.embedDim ?? 512;
  const rnd = prng(o.seed ?? 32);
  if (side % patch) throw new Error('side must be a multiple of patch');
  const grid = side / patch;
  const T = 1 + grid * grid;
  const W = vs.width;
  const rand = (n: number, a: number) => Float32Array.from({ length: n }, () => rnd() * a);

  // ---- vision ----
  const vg: Graph = { nodes: [], inits: [] };
  const kIn = 3 * patch * patch;
  vg.inits.push(
    { name: 'patch_w', dims: [W, 3, patch, patch], data: rand(W * kIn, Math.sqrt(3 / kIn)) },
    { name: 'patch_shape', dims: [3], data: [0, W, -1], type: 'int64' },
    { name: 'cls', dims: [1, 1, W], data: rand(W, 0.02) },
    { name: 'pos', dims: [T, W], data: rand(T * W, 0.02) },
    { name: 'ln_pre_g', dims: [W], data: new Float32Array(W).fill(1) },
    { name: 'ln_pre_b', dims: [W], data: new Float32Array(W) },
    { name: 'ln_post_g', dims: [W], data: new Float32Array(W).fill(1) },
    { name: 'ln_post_b', dims: [W], data: new Float32Array(W) },
    { name: 'first', dims: [], data: [0], type: 'int64' },
    { name: 'visual_proj', dims: [W, D], data: rand(W * D, Math.sqrt(3 / W)) },
  );
  vg.nodes.push(
    { op: 'Conv', inputs: ['pixel_values', 'patch_w'], outputs: ['pe'], attrs: { kernel_shape: [patch, patch], strides: [patch, patch] } },
    { op: 'Reshape', inputs: ['pe', 'patch_shape'], outputs: ['pe_flat'] },
    { op: 'Transpose', inputs: ['pe_flat'], outputs: ['patches'], attrs: { perm: [0, 2, 1] } },
    // a class token per image without shape arithmetic: mean of the patches + a learned offset
    { op: 'ReduceMean', inputs: ['patches'], outputs: ['patch_mean'], attrs: { axes: [1], keepdims: 1 } },
    { op: 'Add', inputs: ['patch_mean', 'cls'], outputs: ['cls_tok'] },
    { op: 'Concat', inputs: ['cls_tok', 'patches'], outputs: ['tokens'], attrs: { axis: 1 } },
    { op: 'Add', inputs: ['tokens', 'pos'], outputs: ['embedded'] },
    { op: 'LayerNormalization', inputs: ['embedded', 'ln_pre_g', 'ln_pre_b'], outputs: ['x0'], attrs: { axis: -1, epsilon: 1e-5 } },
  );
  const vx = transformerBlocks(vg, 'v', 'x0', vs, rnd);
  vg.nodes.push(
    { op: 'Gather', inputs: [vx, 'first'], outputs: ['pooled'], attrs: { axis: 1 } },
    { op: 'LayerNormalization', inputs: ['pooled', 'ln_post_g', 'ln_post_b'], outputs: ['pooled_ln'], attrs: { axis: -1, epsilon: 1e-5 } },
    { op: 'MatMul', inputs: ['pooled_ln', 'visual_proj'], outputs: ['image_embeds'] },
  );
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(
    join(dir, 'onnx/vision_model.onnx'),
    encodeModel({
      name: 'cost_clip_vision',
      opset: 17,
      inputs: [{ name: 'pixel_values', type: 'float32', shape: ['batch_size', 3, side, side] }],
      outputs: [{ name: 'image_embeds', type: 'float32', shape: ['batch_size', D] }],
      initializers: vg.inits,
      nodes: vg.nodes,
    }),
  );
  vg.inits.length = 0;

  // ---- text ----
  const tok = tinyTokenizerJson();
  const V = Object.keys(tok.vocab).length;
  const TW = ts.width;
  const L = CLIP_CONTEXT_LEN;
  const tg: Graph = { nodes: [], inits: [] };
  tg.inits.push(
    { name: 'tok_emb', dims: [V, TW], data: rand(V * TW, 0.5) },
    { name: 'tok_pos', dims: [L, TW], data: rand(L * TW, 0.02) },
    { name: 'axis1', dims: [1], data: [1], type: 'int64' },
    { name: 'axis2', dims: [1], data: [2], type: 'int64' },
    { name: 'ln_final_g', dims: [TW], data: new Float32Array(TW).fill(1) },
    { name: 'ln_final_b', dims: [TW], data: new Float32Array(TW) },
    { name: 'text_proj', dims: [TW, D], data: rand(TW * D, Math.sqrt(3 / TW)) },
  );
  tg.nodes.push(
    { op: 'Gather', inputs: ['tok_emb', 'input_ids'], outputs: ['tok'] },
    { op: 'Add', inputs: ['tok', 'tok_pos'], outputs: ['t0'] },
  );
  const tx = transformerBlocks(tg, 't', 't0', ts, rnd);
  tg.nodes.push(
    { op: 'LayerNormalization', inputs: [tx, 'ln_final_g', 'ln_final_b'], outputs: ['t_ln'], attrs: { axis: -1, epsilon: 1e-5 } },
    { op: 'Cast', inputs: ['attention_mask'], outputs: ['maskf'], attrs: { to: 1 } },
    { op: 'Unsqueeze', inputs: ['maskf', 'axis2'], outputs: ['mask3'] },
    { op: 'Mul', inputs: ['t_ln', 'mask3'], outputs: ['masked'] },
    { op: 'ReduceSum', inputs: ['masked', 'axis1'], outputs: ['t_pooled'], attrs: { keepdims: 0 } },
    { op: 'MatMul', inputs: ['t_pooled', 'text_proj'], outputs: ['text_embeds'] },
  );
  writeFileSync(
    join(dir, 'onnx/text_model.onnx'),
    encodeModel({
      name: 'cost_clip_text',
      opset: 17,
      inputs: [
        { name: 'input_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] },
        { name: 'attention_mask', type: 'int64', shape: ['batch_size', 'sequence_length'] },
      ],
      outputs: [{ name: 'text_embeds', type: 'float32', shape: ['batch_size', D] }],
      initializers: tg.inits,
      nodes: tg.nodes,
    }),
  );
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.json));
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({
      do_resize: true,
      size: { shortest_edge: side },
      resample: 3,
      do_center_crop: true,
      crop_size: { height: side, width: side },
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: true,
      image_mean: [0.48145466, 0.4578275, 0.40821073],
      image_std: [0.26862954, 0.26130258, 0.27577711],
      do_convert_rgb: true,
    }),
  );
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'clip', projection_dim: D, logit_scale_init_value: 2.6592, logit_scale: Math.log(100) }));
  const visionParams = W * kIn + towerParams(vs) + W * D;
  const attnMacs = vs.layers * 2 * T * T * W; // QKᵀ and attention·V
  return {
    dir,
    side,
    embedDim: D,
    tokens: T,
    visionMacsPerImage: grid * grid * W * kIn + T * towerParams(vs) + attnMacs + W * D,
    visionParams,
    textParams: V * TW + towerParams(ts) + TW * D,
  };
}

const CLIP_CONTEXT_LEN = 77;
