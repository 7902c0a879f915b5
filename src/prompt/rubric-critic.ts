import type { CriticAgent } from './loop.js';
import type { CostLedger } from '../runs/ledger.js';
import { contentWords, contradictions, coverage, findStuffing, findVague, words, type Slot } from './slots.js';
import { withOverall, type Brand, type Critique } from './types.js';
import { phraseRe } from './vocabulary.js';

/**
 * The offline Prompt Engineer: scores a prompt on the five dimensions by rules and says what to
 * fix, in the same JSON shape the LLM critic returns. Deterministic; no model, no network.
 */
const SCENE: Array<[Slot, number]> = [
  ['subject', 25],
  ['action', 10],
  ['setting', 15],
  ['time', 10],
];
const STYLE: Array<[Slot, number]> = [
  ['shot_size', 6],
  ['camera', 5],
  ['lens', 5],
  ['light_source', 6],
  ['composition', 5],
  ['film_grade', 5],
  ['mood', 5],
  ['aspect', 3],
];
const CINE: Array<[Slot, number]> = [
  ['shot_size', 14],
  ['angle', 8],
  ['camera', 8],
  ['lens', 12],
  ['light_source', 10],
  ['light_direction', 10],
  ['light_quality', 8],
  ['colour_temperature', 8],
  ['composition', 12],
  ['film_grade', 10],
];

const ADVICE: Record<Slot, string> = {
  subject: 'Name the subject plainly: who or what the image is about.',
  action: 'Say what the subject is doing, or how it is placed.',
  setting: 'Place the scene: where it happens.',
  time: 'Give the time of day or weather; it drives the light.',
  shot_size: 'Add a shot size (close-up, medium shot, wide shot).',
  angle: 'Add a camera angle (eye level, low angle, overhead).',
  camera: 'Name a camera body (e.g. ARRI Alexa Mini LF, Canon EOS R5).',
  lens: 'Name a lens with a focal length (e.g. 35mm, 85mm portrait lens).',
  light_source: 'Name the light source (window light, golden-hour sun, practicals).',
  light_direction: 'Say where the light comes from (from camera left, backlit, rim light).',
  light_quality: 'Describe the light quality (soft, diffused, hard, low-key).',
  colour_temperature: 'Give a colour temperature (e.g. warm 3200K, 5600K daylight).',
  composition: 'Describe the composition (rule of thirds, leading lines, negative space).',
  film_grade: 'Reference a film stock or colour grade (e.g. Kodak Portra 400, warm filmic grade).',
  mood: 'State the mood or atmosphere in a word or two.',
  aspect: 'Give an aspect-ratio hint (16:9 widescreen, 4:5 vertical).',
};
const REFINE_ADVICE = {
  aperture: 'Give an aperture (e.g. f/2.8) so depth of field is deliberate.',
  depth_of_field: 'Describe the depth of field (shallow focus, soft background).',
  atmosphere: 'Add one atmospheric detail (haze, mist, dust motes) for depth.',
  texture: 'Call out one texture or material detail the lens should resolve.',
} as const;

export const LENGTH_BAND = { min: 35, max: 130 } as const;

const clamp = (n: number) => Math.max(0, Math.min(100, n));
const sum = (xs: Array<[Slot, number]>, has: (s: Slot) => boolean) => xs.reduce((a, [s, w]) => a + (has(s) ? w : 0), 0);
const total = (xs: Array<[Slot, number]>) => xs.reduce((a, [, w]) => a + w, 0);

export function brandAlignment(text: string, brand: Brand): { score: number; feedback: string[]; flags: string[] } {
  const feedback: string[] = [];
  const flags: string[] = [];
  const present = (t: string) => phraseRe(t).test(text);
  const frac = (xs: string[]) => (xs.length ? xs.filter(present).length / xs.length : 1);
  let score = 30 + 25 * frac(brand.palette) + 20 * frac(brand.tone) + 25 * frac(brand.must_include);
  for (const t of brand.palette.filter((x) => !present(x))) flags.push(`brand_missing:${t}`);
  for (const t of brand.tone.filter((x) => !present(x))) flags.push(`brand_missing:${t}`);
  for (const t of brand.must_include.filter((x) => !present(x))) flags.push(`brand_missing:${t}`);
  if (flags.length) feedback.push(`Bring in the brand: ${flags.map((f) => f.slice('brand_missing:'.length)).join(', ')}.`);
  const avoided = brand.avoid.filter(present);
  for (const t of avoided) flags.push(`brand_avoid:${t}`);
  if (avoided.length) feedback.push(`Remove what the brand avoids: ${avoided.join(', ')}.`);
  score -= 30 * avoided.length;
  return { score: clamp(score), feedback, flags };
}

export interface RubricOptions {
  brand?: Brand | null;
}

