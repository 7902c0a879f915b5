/** mulberry32: tiny, fast, deterministic per seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a slot name, so each open value draws from its own stream (adding one moves no other). */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A number in [0, 1) for this seed and slot. */
export const seeded = (seed: number, slot: string): number => rng((seed ^ fnv(slot)) >>> 0)();

/** One of `xs`, by seed and slot. */
export function seededPick<T>(seed: number, slot: string, xs: readonly T[]): T {
  return xs[Math.floor(seeded(seed, slot) * xs.length)]!;
}
