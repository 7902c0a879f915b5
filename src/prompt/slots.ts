import {
  ANGLES, ANIMAL_WORDS, APERTURE_PATTERN, ASPECT_PATTERN, ATMOSPHERE_PATTERN, CAMERA_PATTERN, COLOUR_TEMP_WORDS,
  COMPOSITION_PATTERN, DOF_PATTERN, FILM_PATTERN, FOOD_WORDS, INTERIOR_PLACES, LANDSCAPE_WORDS, LENS_PATTERN,
  LIGHT_DIRECTION_PATTERN, LIGHT_QUALITY_PATTERN, LIGHT_SOURCE_PATTERN, MOOD_PATTERN, PERSON_WORDS, PLACE_WORDS,
  PRODUCT_WORDS, SHOT_GROUPS, SHOT_SIZES, STUFFING_TERMS, TEXTURE_PATTERN, TIME_EXTRA, TIME_GROUPS, VAGUE_WORDS,
  VEHICLE_WORDS, phraseRe, type SubjectKind,
} from './vocabulary.js';

/**
 * What a prompt covers, by rules. Shared by the rubric critic (to score) and the offline
 * cinematographer (to know what the user already said), so they read a prompt the same way.
 */
export const STOPWORDS = new Set(
  ('a an the of on in at with and or to into onto over under from for by as is are was were be been its it this that these those ' +
    'their his her our your my there here while during near along through across around inside outside behind above below ' +
    'up down out off about against between within without amid among than then so very just some any each every no not').split(' '),
);

