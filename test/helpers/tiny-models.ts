/**
 * Tiny models with the same file layout, input/output names and shapes as the real Hugging Face
 * ONNX exports, built in code with onnx-proto, so tests load them through the real code path.
 * Weights are deterministic and kept, so tests can compute expected values by hand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aestheticHeadOnnx, type LinearLayer } from '../../src/models/aesthetic-head.js';
import { encodeModel } from '../../src/models/onnx-graph.js';

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
