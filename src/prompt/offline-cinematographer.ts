import type { CreativeAgent } from './loop.js';
import type { CostLedger } from '../runs/ledger.js';
import { coverage, stripStuffing, words, type Coverage } from './slots.js';
import type { Brand, Critique } from './types.js';
import {
  ANIMAL_WORDS, APERTURES, ASPECTS, ATMOSPHERES, CAMERAS, COMPOSITIONS, FILM_LOOKS, FOOD_WORDS, GRADES, INTERIOR_PLACES,
  LANDSCAPE_WORDS, LENSES, LIGHT_PRESETS, MOOD_CUES, MOODS, PERSON_WORDS, PLACE_WORDS, PRODUCT_WORDS, VEHICLE_WORDS,
  phraseRe, type LightPreset, type SubjectKind,
} from './vocabulary.js';

/**
 * The offline Cinematographer: rewrites a prompt into scene order (who/what → action →
 * where/when → style) and adds the cues a director of photography would give, chosen from the
 * controlled vocabulary by the prompt's content and a seed. No model, no network; the same
 * (prompt, seed, critique) always gives the same text.
 *
 * It never drops a content word of the user's prompt: the user's sentence leads, unchanged apart
 * from quality-booster tags ("8k, masterpiece"), which are not content.
 */

/** FNV-1a, then mulberry32-style mixing: a stable pick per (content, seed, slot); the offline director picks with it too. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const KIND_LISTS: Array<[SubjectKind, string[]]> = [
  ['person', PERSON_WORDS],
  ['animal', ANIMAL_WORDS],
  ['food', FOOD_WORDS],
  ['product', PRODUCT_WORDS],
  ['vehicle', VEHICLE_WORDS],
  ['interior', [...INTERIOR_PLACES]],
  ['landscape', LANDSCAPE_WORDS],
];

/** The subject's kind: the earliest word that names one ("train station": the place wins over "train"). */
export function primaryKind(text: string): SubjectKind {
  const ws = words(text);
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    const next = ws[i + 1];
    for (const [kind, list] of KIND_LISTS) {
      if (!list.includes(w)) continue;
      if (next && PLACE_WORDS.includes(next) && (kind === 'vehicle' || kind === 'product')) break; // a modifier
      return kind;
    }
  }
  return 'product';
}

const SHOTS: Record<SubjectKind, string[]> = {
  person: ['medium-wide shot', 'medium shot', 'full shot'],
  animal: ['medium close-up', 'close-up'],
  product: ['close-up', 'tabletop shot'],
  food: ['close-up', 'macro close-up'],
  landscape: ['wide shot', 'extreme wide shot', 'aerial shot'],
  interior: ['wide shot', 'medium-wide shot'],
  vehicle: ['wide shot', 'medium-wide shot'],
};
const ANGLE_CHOICES: Record<SubjectKind, string[]> = {
  person: ['an eye-level angle', 'a low angle', 'a three-quarter angle'],
  animal: ['an eye-level angle', 'a low angle'],
  product: ['a three-quarter angle', 'an eye-level angle', 'a high angle'],
  food: ['a high angle', 'a three-quarter angle'],
  landscape: ['a high angle', 'an eye-level angle'],
  interior: ['an eye-level angle', 'a low angle'],
  vehicle: ['a low angle', 'a three-quarter angle'],
};
const TIME_PHRASE: Record<string, string> = {
  dawn: 'in the early morning',
  midday: 'at midday',
  afternoon: 'in the late afternoon',
  dusk: 'at dusk',
  night: 'at night',
};
const TEXTURE: Record<SubjectKind, string> = {
  person: 'natural skin texture and fabric detail',
  animal: 'fine detail in fur and whiskers',
  product: 'crisp surface texture and material detail',
  food: 'glistening surface texture and fine detail',
  landscape: 'fine texture in rock, water and foliage',
  interior: 'tactile texture in wood, paper and fabric',
  vehicle: 'crisp surface texture on paint, glass and metal',
};
const SETTING_FOR: Record<SubjectKind, string[]> = {
  person: ['against a softly blurred backdrop'],
  animal: ['against a softly blurred backdrop'],
  product: ['on a seamless matte backdrop', 'on a polished stone surface'],
  food: ['on a marble countertop', 'on a linen-covered tabletop'],
  landscape: ['under an open sky'],
  interior: ['inside a lived-in room'],
  vehicle: ['on an open road'],
};

