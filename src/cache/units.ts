/**
 * The bounds `loop cache prune` takes: sizes (`2GB`, `500MB`, `1.5GiB`, `1024`) and ages (`30d`,
 * `12h`, `90m`, `45s`, `2w`). Plain decimals only, like every number flag (no exponents, no hex).
 * Light: the CLI's argument parsers call these at start-up.
 */
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};
const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** Bytes, or undefined when `text` is not a size. Decimal units (GB = 10^9), binary ones spelled KiB…TiB. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Milliseconds, or undefined when `text` is not an age with a unit (s, m, h, d, w). */
export function parseAge(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([smhdw])$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Math.round(Number(m[1]) * AGE_UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
}
