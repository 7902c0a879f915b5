/**
 * The generation cache: a first run (every request made, and stored) against a re-run of the same
 * requests (every one served from <output root>/.cache/generations). Three backends: the fake
 * Replicate API with 500 ms per prediction (real client, real HTTP), the offline sketch backend,
 * and the offline animatic (H.264 encoding). Prints wall times and the re-run / first-run ratio.
 *
 *   npx tsc -p . && node dist/bench/generation-cache.js
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenerationCache } from '../src/cache/generation-cache.js';
import { generateImages } from '../src/generation/generate.js';
import { startFakeReplicate } from '../test/fakes/replicate-server.js';

const LATENCY_MS = 500;
const N = 8;

interface Row {
  what: string;
  firstMs: number;
  cachedMs: number;
  note: string;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function main() {
  const root = await mkdtemp(join(tmpdir(), 'loop-bench-cache-'));
  const rows: Row[] = [];
  const fake = await startFakeReplicate({ latencyMs: LATENCY_MS });
  try {
    const env = { REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl };
    // warm-up (client, sharp), not cached
    await generateImages({ prompt: 'warm up', promptSource: 'bench', numVariations: 1, aspectRatio: '1:1', seed: 1, backend: 'replicate', outDir: await mkdtemp(join(root, 'w-')), env });

    let run = 0;
    const images = async (backend: 'replicate' | 'sketch', cache: GenerationCache, concurrency: number) => {
      const outDir = join(root, `${backend}-${++run}`);
      await mkdir(outDir, { recursive: true });
      return generateImages({
        prompt: 'a red fox in fresh snow at first light, close-up, 85mm, shallow depth of field',
        promptSource: 'bench',
        numVariations: N,
        aspectRatio: '16:9',
        seed: 2024,
        backend,
        concurrency,
        outDir,
        env,
        cache,
      });
    };
    for (const [backend, concurrency] of [['replicate', N], ['sketch', 2]] as const) {
      const cache = new GenerationCache(join(root, `cache-${backend}`));
      fake.reset();
      const first = await timed(() => images(backend, cache, concurrency));
      const paid = fake.created();
      fake.reset();
      const cached = await timed(() => images(backend, cache, concurrency));
      rows.push({
        what: `${N} images, ${backend}${backend === 'replicate' ? ` (${LATENCY_MS} ms/prediction)` : ''}`,
        firstMs: first.ms,
        cachedMs: cached.ms,
        note: `from_cache ${cached.value.from_cache}/${N}${backend === 'replicate' ? `, predictions ${paid} then ${fake.created()}` : ''}`,
      });
    }

    // the offline animatic: 1 clip × 3 attempts of 2 s (encoding is the cost)
    try {
      const { requireFfmpeg } = await import('../src/video/ffmpeg.js');
      await requireFfmpeg();
      const { AnimaticBackend } = await import('../src/video/animatic.js');
      const { generateVideos } = await import('../src/video/create.js');
      const cache = new GenerationCache(join(root, 'cache-animatic'));
      const videos = async () => {
        const dir = join(root, `animatic-${++run}`);
        await mkdir(dir, { recursive: true });
        return generateVideos({
          dir,
          backend: new AnimaticBackend({ maxWidth: 640 }),
          model: 'animatic',
          clips: [{ clip: 1, prompt: 'slow dolly in on a lighthouse at dusk', start_frame: null, end_frame: null, camera: null, duration_s: 2 }],
          framesRoot: root,
          attempts: 3,
          aspectRatio: '16:9',
          negativePrompt: null,
          seed: 7,
          concurrency: 2,
          cache,
        });
      };
      const first = await timed(videos);
      const cached = await timed(videos);
      rows.push({ what: '3 animatics of 2 s, offline', firstMs: first.ms, cachedMs: cached.ms, note: `from_cache ${cached.value.trace.from_cache}/3` });
    } catch (e) {
      rows.push({ what: '3 animatics (skipped)', firstMs: NaN, cachedMs: NaN, note: (e as Error).message.split('\n')[0]! });
    }
  } finally {
    await fake.close();
    await rm(root, { recursive: true, force: true });
  }

  console.log('generation-cache: a first run (made and stored) vs a re-run of the same requests (served from the cache)');
  console.log(`${'what'.padEnd(40)} ${'first_ms'.padStart(9)} ${'cached_ms'.padStart(10)} ${'cached/first'.padStart(13)}  note`);
  for (const r of rows)
    console.log(`${r.what.padEnd(40)} ${r.firstMs.toFixed(0).padStart(9)} ${r.cachedMs.toFixed(0).padStart(10)} ${(r.cachedMs / r.firstMs).toFixed(3).padStart(13)}  ${r.note}`);
}

await main();
