/**
 * `loop create-storyboard` end to end through the CLI (a child process, as a user runs it):
 *   (a) a 3-clip offline storyboard (offline planner, sketch frames): wall time, median of 3;
 *   (b) --frame-variations 4 --backend replicate against the fake Replicate API with a fixed
 *       1.5 s per prediction, --concurrency 8 and --concurrency 1 side by side: wall time / one
 *       prediction's latency, so how many frames are made at once shows in one run (sequential is
 *       about the number of predictions; concurrent should be near predictions / 8).
 * Scoring for the picks is the technical metric only (HOME is a fresh folder: no models).
 *
 *   npm run build && node dist/bench/storyboard.js
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeReplicate } from '../test/fakes/replicate-server.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const PROMPT = 'A fox steals a lantern from a sleeping fisherman, runs across the frozen lake, and the ice begins to crack';
const OFFLINE_CLIPS = 3;
const OFFLINE_RUNS = 3;
const LATENCY_MS = 1500;
const REPLICATE_CLIPS = 2;
const VARIATIONS = 4;
const CONCURRENCY = 8;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The CLI in a child process with a clean environment (no keys, no LOOP_* but `env`, a private HOME); its wall time. */
async function loop(args: string[], work: string, env: Record<string, string>): Promise<{ ms: number; code: number | null; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(OPENAI_|REPLICATE_|LOOP_|REDIS_URL$)/.test(k)) childEnv[k] = v;
  Object.assign(childEnv, { HOME: work, NO_COLOR: '1' }, env);
  delete childEnv.XDG_CACHE_HOME;
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], { cwd: work, env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { ms: performance.now() - t0, code, stderr };
}

function check(r: { code: number | null; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stderr}`);
}

/** Frames a storyboard made (candidates in frames/). */
async function candidates(out: string): Promise<number> {
  const [d] = await readdir(join(out, 'storyboards'));
  return (await readdir(join(out, 'storyboards', d!, 'frames'))).filter((f) => f.endsWith('.png')).length;
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'loop-bench-storyboard-'));
  const promptFile = join(work, 'clip_prompt.txt');
  await writeFile(promptFile, PROMPT + '\n');
  let n = 0;
  const out = () => join(work, `out-${++n}`);

  try {
    // (a) offline, end to end
    const offlineArgs = ['create-storyboard', promptFile, '--num-clips', String(OFFLINE_CLIPS), '--seed', '4'];
    check(await loop(offlineArgs, work, { LOOP_OUTPUT_DIR: out() }), 'warm-up'); // file cache, sharp, fonts
    const offline: number[] = [];
    let offlineFrames = 0;
    for (let i = 0; i < OFFLINE_RUNS; i++) {
      const o = out();
      const r = await loop(offlineArgs, work, { LOOP_OUTPUT_DIR: o });
      check(r, 'offline storyboard');
      offline.push(r.ms);
      offlineFrames = await candidates(o);
    }

    // (b) Replicate (fake), frame variations fanned out with and without concurrency
    const fake = await startFakeReplicate({ latencyMs: LATENCY_MS });
    const rows: { concurrency: number; wallMs: number; predictions: number; maxActive: number; spanMs: number }[] = [];
    try {
      for (const concurrency of [CONCURRENCY, 1]) {
        fake.reset();
        const o = out();
        const r = await loop(
          ['create-storyboard', promptFile, '--num-clips', String(REPLICATE_CLIPS), '--seed', '4', '--frame-variations', String(VARIATIONS), '--backend', 'replicate', '--model', 'black-forest-labs/flux-dev', '--concurrency', String(concurrency)],
          work,
          { LOOP_OUTPUT_DIR: o, REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl },
        );
        check(r, `replicate storyboard --concurrency ${concurrency}`);
        const creates = fake.creates().filter((c) => c.status === 201);
        const meta = JSON.parse(await readFile(join(o, 'storyboards', (await readdir(join(o, 'storyboards')))[0]!, 'storyboard_metadata.json'), 'utf8'));
        if (meta.failed_frames.length) throw new Error(`frames failed: ${meta.failed_frames.join(', ')}`);
        const ts = creates.map((c) => c.t);
        rows.push({ concurrency, wallMs: r.ms, predictions: creates.length, maxActive: fake.maxActivePredictions(), spanMs: Math.max(...ts) - Math.min(...ts) + LATENCY_MS });
      }
    } finally {
      await fake.close();
    }

    console.log(`storyboard (a): ${OFFLINE_CLIPS}-clip offline storyboard (offline planner, sketch frames, contact sheet) through the CLI, ${OFFLINE_RUNS} runs after a warm-up`);
    console.log(`  wall ms: ${offline.map((x) => x.toFixed(0)).join(', ')}  median ${median(offline).toFixed(0)} ms  (${offlineFrames} frames, ${(median(offline) / offlineFrames).toFixed(0)} ms per frame all in)`);
    const preds = rows[0]!.predictions;
    console.log(
      `storyboard (b): ${REPLICATE_CLIPS} clips × start/end × --frame-variations ${VARIATIONS} = ${preds} predictions on the fake Replicate API, ${LATENCY_MS} ms each (Prefer: wait), technical-metric picks`,
    );
    console.log('  concurrency  wall_ms  wall/latency  ideal  frames_phase_ms  max_active  predictions');
    for (const r of rows)
      console.log(
        `  ${String(r.concurrency).padStart(11)}  ${r.wallMs.toFixed(0).padStart(7)}  ${(r.wallMs / LATENCY_MS).toFixed(2).padStart(12)}  ${String(Math.ceil(r.predictions / r.concurrency)).padStart(5)}  ${r.spanMs.toFixed(0).padStart(15)}  ${String(r.maxActive).padStart(10)}  ${String(r.predictions).padStart(11)}`,
      );
    const [con, seq] = rows;
    console.log(`  speed-up --concurrency ${CONCURRENCY} vs 1: ${(seq!.wallMs / con!.wallMs).toFixed(2)}x wall (ideal ${(Math.ceil(preds / 1) / Math.ceil(preds / CONCURRENCY)).toFixed(0)}x for the frames alone; the rest is start-up, planning, scoring, contact sheet)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
