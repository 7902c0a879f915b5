import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageScorer, type ImageScorer } from '../../src/scoring/scorer.js';
import { tinyTokenizerJson, writeTinyModels, type TinyClip } from '../helpers/tiny-models.js';
import type { LinearLayer } from '../../src/models/aesthetic-head.js';

const PROMPT = 'the cat';
let root: string;
let models: ReturnType<typeof writeTinyModels>;
const COLOURS: [number, number, number][] = [
  [200, 30, 30],
  [20, 180, 60],
  [40, 40, 220],
  [240, 240, 240],
];

async function solid(path: string, rgb: [number, number, number], w: number, h: number) {
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toFile(path);
}

// ---- independent computation from the tiny models' weights ----
function norm(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
function imageEmbed(m: TinyClip, rgb: [number, number, number]): number[] {
  const plane = m.side * m.side;
  const out = Array.from(m.bv);
  for (let c = 0; c < 3; c++) {
    const px = (rgb[c]! / 255 - m.mean[c]!) / m.std[c]!;
    for (let i = 0; i < plane; i++) for (let d = 0; d < m.dim; d++) out[d]! += px * m.Wv[(c * plane + i) * m.dim + d]!;
  }
  return norm(out);
}
function textEmbed(m: TinyClip, ids: number[], count: number[]): number[] {
  const pooled = new Array<number>(m.dim).fill(0);
  ids.forEach((id, k) => {
    for (let d = 0; d < m.dim; d++) pooled[d]! += count[k]! * m.E[id * m.dim + d]!;
  });
  const out = new Array<number>(m.dim).fill(0);
  for (let j = 0; j < m.dim; j++) for (let d = 0; d < m.dim; d++) out[j]! += pooled[d]! * m.Wt[d * m.dim + j]!;
  return norm(out);
}
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
function mlp(layers: LinearLayer[], x: number[]): number {
  let v = x;
  for (const L of layers) v = L.weight.map((row, o) => row.reduce((s, w, k) => s + w * v[k]!, L.bias[o]!));
  return v[0]!;
}

describe('image scorer on tiny models', () => {
  let scorer: ImageScorer;
  const paths: string[] = [];
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'loop-scorer-'));
    models = writeTinyModels(join(root, 'models'));
    for (const [i, c] of COLOURS.entries()) {
      const p = join(root, `img${i}.png`);
      await solid(p, c, 40 + i * 10, 30); // non-square: exercises resize + centre crop
      paths.push(p);
    }
    scorer = createImageScorer({ modelsDir: join(root, 'models'), vqa: null });
  });
  afterAll(async () => {
    await scorer.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('matches an independent computation of CLIPScore, PickScore and the aesthetic head', async () => {
    const res = await scorer.scoreBatch(paths.map((path) => ({ path })), PROMPT);
    const tok = tinyTokenizerJson();
    const ids = [tok.bos, tok.vocab['the</w>']!, tok.vocab['cat</w>']!, tok.eos];
    const clipText = textEmbed(models.clip!, ids, [1, 1, 1, 1]);
    // PickScore tiny export has no attention_mask: the 73 pad (end) tokens are summed too
    const pickText = textEmbed(models.pick!, ids, [1, 1, 1, 1 + 73]);
    for (const [i, c] of COLOURS.entries()) {
      const s = res[i]!.scores!;
      expect(s).not.toBeNull();
      const img = imageEmbed(models.clip!, c);
      const cs = s.metrics.clip_score!;
      expect(cs.available).toBe(true);
      if (!cs.available) continue;
      expect(cs.raw).toBeCloseTo(100 * Math.max(0, dot(img, clipText)), 3);
      const ps = s.metrics.pickscore!;
      if (!ps.available) throw new Error('pickscore unavailable');
      expect(ps.raw).toBeCloseTo(50 * dot(imageEmbed(models.pick!, c), pickText), 3);
      const ae = s.metrics.aesthetic!;
      if (!ae.available) throw new Error('aesthetic unavailable');
      expect(ae.raw).toBeCloseTo(mlp(models.head!.layers, img), 4);
      expect(s.metrics.vqa_score).toEqual({ available: false, reason: 'VQAScore disabled' });
      expect(s.metrics.technical!.available).toBe(true);
      // overall: 50/25/10 re-normalised over the three available model metrics
      expect(Object.keys(s.weights_used).sort()).toEqual(['aesthetic', 'clip_score', 'pickscore']);
      expect(s.weights_used.pickscore).toBeCloseTo(50 / 85, 10);
      const n = (m: string) => (s.metrics[m] as { normalized: number }).normalized;
      expect(s.overall).toBeCloseTo((50 * n('pickscore') + 25 * n('clip_score') + 10 * n('aesthetic')) / 85, 8);
      expect(s.prompt_truncated).toBe(false);
    }
  });

  it('scores the same batched as one image at a time (within 1e-5), one vision run per model per batch', async () => {
    const before = scorer.stats();
    const batch = await scorer.scoreBatch(paths.map((path) => ({ path })), PROMPT);
    const after = scorer.stats();
    const delta = (k: string) => (after.runs[k] ?? 0) - (before.runs[k] ?? 0);
    const key = (id: string, f: string) => Object.keys(after.runs).find((k) => k.includes(`${id}/`) && k.includes(f))!;
    // one vision pass serves CLIPScore and the aesthetic head; the text is cached from before
    expect(delta(key('clip-vit-large-patch14', 'vision_model'))).toBe(1);
    expect(delta(key('laion-aesthetic-v2', 'aesthetic_head'))).toBe(1);
    expect(delta(key('pickscore', 'vision_model'))).toBe(1);
    expect(delta(key('clip-vit-large-patch14', 'text_model'))).toBe(0);
    expect(after.loads).toBe(5); // loaded once, reused
    for (const [i, p] of paths.entries()) {
      const [one] = await scorer.scoreBatch([{ path: p }], PROMPT);
      for (const m of ['clip_score', 'pickscore', 'aesthetic', 'technical']) {
        const a = batch[i]!.scores!.metrics[m] as { raw: number };
        const b = one!.scores!.metrics[m] as { raw: number };
        expect(Math.abs(a.raw - b.raw)).toBeLessThan(1e-5);
      }
    }
    expect(scorer.stats().loads).toBe(5);
  });

  it('reports an undecodable image and still scores the others', async () => {
    const bad = join(root, 'bad.png');
    (await import('node:fs')).writeFileSync(bad, 'not a png at all');
    const res = await scorer.scoreBatch([{ path: paths[0]! }, { path: bad }, { path: paths[1]! }], PROMPT);
    expect(res[1]!.scores).toBeNull();
    expect(res[1]!.error).toMatch(/cannot decode image/);
    expect(res[0]!.scores?.overall).toBeTypeOf('number');
    expect(res[2]!.scores?.overall).toBeTypeOf('number');
  });

  it('records a prompt truncated to 77 tokens', async () => {
    const long = Array.from({ length: 100 }, () => 'cat').join(' ');
    const [r] = await scorer.scoreBatch([{ path: paths[0]! }], long);
    expect(r!.scores!.prompt_truncated).toBe(true);
  });
});

