import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateVariation } from '../../src/generation/generate.js';
import { ASPECT_RATIOS, imageFileName, ImageMetadataSchema } from '../../src/generation/metadata.js';
import { addPngText, crc32, readPngText } from '../../src/generation/png-text.js';
import { variationSeeds } from '../../src/generation/seeds.js';
import { SIZE_TABLE } from '../../src/generation/sizes.js';
import { SKETCH_NOTE, SketchBackend, planPanel, readPrompt, sketchSvg, type PanelReading } from '../../src/generation/sketch-backend.js';
import { mapPool } from '../../src/lib/pool.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loop-gen-sketch-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const PROMPT = 'A lighthouse keeper on a cliff at golden hour, wide shot, low angle, 24mm lens, f/2.8, Kodak Portra 400, dramatic clouds';
const variation = (seed: number, n = 1, out = dir, aspectRatio: (typeof ASPECT_RATIOS)[number] = '16:9', prompt = PROMPT) =>
  generateVariation({ variation: n, seed, prompt, negativePrompt: 'text, watermark', aspectRatio, model: 'ignored', fallbackModels: [], backend: new SketchBackend(), outDir: out });

describe('sketch backend (offline previz)', () => {
  it('renders the exact size of every aspect ratio', async () => {
    for (const [i, ar] of ASPECT_RATIOS.entries()) {
      const r = await variation(5, i + 1, dir, ar);
      expect(r.ok).toBe(true);
      const meta = await sharp(join(dir, imageFileName(i + 1))).metadata();
      expect([meta.width, meta.height], ar).toEqual([SIZE_TABLE[ar].width, SIZE_TABLE[ar].height]);
      expect(meta.format).toBe('png');
    }
  });

  it('is deterministic by seed, and different seeds compose differently', async () => {
    const a = await mkdtemp(join(tmpdir(), 'loop-gen-sketch-a-'));
    try {
      await variation(42, 1, dir);
      await variation(42, 1, a);
      await variation(43, 2, dir);
      const one = await readFile(join(dir, 'image_001.png'));
      const again = await readFile(join(a, 'image_001.png'));
      const other = await readFile(join(dir, 'image_002.png'));
      expect(one.equals(again)).toBe(true);
      expect(one.equals(other)).toBe(false);
      // the composition itself differs, not just the seed label: compare pixels of the frame area
      const px = async (b: Buffer) => sharp(b).extract({ left: 40, top: 60, width: 1260, height: 480 }).raw().toBuffer();
      expect((await px(one)).equals(await px(other))).toBe(false);
    } finally {
      await rm(a, { recursive: true, force: true });
    }
  });

  it('carries prompt, negative prompt, seed, model and size in the PNG parameters chunk, and metadata matches', async () => {
    const r = await variation(1234, 3);
    expect(r.ok).toBe(true);
    const png = await readFile(join(dir, 'image_003.png'));
    const text = readPngText(png);
    expect(text.parameters).toBe(`${PROMPT}\nNegative prompt: text, watermark\nSeed: 1234, Size: 1344x768, Model: sketch, Backend: sketch`);
    await sharp(png).raw().toBuffer(); // still a valid PNG after the splice
    const meta = ImageMetadataSchema.parse(JSON.parse(await readFile(join(dir, 'image_003_metadata.json'), 'utf8')));
    expect(meta).toMatchObject({ file: 'image_003.png', variation: 3, seed: 1234, backend: 'sketch', model: 'sketch', cost_usd: 0, rank: null, width: 1344, height: 768 });
    expect(meta.provider.requested_model).toBe('ignored');
  });

  it('says what it is and draws what the prompt asks for', () => {
    const svg = sketchSvg({ prompt: PROMPT, negativePrompt: null, seed: 1, width: 1344, height: 768, aspectRatio: '16:9' });
    expect(svg).toContain('PREVIZ SKETCH — not a generated image');
    expect(svg).toContain('SHOT: WIDE · LOW ANGLE');
    expect(svg).toContain('SUBJECT: person &quot;keeper&quot;');
    expect(svg).toContain('PALETTE: mood word golden hour — golden hour');
    expect(svg).toContain('CAMERA: 24mm lens · f/2.8 · low angle');
    expect(svg).toContain('FILM: Kodak Portra 400');
    const night = sketchSvg({ prompt: 'extreme close-up of an eye, neon night', negativePrompt: null, seed: 1, width: 1024, height: 1024, aspectRatio: '1:1' });
    expect(night).toContain('EXTREME CLOSE-UP');
    expect(night).toContain('PALETTE: mood word neon — neon');
  });

  it('says which values the seed chose, and takes the rest from the prompt', () => {
    const lit = sketchSvg({ prompt: 'a cat on a windowsill, soft window light from camera left', negativePrompt: null, seed: 9, width: 1344, height: 768, aspectRatio: '16:9' });
    expect(lit).toContain('LIGHT: key from left, soft — &quot;from camera left&quot;');
    expect(lit).not.toMatch(/key from \w+ \(seed\)/);
    expect(lit).toMatch(/SEED 9 CHOSE: placement, horizon</);
    const open = sketchSvg({ prompt: 'a cat', negativePrompt: null, seed: 9, width: 1344, height: 768, aspectRatio: '16:9' });
    expect(open).toMatch(/LIGHT: key from (left|right) \(seed\), (soft|hard) \(seed\)/);
    expect(open).toContain('SEED 9 CHOSE: placement, horizon, key side, key quality');
  });

  it('records the reading in each image\'s metadata as provider.reading', async () => {
    const r = await variation(77, 4, dir, '16:9', 'a cat sleeping on a windowsill, close-up, soft window light from camera left, 85mm portrait lens');
    expect(r.ok).toBe(true);
    const meta = ImageMetadataSchema.parse(JSON.parse(await readFile(join(dir, 'image_004_metadata.json'), 'utf8')));
    expect(meta.provider.kind).toBe('previz_sketch');
    expect(meta.provider.note).toBe(SKETCH_NOTE);
    const reading = meta.provider.reading as PanelReading;
    expect(reading).toMatchObject({ subject_class: 'animal', subject: 'cat', key_side: 'left', key_quality: 'soft', shot_size: 'close-up', palette_source: 'default' });
    expect(reading.placement.horizontal).toMatch(/left third|centre|right third/);
    expect(reading.from_seed).toEqual(['placement', 'horizon']);
    expect(reading).toEqual(readPrompt('a cat sleeping on a windowsill, close-up, soft window light from camera left, 85mm portrait lens', 77));
  });
});