export type Refinement = 'depth_of_field' | 'atmosphere' | 'texture';

export interface ShotPlan {
  kind: SubjectKind;
  base: string;
  addTime: string | null;
  addSetting: string | null;
  shot: string | null;
  angle: string | null;
  camera: string | null;
  lens: string | null;
  aperture: string;
  light: LightPreset;
  composition: string;
  film: string;
  grade: string;
  moods: string[];
  aspect: string;
}

const art = (s: string) => (/^[aeiou]/i.test(s) ? `an ${s}` : `a ${s}`);
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const listJoin = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** Everything chosen for a prompt, from its content, the seed and the brand. Pure. */
export function planShot(original: string, seed: number, brand?: Brand | null, aspectRatio?: string): ShotPlan {
  const base = stripStuffing(original).replace(/\s+/g, ' ').replace(/[.!;,\s]+$/, '');
  const cov: Coverage = coverage(base);
  const kind = primaryKind(base);
  const key = `${words(base).join(' ')}#${seed}`;
  const pick = <T>(slot: string, xs: readonly T[]): T => xs[hash(`${key}:${slot}`) % xs.length]!;
  const avoid = (brand?.avoid ?? []).map((t) => phraseRe(t));
  const allowed = (s: string) => !avoid.some((re) => re.test(s));

  const exterior = !cov.interior && !['product', 'food'].includes(kind);
  const storm = /\b(thunderstorm|storm|lightning)\b/i.test(base);
  const timeGroup = cov.timeGroup ?? pick('time', exterior ? ['dawn', 'afternoon', 'dusk'] : ['dawn', 'afternoon']);
  let lights = LIGHT_PRESETS.filter(
    (p) => (p.time === timeGroup || (p.time === 'any' && !cov.timeGroup)) && (p.where === 'any' || p.where === (exterior ? 'exterior' : 'interior')),
  );
  if (storm) lights = LIGHT_PRESETS.filter((p) => p.id === 'storm');
  if (!cov.timeGroup && !storm) lights = lights.filter((p) => p.time !== 'any' || ['product', 'food'].includes(kind));
  lights = lights.filter((p) => allowed(`${p.source} ${p.direction} ${p.quality}`));
  if (!lights.length) lights = LIGHT_PRESETS.filter((p) => p.id === (exterior ? 'overcast' : 'window'));
  const light = pick('light', lights);

  const shot = cov.slots.has('shot_size') ? null : pick('shot', SHOTS[kind]);
  const group = shot && /close|tabletop/.test(shot) ? 'close' : shot && /wide|aerial/.test(shot) ? 'wide' : 'medium';
  const lensKind = group === 'close' ? (['product', 'food'].includes(kind) ? 'macro' : 'portrait') : group === 'wide' ? 'wide' : 'normal';
  const apertures = group === 'close' ? APERTURES.slice(2, 4) : group === 'wide' ? APERTURES.slice(4) : APERTURES.slice(0, 3);
  const night = timeGroup === 'night' || light.kelvin <= 3000;
  const films = night ? ['Kodak Vision3 500T', 'Cinestill 800T'] : FILM_LOOKS.filter((f) => !['Kodak Vision3 500T', 'Cinestill 800T'].includes(f));
  const grades = storm ? ['a rich, high-contrast grade'] : brand?.tone.some((t) => /warm/i.test(t)) ? [GRADES[0]!] : GRADES;

  let moods: string[];
  if (brand?.tone.length) moods = brand.tone;
  else {
    const cue = MOOD_CUES.find(([re]) => re.test(base));
    moods = cue ? cue[1] : [pick('mood1', MOODS), pick('mood2', MOODS)].filter((m, i, a) => a.indexOf(m) === i);
  }

  return {
    kind,
    base,
    addTime: cov.slots.has('time') ? null : (TIME_PHRASE[timeGroup] ?? null),
    addSetting: cov.slots.has('setting') ? null : pick('setting', SETTING_FOR[kind]),
    shot,
    // an aerial shot looks down; anything else would contradict it
    angle: cov.slots.has('angle') ? null : shot === 'aerial shot' ? 'a high angle' : pick('angle', ANGLE_CHOICES[kind]),
    camera: cov.slots.has('camera') ? null : pick('camera', ['product', 'food'].includes(kind) ? CAMERAS.stills : CAMERAS.cinema),
    lens: cov.slots.has('lens') ? null : pick('lens', LENSES[lensKind]),
    aperture: pick('aperture', apertures),
    light,
    composition: pick('composition', COMPOSITIONS[kind]),
    film: pick('film', films),
    grade: pick('grade', grades.filter(allowed).length ? grades.filter(allowed) : GRADES),
    moods,
    // the image stage's own aspect ratio when the run has one, so the hint never contradicts it
    aspect: aspectRatio ?? pick('aspect', ASPECTS[kind]),
  };
}