describe('missing models', () => {
  it('reports a missing model unavailable with the reason and re-weights the overall', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loop-scorer-missing-'));
    try {
      writeTinyModels(join(dir, 'models'), { skip: ['pickscore'] });
      const p = join(dir, 'a.png');
      await solid(p, [10, 120, 200], 20, 20);
      const s = createImageScorer({ modelsDir: join(dir, 'models'), vqa: null });
      const [r] = await s.scoreBatch([{ path: p }], PROMPT);
      await s.close();
      const ps = r!.scores!.metrics.pickscore!;
      expect(ps.available).toBe(false);
      // PickScore is export-only: the reason names its recipe, never `loop models pull pickscore` (which refuses)
      if (!ps.available) expect(ps.reason).toBe('model pickscore not installed; export it: models/README.md "PickScore"');
      expect(r!.scores!.weights_used).toEqual({ clip_score: 25 / 35, aesthetic: 10 / 35 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to technical quality when no model metric exists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loop-scorer-none-'));
    try {
      const p = join(dir, 'a.png');
      await solid(p, [10, 120, 200], 20, 20);
      const s = createImageScorer({ modelsDir: join(dir, 'empty'), vqa: null });
      const [r] = await s.scoreBatch([{ path: p }], PROMPT);
      const av = await s.availability();
      await s.close();
      expect(r!.scores!.weights_used).toEqual({ technical: 1 });
      expect(r!.scores!.overall).toBe((r!.scores!.metrics.technical as { normalized: number }).normalized);
      expect(av.available).toEqual(['technical']);
      expect(av.unavailable.aesthetic).toMatch(/needs clip-vit-large-patch14/);
      // one short line each, with what fixes it; the aesthetic head says once that it reads CLIP
      expect(av.unavailable).toMatchObject({
        clip_score: 'model clip-vit-large-patch14 not installed; run `loop models pull clip-vit-large-patch14`',
        aesthetic: 'model laion-aesthetic-v2 not installed; build it: models/README.md "LAION aesthetic head" (also needs clip-vit-large-patch14)',
      });
      for (const why of Object.values(av.unavailable)) expect(why.length).toBeLessThan(130);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
