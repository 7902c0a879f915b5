/**
 * Offline enhancement throughput over examples/dev_prompts.txt: prompts per second for the full
 * stage (assessment + up to 3 rounds + atomic trace files) against the agents alone (no files),
 * side by side in one run. Run after a build:  node dist/bench/enhance-throughput.js [passes]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enhanceImagePrompt } from '../src/prompt/enhance.js';
import { runFeedbackLoop } from '../src/prompt/loop.js';
import { createOfflineCinematographer } from '../src/prompt/offline-cinematographer.js';
import { createRubricCritic } from '../src/prompt/rubric-critic.js';
import { dataFile } from '../src/lib/paths.js';

const passes = Number(process.argv[2] ?? 5);
const prompts = readFileSync(dataFile('examples', 'dev_prompts.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const root = mkdtempSync(join(tmpdir(), 'loop-bench-'));

async function agentsOnly(): Promise<number> {
  const t0 = performance.now();
  for (const p of prompts)
    await runFeedbackLoop({ original: p, creative: createOfflineCinematographer(), critic: createRubricCritic(), overall: (c) => c.scores.overall, maxIterations: 3, threshold: 100 });
  return performance.now() - t0;
}

let n = 0;
async function fullStage(): Promise<number> {
  const t0 = performance.now();
  for (const p of prompts) {
    const runDir = join(root, String(n++));
    await mkdir(runDir);
    await enhanceImagePrompt({ prompt: p, runDir, maxIterations: 3, threshold: 100, backend: 'offline', creativeModel: 'x', critiqueModel: 'x' });
  }
  return performance.now() - t0;
}

await agentsOnly();
await fullStage(); // warm-up
let a = 0;
let f = 0;
for (let i = 0; i < passes; i++) {
  a += await agentsOnly();
  f += await fullStage();
}
rmSync(root, { recursive: true, force: true });
const total = prompts.length * passes;
const aps = (total / a) * 1000;
const fps = (total / f) * 1000;
console.log(`${prompts.length} dev prompts x ${passes} passes, up to 3 rounds each (threshold 100)`);
console.log(`agents only (no files)           ${aps.toFixed(0)} prompts/s  (${(a / total).toFixed(2)} ms/prompt)`);
console.log(`full stage (trace, fsync'd files) ${fps.toFixed(0)} prompts/s  (${(f / total).toFixed(2)} ms/prompt)`);
console.log(`ratio agents/full                ${(aps / fps).toFixed(1)}x  (file writes dominate)`);
