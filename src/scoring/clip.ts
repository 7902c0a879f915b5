/**
 * A CLIP model laid out like the Hugging Face ONNX exports (Xenova/*):
 *   onnx/vision_model.onnx  pixel_values [N,3,H,W] float32 → image_embeds [N,D]
 *   onnx/text_model.onnx    input_ids [N,77] int64 (+ attention_mask when the export has it) → text_embeds [N,D]
 *   tokenizer.json, preprocessor_config.json, config.json
 * Embeddings come back L2-normalised. Text embeddings are cached per prompt, so a prompt is encoded
 * once however many batches score against it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installHint } from '../models/manifest.js';
import { hashModelFiles, modelDir } from '../models/store.js';
import type { HostTensor, InferenceHost, SessionInfo } from './inference-host.js';
import { loadPreprocess, stackBatch, type Preprocess } from './preprocess.js';
import type { Device } from './runtime.js';
import { loadClipTokenizer, type ClipTokenizer } from './tokenizer.js';

export const CLIP_FILES = ['onnx/vision_model.onnx', 'onnx/text_model.onnx', 'tokenizer.json', 'preprocessor_config.json', 'config.json'];

/** A model that cannot be used; `reason` is shown to the user and written to the trace. */
export class ModelUnavailable extends Error {
  /** true: the model's files are not there (nothing to fix but install it); false: they are there and wrong. */
  constructor(message: string, readonly notInstalled = false) {
    super(message);
  }
}

export interface ClipModel {
  id: string;
  dir: string;
  vision: SessionInfo;
  text: SessionInfo;
  tokenizer: ClipTokenizer;
  preprocess: Preprocess;
  /** Multiplier of the cosine (exp of the trained logit_scale). */
  logitScale: { value: number; source: string };
  fileHashes: Record<string, string>;
  textCache: Map<string, { embed: Float32Array; truncated: boolean }>;
}

/** sha256 of each model file, by relative path; a file version already hashed is not read again (see store.ts). */
export async function hashFiles(dir: string, files: string[]): Promise<Record<string, string>> {
  return hashModelFiles(dir, files);
}

/**
 * A model whose files are not all there is unavailable, in one short line that says how to get it
 * (pull, or the export/build recipe); the files and the folder are named only when some are there.
 */
export function requireFiles(id: string, dir: string, files: string[]): void {
  const missing = files.filter((f) => !existsSync(join(dir, f)));
  if (!missing.length) return;
  const what = missing.length === files.length ? 'not installed' : `not installed: ${dir} lacks ${missing.join(', ')}`;
  throw new ModelUnavailable(`model ${id} ${what}; ${installHint(id)}`, true);
}

export interface LoadClipOptions {
  /** preprocessor_config.json already being read (the scorer starts preprocessing before the sessions exist). */
  preprocess?: Promise<Preprocess | null>;
}

