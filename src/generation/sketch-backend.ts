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
    const plan = planPanel({ prompt: req.prompt, negativePrompt: req.negativePrompt, seed: req.seed, width: req.width, height: req.height, aspectRatio: req.aspectRatio });
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
      provider: { kind: 'previz_sketch', render_ms: Math.round(performance.now() - t0), note: SKETCH_NOTE, reading: plan.reading },
    };
  }
}
