import { usageError } from '../errors.js';
import { type Box, type TextBox, baseline, textBox } from '../generation/previz/layout.js';
import { ellipsize, textWidth } from '../generation/previz/text-measure.js';

/**
 * The storyboard's contact sheet (`storyboard.png`): a sheet a person can read at a glance. A
 * title, then a row per clip: the start frame, an arrow, the end frame, and under them the
 * clip's caption (its shot, its move, what happens). A frame that failed, or that cannot be
 * read, is drawn as a clearly marked placeholder (a dashed box with a cross and "frame failed").
 *
 * Layout (contactSheetLayout, pure): every box is computed from estimated glyph widths
 * (text-measure.ts); each caption line is one line, ellipsized to the row's width, so no text
 * leaves its box, no two boxes overlap, and nothing leaves the canvas, for any number of clips,
 * any aspect ratio and any caption. Thumbnails sit on whole pixels.
 *
 * Rendering (renderContactSheet): each frame is resized with fit 'cover' (centred) to exactly
 * its thumbnail box, so every row has the same shape; frames are rendered at the storyboard's
 * aspect ratio, so at most a rounding pixel is cropped. Frames are flattened onto white and
 * composited on a light canvas; the title, arrows, captions and placeholders are SVG overlays,
 * one per row band, so a long sheet never needs one huge SVG. Same inputs, same bytes.
 */

export interface SheetClip {
  /** 1-based. */
  clip: number;
  /** Absolute path of the start frame PNG; null when that frame failed. */
  start: string | null;
  /** Same for the end frame. */
  end: string | null;
  /** 1-3 lines written under the row (more are folded into the third). */
  caption: string[];
}

export interface SheetRow {
  clip: number;
  start: Box;
  arrow: Box;
  end: Box;
  /** One box per caption line, top to bottom (blank lines are dropped). */
  caption: TextBox[];
}

export interface SheetLayout {
  width: number;
  height: number;
  title: TextBox;
  rows: SheetRow[];
}

export interface SheetOptions {
  /** 'W:H', e.g. '16:9', '9:16', '21:9'. */
  aspectRatio: string;
  /** Width of each thumbnail in pixels (default 320); the height follows the aspect ratio. */
  thumbWidth?: number;
  title: string;
}

export const DEFAULT_THUMB_WIDTH = 320;
export const MIN_THUMB_WIDTH = 32;
export const MAX_THUMB_WIDTH = 2048;
export const MAX_CAPTION_LINES = 3;
export const SHEET_BACKGROUND = '#f7f7f4';
export const PLACEHOLDER_TEXT = 'frame failed';

