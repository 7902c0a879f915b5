import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateVariation } from '../../src/generation/generate.js';
import { ASPECT_RATIOS, ImageMetadataSchema } from '../../src/generation/metadata.js';
import { addPngText, crc32, readPngText } from '../../src/generation/png-text.js';
import { variationSeeds } from '../../src/generation/seeds.js';
import { SIZE_TABLE } from '../../src/generation/sizes.js';
import { SketchBackend, sketchSvg } from '../../src/generation/sketch-backend.js';
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
      const meta = await sharp(join(dir, `image_00${i + 1}.png`)).metadata();
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
    expect(svg).toContain('LIGHT: golden hour');
    expect(svg).toMatch(/CAMERA: 24mm lens · f\/2\.8 · Kodak Portra 400 · low angle/);
    const night = sketchSvg({ prompt: 'extreme close-up of an eye, neon night', negativePrompt: null, seed: 1, width: 1024, height: 1024, aspectRatio: '1:1' });
    expect(night).toContain('EXTREME CLOSE-UP');
    expect(night).toContain('LIGHT: neon');
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
