/**
 * Every benchmark, one after the other, each printing its ratios: `npm run bench` (after a build).
 * The queue benchmark needs Redis at REDIS_URL.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const benches = ['cli-startup', 'enhance-throughput', 'generation-concurrency', 'generation-cache', 'scoring', 'queue-throughput', 'recovery', 'storyboard', 'animatic', 'video-generation', 'video-scoring', 'scoring-vit', 'full-workflow'];
let failed = 0;
for (const b of benches) {
  console.log(`\n== ${b} ==`);
  const r = spawnSync(process.execPath, [join(here, `${b}.js`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
