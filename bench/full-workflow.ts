/**
 * The product's main job on the offline defaults: `loop run examples/start.txt` (the full
 * workflow: 8 images, 3 clips, 3 attempts each), its wall time and per-stage split; then the same
 * run again on the same output root, where the generation cache serves every image, frame and
 * video: the cached re-run against the first, side by side. Uses REDIS_URL when set, else a
 * private redis-server (as `loop run` does).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'cli', 'main.js');
const START = join(here, '..', '..', 'examples', 'start.txt');
const ARGS = ['run', START, '--workflow', 'full', '--num-image-variations', '8', '--num-clips', '3', '--num-video-attempts', '3', '--seed', '7'];

interface Summary {
  wall_time_ms: number;
  time_by_stage: Record<string, number>;
  status: string;
}

function run(root: string, extra: string[] = []): Summary & { ms: number; dir: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...ARGS, ...extra], { env: { ...process.env, LOOP_OUTPUT_DIR: root, LOOP_QUEUE_PREFIX: `bench-full-${process.pid}` }, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`loop run exited ${r.status}: ${r.stderr || r.stdout}`);
  const runs = readdirSync(join(root, 'feedback_loops')).sort();
  const dir = join(root, 'feedback_loops', runs[runs.length - 1]!);
  return { ...(JSON.parse(readFileSync(join(dir, 'workflow_summary.json'), 'utf8')) as Summary), ms, dir };
}

const root = mkdtempSync(join(tmpdir(), 'loop-bench-full-'));
try {
  const first = run(root);
  const cached = run(root);
  const nocache = run(mkdtempSync(join(root, 'fresh-')), ['--no-cache']);
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`.padStart(9);
  console.log('full offline workflow (8 images, 3 clips × 3 attempts), per stage:');
  console.log(`${'stage'.padEnd(18)}${'first'.padStart(9)}${'cached'.padStart(9)}   ratio`);
  for (const stage of Object.keys(first.time_by_stage)) {
    const a = first.time_by_stage[stage]!;
    const b = cached.time_by_stage[stage] ?? 0;
    console.log(`${stage.padEnd(18)}${s(a)}${s(b)}   ${a ? (b / a).toFixed(2) : '-'}x`);
  }
  console.log(`${'command wall'.padEnd(18)}${s(first.ms)}${s(cached.ms)}   ${(cached.ms / first.ms).toFixed(2)}x  (cached re-run / first run)`);
  console.log(`a second first run with --no-cache: ${s(nocache.ms).trim()} (${(nocache.ms / first.ms).toFixed(2)}x the first: run-to-run noise)`);
  console.log(`share of the first run in video generation + scoring: ${(((first.time_by_stage['video-generation'] ?? 0) + (first.time_by_stage['video-scoring'] ?? 0)) / first.wall_time_ms * 100).toFixed(0)}%`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
