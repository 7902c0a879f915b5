import { COLOUR_MODIFIERS, colourOfPhrase, isAmbiguousColourWord, isColourWord } from './colours.js';
import { negated } from './text.js';

/**
 * The panel's palette, from the most explicit source the prompt has:
 *   1. a brand palette: the enhancer folds a brand file's palette into the prompt as
 *      "…, in a palette of deep forest green, warm cream and copper, with …" (renderPrompt in
 *      offline-cinematographer.ts); "brand palette: …" and "brand colours: …" read the same;
 *   2. colour words in the prompt itself ("a red coat", "turquoise lagoon", "teal-and-orange grade");
 *   3. a mood or light word ("neon", "golden hour", "warm", "moody");
 *   4. a neutral default.
 * A mood word never overrides colours the prompt names: "warm" in a brand prompt is a tone.
 */
export type PaletteSource = 'prompt colours' | 'brand' | `mood word ${string}` | 'default' | 'init image';

export interface MoodPalette {
  name: string;
  sky: [string, string];
  ground: string;
  accent: string;
  light: string;
}

// Specific light/time words first; then generic mood words. First match in this order wins.
const MOODS: Array<[RegExp, MoodPalette]> = [
  [/\b(neon|cyberpunk)\b/i, { name: 'neon', sky: ['#1a0933', '#3b0d5c'], ground: '#120822', accent: '#ff2bd6', light: '#29e6ff' }],
  [/\b(golden hour|golden-hour|sunset|sunrise|dawn|candlelight|candlelit|firelight|campfire|tungsten)\b/i, { name: 'golden hour', sky: ['#f7b267', '#f4845f'], ground: '#6b3e26', accent: '#f25c54', light: '#ffd166' }],
  [/\b(blue hour|blue-hour|night|nighttime|midnight|moonlight|moonlit)\b/i, { name: 'night / blue hour', sky: ['#0b1d3a', '#27496d'], ground: '#0a1424', accent: '#7fb3d5', light: '#d6e6f2' }],
  [/\b(noir|chiaroscuro|black and white|black-and-white|monochrome|monochromatic|grayscale|greyscale)\b/i, { name: 'noir', sky: ['#111111', '#3a3a3a'], ground: '#000000', accent: '#bbbbbb', light: '#ffffff' }],
  [/\b(thunderstorm|storm|stormy|lightning)\b/i, { name: 'storm', sky: ['#2f3640', '#596275'], ground: '#1e2329', accent: '#8c9aa8', light: '#e8f0ff' }],
  [/\b(overcast|fog|foggy|mist|misty|haze|hazy|rain|rainy)\b/i, { name: 'soft overcast', sky: ['#c9d1d9', '#9aa5b1'], ground: '#5f6b76', accent: '#7b8a97', light: '#f0f3f5' }],
  [/\b(warm)\b/i, { name: 'warm', sky: ['#f6c98f', '#e9a46a'], ground: '#7a4b2e', accent: '#d9674b', light: '#ffe3a8' }],
  [/\b(cool|cold|icy|wintry)\b/i, { name: 'cool', sky: ['#bcd4e6', '#8fb3cf'], ground: '#3e5466', accent: '#5d8aa8', light: '#eef6ff' }],
  [/\b(moody|dramatic|dark|somber|sombre|mysterious|brooding)\b/i, { name: 'moody', sky: ['#2d3142', '#4f5d75'], ground: '#1b1e2b', accent: '#ef8354', light: '#bfc0c0' }],
  [/\b(bright|cheerful|sunny|daylight|vibrant|high-key|midday|noon)\b/i, { name: 'bright daylight', sky: ['#8ecae6', '#bde0fe'], ground: '#90be6d', accent: '#ffb703', light: '#fffbe6' }],
  [/\b(pastel|soft light|diffused|diffuse)\b/i, { name: 'soft pastel', sky: ['#e8dff5', '#fce1e4'], ground: '#c3b9c9', accent: '#ddedea', light: '#fff8f0' }],
];
export const DEFAULT_PALETTE: MoodPalette = { name: 'neutral', sky: ['#d8d4cc', '#b8b2a7'], ground: '#8a8378', accent: '#5c6f7b', light: '#fff8e7' };

export interface PaletteReading {
  source: PaletteSource;
  /** Colour names (brand / prompt colours) or the mood palette's name. */
  names: string[];
  /** sRGB hex, most important first. */
  colours: string[];
  /** For mood and default palettes, the full set the panel paints with. */
  mood: MoodPalette | null;
}

const MAX_COLOURS = 5;

/** "in a palette of A, B and C" (the enhancer), "brand palette: A, B", "brand colours: A / B". */
const BRAND_LIST = /\b(?:(brand)\s+(?:colou?r\s+)?palette|(brand)\s+colou?rs?|(?:,\s*)?in\s+a\s+(?:colou?r\s+)?palette)\s*(?:of|:|are|is)?\s*([^.;]+?)(?=,\s*with\b|[.;]|$)/i;

function splitList(s: string): string[] {
  return s
    .split(/\s*,\s*(?:and\s+)?|\s+and\s+|\s*\/\s*|\s*&\s*|\s*\+\s*/)
    .map((x) => x.trim())
    .filter(Boolean);
}

