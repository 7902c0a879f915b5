/**
 * Colour names a prompt or a brand palette uses, their sRGB values, and the small colour
 * arithmetic the panel needs (mix, lighten, darken, luminance). Named colours are matched
 * longest first, so "forest green" is forest green and not green.
 */

export type Rgb = [number, number, number];

/** Names that are colours wherever they appear. */
const COLOURS: Record<string, string> = {
  red: '#c62828', green: '#2e7d32', blue: '#1e63c4', yellow: '#f2c530', orange: '#ef7d22', purple: '#7b3fa0',
  violet: '#8a4fd0', pink: '#f06b9a', magenta: '#d0209a', cyan: '#1fc8d8', teal: '#138a8a', turquoise: '#30c6c0',
  aqua: '#3fd0d4', navy: '#1b2a57', maroon: '#6e1423', burgundy: '#7a1f3d', crimson: '#b3142c', scarlet: '#e0301e',
  vermilion: '#e34234', indigo: '#3f3a9c', lavender: '#b8a4e0', lilac: '#c8a2c8', mauve: '#b784a7', beige: '#e6d8bd',
  tan: '#c9a27a', khaki: '#bfb07a', ivory: '#f7f1e1', white: '#f7f7f4', black: '#141414', grey: '#8a8a8a', gray: '#8a8a8a',
  silver: '#bfc3c7', gold: '#d4a52c', bronze: '#a5702d', copper: '#b87333', brass: '#b5a642', rust: '#a5451f', ochre: '#c9862a',
  amber: '#f0a020', emerald: '#1f9a5a', jade: '#2fa37a', sapphire: '#1f4fa0', ruby: '#b0123c', cobalt: '#1f4fbf',
  cerulean: '#2a7ab8', charcoal: '#33383d', slate: '#5a6675', sepia: '#8a6a45', taupe: '#8b7d6b', fuchsia: '#d6339a',
  coral: '#f07a63', terracotta: '#c8623f', brown: '#6d4c33', umber: '#63451f', ecru: '#e8dcc0', chartreuse: '#9bd21f',
  'off-white': '#f2efe6', 'forest green': '#24613a', 'navy blue': '#1b2a57', 'sky blue': '#86c5ea', 'royal blue': '#2b52c9',
  'baby blue': '#a9d2f0', 'midnight blue': '#1a2340', 'hot pink': '#ff4fa0', 'burnt orange': '#c55a1a', 'sea green': '#2e8b6a',
  'lime green': '#6cc63a', 'olive green': '#6b7a2a', 'mint green': '#98d8b0', 'bottle green': '#1f5a3a', 'hunter green': '#2f5a3a',
  'emerald green': '#1f9a5a', 'sage green': '#9aae8a', 'moss green': '#6b7a3a', 'rose gold': '#c9967f', 'dusty rose': '#c4919b',
  'brick red': '#a53a2a', 'blood red': '#8a0f0f', 'cherry red': '#c8102e', 'wine red': '#722f37', 'golden yellow': '#f2b830',
  'lemon yellow': '#f5e04a', 'mustard yellow': '#d8a42a', 'electric blue': '#2f7cff', 'powder blue': '#b0cfe6',
  'steel blue': '#4682b4', 'slate grey': '#5a6675', 'slate gray': '#5a6675', 'charcoal grey': '#33383d', 'jet black': '#0a0a0a',
};

/**
 * Words that are also food, plants or things ("a bowl of cream", "an orange"): colours only when
 * a colour modifier comes before them, or they name the colour of a following noun, or they
 * stand in a palette list.
 */
const AMBIGUOUS: Record<string, string> = {
  cream: '#f3e6c8', chocolate: '#5a3825', coffee: '#6f4e37', caramel: '#b7773a', olive: '#6b7a2a', mint: '#98d8b0',
  peach: '#f6b48f', lemon: '#f5e04a', lime: '#8cc63f', salmon: '#f08a70', plum: '#6e2f5a', cherry: '#b0102a',
  wine: '#722f37', honey: '#e0a03a', mustard: '#d8a42a', rose: '#e07a90', sage: '#9aae8a', moss: '#6b7a3a', sand: '#d8c49a',
  stone: '#a09a8e', slate: '#5a6675', pearl: '#ece6d8', smoke: '#8a8d90', ink: '#1c2230', blush: '#e8a8a8', forest: '#24613a',
  ocean: '#1f5f8a', sky: '#86c5ea', wheat: '#e2c98e', straw: '#e4d08a', butter: '#f3e08a', oat: '#ddd0b0', linen: '#ede5d4',
};

