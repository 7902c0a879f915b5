import { negated } from './text.js';

/**
 * The key light, read from the prompt's own lighting words: which side it comes from and how
 * hard it is. Only clauses about light are read (a clause is cut at , . ; ! ?), so "a woman
 * walking in from the left" places nobody's lamp. The phrasings include the offline
 * cinematographer's: "soft window light from camera left", "raking in low from camera left",
 * "as a side light from camera right", "backlighting the subject with a warm rim", "wrapping
 * around from behind", "from overhead", "from below and in front", "key light from camera left
 * with a subtle fill from the right" (the fill is not the key).
 */
export type KeySide = 'left' | 'right' | 'top' | 'back' | 'front';
export type KeyQuality = 'hard' | 'soft';

export interface LightReading {
  /** 'side' when the prompt says side light without saying which side (the seed picks). */
  key_side: KeySide | 'side' | null;
  key_quality: KeyQuality | null;
  /** The words the side was read from, as written. */
  side_phrase: string | null;
  quality_phrase: string | null;
}

const LIGHT_WORD =
  /\b(lit|light|lights|lighting|lamps?|sun|sunlight|sunshine|sunlit|backlit|backlight\w*|glow\w*|flash|softbox|rim|key|spotlights?|illuminat\w*|shadows?|moonlight|moonlit|candlelight|firelight|lamplight|practicals?|skylight|daylight|neon|lightning|strip-light|beams?|rays)\b/i;

type Side = KeySide | 'side';
const SIDES: Array<[RegExp, Side | 'lr']> = [
  [/\bfrom\s+(?:the\s+)?(?:(?:high|low|upper|lower|far|hard|extreme)\s+)?(?:(?:camera|frame|screen)[- ])?(left|right)\b/gi, 'lr'],
  [/\b(?:camera|frame|screen)[- ](left|right)\b/gi, 'lr'],
  [/\b(left|right)[- ](?:hand[- ])?side(?:d)?\s+(?:key\s+)?(?:light\w*|lit)\b/gi, 'lr'],
  [/\b(left|right)[- ]lit\b/gi, 'lr'],
  [/\bback[- ]?lit\b|\bback[- ]?light(?:s|ing|ed)?\b|\brim[- ]?(?:light|lighting|lit)\w*|\b(?:warm|cool|strip-light|strip|hair|edge|bright|golden|thin)\s+rim\b|\bfrom\s+behind\b|\bbehind\s+the\s+(?:subject|figure|model)\b|\bcontre[- ]jour\b|\bsilhouetted\b|\bagainst\s+the\s+(?:sun|light|window|sky)\b|\binto\s+the\s+sun\b|\bedge[- ]lit\b/gi, 'back'],
  [/\bfrom\s+(?:directly\s+)?(?:above|overhead)\b|\boverhead\s+(?:light\w*|lamps?|sun\w*|spot\w*)|\btop[- ]?light(?:s|ing)?\b|\btop[- ]down\s+light\w*|\bhigh noon\b|\bsun\s+directly\s+overhead\b/gi, 'top'],
  [/\bfrom\s+(?:the\s+)?front\b|\bfront[- ]?(?:light|lit|lighting)\w*|\bfrontal\s+light\w*|\bon[- ]camera\s+flash\b|\bring[- ]?light\b|\bfrom\s+below\b|\b(?:and|from)\s+in\s+front\b|\bhead[- ]on\b|\bflat\s+light\w*/gi, 'front'],
  [/\bfrom\s+the\s+side\b|\bside[- ]?light(?:s|ing)?\b|\bside[- ]lit\b|\braking\b|\bcross[- ]?light\w*/gi, 'side'],
];

const QUALITIES: Array<[RegExp, KeyQuality]> = [
  [/\b(soft|softly|softened|diffused|diffuse|gentle|gently|even|evenly|wrapping|wraparound|overcast|cloudy|hazy|feathered|bounced|bounce|softbox|open shade)\b/gi, 'soft'],
  [/\b(hard|harsh|crisp|specular|direct|high-contrast|contrasty|chiaroscuro|spotlight|bare bulb|on-camera flash|midday sun|noon sun|deep shadows|hard shadows|strong shadows|sharp shadows|low-key)\b/gi, 'hard'],
];

interface Hit {
  at: number;
  text: string;
  key: boolean;
}

/** Clauses (with their offset in the prompt) that talk about light. */
function lightClauses(prompt: string): Array<{ text: string; at: number }> {
  const out: Array<{ text: string; at: number }> = [];
  const re = /[^,.;!?]+(?:[.](?=\S)[^,.;!?]*)*/g; // keep "f/2.8" whole
  for (const m of prompt.matchAll(re)) if (LIGHT_WORD.test(m[0])) out.push({ text: m[0], at: m.index });
  return out;
}

/** Is the hit about the fill (not the key)? "a subtle fill from the right", "fill light camera right". */
function role(clause: string, index: number): 'key' | 'fill' | 'plain' {
  const before = clause.slice(Math.max(0, index - 32), index).toLowerCase();
  const last = (re: RegExp) => Math.max(-1, ...[...before.matchAll(re)].map((m) => m.index));
  const fill = last(/\bfill\b/g);
  const key = last(/(?<![\w-])key\b/g); // not "low-key"
  if (fill >= 0 && fill > key) return 'fill';
  if (key >= 0) return 'key';
  return 'plain';
}

/** Key-role hits first, then the earliest. */
const best = <T extends Hit>(hits: T[]): T | undefined =>
  hits.sort((a, b) => Number(b.key) - Number(a.key) || a.at - b.at)[0];

export function readLight(prompt: string): LightReading {
  const sides: Array<Hit & { side: Side }> = [];
  const qualities: Array<Hit & { quality: KeyQuality }> = [];
  for (const c of lightClauses(prompt)) {
    for (const [re, side] of SIDES)
      for (const m of c.text.matchAll(re)) {
        if (negated(c.text, m.index)) continue;
        const r = role(c.text, m.index);
        if (r === 'fill') continue;
        const s: Side = side === 'lr' ? (m[1]!.toLowerCase() as 'left' | 'right') : side;
        sides.push({ at: c.at + m.index, text: m[0], key: r === 'key', side: s });
      }
    for (const [re, quality] of QUALITIES)
      for (const m of c.text.matchAll(re)) {
        if (negated(c.text, m.index)) continue;
        // "soft key light": a quality word just before "key" describes the key
        const after = c.text.slice(m.index + m[0].length, m.index + m[0].length + 24).toLowerCase();
        const key = /^[\s,]*(?:[\w-]+\s+){0,3}key\b/.test(after) || role(c.text, m.index) === 'key';
        if (role(c.text, m.index) === 'fill' && !key) continue;
        qualities.push({ at: c.at + m.index, text: m[0], key, quality });
      }
  }
  // a named side beats "side light" (which says only that it is a side); "as a side light from camera right" is right
  const concrete = sides.filter((s) => s.side !== 'side');
  const side = best(concrete.length ? concrete : sides);
  const quality = best(qualities);
  return {
    key_side: side?.side ?? null,
    key_quality: quality?.quality ?? null,
    side_phrase: side?.text ?? null,
    quality_phrase: quality?.text ?? null,
  };
}