export function rubricCritique(prompt: string, opts: RubricOptions = {}): Critique {
  const cov = coverage(prompt);
  const has = (s: Slot) => cov.slots.has(s);
  const feedback: string[] = [];
  const flags: string[] = [];
  const stuffing = findStuffing(prompt);
  const vague = findVague(prompt);
  const contra = contradictions(prompt);
  const n = cov.wordCount;
  const content = contentWords(prompt);

  // completeness: the scene (who/what, action, where, when) and each family of style cues present
  let completeness = 100 * (0.65 * (sum(SCENE, has) / total(SCENE)) + 0.35 * (sum(STYLE, has) / total(STYLE)));
  completeness -= 15 * contra.length;

  // cinematography: every cue a director of photography would specify
  const cinematography = (100 * sum(CINE, has)) / total(CINE);

  // specificity: concrete, checkable detail; vague praise and quality tags count against it
  let specificity = 20 + Math.min(15, 2.5 * new Set(content).size);
  if (/\b\d{2,3}(-\d{2,3})?\s?mm\b/i.test(prompt)) specificity += 10;
  if (cov.refinements.has('aperture')) specificity += 8;
  if (/\b\d{4}\s?K\b/.test(prompt)) specificity += 8;
  if (has('camera')) specificity += 6;
  if (/\b(kodak|portra|ektar|vision3|fujifilm|cinestill|ilford|velvia)\b/i.test(prompt)) specificity += 6;
  if (has('light_direction')) specificity += 5;
  if (cov.refinements.has('depth_of_field')) specificity += 6;
  if (cov.refinements.has('atmosphere')) specificity += 6;
  if (cov.refinements.has('texture')) specificity += 6;
  specificity -= 6 * vague.length + 8 * stuffing.length;

  // professionalism: natural sentences in a sane length band, no tag lists, no stuffing
  let professionalism = 100;
  if (n < 8) professionalism -= 45;
  else if (n < 20) professionalism -= 25;
  else if (n < LENGTH_BAND.min) professionalism -= 10;
  if (n > LENGTH_BAND.max) professionalism -= Math.min(40, Math.ceil((n - LENGTH_BAND.max) / 2));
  professionalism -= 15 * stuffing.length + 5 * vague.length + 15 * contra.length;
  const segments = prompt.split(/,/).map((s) => s.trim()).filter(Boolean);
  const shortSegs = segments.filter((s) => words(s).length <= 3).length;
  const tagList = segments.length >= 5 && shortSegs / segments.length > 0.6;
  if (tagList) professionalism -= 25;
  if (n >= 25 && cov.sentences === 0) professionalism -= 10;
  const counts = new Map<string, number>();
  for (const w of content) counts.set(w, (counts.get(w) ?? 0) + 1);
  const repeated = [...counts].filter(([, c]) => c > 3).map(([w]) => w);
  professionalism -= 5 * repeated.length;

  // feedback and flags, most important first
  for (const [s] of [...SCENE, ...CINE, ['mood', 0] as [Slot, number], ['aspect', 0] as [Slot, number]])
    if (!has(s) && !flags.includes(`missing:${s}`)) {
      flags.push(`missing:${s}`);
      feedback.push(ADVICE[s]);
    }
  for (const r of ['aperture', 'depth_of_field', 'atmosphere', 'texture'] as const)
    if (!cov.refinements.has(r)) {
      flags.push(`refine:${r}`);
      feedback.push(REFINE_ADVICE[r]);
    }
  for (const t of stuffing) flags.push(`stuffing:${t}`);
  if (stuffing.length) feedback.push(`Drop quality-booster tags (${stuffing.join(', ')}); describe what makes it look good instead.`);
  for (const v of vague) flags.push(`vague:${v}`);
  if (vague.length) feedback.push(`Replace vague praise (${vague.join(', ')}) with concrete visual detail.`);
  for (const c of contra) {
    flags.push(`contradiction:${c.group}`);
    feedback.push(`Contradiction: ${c.detail}; keep one.`);
  }
  if (tagList) {
    flags.push('tag_list');
    feedback.push('Write natural sentences in scene order, not a comma-separated tag list.');
  }
  if (n < LENGTH_BAND.min) {
    flags.push('too_short');
    feedback.push(`At ${n} words the prompt leaves most choices to chance; aim for ${LENGTH_BAND.min}–${LENGTH_BAND.max}.`);
  } else if (n > LENGTH_BAND.max) {
    flags.push('too_long');
    feedback.push(`At ${n} words the prompt dilutes its main idea; aim for at most ${LENGTH_BAND.max}.`);
  }

  let brand: number | null = null;
  if (opts.brand) {
    const b = brandAlignment(prompt, opts.brand);
    brand = b.score;
    flags.push(...b.flags);
    feedback.push(...b.feedback);
  }
  if (!feedback.length) feedback.push('Complete and specific; no changes needed.');

  return {
    scores: withOverall({
      completeness: clamp(completeness),
      specificity: clamp(specificity),
      professionalism: clamp(professionalism),
      cinematography: clamp(cinematography),
      brand_alignment: brand,
    }),
    feedback,
    flags,
  };
}

/** The rubric as a CriticAgent for the loop (offline backend). */
export function createRubricCritic(opts: RubricOptions & { ledger?: CostLedger; stage?: string } = {}): CriticAgent<Critique> {
  return {
    name: OFFLINE_CRITIC_MODEL,
    async critique({ prompt }) {
      opts.ledger?.record({ stage: opts.stage ?? 'image_prompt', provider: 'offline', model: OFFLINE_CRITIC_MODEL, kind: 'none', cost_usd: 0, note: 'rule-based, no LLM' });
      return { output: rubricCritique(prompt, opts), model: OFFLINE_CRITIC_MODEL, usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 };
    },
  };
}
export const OFFLINE_CRITIC_MODEL = 'offline-rubric-critic';