const FONT = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`;
const INK = '#1f1f1f';
const INK_SOFT = '#4a4a4a';
const FAILED = '#b3261e';

/** 'W:H' (also 'WxH' or 'W/H') as [w, h]; throws a usage error for anything else. */
export function parseAspectRatio(ar: string): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*[:x×/]\s*(\d+(?:\.\d+)?)\s*$/i.exec(ar);
  const w = m ? Number(m[1]) : NaN;
  const h = m ? Number(m[2]) : NaN;
  if (!(w > 0 && h > 0 && Number.isFinite(w) && Number.isFinite(h)) || w / h > 10 || h / w > 10)
    throw usageError(`contact sheet: aspect ratio "${ar}" is not W:H (e.g. 16:9), between 1:10 and 10:1`);
  return [w, h];
}

/**
 * Text as it may appear in an SVG: characters XML 1.0 forbids (control characters, lone
 * surrogates, U+FFFE/U+FFFF) removed, whitespace runs made one space.
 */
export function cleanText(s: string): string {
  return s
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFE\uFFFF]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Text escaped for an XML text node or attribute value. */
export const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** The caption as at most MAX_CAPTION_LINES clean, non-empty lines; extra lines join the last. */
function captionLines(caption: string[]): string[] {
  const lines = caption.map(cleanText).filter(Boolean);
  if (lines.length <= MAX_CAPTION_LINES) return lines;
  return [...lines.slice(0, MAX_CAPTION_LINES - 1), lines.slice(MAX_CAPTION_LINES - 1).join(' · ')];
}

interface Metrics {
  u: number;
  thumbW: number;
  thumbH: number;
  m: number;
  gap: number;
  arrowW: number;
  arrowH: number;
  titleSize: number;
  capMain: number;
  capSub: number;
  rowGap: number;
}

function metrics(o: SheetOptions): Metrics {
  const thumbW = o.thumbWidth ?? DEFAULT_THUMB_WIDTH;
  if (!Number.isInteger(thumbW) || thumbW < MIN_THUMB_WIDTH || thumbW > MAX_THUMB_WIDTH)
    throw usageError(`contact sheet: thumbWidth must be a whole number of pixels from ${MIN_THUMB_WIDTH} to ${MAX_THUMB_WIDTH}, not ${thumbW}`);
  const [aw, ah] = parseAspectRatio(o.aspectRatio);
  const thumbH = Math.max(1, Math.round((thumbW * ah) / aw));
  const u = thumbW / DEFAULT_THUMB_WIDTH;
  return {
    u,
    thumbW,
    thumbH,
    m: Math.max(12, Math.round(24 * u)),
    gap: Math.max(6, Math.round(12 * u)),
    arrowW: Math.max(28, Math.round(56 * u)),
    arrowH: Math.max(1, Math.min(thumbH, Math.max(14, Math.round(24 * u)))),
    titleSize: Math.max(13, Math.round(22 * u)),
    capMain: Math.max(11, Math.round(15 * u)),
    capSub: Math.max(10, Math.round(13 * u)),
    rowGap: Math.max(12, Math.round(24 * u)),
  };
}

/**
 * Where everything on the sheet goes. Pure. The width is fixed by the thumbnails (margin, start,
 * arrow, end, margin); each row is as tall as its thumbnails plus its caption; the canvas is as
 * tall as the rows. Rows keep the order given.
 */
export function contactSheetLayout(clips: { clip: number; caption: string[] }[], o: SheetOptions): SheetLayout {
  const k = metrics(o);
  const { m, gap, thumbW, thumbH, arrowW, arrowH } = k;
  const width = m + thumbW + gap + arrowW + gap + thumbW + m;
  const inner = width - 2 * m;

  const titleText = cleanText(o.title);
  const titleLine = titleText ? ellipsize(titleText, inner, { size: k.titleSize, bold: true }) : '';
  const title = textBox('title', titleLine ? [titleLine] : [], k.titleSize, true, 'start', m, Math.round(0.75 * m));

  let rowTop = Math.ceil(title.y + title.h + (title.h ? k.rowGap * 0.75 : 0));
  let bottom = rowTop;
  const rows: SheetRow[] = clips.map((c) => {
    const start: Box = { x: m, y: rowTop, w: thumbW, h: thumbH };
    const arrow: Box = { x: m + thumbW + gap, y: rowTop + Math.floor((thumbH - arrowH) / 2), w: arrowW, h: arrowH };
    const end: Box = { x: arrow.x + arrowW + gap, y: rowTop, w: thumbW, h: thumbH };
    let y = rowTop + thumbH + Math.max(4, Math.round(8 * k.u));
    const caption: TextBox[] = [];
    captionLines(c.caption).forEach((text, i) => {
      const size = i === 0 ? k.capMain : k.capSub;
      const bold = i === 0;
      const line = ellipsize(text, inner, { size, bold });
      if (!line) return;
      const b = textBox(`clip-${c.clip}-caption-${i}`, [line], size, bold, 'start', m, y);
      caption.push(b);
      y = b.y + b.h + size * 0.25;
    });
    bottom = caption.length ? caption[caption.length - 1]!.y + caption[caption.length - 1]!.h : rowTop + thumbH;
    const row = { clip: c.clip, start, arrow, end, caption };
    rowTop = Math.ceil(bottom + k.rowGap);
    return row;
  });
  const height = Math.ceil((rows.length ? bottom : title.y + title.h) + m);
  return { width, height, title, rows };
}

function textSvg(b: TextBox, fill: string): string {
  return b.lines
    .map(
      (l, i) =>
        `<text x="${f1(b.ax)}" y="${f1(baseline(b, i))}" ${FONT} font-size="${b.size}"${b.bold ? ' font-weight="bold"' : ''}${b.anchor !== 'start' ? ` text-anchor="${b.anchor}"` : ''} fill="${fill}">${escapeXml(l)}</text>`,
    )
    .join('');
}

function arrowSvg(a: Box, u: number): string {
  const cy = a.y + a.h / 2;
  const head = Math.min(a.w * 0.4, a.h / 2, Math.max(6, 10 * u));
  const x0 = a.x + 2;
  const x1 = a.x + a.w - 2;
  const sw = Math.max(2, Math.round(3 * u));
  return (
    `<line x1="${f1(x0)}" y1="${f1(cy)}" x2="${f1(x1 - head)}" y2="${f1(cy)}" stroke="${INK_SOFT}" stroke-width="${sw}" stroke-linecap="round"/>` +
    `<polygon points="${f1(x1)},${f1(cy)} ${f1(x1 - head)},${f1(cy - head * 0.7)} ${f1(x1 - head)},${f1(cy + head * 0.7)}" fill="${INK_SOFT}"/>`
  );
}

/** The "frame failed" box: dashed outline, a cross corner to corner, and a label in the middle. */
function placeholderSvg(b: Box, which: 'start' | 'end', u: number): string {
  const sw = Math.max(1.5, 2 * u);
  const inset = sw / 2;
  const dash = Math.max(4, Math.round(8 * u));
  let out =
    `<rect x="${f1(b.x + inset)}" y="${f1(b.y + inset)}" width="${f1(b.w - 2 * inset)}" height="${f1(b.h - 2 * inset)}" fill="#ececea" stroke="${FAILED}" stroke-width="${f1(sw)}" stroke-dasharray="${dash} ${Math.round(dash * 0.6)}"/>` +
    `<line x1="${f1(b.x)}" y1="${f1(b.y)}" x2="${f1(b.x + b.w)}" y2="${f1(b.y + b.h)}" stroke="${FAILED}" stroke-width="${f1(sw)}" opacity="0.55"/>` +
    `<line x1="${f1(b.x + b.w)}" y1="${f1(b.y)}" x2="${f1(b.x)}" y2="${f1(b.y + b.h)}" stroke="${FAILED}" stroke-width="${f1(sw)}" opacity="0.55"/>`;
  const size = Math.max(10, Math.round(14 * u));
  const pad = size * 0.5;
  const room = b.w - 4 * pad;
  const label = [`${which} frame failed`, PLACEHOLDER_TEXT, 'failed'].find((t) => textWidth(t, { size, bold: true }) <= room);
  const lh = size * 1.2 + pad;
  if (label && lh <= b.h - 2 * sw) {
    const t = textBox('placeholder', [label], size, true, 'middle', b.x + b.w / 2, b.y + (b.h - size * 1.2) / 2);
    out +=
      `<rect x="${f1(t.x - pad)}" y="${f1(t.y - pad / 2)}" width="${f1(t.w + 2 * pad)}" height="${f1(t.h + pad)}" rx="${f1(pad / 2)}" fill="#ffffff" stroke="${FAILED}" stroke-width="1"/>` +
      textSvg(t, FAILED);
  }
  return out;
}

const svgDoc = (w: number, h: number, top: number, body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 ${top} ${w} ${h}">${body}</svg>`;

