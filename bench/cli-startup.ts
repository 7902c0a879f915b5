/**
 * `loop --help` start-up against a bare `node -e 0`, measured side by side (interleaved) in one
 * run, so the ratio is what the CLI's own imports cost. Run after a build:
 *   node dist/bench/cli-startup.js [runs]
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const runs = Number(process.argv[2] ?? 15);

function time(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
time(['-e', '0']);
time([cli, '--help']); // warm the file cache
const bare: number[] = [];
const help: number[] = [];
for (let i = 0; i < runs; i++) {
  bare.push(time(['-e', '0']));
  help.push(time([cli, '--help']));
}
const b = median(bare);
const h = median(help);
console.log(`runs: ${runs} each, interleaved, median wall time`);
console.log(`node -e 0       ${b.toFixed(1)} ms`);
console.log(`loop --help     ${h.toFixed(1)} ms`);
console.log(`ratio           ${(h / b).toFixed(2)}x  (CLI overhead ${(h - b).toFixed(1)} ms)`);
