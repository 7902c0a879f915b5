import { ASCENT, LINE_BOX, LINE_PITCH, blockHeight, ellipsize, textWidth, wrapText } from './text-measure.js';

/**
 * Where everything on the panel goes: a title band, the picture frame, and a notes band (the
 * reading's notes and swatches beside or above the prompt). Every text block is a box computed
 * from estimated glyph widths, wrapped and clipped to its column, so that no two boxes overlap
 * and none leaves the canvas, at any aspect ratio and any prompt length. Pure.
 */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TextBox extends Box {
  id: string;
  lines: string[];
  size: number;
  bold: boolean;
  anchor: 'start' | 'middle' | 'end';
  /** The x the text is anchored at (SVG `x`). */
  ax: number;
}

export interface PanelText {
  title: string;
  meta: string;
  /** One entry per note ("SHOT: …"); each wraps within the notes column. */
  notes: string[];
  prompt: string;
  avoid: string | null;
  swatches: number;
}

export interface PanelLayout {
  width: number;
  height: number;
  /** 1% of the short side. */
  u: number;
  frame: Box;
  text: TextBox[];
  swatches: Box[];
}

export const intersects = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
export const contains = (outer: Box, b: Box): boolean => b.x >= outer.x && b.y >= outer.y && b.x + b.w <= outer.x + outer.w && b.y + b.h <= outer.y + outer.h;

/** A text block whose top edge is `top`, anchored at `ax`. */
export function textBox(id: string, lines: string[], size: number, bold: boolean, anchor: TextBox['anchor'], ax: number, top: number): TextBox {
  const w = lines.length ? Math.max(...lines.map((l) => textWidth(l, { size, bold }))) : 0;
  const x = anchor === 'start' ? ax : anchor === 'end' ? ax - w : ax - w / 2;
  return { id, lines, size, bold, anchor, ax, x, y: top, w, h: blockHeight(lines.length, size) };
}

/** The SVG baseline of line `i` of a box. */
export const baseline = (b: TextBox, i: number): number => b.y + b.size * ASCENT + i * b.size * LINE_PITCH;

/** The panel's two text sizes for a unit `u` (1% of the short side): notes and labels, prompt and small labels. */
export const panelFonts = (u: number) => ({ small: Math.max(11, Math.round(2.2 * u)), tiny: Math.max(10, Math.round(1.8 * u)) });