function kelvinWord(k: number): string {
  return k <= 3600 ? 'warm' : k >= 6000 ? 'cool' : 'neutral';
}

/** Write the plan out as natural sentences, in scene order. */
export function renderPrompt(plan: ShotPlan, refinements: ReadonlySet<Refinement>, brand?: Brand | null): string {
  const s: string[] = [];
  let lead = plan.base;
  if (plan.addSetting) lead += ` ${plan.addSetting}`;
  if (plan.addTime) lead += `, ${plan.addTime}`;
  s.push(cap(lead) + '.');

  const framing: string[] = [];
  if (plan.shot) framing.push(cap(art(plan.shot)));
  if (plan.angle) framing.push(`${plan.shot ? 'from' : 'Seen from'} ${plan.angle}`);
  s.push(framing.length ? `${framing.join(' ')}, ${plan.composition}.` : `${cap(plan.composition)}.`);

  const dof = refinements.has('depth_of_field')
    ? /close|tabletop/.test(plan.shot ?? '')
      ? ', for a shallow depth of field that melts the background into soft bokeh'
      : /wide|aerial/.test(plan.shot ?? '')
        ? `, for deep focus from foreground to ${plan.kind === 'landscape' ? 'horizon' : 'background'}`
        : ', with a shallow depth of field separating the subject from the background'
    : '';
  if (plan.camera || plan.lens) {
    const kit = [plan.camera ? `on ${art(plan.camera)}` : null, plan.lens ? `with ${art(plan.lens)}` : null].filter(Boolean).join(' ');
    s.push(`Shot ${kit} at ${plan.aperture}${dof}.`);
  } else s.push(`Shot at ${plan.aperture}${dof}.`);

  const l = plan.light;
  const atmosphere = refinements.has('atmosphere') ? `, with ${pickAtmosphere(plan)}` : '';
  s.push(`Lit by ${l.quality} ${l.source} ${l.direction}, ${kelvinWord(l.kelvin)} at about ${l.kelvin}K${atmosphere}.`);

  const urban = /\b(city|skyline|street|station|building|rooftop)\b/i.test(plan.base);
  const texture = refinements.has('texture') ? `, resolving ${urban ? 'crisp architectural detail and texture' : TEXTURE[plan.kind]}` : '';
  s.push(`${plan.film} film look with ${plan.grade}${texture}.`);

  let mood = `The mood is ${listJoin(plan.moods)}`;
  if (brand?.palette.length) mood += `, in a palette of ${listJoin(brand.palette)}`;
  if (brand?.must_include.length) mood += `, with ${listJoin(brand.must_include)} in frame`;
  s.push(mood + '.');
  s.push(`Framed for a ${plan.aspect} aspect ratio.`);
  return s.join(' ');
}

