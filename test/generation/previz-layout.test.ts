import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { type Box, contains, intersects, labelNear } from '../../src/generation/previz/layout.js';
import { textWidth, wrapText } from '../../src/generation/previz/text-measure.js';
import { SIZE_TABLE } from '../../src/generation/sizes.js';
import { panelLayout, sketchSvg, type SketchSpec } from '../../src/generation/sketch-backend.js';
import { parseBrand } from '../../src/prompt/brand.js';
import { cinematograph } from '../../src/prompt/offline-cinematographer.js';
import { REPO_ROOT } from '../helpers/cli.js';

const DEV = readFileSync(join(REPO_ROOT, 'examples', 'dev_prompts.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const BRAND = parseBrand(readFileSync(join(REPO_ROOT, 'examples', 'brand.json'), 'utf8'));
const SHORT = 'a cat';
const ENHANCED = cinematograph({ original: 'a cup of espresso on a wooden table', previous: null, critique: null, seed: 7, brand: BRAND, aspectRatio: '16:9' }).prompt;
const LONG =
  `${ENHANCED} `.repeat(6) +
  'Supercalifragilisticexpialidocious-hyphenated-unbroken-token-that-is-wider-than-any-column-on-any-panel-we-draw-at-all '.repeat(2) +
  'Kodak Ektar 100, ARRI Alexa Mini LF, 40mm anamorphic lens, f/2.8, low angle, dutch angle, soft window light from camera left.';
const NEGATIVE_LONG = 'text, watermark, logo, signature, blurry, lowres, jpeg artifacts, extra fingers, deformed hands, '.repeat(6);

const spec = (aspectRatio: (typeof ASPECT_RATIOS)[number], prompt: string, negativePrompt: string | null, seed = 4294967295 >>> 1): SketchSpec => ({
  prompt,
  negativePrompt,
  seed,
  aspectRatio,
  ...SIZE_TABLE[aspectRatio],
});

function noOverlaps(boxes: Array<Box & { id?: string }>, label: string) {
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++)
      expect(intersects(boxes[i]!, boxes[j]!), `${label}: ${boxes[i]!.id ?? i} overlaps ${boxes[j]!.id ?? j}`).toBe(false);
}

/** Every <text> the SVG draws, as a box measured from its own x, y, size, weight and anchor. */
function svgTextBoxes(svg: string): Array<Box & { id: string; text: string }> {
  const out: Array<Box & { id: string; text: string }> = [];
  for (const m of svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)) {
    const attr = (k: string) => new RegExp(`(?:^|\\s)${k}="([^"]*)"`).exec(m[1]!)?.[1];
    const size = Number(attr('font-size'));
    const bold = attr('font-weight') === 'bold';
    const anchor = attr('text-anchor') ?? 'start';
    const text = m[2]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    const w = textWidth(text, { size, bold });
    const x0 = Number(attr('x'));
    const x = anchor === 'end' ? x0 - w : anchor === 'middle' ? x0 - w / 2 : x0;
    // the glyphs' ink: ascenders to 0.76 em above the baseline, descenders 0.24 em below
    out.push({ id: text.slice(0, 24), text, x, y: Number(attr('y')) - 0.76 * size, w, h: size });
  }
  return out;
}

