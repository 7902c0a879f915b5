import { randomInt } from 'node:crypto';

import { MAX_SEED } from './limits.js';

export { MAX_SEED };

/**
 * `--seed S` gives variation i (0-based) the seed S+i, so a run is reproducible and each
 * variation differs. Without a seed, each is drawn from the OS CSPRNG and recorded in the trace.
 */
export function variationSeeds(n: number, seed?: number): { seeds: number[]; source: 'user' | 'drawn' } {
  if (seed !== undefined) return { seeds: Array.from({ length: n }, (_, i) => seed + i), source: 'user' };
  return { seeds: Array.from({ length: n }, () => randomInt(0, MAX_SEED)), source: 'drawn' };
}
