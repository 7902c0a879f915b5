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
  it('parses --device', () => {
    expect(parseDevice('cpu')).toEqual({ kind: 'cpu' });
    expect(parseDevice('cuda')).toEqual({ kind: 'cuda', deviceId: 0 });
    expect(parseDevice('cuda:3')).toEqual({ kind: 'cuda', deviceId: 3 });
    expect(() => parseDevice('gpu')).toThrow(/--device must be/);
  });
});
