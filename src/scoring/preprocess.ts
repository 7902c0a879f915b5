/**
 * CLIP image preprocessing from a model's preprocessor_config.json (Hugging Face CLIPImageProcessor
 * semantics): shortest side to `size` (bicubic), centre crop, rescale, mean/std, CHW float32.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const Size = z.union([
  z.number().int().positive(),
  z.object({ shortest_edge: z.number().int().positive() }),
  z.object({ height: z.number().int().positive(), width: z.number().int().positive() }),
]);
const Triple = z.tuple([z.number(), z.number(), z.number()]);

export const PreprocessorConfigSchema = z.object({
  do_resize: z.boolean().default(true),
  size: Size.default({ shortest_edge: 224 }),
  resample: z.number().int().default(3),
  do_center_crop: z.boolean().default(true),
  crop_size: Size.default({ height: 224, width: 224 }),
  do_rescale: z.boolean().default(true),
  rescale_factor: z.number().default(1 / 255),
  do_normalize: z.boolean().default(true),
  image_mean: Triple.default([0.48145466, 0.4578275, 0.40821073]),
  image_std: Triple.default([0.26862954, 0.26130258, 0.27577711]),
});
export type PreprocessorConfig = z.infer<typeof PreprocessorConfigSchema>;

export interface Preprocess {
  cfg: PreprocessorConfig;
  /** Output side lengths: [height, width]. */
  height: number;
  width: number;
  /** Identity of the transform, so identical configs share one pixel batch. */
  key: string;
}

export async function loadPreprocess(path: string): Promise<Preprocess> {
  const cfg = PreprocessorConfigSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  const crop = cfg.crop_size;
  const [height, width] =
    typeof crop === 'number' ? [crop, crop] : 'height' in crop ? [crop.height, crop.width] : [crop.shortest_edge, crop.shortest_edge];
  return { cfg, height, width, key: JSON.stringify(cfg) };
}

function shortestEdge(size: PreprocessorConfig['size']): number | [number, number] {
  if (typeof size === 'number') return size;
  if ('shortest_edge' in size) return size.shortest_edge;
  return [size.height, size.width];
}

/** Resized dimensions the way transformers computes them (floor of the scaled long side). */
export function resizeDims(w: number, h: number, short: number): [number, number] {
  if (w <= h) return [short, Math.floor((short * h) / w)];
  return [Math.floor((short * w) / h), short];
}

/** (v·scale − mean)/std per channel for every 8-bit value: the same float32s the formula gives, by lookup. */
function channelTables(p: Preprocess): Float32Array[] {
  const cached = tables.get(p.key);
  if (cached) return cached;
  const { cfg } = p;
  const scale = cfg.do_rescale ? cfg.rescale_factor : 1;
  const t = [0, 1, 2].map((c) => {
    const mean = cfg.do_normalize ? cfg.image_mean[c]! : 0;
    const std = cfg.do_normalize ? cfg.image_std[c]! : 1;
    return Float32Array.from({ length: 256 }, (_, v) => (v * scale - mean) / std);
  });
  tables.set(p.key, t);
  return t;
}
const tables = new Map<string, Float32Array[]>();

/**
 * One image (already-read bytes) → CHW float32 of length 3·H·W, written into `out` when given (a
 * slot of a batch buffer: no per-image array, no copy when stacking). Throws if it cannot decode.
 *
 * Decode, resize and centre crop are one libvips pipeline (the image is decoded once and no
 * intermediate raw buffer is made); an image smaller than the crop takes the padding path.
 */
export async function preprocessImage(bytes: Uint8Array, p: Preprocess, out?: Float32Array): Promise<Float32Array> {
  const sharp = (await import('sharp')).default;
  const { cfg } = p;
  const meta = await sharp(bytes, { failOn: 'error' }).metadata();
  let w = meta.width ?? 0;
  let h = meta.height ?? 0;
  if (!w || !h) throw new Error('image has no dimensions');
  let img = sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb');
  if (cfg.do_resize) {
    const target = shortestEdge(cfg.size);
    const [nw, nh] = typeof target === 'number' ? resizeDims(w, h, target) : [target[1], target[0]];
    // PIL resample 3 = bicubic; sharp's 'cubic' is the Catmull-Rom bicubic
    const kernel = cfg.resample === 2 ? 'linear' : cfg.resample === 0 ? 'nearest' : cfg.resample === 1 ? 'lanczos3' : 'cubic';
    img = img.resize(nw, nh, { fit: 'fill', kernel });
    w = nw;
    h = nh;
  }
  if (cfg.do_center_crop) {
    const ch = p.height;
    const cw = p.width;
    if (w < cw || h < ch) {
      // smaller than the crop (in either side): pad that side with black around the centre, as
      // transformers does, then crop the other
      const top = Math.max(0, Math.floor((ch - h) / 2));
      const left = Math.max(0, Math.floor((cw - w) / 2));
      img = sharp(await img.raw({ depth: 'uchar' }).toBuffer(), { raw: { width: w, height: h, channels: 3 } }).extend({
        top,
        left,
        bottom: Math.max(0, ch - h - top),
        right: Math.max(0, cw - w - left),
        background: { r: 0, g: 0, b: 0 },
      });
      w = Math.max(w, cw);
      h = Math.max(h, ch);
      // sharp would apply a later extract before the extend: materialise the padded image first
      img = sharp(await img.raw({ depth: 'uchar' }).toBuffer(), { raw: { width: w, height: h, channels: 3 } });
    }
    const top = Math.floor((h - ch) / 2);
    const left = Math.floor((w - cw) / 2);
    // extract after resize (sharp applies it to the resized image), in the same pipeline
    if (left || top || w !== cw || h !== ch) img = img.extract({ left, top, width: cw, height: ch });
    w = cw;
    h = ch;
  }
  const raw = await img.raw({ depth: 'uchar' }).toBuffer();
  const plane = w * h;
  if (raw.length !== plane * 3) throw new Error(`unexpected pixel buffer (${raw.length} bytes for ${w}×${h}×3)`);
  if (out && out.length !== plane * 3) throw new Error(`output slot holds ${out.length} values, image needs ${plane * 3}`);
  const dst = out ?? new Float32Array(plane * 3);
  const [t0, t1, t2] = channelTables(p) as [Float32Array, Float32Array, Float32Array];
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    dst[i] = t0[raw[j]!]!;
    dst[plane + i] = t1[raw[j + 1]!]!;
    dst[2 * plane + i] = t2[raw[j + 2]!]!;
  }
  return dst;
}

/** Concatenate per-image CHW arrays into one [N,3,H,W] batch. */
export function stackBatch(items: Float32Array[], p: Preprocess): { data: Float32Array; dims: number[] } {
  const n = p.height * p.width * 3;
  const data = new Float32Array(items.length * n);
  items.forEach((x, i) => data.set(x, i * n));
  return { data, dims: [items.length, 3, p.height, p.width] };
}