export function layoutPanel(width: number, height: number, t: PanelText): PanelLayout {
  const W = width;
  const H = height;
  const u = Math.min(W, H) / 100;
  const m = Math.round(2 * u);
  const gap = Math.round(1.5 * u);
  const { small, tiny } = panelFonts(u);
  const inner = W - 2 * m;
  const text: TextBox[] = [];

  // Title band: the title left, the seed/size line right; stacked when they do not fit side by side.
  let titleSize = Math.round(3.5 * u);
  const metaW = textWidth(t.meta, { size: small });
  const titleW = (s: number) => textWidth(t.title, { size: s, bold: true });
  let twoRows = false;
  if (titleW(titleSize) + 2 * gap + metaW > inner) {
    const scaled = Math.floor((titleSize * (inner - 2 * gap - metaW)) / titleW(titleSize));
    if (scaled >= Math.round(titleSize * 0.75)) titleSize = scaled;
    else twoRows = true;
  }
  const top0 = Math.round(1.2 * u);
  const title = textBox('title', [ellipsize(t.title, inner, { size: titleSize, bold: true })], titleSize, true, 'start', m, top0);
  text.push(title);
  let titleBottom: number;
  if (!twoRows) {
    // same baseline as the title
    const meta = textBox('meta', [t.meta], small, false, 'end', W - m, top0 + (titleSize - small) * ASCENT);
    text.push(meta);
    titleBottom = Math.max(title.y + title.h, meta.y + meta.h);
  } else {
    const meta = textBox('meta', [ellipsize(t.meta, inner, { size: small })], small, false, 'start', m, title.y + title.h + 0.4 * u);
    text.push(meta);
    titleBottom = meta.y + meta.h;
  }
  const frameTop = Math.round(titleBottom + 1.2 * u);

  // Notes band.
  const columns = W >= 1.2 * H;
  const notesW = columns ? Math.floor((inner - 2 * gap) * 0.5) : inner;
  const promptX = columns ? m + notesW + 2 * gap : m;
  const promptW = columns ? W - m - promptX : inner;
  const sw = Math.round(3.6 * u);
  const bandMax = H * (columns ? 0.36 : 0.42);
  const promptFont = { size: tiny };
  const avoidLines = t.avoid ? wrapText(t.avoid, promptW, promptFont, 2) : [];
  const avoidH = avoidLines.length ? blockHeight(avoidLines.length, tiny) + gap / 2 : 0;
  const minPromptH = columns ? 0 : gap + blockHeight(2, tiny) + avoidH;

  let noteSize = small;
  let perNote = 2;
  let noteLines: string[][] = [];
  let notesH = 0;
  for (;;) {
    noteLines = t.notes.map((n) => wrapText(n, notesW, { size: noteSize }, perNote));
    notesH = blockHeight(noteLines.flat().length, noteSize) + gap / 2 + sw;
    if (notesH + minPromptH <= bandMax) break;
    if (perNote > 1) perNote = 1;
    else if (noteSize > 10) noteSize--;
    else break;
  }

  const promptAll = wrapText(t.prompt, promptW, promptFont, 400);
  let bandH: number;
  let promptMax: number;
  const linesIn = (h: number) => (h < tiny * LINE_BOX ? 0 : Math.floor((h - tiny * LINE_BOX) / (tiny * LINE_PITCH)) + 1);
  if (columns) {
    bandH = Math.max(notesH, Math.min(bandMax, blockHeight(promptAll.length, tiny) + avoidH));
    promptMax = Math.max(1, linesIn(bandH - avoidH));
  } else {
    const room = bandMax - notesH - gap - avoidH;
    promptMax = Math.max(1, Math.min(promptAll.length, linesIn(room)));
    bandH = notesH + gap + blockHeight(promptMax, tiny) + avoidH;
  }
  const promptLines = wrapText(t.prompt, promptW, promptFont, promptMax);
  const bandTop = Math.floor(H - Math.round(1.2 * u) - bandH);

  // notes, one box per note, then the swatch row
  let y = bandTop;
  noteLines.forEach((lines, i) => {
    if (!lines.length) return;
    text.push(textBox(`note-${i}`, lines, noteSize, false, 'start', m, y));
    y += lines.length * noteSize * LINE_PITCH;
  });
  y += gap / 2 - noteSize * (LINE_PITCH - LINE_BOX);
  const swatches: Box[] = Array.from({ length: t.swatches }, (_, i) => ({ x: m + i * Math.round(sw * 1.17), y, w: sw, h: sw }));
  const promptTop = columns ? bandTop : y + sw + gap;
  const prompt = textBox('prompt', promptLines, tiny, false, 'start', promptX, promptTop);
  if (promptLines.length) text.push(prompt);
  if (avoidLines.length) text.push(textBox('avoid', avoidLines, tiny, false, 'start', promptX, prompt.y + prompt.h + gap / 2));

  const frame: Box = { x: m, y: frameTop, w: inner, h: Math.max(1, bandTop - gap - frameTop) };
  return { width: W, height: H, u, frame, text, swatches };
}

/**
 * A label by a point (the key-light lamp): below it, above, right or left, whichever first fits
 * inside `within` without touching `avoid`. Null when none does (the label is then left out).
 */
export function labelNear(id: string, label: string, size: number, at: { x: number; y: number; r: number }, within: Box, avoid: Box[]): TextBox | null {
  const h = blockHeight(1, size);
  const pad = at.r + size * 0.3;
  const below = at.y + pad;
  const above = at.y - pad - h;
  const candidates: Array<[TextBox['anchor'], number, number]> = [
    ['middle', at.x, below],
    ['start', at.x - at.r, below],
    ['end', at.x + at.r, below],
    ['middle', at.x, above],
    ['start', at.x - at.r, above],
    ['end', at.x + at.r, above],
    ['start', at.x + pad, at.y - h / 2],
    ['end', at.x - pad, at.y - h / 2],
    // clear of everything it must avoid, under the lowest of them
    ['start', at.x - at.r, Math.max(below, ...avoid.map((o) => o.y + o.h + size * 0.3))],
  ];
  for (const [anchor, ax, top] of candidates) {
    const b = textBox(id, [label], size, false, anchor, ax, top);
    if (contains(within, b) && !avoid.some((o) => intersects(o, b))) return b;
  }
  return null;
}
