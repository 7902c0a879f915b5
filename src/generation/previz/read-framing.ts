import { negated } from './text.js';

/**
 * Framing read from the prompt: shot size, camera angle, where the subject sits and where the
 * horizon is. Anything the prompt leaves open is null here; the seed settles it later.
 */
export type ShotSize = 'extreme close-up' | 'close-up' | 'medium close-up' | 'medium' | 'medium wide' | 'wide' | 'extreme wide';
export const SHOT_SIZES: readonly ShotSize[] = ['extreme close-up', 'close-up', 'medium close-up', 'medium', 'medium wide', 'wide', 'extreme wide'];

/**
 * Shot phrases. The most specific phrase in the prompt wins wherever it stands: the longest
 * match, so "extreme close-up" beats the "close-up" inside it and "macro close-up" beats
 * "close-up". A lens is not a shot: "macro lens", "wide-angle lens" and "85mm portrait lens"
 * set nothing here. Abbreviations count as long as the phrase they stand for.
 */
const SHOT_PHRASES: Array<[RegExp, ShotSize, number?]> = [
  [/\bextreme[- ]close[- ]?ups?\b/gi, 'extreme close-up'],
  [/\bECU\b/g, 'extreme close-up', 16],
  [/\bmacro\s+(?:close[- ]?ups?|shots?|photo(?:graph)?s?|photography|views?|details?)\b/gi, 'extreme close-up'],
  [/\bextreme macro\b/gi, 'extreme close-up'],
  [/\bdetail shots?\b/gi, 'extreme close-up'],
  [/\bmedium[- ]close[- ]?ups?\b/gi, 'medium close-up'],
  [/\bMCU\b/g, 'medium close-up', 15],
  [/\bhead[- ]and[- ]shoulders?\b/gi, 'medium close-up'],
  [/\b(?:chest|shoulders)[- ]up\b/gi, 'medium close-up'],
  [/\bbust shot\b/gi, 'medium close-up'],
  [/\bclose[- ]?ups?\b/gi, 'close-up'],
  [/\bCU\b/g, 'close-up', 8],
  [/\b(?:tight|close|tabletop) shots?\b/gi, 'close-up'],
  [/\bhead ?shots?\b/gi, 'close-up'],
  [/\bmedium shots?\b/gi, 'medium'],
  [/\bmid[- ]shots?\b/gi, 'medium'],
  [/\bwaist[- ]up\b/gi, 'medium'],
  [/\bMS\b/g, 'medium', 11],
  [/\bmedium[- ]wide(?: shots?)?\b/gi, 'medium wide'],
  [/\bmedium (?:long|full) shots?\b/gi, 'medium wide'],
  [/\b(?:cowboy|american) shots?\b/gi, 'medium wide'],
  [/\bknees?[- ]up\b/gi, 'medium wide'],
  [/\bMWS\b/g, 'medium wide', 16],
  [/\bwide shots?\b/gi, 'wide'],
  [/\bfull[- ]body(?: shots?)?\b/gi, 'wide'],
  [/\bfull[- ](?:length|shot)s?\b/gi, 'wide'],
  [/\blong shots?\b/gi, 'wide'],
  [/\bwide (?:view|frame)\b/gi, 'wide'],
  [/\bWS\b/g, 'wide', 9],
  [/\bextreme(?:ly)?[- ]wide(?: shots?)?\b/gi, 'extreme wide'],
  [/\bextreme long shots?\b/gi, 'extreme wide'],
  [/\bE(?:W|L)S\b/g, 'extreme wide', 17],
  [/\bestablishing shots?\b/gi, 'extreme wide'],
  [/\baerial (?:shot|view|photo\w*|footage)s?\b/gi, 'extreme wide'],
  [/\bpanoram(?:a|ic (?:view|shot))s?\b/gi, 'extreme wide'],
  [/\bdrone shots?\b/gi, 'extreme wide'],
];

export interface ShotReading {
  size: ShotSize;
  /** The phrase it was read from; null when nothing in the prompt names a shot size. */
  phrase: string | null;
}

export function readShot(prompt: string): ShotReading | null {
  let bestHit: { size: ShotSize; phrase: string; weight: number; at: number } | null = null;
  for (const [re, size, weight] of SHOT_PHRASES)
    for (const m of prompt.matchAll(re)) {
      if (negated(prompt, m.index)) continue;
      const w = weight ?? m[0].length;
      if (!bestHit || w > bestHit.weight || (w === bestHit.weight && m.index < bestHit.at)) bestHit = { size, phrase: m[0], weight: w, at: m.index };
    }
  return bestHit ? { size: bestHit.size, phrase: bestHit.phrase } : null;
}

