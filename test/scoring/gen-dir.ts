/** Builds an image generation directory the way src/generation/metadata.ts describes it. */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { GENERATION_TRACE, imageFileName, metadataFileName, type GenerationTrace, type ImageMetadata } from '../../src/generation/metadata.js';

export interface GenImage {
  rgb: [number, number, number];
  seed: number;
  /** Write garbage instead of a PNG. */
  corrupt?: boolean;
  /** Noise amplitude over the solid colour (changes technical quality). */
  noise?: number;
}

export async function writeGenerationDir(dir: string, prompt: string, images: GenImage[]): Promise<GenerationTrace> {
  mkdirSync(dir, { recursive: true });
  const metas: ImageMetadata[] = [];
  const now = new Date().toISOString();
  for (const [i, img] of images.entries()) {
    const n = i + 1;
    const w = 48, h = 32;
    let bytes: Buffer;
    if (img.corrupt) bytes = Buffer.from('this is not an image');
    else {
      const raw = Buffer.alloc(w * h * 3);
      let s = img.seed + 1;
      for (let p = 0; p < w * h; p++)
        for (let c = 0; c < 3; c++) {
          s = (s * 1103515245 + 12345) % 2 ** 31;
          const jitter = img.noise ? ((s / 2 ** 31) * 2 - 1) * img.noise : 0;
          raw[p * 3 + c] = Math.max(0, Math.min(255, Math.round(img.rgb[c]! + jitter)));
        }
      bytes = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    }
    writeFileSync(join(dir, imageFileName(n)), bytes);
    const meta: ImageMetadata = {
      schema_version: 1,
      file: imageFileName(n),
      rank: null,
      variation: n,
      prompt,
      negative_prompt: null,
      backend: 'sketch',
      model: 'sketch-v1',
      seed: img.seed,
      aspect_ratio: '3:2',
      width: w,
      height: h,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      started_at: now,
      ended_at: now,
      duration_ms: 1,
      cost_usd: 0,
      provider: {},
      scores: null,
    };
    writeFileSync(join(dir, metadataFileName(n)), JSON.stringify(meta, null, 2));
    metas.push(meta);
  }
  const trace: GenerationTrace = {
    schema_version: 1,
    backend: 'sketch',
    backend_note: 'offline previz sketches (test)',
    prompt,
    negative_prompt: null,
    prompt_source: 'test',
    model: 'sketch-v1',
    fallback_models: [],
    aspect_ratio: '3:2',
    num_variations: images.length,
    seeds: images.map((i) => i.seed),
    seed_source: 'user',
    ordering: 'generation',
    images: metas,
    failures: [],
    best: null,
    scoring: null,
    cost: { total_cost_usd: 0 },
    timings: [],
    started_at: now,
    ended_at: now,
    duration_ms: 1,
  };
  writeFileSync(join(dir, GENERATION_TRACE), JSON.stringify(trace, null, 2));
  return trace;
}

export const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