describe('previz panel drawing', () => {
  const plan = (prompt: string, seed = 3, aspectRatio: (typeof ASPECT_RATIOS)[number] = '16:9') => planPanel({ prompt, negativePrompt: null, seed, aspectRatio, ...SIZE_TABLE[aspectRatio] });

  it('draws the silhouette of the subject\'s class', () => {
    const shapes = new Map<string, string>();
    for (const p of ['a woman jogging along a beach', 'a cat sleeping on a windowsill', 'a cup of espresso on a wooden table', 'a city skyline at night', 'an electric car on a road', 'a bowl of soup'])
      shapes.set(p, plan(p).subject.svg);
    expect(new Set(shapes.values()).size).toBe(shapes.size);
    expect(shapes.get('a cat sleeping on a windowsill')).toMatch(/<ellipse[^>]*rx="0.6"/); // a quadruped's body
    expect(shapes.get('a woman jogging along a beach')).toMatch(/<circle cx="0" cy="0.063"/); // a figure's head
    // a skyline spans the frame; a cup sits in it
    const sky = plan('a city skyline at night');
    expect(sky.subject.bounds.w).toBeCloseTo(sky.layout.frame.w, 0);
    expect(plan('a cup of espresso on a wooden table').subject.bounds.w).toBeLessThan(sky.layout.frame.w / 2);
  });

  it('scales the subject by the shot size and places it as the composition says', () => {
    const h = (shot: string) => plan(`a fox in the snow, ${shot}, centred`).subject.bounds.h;
    expect(h('extreme close-up')).toBeGreaterThan(h('close-up'));
    expect(h('close-up')).toBeGreaterThan(h('medium shot'));
    expect(h('medium shot')).toBeGreaterThan(h('wide shot'));
    expect(h('wide shot')).toBeGreaterThan(h('extreme wide shot'));
    for (const seed of [1, 2, 3, 4]) {
      const left = plan('a fox on the left third', seed);
      const right = plan('a fox on the right third', seed);
      const mid = left.layout.frame.x + left.layout.frame.w / 2;
      expect(left.subject.focus.x).toBeLessThan(mid);
      expect(right.subject.focus.x).toBeGreaterThan(mid);
    }
  });

  it('puts the key lamp on the side the prompt says, whatever the seed', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const l = plan('a woman, centred, window light from camera left', seed);
      const r = plan('a woman, centred, window light from camera right', seed);
      expect(l.lamp.x).toBeLessThan(l.subject.focus.x);
      expect(r.lamp.x).toBeGreaterThan(r.subject.focus.x);
      const top = plan('a woman, centred, harsh overhead light', seed);
      expect(top.lamp.y).toBeLessThan(top.subject.focus.y);
    }
  });
});

describe('PNG text chunks', () => {
  it('round-trips Latin-1 (tEXt) and non-Latin-1 (iTXt) text with valid CRCs', async () => {
    const png = await sharp({ create: { width: 4, height: 3, channels: 3, background: '#123456' } }).png().toBuffer();
    const withText = addPngText(png, 'parameters', 'café at dusk');
    expect(withText.includes(Buffer.from('tEXtparameters'))).toBe(true);
    expect(readPngText(withText).parameters).toBe('café at dusk');
    const uni = addPngText(png, 'parameters', '東京の夜 — neon');
    expect(uni.includes(Buffer.from('iTXtparameters'))).toBe(true);
    expect(readPngText(uni).parameters).toBe('東京の夜 — neon');
    const meta = await sharp(uni).metadata();
    expect(meta.width).toBe(4);
    const bad = Buffer.from(withText);
    bad[40] ^= 0xff; // inside the text chunk
    expect(() => readPngText(bad)).toThrow(/CRC/);
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('seeds and the pool', () => {
  it('gives variation i the seed S+i, or draws and records seeds', () => {
    expect(variationSeeds(4, 12345)).toEqual({ seeds: [12345, 12346, 12347, 12348], source: 'user' });
    const drawn = variationSeeds(8);
    expect(drawn.source).toBe('drawn');
    expect(new Set(drawn.seeds).size).toBeGreaterThan(1);
    expect(drawn.seeds.every((s) => Number.isInteger(s) && s >= 0)).toBe(true);
  });

  it('never runs more than the limit at once and keeps order', async () => {
    let running = 0;
    let max = 0;
    const out = await mapPool([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      running++;
      max = Math.max(max, running);
      await new Promise((r) => setTimeout(r, 5 + (x % 3)));
      running--;
      return x * 10;
    });
    expect(max).toBe(3);
    expect(out).toEqual([10, 20, 30, 40, 50, 60, 70]);
  });
});