/** Words before a colour that change it. */
const MODIFIERS: Record<string, (c: Rgb) => Rgb> = {
  deep: (c) => mix(c, [0, 0, 0], 0.3),
  dark: (c) => mix(c, [0, 0, 0], 0.35),
  rich: (c) => mix(c, [0, 0, 0], 0.15),
  light: (c) => mix(c, [255, 255, 255], 0.35),
  pale: (c) => mix(c, [255, 255, 255], 0.45),
  pastel: (c) => mix(c, [255, 255, 255], 0.45),
  soft: (c) => mix(c, [255, 255, 255], 0.2),
  muted: (c) => mix(c, [128, 128, 128], 0.35),
  dusty: (c) => mix(c, [150, 140, 135], 0.35),
  faded: (c) => mix(c, [200, 200, 195], 0.35),
  warm: (c) => mix(c, [255, 160, 70], 0.12),
  cool: (c) => mix(c, [70, 140, 255], 0.12),
  bright: (c) => saturate(c, 0.25),
  vivid: (c) => saturate(c, 0.3),
  vibrant: (c) => saturate(c, 0.3),
  electric: (c) => saturate(c, 0.35),
  burnt: (c) => mix(c, [90, 40, 10], 0.3),
  metallic: (c) => c,
  matte: (c) => mix(c, [128, 128, 128], 0.15),
};
export const COLOUR_MODIFIERS = new Set(Object.keys(MODIFIERS));

const NAMES_LONGEST = Object.keys(COLOURS).sort((a, b) => b.length - a.length);

export function isColourWord(w: string): boolean {
  return w in COLOURS;
}
export function isAmbiguousColourWord(w: string): boolean {
  return w in AMBIGUOUS;
}

export function hexToRgb(hex: string): Rgb {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
export function rgbToHex([r, g, b]: Rgb): string {
  const h = (v: number) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0');
  return `#${h(r)}${h(g)}${h(b)}`;
}
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}
function saturate(c: Rgb, t: number): Rgb {
  const m = (c[0] + c[1] + c[2]) / 3;
  return c.map((v) => v + (v - m) * t) as Rgb;
}
export const mixHex = (a: string, b: string, t: number) => rgbToHex(mix(hexToRgb(a), hexToRgb(b), t));
export const lighten = (hex: string, t: number) => mixHex(hex, '#ffffff', t);
export const darken = (hex: string, t: number) => mixHex(hex, '#000000', t);

/** Relative luminance (sRGB, 0–1). */
export function luminance(hex: string): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const [r, g, b] = hexToRgb(hex);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** Chroma (max − min channel), 0–255: how far from grey. */
export function chroma(hex: string): number {
  const c = hexToRgb(hex);
  return Math.max(...c) - Math.min(...c);
}

/**
 * The colour a phrase names ("deep forest green", "warm cream", "copper"), or null. The named
 * colour is the longest colour name in the phrase; modifiers before it apply, nearest last.
 * `allowAmbiguous` lets "cream", "olive", "sand" … count (palette lists, colour contexts).
 */
export function colourOfPhrase(phrase: string, allowAmbiguous: boolean): { name: string; hex: string } | null {
  const lower = phrase.toLowerCase().replace(/\s+/g, ' ').trim();
  const ws = lower.split(/[^a-z-]+/).filter(Boolean);
  let name: string | null = null;
  let hex: string | null = null;
  let at = -1;
  for (const n of NAMES_LONGEST) {
    const re = new RegExp(`(?<![\\w-])${n.replace(/-/g, '\\-')}(?![\\w-])`);
    const m = re.exec(lower);
    if (m) {
      name = n;
      hex = COLOURS[n]!;
      at = lower.slice(0, m.index).split(' ').filter(Boolean).length;
      break;
    }
  }
  if (!hex && allowAmbiguous) {
    for (let i = ws.length - 1; i >= 0; i--)
      if (AMBIGUOUS[ws[i]!]) {
        name = ws[i]!;
        hex = AMBIGUOUS[name]!;
        at = i;
        break;
      }
  }
  if (!hex || !name) return null;
  let rgb = hexToRgb(hex);
  const mods = ws.slice(0, Math.max(0, at)).filter((w) => MODIFIERS[w]);
  for (let i = mods.length - 1; i >= 0; i--) rgb = MODIFIERS[mods[i]!]!(rgb); // the nearest modifier first
  const label = [...mods, name].join(' ');
  return { name: label, hex: rgbToHex(rgb) };
}
