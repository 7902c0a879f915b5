/**
 * Text widths without a font engine: the advance widths of DejaVu Sans and DejaVu Sans Bold (the
 * panel's first-choice font, the one librsvg finds on Linux), in thousandths of an em, read from
 * the TTF files' hmtx tables for printable ASCII and a few typographic characters. Characters not
 * in the table count as a full em (CJK and most symbols are about that wide; Latin letters with
 * accents are narrower), so an estimate errs wide, never narrow. Helvetica and Arial, the
 * fallbacks, are narrower than DejaVu, so boxes sized with these widths hold them too.
 */

const ASCII_FROM = 32;
// prettier-ignore
const REGULAR = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
  603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
  634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];
// prettier-ignore
const BOLD = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696, 696,
  696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850,
  733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
  712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
];
const EXTRA_REGULAR: Record<string, number> = { '·': 318, '—': 1000, '…': 1000, '×': 838, '–': 500, '’': 318, '‘': 318, '“': 518, '”': 518, '°': 500 };
const EXTRA_BOLD: Record<string, number> = { '·': 380, '—': 1000, '…': 1000, '×': 838, '–': 500, '’': 380, '‘': 380, '“': 590, '”': 590, '°': 500 };
/** Latin-1 and Latin Extended letters (é, ñ, ø …): as wide as the widest ASCII lower-case letter but m/w. */
const ACCENTED = 720;

/** Pango applies no letter-spacing; 2% covers rounding in its hinting at small sizes. */
const SAFETY = 1.02;

export interface FontSpec {
  size: number;
  bold?: boolean;
}

/** Width of one character in ems. */
function charEm(ch: string, bold: boolean): number {
  const c = ch.codePointAt(0)!;
  const table = bold ? BOLD : REGULAR;
  if (c >= ASCII_FROM && c < ASCII_FROM + table.length) return table[c - ASCII_FROM]! / 1000;
  const extra = (bold ? EXTRA_BOLD : EXTRA_REGULAR)[ch];
  if (extra !== undefined) return extra / 1000;
  if (c >= 0xc0 && c <= 0x24f) return ACCENTED / 1000;
  return 1;
}

/** Estimated advance width of `text` in pixels. */
export function textWidth(text: string, font: FontSpec): number {
  let em = 0;
  for (const ch of text) em += charEm(ch, !!font.bold);
  return em * font.size * SAFETY;
}

/** Line metrics: a line box is 1.2 em tall (DejaVu's ascent 0.93 + descent 0.24), lines 1.3 em apart. */
export const ASCENT = 0.95;
export const LINE_BOX = 1.2;
export const LINE_PITCH = 1.3;

/** Height of a block of `n` lines. */
export function blockHeight(n: number, size: number): number {
  return n <= 0 ? 0 : (n - 1) * size * LINE_PITCH + size * LINE_BOX;
}

/** The longest prefix of `text` (by characters) that fits `maxWidth` with `suffix` after it. */
function fitPrefix(text: string, maxWidth: number, font: FontSpec, suffix = ''): string {
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (textWidth(chars.slice(0, mid).join('') + suffix, font) <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return chars.slice(0, lo).join('');
}

/** `text` cut to `maxWidth`, ending in an ellipsis when cut. */
export function ellipsize(text: string, maxWidth: number, font: FontSpec): string {
  if (textWidth(text, font) <= maxWidth) return text;
  const kept = fitPrefix(text, maxWidth, font, '…').replace(/[\s,;:·-]+$/, '');
  return textWidth(kept + '…', font) <= maxWidth ? kept + '…' : '';
}

/**
 * Greedy word wrap to `maxWidth`, at most `maxLines` lines; a word wider than a line is broken
 * across lines; text that does not fit ends with an ellipsis. Every returned line fits.
 */
export function wrapText(text: string, maxWidth: number, font: FontSpec, maxLines: number): string[] {
  if (maxLines <= 0 || maxWidth <= 0) return [];
  const words = text.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const lines: string[] = [];
  let cur = '';
  let truncated = false;
  for (let i = 0; i < words.length; i++) {
    let w = words[i]!;
    const joined = cur ? `${cur} ${w}` : w;
    if (textWidth(joined, font) <= maxWidth) {
      cur = joined;
      continue;
    }
    if (cur) {
      lines.push(cur);
      cur = '';
      if (lines.length === maxLines) {
        truncated = true;
        break;
      }
    }
    // a word wider than the line: break it
    while (textWidth(w, font) > maxWidth) {
      const head = fitPrefix(w, maxWidth, font) || [...w][0]!;
      lines.push(head);
      w = w.slice(head.length);
      if (lines.length === maxLines) {
        truncated = w.length > 0 || i < words.length - 1;
        break;
      }
    }
    if (lines.length === maxLines) {
      truncated ||= i < words.length - 1;
      break;
    }
    cur = w;
  }
  if (cur && !truncated) lines.push(cur);
  if (lines.length > maxLines) {
    lines.length = maxLines;
    truncated = true;
  }
  if (truncated && lines.length) lines[lines.length - 1] = ellipsize(lines[lines.length - 1]! + '…', maxWidth, font) || '…';
  return lines;
}
