import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPreprocess, preprocessImage, resizeDims } from '../../src/scoring/preprocess.js';
import { parseDevice } from '../../src/scoring/runtime.js';
import { loadClipTokenizer } from '../../src/scoring/tokenizer.js';
import { tinyTokenizerJson } from '../helpers/tiny-models.js';

const root = mkdtempSync(join(tmpdir(), 'loop-prep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('CLIP tokenisation', () => {
  const tok = tinyTokenizerJson();
  writeFileSync(join(root, 'tokenizer.json'), JSON.stringify(tok.json));
  it('encodes with start/end tokens, BPE merges and </w>, padded to 77', async () => {
    const t = await loadClipTokenizer(root);
    const e = t.encode('The  CAT at');
    expect(e.ids.slice(0, 3)).toEqual([tok.bos, tok.vocab['the</w>'], tok.vocab['cat</w>']]);
    expect(e.ids[e.length - 1]).toBe(tok.eos);
    expect(e.ids).toHaveLength(77);
    expect(e.attentionMask.filter((x) => x === 1)).toHaveLength(e.length);
    expect(e.truncated).toBe(false);
  });
  it('truncates to 77 keeping the end token, and records it', async () => {
    const t = await loadClipTokenizer(root);
    const e = t.encode(Array.from({ length: 90 }, () => 'the').join(' '));
    expect(e.truncated).toBe(true);
    expect(e.length).toBe(77);
    expect(e.ids[0]).toBe(tok.bos);
    expect(e.ids[76]).toBe(tok.eos);
    expect(e.ids[75]).toBe(tok.vocab['the</w>']);
  });
});

describe('CLIP preprocessing', () => {
  it('resizes the shortest side like transformers, centre-crops, normalises to CHW', async () => {
    expect(resizeDims(400, 200, 32)).toEqual([64, 32]);
    expect(resizeDims(200, 301, 224)).toEqual([224, 337]);
    const cfgPath = join(root, 'preprocessor_config.json');
    const mean = [0.5, 0.4, 0.3], std = [0.2, 0.25, 0.3];
    writeFileSync(cfgPath, JSON.stringify({ size: { shortest_edge: 32 }, crop_size: { height: 32, width: 32 }, image_mean: mean, image_std: std }));
    const p = await loadPreprocess(cfgPath);
    // 400×200: left quarter red, the rest blue. After 64×32 and the centre crop (x 16..47) the crop
    // starts exactly where red ends: its left column is blue-ish, its right half pure blue.
    const w = 400, h = 200;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(x < 100 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
    const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    const out = await preprocessImage(png, p);
    expect(out).toHaveLength(3 * 32 * 32);
    const at = (c: number, y: number, x: number) => out[c * 1024 + y * 32 + x]!;
    const px = (c: number, v: number) => (v / 255 - mean[c]!) / std[c]!;
    for (const x of [8, 20, 31]) {
      expect(at(0, 16, x)).toBeCloseTo(px(0, 0), 5);
      expect(at(2, 16, x)).toBeCloseTo(px(2, 255), 5);
    }
    await expect(preprocessImage(Buffer.from('junk'), p)).rejects.toThrow();
  });
  it('gives the pixels of the step-by-step reference (resize, then crop or pad, then normalise), into a batch slot too', async () => {
    // the reference: each step its own sharp pipeline over raw pixels, normalised by the formula
    const reference = async (bytes: Buffer, cfgPath: string) => {
      const pp = await loadPreprocess(cfgPath);
      const { cfg } = pp;
      const meta = await sharp(bytes).metadata();
      let w = meta.width!, h = meta.height!;
      const short = (cfg.size as { shortest_edge: number }).shortest_edge;
      const [nw, nh] = resizeDims(w, h, short);
      let raw = await sharp(bytes).removeAlpha().toColourspace('srgb').resize(nw, nh, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
      [w, h] = [nw, nh];
      if (w < pp.width || h < pp.height) {
        // transformers pads the short side(s) to the crop, centred, with black
        const top = Math.max(0, Math.floor((pp.height - h) / 2)), left = Math.max(0, Math.floor((pp.width - w) / 2));
        const bottom = Math.max(0, pp.height - h - top), right = Math.max(0, pp.width - w - left);
        raw = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).extend({ top, left, bottom, right, background: { r: 0, g: 0, b: 0 } }).raw().toBuffer();
        [w, h] = [w + left + right, h + top + bottom];
      }
      const top = Math.floor((h - pp.height) / 2), left = Math.floor((w - pp.width) / 2);
      raw = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).extract({ left, top, width: pp.width, height: pp.height }).raw().toBuffer();
      const plane = pp.width * pp.height;
      const out = new Float32Array(plane * 3);
      for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[c * plane + i] = (raw[i * 3 + c]! / 255 - cfg.image_mean[c]!) / cfg.image_std[c]!;
      return { pp, out };
    };
    const crop = join(root, 'crop.json');
    writeFileSync(crop, JSON.stringify({ size: { shortest_edge: 24 }, crop_size: { height: 24, width: 24 } }));
    const pad = join(root, 'pad.json'); // crop larger than the resized image: the padding path
    writeFileSync(pad, JSON.stringify({ size: { shortest_edge: 20 }, crop_size: { height: 28, width: 28 } }));
    let seed = 5;
    const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16) & 255));
    const images = [
      await sharp(noise(70 * 40 * 3), { raw: { width: 70, height: 40, channels: 3 } }).png().toBuffer(),
      await sharp(noise(31 * 57 * 4), { raw: { width: 31, height: 57, channels: 4 } }).png().toBuffer(),
      await sharp(noise(90 * 60 * 3), { raw: { width: 90, height: 60, channels: 3 } }).jpeg().toBuffer(),
      await sharp(noise(40 * 40), { raw: { width: 40, height: 40, channels: 1 } }).png().toBuffer(),
    ];
    for (const cfgPath of [crop, pad])
      for (const img of images) {
        const { pp, out } = await reference(img, cfgPath);
        expect(await preprocessImage(img, pp)).toEqual(out);
        // written in place into the second slot of a batch, the neighbours untouched
        const n = out.length;
        const batch = new Float32Array(3 * n).fill(7);
        const slot = batch.subarray(n, 2 * n);
        expect(await preprocessImage(img, pp, slot)).toBe(slot);
        expect(slot).toEqual(out);
        expect(batch.subarray(0, n).every((v) => v === 7) && batch.subarray(2 * n).every((v) => v === 7)).toBe(true);
      }
  });
  it('parses --device', () => {
    expect(parseDevice('cpu')).toEqual({ kind: 'cpu' });
    expect(parseDevice('cuda')).toEqual({ kind: 'cuda', deviceId: 0 });
    expect(parseDevice('cuda:3')).toEqual({ kind: 'cuda', deviceId: 3 });
    expect(() => parseDevice('gpu')).toThrow(/--device must be/);
  });
});