export async function loadClip(host: InferenceHost, modelsDir: string, id: string, device: Device, o: LoadClipOptions = {}): Promise<ClipModel> {
  const dir = modelDir(modelsDir, id);
  requireFiles(id, dir, CLIP_FILES);
  // the sessions load in the inference thread; meanwhile this thread hashes and reads the small files
  const settle = <T>(p: Promise<T>) => (p.catch(() => {}), p);
  const hashes = settle(hashFiles(dir, CLIP_FILES));
  const tokenizer = settle(loadClipTokenizer(dir));
  const preprocess = settle((o.preprocess ?? Promise.resolve(null)).then((p) => p ?? loadPreprocess(join(dir, 'preprocessor_config.json'))));
  const configText = settle(readFile(join(dir, 'config.json'), 'utf8'));
  const vision = await host.load(join(dir, 'onnx/vision_model.onnx'), device);
  const text = await host.load(join(dir, 'onnx/text_model.onnx'), device);
  if (!vision.outputNames.includes('image_embeds'))
    throw new ModelUnavailable(`${id}: vision_model.onnx has no image_embeds output (has ${vision.outputNames.join(', ')})`);
  if (!vision.inputNames.includes('pixel_values')) throw new ModelUnavailable(`${id}: vision_model.onnx has no pixel_values input`);
  if (!text.outputNames.includes('text_embeds'))
    throw new ModelUnavailable(`${id}: text_model.onnx has no text_embeds output (has ${text.outputNames.join(', ')})`);
  if (!text.inputNames.includes('input_ids')) throw new ModelUnavailable(`${id}: text_model.onnx has no input_ids input`);
  const config = JSON.parse(await configText) as Record<string, unknown>;
  // config.json of a transformers CLIP holds only logit_scale_init_value (the pre-training init,
  // 2.6592), not the trained value; our export recipe writes the trained one as `logit_scale`.
  const ls = config.logit_scale;
  const logitScale =
    typeof ls === 'number' && Number.isFinite(ls)
      ? { value: Math.exp(ls), source: 'config.json logit_scale (trained, exp applied)' }
      : { value: 100, source: 'default 100 (config.json has no trained logit_scale; CLIP training clamps it at 100)' };
  return {
    id,
    dir,
    vision,
    text,
    tokenizer: await tokenizer,
    preprocess: await preprocess,
    logitScale,
    fileHashes: await hashes,
    textCache: new Map(),
  };
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  return v.map((x) => x / n);
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function rows(t: HostTensor): Float32Array[] {
  const [n, d] = t.dims as [number, number];
  const data = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}

/** One vision pass over a batch of preprocessed images → L2-normalised embeddings. */
export async function embedImages(host: InferenceHost, m: ClipModel, pixels: Float32Array[]): Promise<Float32Array[]> {
  if (!pixels.length) return [];
  const { data, dims } = stackBatch(pixels, m.preprocess);
  return (await embedBatch(host, [m], { data, dims }))[0]!;
}

/**
 * One vision pass per model over one already-stacked [N,3,H,W] batch (models sharing a
 * preprocessing share the batch) → L2-normalised embeddings per model. The batch's buffer is moved
 * to the inference thread, not copied: it is detached afterwards.
 */
export async function embedBatch(host: InferenceHost, models: ClipModel[], batch: { data: Float32Array; dims: number[] }): Promise<Float32Array[][]> {
  if (!models.length) return [];
  if (!batch.dims[0]) return models.map(() => []);
  const outs = await host.runEach(
    models.map((m) => ({ key: m.vision.key, fetches: ['image_embeds'] })),
    { pixel_values: { type: 'float32', dims: batch.dims, data: batch.data } },
    { transfer: true },
  );
  return outs.map((o) => rows(o.image_embeds!).map(l2normalize));
}

/** Encode the distinct prompts not yet cached, in one text pass. */
export async function embedTexts(
  host: InferenceHost,
  m: ClipModel,
  prompts: string[],
): Promise<{ embed: Float32Array; truncated: boolean }[]> {
  const todo = [...new Set(prompts)].filter((p) => !m.textCache.has(p));
  if (todo.length) {
    const enc = todo.map((p) => m.tokenizer.encode(p));
    const L = m.tokenizer.context;
    const ids = new BigInt64Array(todo.length * L);
    const mask = new BigInt64Array(todo.length * L);
    enc.forEach((e, i) => e.ids.forEach((id, j) => ((ids[i * L + j] = BigInt(id)), (mask[i * L + j] = BigInt(e.attentionMask[j]!)))));
    const feeds: Record<string, HostTensor> = { input_ids: { type: 'int64', dims: [todo.length, L], data: ids } };
    if (m.text.inputNames.includes('attention_mask')) feeds.attention_mask = { type: 'int64', dims: [todo.length, L], data: mask };
    const out = await host.run(m.text.key, feeds, ['text_embeds']);
    rows(out.text_embeds!).forEach((r, i) => {
      if (m.textCache.size >= 256) m.textCache.delete(m.textCache.keys().next().value!);
      m.textCache.set(todo[i]!, { embed: l2normalize(r), truncated: enc[i]!.truncated });
    });
  }
  return prompts.map((p) => m.textCache.get(p)!);
}
