import type { GenerateRequest, GenerateResult, ImageBackend } from './backend.js';
import { planPanel, renderPanel } from './previz/draw-panel.js';

/**
 * The offline backend: a previsualisation panel, not an image model. It reads the prompt
 * (previz/read-prompt.ts: subject, placement, key light, palette, shot size, lens and film) and
 * draws what a storyboard artist would (previz/draw-panel.ts): framing guides, the subject's
 * silhouette where the composition puts it, the key light's side and quality, the palette, and
 * the notes and prompt in a layout whose text never overlaps (previz/layout.ts). The seed settles
 * only what the prompt leaves open, and the panel says which; the same seed gives the same bytes.
 * What was read is stored in each image's metadata as `provider.reading`.
 */
export const SKETCH_NOTE = 'offline previz sketches (SVG panels rendered locally), not model output';
export const SKETCH_MODEL = 'sketch';

export { panelLayout, planPanel, sketchSvg, type SketchSpec } from './previz/draw-panel.js';
export { readPrompt, type PanelReading } from './previz/read-prompt.js';

export class SketchBackend implements ImageBackend {
  readonly name = 'sketch' as const;
  readonly note = SKETCH_NOTE;
  readonly provider = 'sketch';

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const t0 = performance.now();
    const sharp = (await import('sharp')).default;
    const palette = req.initImage ? await paletteOf(req.initImage.bytes) : undefined;
    const plan = planPanel({ prompt: req.prompt, negativePrompt: req.negativePrompt, seed: req.seed, width: req.width, height: req.height, aspectRatio: req.aspectRatio, palette });
    const svg = renderPanel(plan);
    const bytes = await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
    return {
      bytes,
      model: SKETCH_MODEL,
      width: req.width,
      height: req.height,
      costUsd: 0,
      attempts: 1,
      modelsTried: [SKETCH_MODEL],
      provider: {
        kind: 'previz_sketch',
        render_ms: Math.round(performance.now() - t0),
        note: SKETCH_NOTE,
        reading: plan.reading,
        init_image: req.initImage ? { carried: 'palette (its dominant colours) and, through the prompt, the subject' } : null,
      },
    };
  }
}

/**
 * An image's dominant colours, most common first: a 16×16 thumbnail quantised to 4 bits a channel,
 * buckets ranked by count, near-duplicates (within 48 in RGB) merged. Deterministic for the bytes.
 */
export async function paletteOf(bytes: Buffer, max = 5): Promise<string[]> {
  const sharp = (await import('sharp')).default;
  const { data, info } = await sharp(bytes).removeAlpha().resize(16, 16, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  const counts = new Map<number, { n: number; r: number; g: number; b: number }>();
  for (let i = 0; i < data.length; i += info.channels) {
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    const key = ((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4);
    const c = counts.get(key) ?? { n: 0, r: 0, g: 0, b: 0 };
    counts.set(key, { n: c.n + 1, r: c.r + r, g: c.g + g, b: c.b + b });
  }
  const ranked = [...counts.entries()].sort((a, b) => b[1].n - a[1].n || a[0] - b[0]).map(([, c]) => [c.r / c.n, c.g / c.n, c.b / c.n].map(Math.round) as [number, number, number]);
  const picked: [number, number, number][] = [];
  for (const c of ranked) {
    if (picked.every((p) => Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2]) > 48)) picked.push(c);
    if (picked.length === max) break;
  }
  return picked.map((c) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`);
}