describe('panel layout: no text overlaps, nothing leaves the canvas', () => {
  for (const ar of ASPECT_RATIOS)
    for (const [name, prompt, neg] of [
      ['short', SHORT, null],
      ['enhanced', ENHANCED, 'text, watermark'],
      ['very long', LONG, NEGATIVE_LONG],
    ] as const)
      it(`${ar}, ${name} prompt`, () => {
        const s = spec(ar, prompt, neg);
        const layout = panelLayout(s);
        const canvas: Box = { x: 0, y: 0, w: s.width, h: s.height };
        expect(layout.text.length).toBeGreaterThanOrEqual(10);
        noOverlaps(layout.text, `${ar} ${name}`);
        for (const b of layout.text) {
          expect(contains(canvas, b), `${b.id} leaves the canvas`).toBe(true);
          // text is either wholly inside the picture frame (its labels) or wholly outside it
          if (b.id.startsWith('frame-')) expect(contains(layout.frame, b), `${b.id} leaves the frame`).toBe(true);
          else expect(intersects(layout.frame, b), `${b.id} runs into the frame`).toBe(false);
          for (const l of b.lines) expect(textWidth(l, { size: b.size, bold: b.bold }), `${b.id}: "${l}"`).toBeLessThanOrEqual(b.w + 0.01);
        }
        for (const sw of layout.swatches) {
          expect(contains(canvas, sw)).toBe(true);
          for (const b of layout.text) expect(intersects(sw, b), `swatch overlaps ${b.id}`).toBe(false);
        }
        // the notes and the prompt sit in columns that do not meet: the prompt never runs into the camera line
        const promptBox = layout.text.find((b) => b.id === 'prompt')!;
        expect(promptBox).toBeDefined();
        const camera = layout.text.find((b) => b.lines[0]!.startsWith('CAMERA:'))!;
        const film = layout.text.find((b) => b.lines[0]!.startsWith('FILM:'))!;
        expect(camera && film).toBeTruthy();
        // the picture keeps most of the panel
        expect(layout.frame.h / s.height).toBeGreaterThan(0.45);
        if (name === 'very long') {
          expect(promptBox.lines.at(-1)!.endsWith('…')).toBe(true);
          expect(layout.text.find((b) => b.id === 'avoid')!.lines.at(-1)!.endsWith('…')).toBe(true);
        }
        if (name === 'short') expect(promptBox.lines).toEqual(['PROMPT: a cat']);

        // the same, measured from the SVG that is drawn (not from the layout's own boxes)
        const drawn = svgTextBoxes(sketchSvg(s));
        expect(drawn.length).toBe(layout.text.reduce((n, b) => n + b.lines.length, 0));
        noOverlaps(drawn, `${ar} ${name} (svg)`);
        for (const d of drawn) expect(contains(canvas, d), `"${d.text}" leaves the canvas`).toBe(true);
      });

  it('holds for every dev prompt, enhanced, at every aspect ratio and several seeds (frame labels included)', () => {
    for (const p of DEV)
      for (const seed of [0, 5]) {
        const prompt = cinematograph({ original: p, previous: null, critique: null, seed, brand: seed ? BRAND : null }).prompt;
        for (const ar of ASPECT_RATIOS) {
          const layout = panelLayout(spec(ar, prompt, 'text, watermark', seed));
          noOverlaps(layout.text, `${ar} ${p} (seed ${seed})`);
          expect(layout.text.filter((b) => b.id.startsWith('frame-')).map((b) => b.id)).toEqual(['frame-shot', 'frame-key']);
          for (const b of layout.text) expect(contains({ x: 0, y: 0, w: layout.width, h: layout.height }, b)).toBe(true);
        }
      }
  });

  it('moves the KEY label off whatever it would cover, inside the frame', () => {
    const frame: Box = { x: 0, y: 0, w: 400, h: 300 };
    const lamp = { x: 100, y: 100, r: 10 };
    const free = labelNear('k', 'KEY · soft', 12, lamp, frame, [])!;
    expect(free.y).toBeGreaterThan(lamp.y); // below the lamp by default
    const blocked = labelNear('k', 'KEY · soft', 12, lamp, frame, [free])!;
    expect(intersects(blocked, free)).toBe(false);
    expect(contains(frame, blocked)).toBe(true);
    // at the frame's edge it does not leave the frame
    const corner = labelNear('k', 'KEY · soft', 12, { x: 390, y: 292, r: 10 }, frame, [])!;
    expect(contains(frame, corner)).toBe(true);
  });

  it('keeps the glyphs that are rendered inside their boxes (measured on pixels)', async () => {
    for (const ar of ['9:16', '21:9', '1:1'] as const) {
      const s = spec(ar, LONG, NEGATIVE_LONG);
      const layout = panelLayout(s);
      // only the text outside the picture, black on white
      const texts = [...sketchSvg(s).matchAll(/<text [^>]*>[^<]*<\/text>/g)]
        .map((m) => m[0])
        .filter((t) => !/paint-order/.test(t))
        .map((t) => t.replace(/fill="[^"]*"/, 'fill="#000000"'));
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${s.width}" height="${s.height}"><rect width="100%" height="100%" fill="#ffffff"/>${texts.join('')}</svg>`;
      const { data, info } = await sharp(Buffer.from(svg)).greyscale().raw().toBuffer({ resolveWithObject: true });
      const boxes = layout.text.filter((b) => !b.id.startsWith('frame-'));
      let ink = 0;
      const stray: string[] = [];
      for (let y = 0; y < info.height; y++)
        for (let x = 0; x < info.width; x++) {
          if (data[y * info.width + x]! > 160) continue;
          ink++;
          if (!boxes.some((b) => x >= b.x - 1 && x <= b.x + b.w + 1 && y >= b.y - 1 && y <= b.y + b.h + 1)) stray.push(`${x},${y}`);
        }
      expect(ink, ar).toBeGreaterThan(1000);
      expect(stray.slice(0, 5), `${ar}: ink outside every text box`).toEqual([]);
    }
  });
});

describe('wrapping', () => {
  const font = { size: 14 };
  it('wraps to the width, breaks words wider than a line, and ellipsises what does not fit', () => {
    const lines = wrapText(LONG, 300, font, 6);
    expect(lines).toHaveLength(6);
    for (const l of lines) expect(textWidth(l, font)).toBeLessThanOrEqual(300);
    expect(lines[5]!.endsWith('…')).toBe(true);
    const broken = wrapText('x'.repeat(200), 100, font, 30);
    expect(broken.length).toBeGreaterThan(1);
    for (const l of broken) expect(textWidth(l, font)).toBeLessThanOrEqual(100);
    expect(broken.join('')).toBe('x'.repeat(200));
    expect(wrapText('a short line', 300, font, 3)).toEqual(['a short line']);
  });

  it('estimates glyph widths per character, bold wider than regular', () => {
    expect(textWidth('WWWW', font)).toBeGreaterThan(textWidth('iiii', font) * 2.5);
    expect(textWidth('PREVIZ', { size: 14, bold: true })).toBeGreaterThan(textWidth('PREVIZ', font));
    expect(textWidth('abc', { size: 28 })).toBeCloseTo(textWidth('abc', font) * 2, 5);
  });
});