/** The frame resized to cover its box exactly, flattened onto white; null when it cannot be read. */
async function thumbnail(sharp: (typeof import('sharp'))['default'], path: string | null, b: Box): Promise<Buffer | null> {
  if (!path) return null;
  try {
    return await sharp(path)
      .rotate()
      .resize(b.w, b.h, { fit: 'cover', position: 'centre' })
      .flatten({ background: '#ffffff' })
      .removeAlpha()
      .png()
      .toBuffer();
  } catch {
    return null;
  }
}

/** The contact sheet as PNG bytes (see contactSheetLayout for where everything goes). */
export async function renderContactSheet(clips: SheetClip[], o: SheetOptions): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  const layout = contactSheetLayout(clips, o);
  const k = metrics(o);
  const { width, height } = layout;

  const frames = await Promise.all(
    clips.map(async (c, i) => {
      const row = layout.rows[i]!;
      return [await thumbnail(sharp, c.start, row.start), await thumbnail(sharp, c.end, row.end)] as const;
    }),
  );

  const composites: import('sharp').OverlayOptions[] = [];
  layout.rows.forEach((row, i) => {
    const [s, e] = frames[i]!;
    if (s) composites.push({ input: s, left: row.start.x, top: row.start.y });
    if (e) composites.push({ input: e, left: row.end.x, top: row.end.y });
  });

  // Overlays, one per band: the title band, then each row down to the next row's top.
  const firstTop = layout.rows[0]?.start.y ?? height;
  const bands: Array<{ top: number; bottom: number; body: string }> = [];
  if (layout.title.lines.length) bands.push({ top: 0, bottom: Math.min(height, firstTop), body: textSvg(layout.title, INK) });
  layout.rows.forEach((row, i) => {
    const [s, e] = frames[i]!;
    const next = layout.rows[i + 1];
    const top = row.start.y;
    const bottom = next ? next.start.y : height;
    let body = '';
    for (const [img, b, which] of [
      [s, row.start, 'start'],
      [e, row.end, 'end'],
    ] as const) {
      body += img
        ? `<rect x="${f1(b.x + 0.5)}" y="${f1(b.y + 0.5)}" width="${f1(b.w - 1)}" height="${f1(b.h - 1)}" fill="none" stroke="#8a8a8a" stroke-width="1"/>`
        : placeholderSvg(b, which, k.u);
    }
    body += arrowSvg(row.arrow, k.u);
    for (const c of row.caption) body += textSvg(c, c.bold ? INK : INK_SOFT);
    if (next) {
      const rowBottom = row.caption.length ? row.caption[row.caption.length - 1]!.y + row.caption[row.caption.length - 1]!.h : row.start.y + row.start.h;
      const y = Math.round((rowBottom + next.start.y) / 2) + 0.5;
      body += `<line x1="${k.m}" y1="${y}" x2="${width - k.m}" y2="${y}" stroke="#dcdcd6" stroke-width="1"/>`;
    }
    bands.push({ top, bottom, body });
  });
  for (const b of bands) {
    const h = b.bottom - b.top;
    if (h <= 0 || !b.body) continue;
    composites.push({ input: Buffer.from(svgDoc(width, h, b.top, b.body)), left: 0, top: b.top });
  }

  return sharp({ create: { width, height, channels: 3, background: SHEET_BACKGROUND } })
    .composite(composites)
    .png({ compressionLevel: 9 })
    .toBuffer();
}