function pickAtmosphere(plan: ShotPlan): string {
  // dew and distant mist belong outdoors; indoors the light needs something in the air to catch
  const t = plan.light.where === 'interior' || ['product', 'food', 'interior'].includes(plan.kind) ? 'any' : plan.light.time;
  const xs: string[] = ATMOSPHERES[t] ?? ATMOSPHERES.any ?? [];
  return xs[hash(`${plan.base}:${plan.light.id}`) % xs.length]!;
}

export interface CinematographerInput {
  original: string;
  previous: string | null;
  critique: Critique | null;
  seed?: number;
  brand?: Brand | null;
  /** Target aspect ratio of the images (e.g. "16:9"); otherwise one is chosen for the subject. */
  aspectRatio?: string;
}

export interface CinematographerOutput {
  prompt: string;
  /** What changed and why, for the trace. */
  notes: string[];
}

/**
 * One round: plan from the user's prompt, keep refinements the previous round already had, add
 * those the critic asked for (refine:*), and trim when it said too_long.
 */
export function cinematograph(input: CinematographerInput): CinematographerOutput {
  const plan = planShot(input.original, input.seed ?? 0, input.brand, input.aspectRatio);
  const flags = input.critique?.flags ?? [];
  const prev = input.previous ? coverage(input.previous).refinements : new Set<string>();
  const refinements = new Set<Refinement>();
  const notes: string[] = [];
  for (const r of ['depth_of_field', 'atmosphere', 'texture'] as const) {
    if (prev.has(r)) refinements.add(r);
    else if (flags.includes(`refine:${r}`)) {
      refinements.add(r);
      notes.push(`added ${r.replace(/_/g, ' ')} (critic: refine:${r})`);
    }
  }
  if (flags.includes('too_long')) {
    for (const r of ['texture', 'atmosphere'] as const)
      if (refinements.delete(r)) notes.push(`dropped ${r} (critic: too_long)`);
  }
  if (!input.previous || !input.critique) {
    const added = [
      plan.addTime && 'time of day',
      plan.addSetting && 'setting',
      plan.shot && 'shot size',
      plan.angle && 'angle',
      plan.camera && 'camera',
      plan.lens && 'lens',
      'lighting (source, direction, quality, colour temperature)',
      'composition',
      'film look and grade',
      'mood',
      'aspect ratio',
      input.brand && 'brand palette, tone and must-include elements',
    ].filter(Boolean);
    notes.unshift(`rewrote in scene order; added ${added.join(', ')}`);
  }
  // The user's own words are kept even when the critic objects to them; say so rather than pretend.
  for (const f of flags)
    if (/^(brand_avoid|vague|contradiction):/.test(f)) notes.push(`${f}: from the user's own words, kept`);
  const prompt = renderPrompt(plan, refinements, input.brand);
  if (input.previous && prompt === input.previous) notes.push('nothing left to fix from the critique');
  return { prompt, notes };
}

export const OFFLINE_CREATIVE_MODEL = 'offline-cinematographer';

/** The rule-based cinematographer as a CreativeAgent for the loop (offline backend). */
export function createOfflineCinematographer(opts: { seed?: number; brand?: Brand | null; aspectRatio?: string; ledger?: CostLedger; stage?: string } = {}): CreativeAgent<Critique> {
  return {
    name: OFFLINE_CREATIVE_MODEL,
    async create(input) {
      opts.ledger?.record({ stage: opts.stage ?? 'image_prompt', provider: 'offline', model: OFFLINE_CREATIVE_MODEL, kind: 'none', cost_usd: 0, note: 'rule-based, no LLM' });
      const r = cinematograph({ original: input.original, previous: input.previous, critique: input.critique, seed: opts.seed, brand: opts.brand, aspectRatio: opts.aspectRatio });
      return { output: r.prompt, notes: r.notes, model: OFFLINE_CREATIVE_MODEL, usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 };
    },
  };
}