export type Angle = 'low angle' | 'high angle' | 'eye level' | 'three-quarter';
export function readAngle(prompt: string): { angle: Angle | null; dutch: boolean } {
  const low = /\blow[- ]angle\b|\bworm'?s[- ]eye\b/i.test(prompt);
  const high = /\bhigh[- ]angle\b|\bbird'?s[- ]eye\b|\boverhead (?:shot|angle|view)\b|\btop[- ]down\b|\baerial (?:shot|view)\b|\bflat[- ]lay\b/i.test(prompt);
  const eye = /\beye[- ]level\b/i.test(prompt);
  const tq = /\bthree[- ]quarters? (?:angle|view)\b/i.test(prompt);
  const angle: Angle | null = low && !high ? 'low angle' : high && !low ? 'high angle' : eye ? 'eye level' : tq ? 'three-quarter' : null;
  return { angle, dutch: /\bdutch (?:angle|tilt)\b|\bcanted (?:angle|frame)\b/i.test(prompt) };
}

export type Horizontal = 'left third' | 'centre' | 'right third';
export type Vertical = 'high' | 'middle' | 'low';

export interface PlacementReading {
  /** null: the prompt leaves it open; 'thirds': it says rule of thirds but not which third. */
  horizontal: Horizontal | 'thirds' | null;
  vertical: Vertical | null;
  foreground: boolean;
  horizon: 'high' | 'low' | null;
}

const LIGHTISH = /\b(lit|light(?:s|ing|ed)?|lamps?|sun(?:light|lit|shine)?|glow\w*|flash|softbox|key|rim)\b/i;

/** Matches of `re` outside clauses that are about light ("window light on the left" is the lamp's place). */
function placementHits(prompt: string, re: RegExp): RegExpMatchArray[] {
  const out: RegExpMatchArray[] = [];
  for (const clause of prompt.split(/[,.;!?](?=\s|$)/)) {
    if (LIGHTISH.test(clause)) continue;
    for (const m of clause.matchAll(re)) if (!negated(clause, m.index!)) out.push(m);
  }
  return out;
}

export function readPlacement(prompt: string): PlacementReading {
  const side = (s: 'left' | 'right') =>
    new RegExp(
      `\\b(?:on|in|at|to(?:wards)?)\\s+the\\s+${s}(?:\\s+(?:third|side|edge|of\\s+(?:the\\s+)?frame))?\\b|\\b${s}\\s+third\\b|\\bframe[- ]${s}\\b|\\b${s}\\s+of\\s+(?:the\\s+)?frame\\b|\\b${s}[- ]aligned\\b`,
      'gi',
    );
  const horizonNear = (m: RegExpMatchArray) => /\bhorizon\b[^,.;]*$/i.test((m.input ?? '').slice(0, m.index));
  const left = placementHits(prompt, side('left')).filter((m) => !horizonNear(m));
  const right = placementHits(prompt, side('right')).filter((m) => !horizonNear(m));
  const centre = placementHits(
    prompt,
    /(?<!off-)\bcent(?:er|re)d\b|\bin\s+the\s+(?:cent(?:er|re)|middle)\b|\bcent(?:er|re)\s+(?:of\s+(?:the\s+)?)?frame\b|\bsymmetric(?:al|ally)?\b|\bsymmetry\b|\bone-point perspective\b|\bdead[- ]cent(?:er|re)\b|\bcentral composition\b/gi,
  );
  const thirds = /\brule of thirds\b|\boff[- ]cent(?:er|re)d?\b|\bspace (?:in the direction of|ahead of)\b|\bnegative space\b|\bthirds\b/i.test(prompt);
  let horizontal: PlacementReading['horizontal'] = null;
  if (left.length && !right.length) horizontal = 'left third';
  else if (right.length && !left.length) horizontal = 'right third';
  else if (left.length && right.length) horizontal = left[0]!.index! <= right[0]!.index! ? 'left third' : 'right third';
  else if (centre.length) horizontal = 'centre';
  else if (thirds) horizontal = 'thirds';

  const isHorizon = (m: RegExpMatchArray) => horizonNear(m);
  const lowV = placementHits(prompt, /\blow in the frame\b|\b(?:bottom|lower)\s+(?:of the frame|third|edge)\b|\bat the bottom\b/gi).filter((m) => !isHorizon(m));
  const highV = placementHits(prompt, /\bhigh in the frame\b|\b(?:top|upper)\s+(?:of the frame|third|edge)\b|\bat the top\b/gi).filter((m) => !isHorizon(m));
  const vertical: Vertical | null = lowV.length && !highV.length ? 'low' : highV.length && !lowV.length ? 'high' : null;

  const foreground = /\b(?:in|into)\s+the\s+(?:immediate\s+)?foreground\b|\bforeground\s+(?:subject|figure|object|element)\b|\bclose to (?:the )?(?:camera|lens)\b/i.test(prompt);

  const horizon = /\bhorizon\s+(?:on|in|at|along)\s+the\s+(?:lower|bottom)\s+third\b|\blow horizon\b|\bhorizon (?:sits |placed )?low\b/i.test(prompt)
    ? 'low'
    : /\bhorizon\s+(?:on|in|at|along)\s+the\s+(?:upper|top)\s+third\b|\bhigh horizon\b|\bhorizon (?:sits |placed )?high\b/i.test(prompt)
      ? 'high'
      : null;
  return { horizontal, vertical, foreground, horizon };
}