/** Colour words in running text, with the modifiers in front of them ("deep forest green"). */
function colourWords(text: string): Array<{ name: string; hex: string }> {
  const out: Array<{ name: string; hex: string }> = [];
  const toks = [...text.matchAll(/[A-Za-z][A-Za-z'’-]*/g)].map((m) => ({ raw: m[0], w: m[0].toLowerCase(), at: m.index }));
  const isColourAt = (i: number) => {
    const t = toks[i];
    return !!t && (isColourWord(t.w) || t.w.split('-').some((p) => isColourWord(p)));
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const prev = toks[i - 1]?.w;
    const next = toks[i + 1]?.w;
    if (negated(text, t.at)) continue;
    // words that look like colours and are not: RED cameras, Kodak Gold, blue hour, black and white, white balance
    if (t.raw === 'RED') continue;
    if (t.w === 'gold' && prev === 'kodak') continue;
    if (t.w === 'blue' && next === 'hour') continue;
    if (t.w === 'white' && next === 'balance') continue;
    if ((t.w === 'black' && next === 'and' && toks[i + 2]?.w === 'white') || (t.w === 'white' && prev === 'and' && toks[i - 2]?.w === 'black')) continue;
    if (t.w === 'black-and-white' || t.w === 'blue-hour') continue;
    // hyphenated pairs: "teal-and-orange", "blue-green"
    if (t.w.includes('-') && !isColourWord(t.w)) {
      for (const p of t.w.split('-')) {
        const c = isColourWord(p) ? colourOfPhrase(p, false) : null;
        if (c) out.push(c);
      }
      continue;
    }
    // "cream" is a colour in "warm cream", "cream tones", "cream white", "green, cream and copper"; not in "a bowl of cream"
    const listedAfterColour = () => {
      if (prev === 'and') return isColourAt(i - 2);
      const p = toks[i - 1];
      return !!p && text.slice(p.at + p.raw.length, t.at).includes(',') && isColourAt(i - 1);
    };
    const ambiguousHere =
      isAmbiguousColourWord(t.w) &&
      ((prev !== undefined && COLOUR_MODIFIERS.has(prev)) || /^(colou?red|tones?|toned|hues?|shades?)$/.test(next ?? '') || isColourAt(i + 1) || listedAfterColour());
    if (!isColourWord(t.w) && !ambiguousHere) continue;
    // compound names ("forest green", "navy blue") and modifiers in front
    let start = i;
    while (start > 0 && (COLOUR_MODIFIERS.has(toks[start - 1]!.w) || isAmbiguousColourWord(toks[start - 1]!.w)) && start > i - 3) start--;
    let end = i;
    if (isColourWord(toks[i + 1]?.w ?? '') && colourOfPhrase(`${t.w} ${toks[i + 1]!.w}`, false)?.name.endsWith(`${t.w} ${toks[i + 1]!.w}`)) end = i + 1;
    const phrase = toks
      .slice(start, end + 1)
      .map((x) => x.w)
      .join(' ');
    const c = colourOfPhrase(phrase, true);
    if (c) out.push(c);
    i = end;
  }
  return out;
}

function dedupe(cs: Array<{ name: string; hex: string }>): Array<{ name: string; hex: string }> {
  const seen = new Set<string>();
  return cs.filter((c) => (seen.has(c.hex) ? false : (seen.add(c.hex), true)));
}

export function readPalette(prompt: string): PaletteReading {
  let rest = prompt;
  let brand: Array<{ name: string; hex: string }> = [];
  let brandIsBrand = false;
  const m = BRAND_LIST.exec(prompt);
  if (m) {
    brand = splitList(m[3]!).flatMap((item) => colourOfPhrase(item, true) ?? []);
    // the enhancer's brand sentence is "The mood is …, in a palette of …"; a "brand …" label says so itself
    brandIsBrand = !!(m[1] || m[2]) || /\bthe mood is\b[^.]*$/i.test(prompt.slice(0, m.index));
    if (brand.length) rest = prompt.slice(0, m.index) + ' ' + prompt.slice(m.index + m[0].length);
  }
  const own = colourWords(rest);
  if (brand.length) {
    const cs = dedupe([...brand, ...own]).slice(0, MAX_COLOURS);
    return { source: brandIsBrand ? 'brand' : 'prompt colours', names: cs.map((c) => c.name), colours: cs.map((c) => c.hex), mood: null };
  }
  if (own.length) {
    const cs = dedupe(own).slice(0, MAX_COLOURS);
    return { source: 'prompt colours', names: cs.map((c) => c.name), colours: cs.map((c) => c.hex), mood: null };
  }
  for (const [re, p] of MOODS) {
    const hit = [...prompt.matchAll(new RegExp(re.source, 'gi'))].find((h) => !negated(prompt, h.index));
    if (hit) return { source: `mood word ${hit[1]!.toLowerCase()}`, names: [p.name], colours: [p.sky[0], p.sky[1], p.ground, p.accent, p.light], mood: p };
  }
  const d = DEFAULT_PALETTE;
  return { source: 'default', names: [d.name], colours: [d.sky[0], d.sky[1], d.ground, d.accent, d.light], mood: d };
}
