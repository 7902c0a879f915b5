/** Shared by the rank tests: the folder-consistency check, a folder snapshot, a scripted scorer. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { GenerationTraceSchema, ImageMetadataSchema, type GenerationTrace } from '../../src/generation/metadata.js';
import { loadAnchors } from '../../src/scoring/anchors.js';
import { pickScore } from '../../src/scoring/metrics/pickscore.js';
import type { ImageScorer } from '../../src/scoring/scorer.js';
import type { MetricResult } from '../../src/scoring/types.js';
import { sha256Of } from './gen-dir.js';

/** Every metadata file, the trace and the files on disk tell the same story; no ranking leftovers. */
export function assertConsistent(dir: string): GenerationTrace {
  const trace = GenerationTraceSchema.parse(JSON.parse(readFileSync(join(dir, 'generation_trace.json'), 'utf8')));
  const files = readdirSync(dir);
  const pngs = files.filter((f) => /^image_\d+\.png$/.test(f)).sort();
  const metaFiles = files.filter((f) => /_metadata\.json$/.test(f)).sort();
  expect(files.filter((f) => f.startsWith('.rank'))).toEqual([]);
  expect(metaFiles.length).toBe(pngs.length);
  expect(trace.images.map((i) => i.file).sort()).toEqual(pngs);
  for (const f of metaFiles) {
    const m = ImageMetadataSchema.parse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    expect(f).toBe(m.file.replace('.png', '_metadata.json'));
    expect(pngs).toContain(m.file);
    expect(sha256Of(join(dir, m.file))).toBe(m.sha256); // the bytes moved with their metadata
    const inTrace = trace.images.find((x) => x.file === m.file)!;
    expect(inTrace).toEqual(m);
  }
  if (trace.ordering === 'rank') expect(trace.best).toBe(trace.images.find((i) => i.rank === 1)?.file);
  return trace;
}

/** name → sha256 of every file (or its text for JSON), to show that a refused run changed nothing. */
export function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, sha256Of(join(dir, f))]));
}

/** sha256 of each image, by variation, as generated. */
export function shaByVariation(trace: GenerationTrace): Map<string, number> {
  return new Map(trace.images.map((i) => [i.sha256, i.variation]));
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const unavailable = (reason: string): MetricResult => ({ available: false, reason });

/**
 * A scorer whose PickScore raw value is scripted per image (by its bytes), computed through the
 * real pickScore() and anchors, so normalisation and clamping are the production ones. Other model
 * metrics are unavailable; technical quality is the same for every image. `gate` holds every
 * scoreBatch until it settles (a slow or paused scorer).
 */
export function scriptedScorer(rawPickOf: (sha: string) => number, o: { gate?: () => Promise<unknown> } = {}): ImageScorer & { batches: number } {
  const anchors = loadAnchors();
  const s = {
    batches: 0,
    weights: { ...anchors.weights },
    anchors,
    async availability() {
      return {
        device: 'cpu',
        available: ['pickscore', 'technical'],
        unavailable: { clip_score: 'scripted scorer', vqa_score: 'scripted scorer', aesthetic: 'scripted scorer' },
        models: {},
        warnings: [],
      };
    },
    async scoreBatch(images: { path: string }[]) {
      s.batches++;
      await o.gate?.();
      return Promise.all(
        images.map(async ({ path }) => {
          const sha = sha256Hex(await readFile(path));
          const cos = rawPickOf(sha) / 100; // logit scale 100: raw = 100·cos
          const pick = pickScore(Float32Array.of(cos, Math.sqrt(1 - cos * cos)), Float32Array.of(1, 0), { value: 100, source: 'test' }, 'scripted-pick', {}, anchors.metrics.pickscore);
          const technical: MetricResult = { available: true, raw: 50, normalized: 50, normalized_unclamped: 50, model_id: 'scripted-tech', file_hashes: {} };
          return {
            path,
            scores: {
              overall: null,
              metrics: { pickscore: pick, clip_score: unavailable('scripted scorer'), vqa_score: unavailable('scripted scorer'), aesthetic: unavailable('scripted scorer'), technical },
              weights_used: {},
              anchors_version: anchors.version,
              scored_at: new Date().toISOString(),
            },
          };
        }),
      );
    },
    stats: () => ({ runs: {}, loads: 0, host: 'inline' as const }),
    async close() {},
  };
  return s;
}
