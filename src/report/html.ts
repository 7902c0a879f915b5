import { redact } from '../lib/secrets.js';

/**
 * The report's HTML building blocks. Every piece of text that reaches the page goes through
 * esc(): secrets are redacted first (a token must not survive because escaping changed it), then
 * the five HTML metacharacters are escaped, so the same function is safe in text and in quoted
 * attribute values. Nothing else writes text into the page.
 */
export function esc(value: unknown): string {
  const s = value === null || value === undefined ? '' : String(value);
  return redact(s)
    .replace(/\u0000/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A number for display: fixed digits, '—' for null, undefined or not finite. */
export function num(v: number | null | undefined, digits = 1): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

export function money(v: number | null | undefined, lowerBound = false): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  return `${lowerBound ? '≥ ' : ''}$${v.toFixed(4)}`;
}

export function duration(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/**
 * A 0–100 score as a bar with its value. Unavailable (null) draws an empty, hatched bar with the
 * reason as its tooltip.
 */
export function bar(label: string, value: number | null | undefined, o: { title?: string; note?: string; cls?: string } = {}): string {
  const ok = typeof value === 'number' && Number.isFinite(value);
  const pct = ok ? Math.max(0, Math.min(100, value)) : 0;
  const tip = o.title ? ` title="${esc(o.title)}"` : '';
  return (
    `<div class="score${ok ? '' : ' na'}${o.cls ? ` ${o.cls}` : ''}" data-metric="${esc(label)}"${tip}><span class="label">${esc(label)}</span>` +
    `<span class="bar"><span class="fill" style="width:${pct.toFixed(1)}%"></span></span>` +
    `<span class="value">${ok ? esc(num(value)) : 'n/a'}</span>${o.note ? `<span class="note">${esc(o.note)}</span>` : ''}</div>`
  );
}

/** A definition list of label → value (values escaped; pass pre-built HTML with raw = true). */
export function facts(rows: Array<[string, string | number | null | undefined] | [string, string, 'raw']>): string {
  const items = rows
    .filter((r) => r[1] !== null && r[1] !== undefined && r[1] !== '')
    .map((r) => `<dt>${esc(r[0])}</dt><dd>${r[2] === 'raw' ? r[1] : esc(r[1])}</dd>`)
    .join('');
  return items ? `<dl class="facts">${items}</dl>` : '';
}

/** Text that may be long (a prompt): kept whole, wrapped, in its own block. */
export const promptBlock = (text: string | null | undefined, cls = 'prompt') => (text ? `<p class="${cls}">${esc(text)}</p>` : '');

export const CSS = `
:root{--ink:#1d1f21;--soft:#5b6066;--line:#d9dcdf;--bg:#f6f6f3;--card:#fff;--accent:#2f6db5;--ok:#2e7d32;--warn:#b26a00;--bad:#b3261e;--pend:#7a7f85}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header,main,footer{max-width:1180px;margin:0 auto;padding:16px 24px}
header{padding-top:24px}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:0 0 10px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
h3{font-size:15px;margin:14px 0 6px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:0 0 18px}
.muted{color:var(--soft)}
.badge{display:inline-block;border-radius:999px;padding:1px 10px;font-size:12px;font-weight:600;color:#fff;background:var(--pend);vertical-align:middle}
.badge.completed,.badge.done{background:var(--ok)}
.badge.partial{background:var(--warn)}
.badge.failed{background:var(--bad)}
.badge.running{background:var(--accent)}
.badge.pending,.badge.not-run,.badge.unknown{background:var(--pend)}
.badge.offline{background:#6d5a9c}
.badge.remote{background:#1f6f78}
ol.stages{list-style:none;display:flex;flex-wrap:wrap;gap:8px;padding:0;margin:10px 0}
ol.stages li{border:1px solid var(--line);border-radius:6px;padding:6px 10px;background:#fafafa}
ol.stages li .n{color:var(--soft);font-size:12px;margin-right:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{font-weight:600;color:var(--soft)}
td.num,th.num{text-align:right;white-space:nowrap}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dl.facts dt{color:var(--soft)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.prompt{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f5f8;border-left:3px solid var(--accent);padding:8px 10px;margin:6px 0}
.prompt.original{border-left-color:var(--pend)}
.round{border:1px solid var(--line);border-radius:6px;padding:10px 12px;margin:10px 0}
.round.best{border-color:var(--ok);box-shadow:0 0 0 1px var(--ok) inset}
.scores{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:2px 18px;margin:6px 0}
.score{display:grid;grid-template-columns:150px 1fr 44px;align-items:center;gap:8px;font-size:12px}
.score .note{grid-column:1/-1;color:var(--soft);font-size:11px;margin-top:-2px}
.score .bar{height:9px;background:#e8eaed;border-radius:5px;overflow:hidden}
.score .fill{display:block;height:100%;background:var(--accent)}
.score.overall .fill{background:var(--ok)}
.score.na .bar{background:repeating-linear-gradient(45deg,#eee,#eee 4px,#ddd 4px,#ddd 8px)}
.score .value{text-align:right;font-variant-numeric:tabular-nums}
ul.feedback{margin:4px 0 0 18px;padding:0;color:var(--soft);font-size:12px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:8px;overflow:hidden;background:#fff}
.card.best{border-color:var(--ok);box-shadow:0 0 0 2px var(--ok)}
.card img,.card video{display:block;width:100%;height:auto;background:#ddd}
.card .body{padding:8px 10px}
.card .title{font-weight:600;display:flex;justify-content:space-between;gap:6px;flex-wrap:wrap}
.card .score{grid-template-columns:140px 1fr 40px}
.missing{display:flex;align-items:center;justify-content:center;min-height:120px;background:repeating-linear-gradient(45deg,#f4f4f4,#f4f4f4 8px,#ececec 8px,#ececec 16px);color:var(--soft);font-size:12px;padding:10px;text-align:center}
.sheet{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
.pending-note{color:var(--pend);font-style:italic}
.problem{color:var(--bad)}
.error{color:var(--bad);font-weight:600;white-space:pre-wrap;overflow-wrap:anywhere}
.clip{margin:12px 0 18px}
a{color:var(--accent)}
footer{color:var(--soft);font-size:12px}
`;
