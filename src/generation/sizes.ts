import type { AspectRatio } from './metadata.js';

/**
 * Aspect ratio → pixel size. SDXL was trained on ~1 MP buckets with sides in multiples of 64 and
 * takes width/height; FLUX takes `aspect_ratio` and renders the same ~1 MP buckets (cog-flux's
 * table), so one table serves both and lets us check each download is the size we expect.
 */
export const SIZE_TABLE: Record<AspectRatio, { width: number; height: number }> = {
  '1:1': { width: 1024, height: 1024 },
  '4:3': { width: 1152, height: 896 },
  '3:4': { width: 896, height: 1152 },
  '16:9': { width: 1344, height: 768 },
  '9:16': { width: 768, height: 1344 },
  '3:2': { width: 1216, height: 832 },
  '2:3': { width: 832, height: 1216 },
  '4:5': { width: 896, height: 1088 },
  '5:4': { width: 1088, height: 896 },
  '21:9': { width: 1536, height: 640 },
  '9:21': { width: 640, height: 1536 },
};

export type ModelFamily = 'sdxl' | 'flux' | 'other';

/**
 * Which input convention a Replicate model uses, from its name; a version pin (`owner/name:sha`,
 * as the default `stability-ai/sdxl:7762fd07…`) does not change it.
 */
export function modelFamily(model: string): ModelFamily {
  const bare = model.split(':')[0]!.toLowerCase();
  if (bare.includes('sdxl') || bare.includes('stable-diffusion')) return 'sdxl';
  if (bare.startsWith('black-forest-labs/') || bare.includes('flux')) return 'flux';
  return 'other';
}

export function sizeFor(aspectRatio: AspectRatio): { width: number; height: number } {
  return SIZE_TABLE[aspectRatio];
}

/**
 * The model's own input fields for prompt, size and seed. SDXL: width/height (multiples of 64),
 * negative_prompt. FLUX: aspect_ratio, PNG output (its default is webp), no negative prompt.
 * Unknown models get every common field; Replicate ignores inputs a model does not declare.
 */
/**
 * Where a Replicate model takes an init image (image-to-image), and whether it takes a strength:
 * SDXL and FLUX dev `image` + `prompt_strength`; FLUX Kontext `input_image` (an edit, no
 * strength); FLUX 1.1 pro `image_prompt` (a style reference); FLUX schnell none (text only).
 * Unknown models get SDXL's convention. Images go as data URIs, which every one of these accepts.
 */
export function initImageField(model: string): { field: string; strength: string | null } | null {
  const bare = model.split(':')[0]!.toLowerCase();
  if (bare.includes('flux-schnell')) return null;
  if (bare.includes('flux-kontext')) return { field: 'input_image', strength: null };
  if (bare.includes('flux-1.1-pro') || bare.includes('flux-pro')) return { field: 'image_prompt', strength: null };
  return { field: 'image', strength: 'prompt_strength' };
}

export function modelInput(
  model: string,
  req: { prompt: string; negativePrompt: string | null; aspectRatio: AspectRatio; seed: number; initImage?: { bytes: Buffer; mime: string; strength: number } },
): { input: Record<string, unknown>; width: number; height: number; family: ModelFamily; dropped: string[]; init: { field: string; strength: number | null } | null } {
  const family = modelFamily(model);
  const { width, height } = sizeFor(req.aspectRatio);
  const dropped: string[] = [];
  let input: Record<string, unknown>;
  if (family === 'sdxl') {
    input = { prompt: req.prompt, width, height, seed: req.seed, num_outputs: 1 };
    if (req.negativePrompt) input.negative_prompt = req.negativePrompt;
  } else if (family === 'flux') {
    input = { prompt: req.prompt, aspect_ratio: req.aspectRatio, seed: req.seed, num_outputs: 1, output_format: 'png' };
    if (req.negativePrompt) dropped.push('negative_prompt');
  } else {
    input = { prompt: req.prompt, aspect_ratio: req.aspectRatio, width, height, seed: req.seed };
    if (req.negativePrompt) input.negative_prompt = req.negativePrompt;
  }
  let init: { field: string; strength: number | null } | null = null;
  if (req.initImage) {
    const f = initImageField(model);
    if (f) {
      input[f.field] = `data:${req.initImage.mime};base64,${req.initImage.bytes.toString('base64')}`;
      if (f.strength) input[f.strength] = req.initImage.strength;
      init = { field: f.field, strength: f.strength ? req.initImage.strength : null };
    } else dropped.push('init_image');
  }
  return { input, width, height, family, dropped, init };
}
