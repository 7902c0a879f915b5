/**
 * Concurrent variations vs sequential, against the fake Replicate API with 500 ms per prediction.
 * Prints wall time / one prediction's latency for both, side by side: sequential is ~8 for 8
 * variations; bounded-concurrent should be close to 1.
 *
 *   npx tsc -p . && node dist/bench/generation-concurrency.js
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateImages } from '../src/generation/generate.js';
import { startFakeReplicate } from '../test/fakes/replicate-server.js';

const LATENCY_MS = 500;
const N = 8;

async function main() {
  const fake = await startFakeReplicate({ latencyMs: LATENCY_MS });
  const rows: { mode: string; concurrency: number; wallMs: number; ratio: number; maxInFlight: number; failed: number }[] = [];
  try {
    // warm-up: loads the client, sharp, and renders once
    {
      const dir = await mkdtemp(join(tmpdir(), 'loop-bench-'));
      await generateImages({ prompt: 'warm up', promptSource: 'bench', numVariations: 1, aspectRatio: '1:1', seed: 1, backend: 'replicate', outDir: dir, env: { REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl } });
      await rm(dir, { recursive: true, force: true });
    }
    for (const [mode, concurrency] of [['sequential', 1], ['concurrent', N]] as const) {
      fake.reset();
      const dir = await mkdtemp(join(tmpdir(), 'loop-bench-'));
      const t0 = performance.now();
      const trace = await generateImages({
        prompt: 'a red fox in fresh snow, close-up, 85mm',
        promptSource: 'bench',
        numVariations: N,
        aspectRatio: '16:9',
        seed: 1000,
        backend: 'replicate',
        concurrency,
        outDir: dir,
        env: { REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl },
      });
      const wallMs = performance.now() - t0;
      rows.push({ mode, concurrency, wallMs, ratio: wallMs / LATENCY_MS, maxInFlight: fake.maxActivePredictions(), failed: trace.failures.length });
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await fake.close();
  }
  console.log(`generation-concurrency: ${N} variations, fake Replicate, ${LATENCY_MS} ms per prediction (Prefer: wait), real client`);
  console.log('mode         concurrency  wall_ms  wall/latency  max_in_flight  failed');
  for (const r of rows)
    console.log(
      `${r.mode.padEnd(12)} ${String(r.concurrency).padStart(11)}  ${r.wallMs.toFixed(0).padStart(7)}  ${r.ratio.toFixed(2).padStart(12)}  ${String(r.maxInFlight).padStart(13)}  ${String(r.failed).padStart(6)}`,
    );
  const [seq, con] = rows;
  console.log(`speed-up: ${(seq!.wallMs / con!.wallMs).toFixed(2)}x (ideal ${N}x)`);
}

await main();