/** Lower-case words (letters, digits, hyphen, apostrophe). */
export function words(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu) ?? []).map((w) => w.replace(/['’]s$/, ''));
}

/** The words that carry the user's meaning: not stopwords, not quality-booster tags. */
export function contentWords(text: string): string[] {
  const stuffing = new Set(STUFFING_TERMS.filter((t) => !t.includes(' ')));
  return words(stripStuffing(text)).filter((w) => !STOPWORDS.has(w) && !stuffing.has(w));
}

const longestFirst = (phrases: readonly string[]) => [...phrases].sort((a, b) => b.length - a.length);
// sorted once: these run for every prompt the rubric and the cinematographer read
const STUFFING_LONGEST = longestFirst(STUFFING_TERMS);
const SHOT_SIZES_LONGEST = longestFirst(SHOT_SIZES);

/**
 * Phrases found in `text`, longest first, each match consumed so a longer phrase is one hit
 * ("trending on artstation", "extreme close-up"), not also the shorter phrases inside it.
 */
function takeLongestFirst(text: string, sortedPhrases: readonly string[]): string[] {
  const found: string[] = [];
  let rest = text;
  for (const p of sortedPhrases) {
    const re = phraseRe(p, 'gi');
    if (re.test(rest)) {
      found.push(p);
      rest = rest.replace(re, ' ');
    }
  }
  return found;
}

export function findStuffing(text: string): string[] {
  return takeLongestFirst(text, STUFFING_LONGEST);
}

/** Remove quality-booster tags and tidy the punctuation they leave behind. */
export function stripStuffing(text: string): string {
  let out = text;
  for (const t of STUFFING_LONGEST) out = out.replace(phraseRe(t, 'gi'), ' ');
  return out
    .replace(/\s*,(\s*,)+/g, ',')
    .replace(/\s+([,.;:])/g, '$1')
    .replace(/^[\s,;:.]+|[\s,;:]+$/g, '')
    .replace(/\s{2,}/g, ' ')
    .trim();
}

export function findVague(text: string): string[] {
  const ws = new Set(words(text));
  return VAGUE_WORDS.filter((v) => ws.has(v));
}

function matchesAny(text: string, phrases: readonly string[]): string[] {
  return phrases.filter((p) => phraseRe(p).test(text));
}

export function timeGroups(text: string): string[] {
  return Object.entries(TIME_GROUPS)
    .filter(([, ps]) => matchesAny(text, ps).length > 0)
    .map(([g]) => g);
}

export function shotSizes(text: string): string[] {
  return takeLongestFirst(text, SHOT_SIZES_LONGEST);
}

export function shotGroups(text: string): string[] {
  const sizes = shotSizes(text);
  return Object.entries(SHOT_GROUPS)
    .filter(([, ss]) => ss.some((s) => sizes.includes(s)))
    .map(([g]) => g);
}

export interface Contradiction {
  group: string;
  detail: string;
}

/** Mutually exclusive cues in one prompt: two times of day, two shot scales, soft and harsh light. */
export function contradictions(text: string): Contradiction[] {
  const out: Contradiction[] = [];
  const tg = timeGroups(text);
  // dawn+night is a contradiction; dusk+night is a plausible blue-hour transition, so allow neighbours
  const order = ['dawn', 'midday', 'afternoon', 'dusk', 'night'];
  for (let i = 0; i < tg.length; i++)
    for (let j = i + 1; j < tg.length; j++)
      if (Math.abs(order.indexOf(tg[i]!) - order.indexOf(tg[j]!)) > 1)
        out.push({ group: 'time_of_day', detail: `${tg[i]} and ${tg[j]}` });
  const sg = shotGroups(text);
  if (sg.includes('close') && sg.includes('wide')) out.push({ group: 'shot_size', detail: 'close-up and wide shot' });
  if (/\b(aerial|bird's-eye|overhead) (shot|view)\b/i.test(text) && /\b(eye-level|worm's-eye|low angle)\b/i.test(text))
    out.push({ group: 'angle', detail: 'aerial view and eye-level or low angle' });
  if (/\b(soft|diffused)\s+(\w+\s+)?light/i.test(text) && /\b(harsh|hard)\s+(\w+\s+)?(light|flash|sun)/i.test(text))
    out.push({ group: 'light_quality', detail: 'soft and harsh light' });
  if (/\b(black and white|black-and-white|monochrome)\b/i.test(text) && /\b(vibrant colou?rs?|colou?rful|teal-and-orange)\b/i.test(text))
    out.push({ group: 'colour', detail: 'monochrome and colourful' });
  return out;
}

const ING_NOUNS = new Set([
  'morning', 'evening', 'lighting', 'ceiling', 'building', 'painting', 'clothing', 'king', 'ring', 'spring', 'thing',
  'nothing', 'something', 'string', 'wedding', 'sibling', 'everything', 'anything', 'ping', 'wing', 'swing', 'sing',
  'framing', 'setting', 'awning', 'railing', 'stuffing', 'trending', 'ending', 'opening', 'pudding', 'dumpling', 'bring',
  'during', 'offering', 'landing', 'parking', 'sibling', 'duckling', 'seedling', 'grading', 'backlighting',
]);
const ACTION_VERBS = /\b(sits?|stands?|rests?|lies|lying|walks?|runs?|jumps?|holds?|leans?|looks?|waits?|floats?|hangs?|pours?|perches?|glows?|sleeps?|plays?|reads?|dances?|smiles?)\b/i;
const PLACEMENT = /\b(on|atop|against|inside|beside|next to|in front of|resting on|placed on|set on)\s+(a|an|the|black|white|dark|wooden|marble|\w+)\b/i;

export type Slot =
  | 'subject' | 'action' | 'setting' | 'time' | 'shot_size' | 'angle' | 'camera' | 'lens' | 'light_source'
  | 'light_direction' | 'light_quality' | 'colour_temperature' | 'composition' | 'film_grade' | 'mood' | 'aspect';

export interface Coverage {
  slots: Set<Slot>;
  /** Refinements that raise specificity: aperture, depth of field, atmosphere, texture. */
  refinements: Set<'aperture' | 'depth_of_field' | 'atmosphere' | 'texture'>;
  kinds: SubjectKind[];
  interior: boolean;
  timeGroup: string | null;
  wordCount: number;
  sentences: number;
}

export function subjectKinds(text: string): SubjectKind[] {
  const ws = new Set(words(text));
  const has = (list: string[]) => list.some((w) => ws.has(w));
  const kinds: SubjectKind[] = [];
  if (has(PERSON_WORDS)) kinds.push('person');
  if (has(ANIMAL_WORDS)) kinds.push('animal');
  if (has(FOOD_WORDS)) kinds.push('food');
  if (has(PRODUCT_WORDS)) kinds.push('product');
  if (has(VEHICLE_WORDS)) kinds.push('vehicle');
  if ([...ws].some((w) => INTERIOR_PLACES.has(w)) && !has(['windowsill'])) kinds.push('interior');
  if (has(LANDSCAPE_WORDS)) kinds.push('landscape');
  return kinds;
}

export function coverage(text: string): Coverage {
  const ws = words(text);
  const content = contentWords(text);
  const slots = new Set<Slot>();
  if (content.length > 0) slots.add('subject');
  if (ws.some((w) => w.endsWith('ing') && w.length > 4 && !ING_NOUNS.has(w)) || ACTION_VERBS.test(text) || PLACEMENT.test(text)) slots.add('action');
  if (ws.some((w) => PLACE_WORDS.includes(w))) slots.add('setting');
  const tg = timeGroups(text);
  if (tg.length || matchesAny(text, TIME_EXTRA).length) slots.add('time');
  if (shotSizes(text).length) slots.add('shot_size');
  if (matchesAny(text, ANGLES).length || /\b(eye[- ]level|low[- ]angle|high[- ]angle|overhead|top-down|bird's-eye)\b/i.test(text)) slots.add('angle');
  if (CAMERA_PATTERN.test(text)) slots.add('camera');
  if (LENS_PATTERN.test(text)) slots.add('lens');
  if (LIGHT_SOURCE_PATTERN.test(text)) slots.add('light_source');
  if (LIGHT_DIRECTION_PATTERN.test(text)) slots.add('light_direction');
  if (LIGHT_QUALITY_PATTERN.test(text) && /\b(light|lighting|lit|glow|sun|shadows?)\b/i.test(text)) slots.add('light_quality');
  if (COLOUR_TEMP_WORDS.test(text)) slots.add('colour_temperature');
  if (COMPOSITION_PATTERN.test(text)) slots.add('composition');
  if (FILM_PATTERN.test(text)) slots.add('film_grade');
  if (MOOD_PATTERN.test(text)) slots.add('mood');
  if (ASPECT_PATTERN.test(text)) slots.add('aspect');
  const refinements: Coverage['refinements'] = new Set();
  if (APERTURE_PATTERN.test(text)) refinements.add('aperture');
  if (DOF_PATTERN.test(text)) refinements.add('depth_of_field');
  if (ATMOSPHERE_PATTERN.test(text)) refinements.add('atmosphere');
  if (TEXTURE_PATTERN.test(text)) refinements.add('texture');
  const kinds = subjectKinds(text);
  return {
    slots,
    refinements,
    kinds,
    interior: ws.some((w) => INTERIOR_PLACES.has(w)),
    timeGroup: tg[0] ?? null,
    wordCount: ws.length,
    sentences: (text.match(/[.!?](\s|$)/g) ?? []).length,
  };
}
