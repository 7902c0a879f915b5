/** Console formatting shared by commands: tables, money, durations, emphasis. */
const useColor = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

export const bold = (s: string) => (useColor() ? `\x1b[1m${s}\x1b[22m` : s);
export const green = (s: string) => (useColor() ? `\x1b[32m${s}\x1b[39m` : s);
export const red = (s: string) => (useColor() ? `\x1b[31m${s}\x1b[39m` : s);
export const dim = (s: string) => (useColor() ? `\x1b[2m${s}\x1b[22m` : s);

// eslint-disable-next-line no-control-regex
const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/**
 * A plain-text table: columns padded to their widest cell (ANSI colour ignored when measuring),
 * `right` columns aligned right (numbers), a rule under the header unless `rule: false`.
 */
export function table(headers: string[], rows: string[][], opts: { right?: number[]; rule?: boolean } = {}): string {
  const widths = headers.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const pad = (c: string, i: number) => {
    const fill = ' '.repeat(widths[i]! - visible(c));
    return opts.right?.includes(i) ? fill + c : c + fill;
  };
  const line = (cells: string[]) => cells.map(pad).join('  ').trimEnd();
  const head = [line(headers.map(bold))];
  if (opts.rule !== false) head.push(line(widths.map((w) => '-'.repeat(w))));
  return [...head, ...rows.map(line)].join('\n');
}

export const money = (usd: number | null | undefined) => (usd === null || usd === undefined ? 'n/a' : `$${usd.toFixed(4)}`);

export function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
