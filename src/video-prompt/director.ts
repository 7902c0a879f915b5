import type { CreativeAgent } from '../prompt/loop.js';
import { hash, primaryKind } from '../prompt/offline-cinematographer.js';
import { stripStuffing, words } from '../prompt/slots.js';
import { ANIMAL_WORDS, FOOD_WORDS, LANDSCAPE_WORDS, PERSON_WORDS, PRODUCT_WORDS, VEHICLE_WORDS, INTERIOR_WORDS, type SubjectKind } from '../prompt/vocabulary.js';
import type { CostLedger } from '../runs/ledger.js';
import { MOVE_DIRECTIONS, SHOT_SIZE_WORDS, SHOT_SIZES, type Move, type Movement, type ShotSize } from '../storyboard/plan.js';
import { beatCount, cameraMoves, countWords, motionVerbs, type Speed } from './critic.js';
import { hasArc, type VideoClipContext, type VideoCritique } from './types.js';

/**
 * The offline Director: rewrites a motion prompt for a video model, by rules. The subject and its
 * action lead (the user's words, or the storyboard clip's description), then one primary camera
 * move with direction, speed, framing and lens (the storyboard's planned move when there is a clip
 * context, else the first move the prompt names, else one chosen for the subject by the seed),
 * the duration, and — with a clip context — the start → end arc in terms of the two frames.
 * When the critic asks, it adds timed beats, what stays constant (continuity) and physics.
 * No model, no network: the same (prompt, seed, clip, critique) always gives the same text.
 *
 * Camera moves named in the user's words are not repeated there: they are gathered into the one
 * primary move (a second move is dropped, and the notes say so), since one clip has one move.
 */

export const OFFLINE_DIRECTOR_MODEL = 'offline-director';

export type DirectorRefinement = 'beats' | 'continuity' | 'physics';

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const art = (s: string) => (/^[aeiou]/i.test(s) ? `an ${s}` : `a ${s}`);
const r1 = (n: number) => Math.round(n * 10) / 10;

const DEFAULT_MOVES: Record<SubjectKind, Array<[Move, string]>> = {
  person: [['dolly', 'in'], ['truck', 'left'], ['handheld', 'follow'], ['orbit', 'right']],
  animal: [['truck', 'right'], ['dolly', 'in'], ['pan', 'left']],
  product: [['orbit', 'left'], ['dolly', 'in'], ['pedestal', 'up']],
  food: [['dolly', 'in'], ['orbit', 'right'], ['crane', 'down']],
  landscape: [['pan', 'right'], ['crane', 'up'], ['dolly', 'in']],
  interior: [['dolly', 'in'], ['pan', 'left'], ['truck', 'right']],
  vehicle: [['truck', 'left'], ['pan', 'right'], ['crane', 'up']],
};
const DEFAULT_SIZE: Record<SubjectKind, ShotSize> = { person: 'MS', animal: 'MCU', product: 'CU', food: 'CU', landscape: 'WS', interior: 'WS', vehicle: 'WS' };
const DEFAULT_ACTION: Record<SubjectKind, string[]> = {
  person: ['walks forward at a steady pace', 'turns slowly toward the camera', 'reaches out and lifts it gently'],
  animal: ['pads forward slowly', 'turns its head slowly toward the camera'],
  product: ['turns slowly on its axis', 'rotates slowly through a quarter turn'],
  food: ['sends a thin curl of steam slowly upward', 'glistens as a drop slides slowly down its side'],
  landscape: ['lies under clouds that drift slowly across the sky', 'catches a slow wind that ripples across it'],
  interior: ['fills with dust that drifts slowly through the light', 'sits still as light slides slowly across the floor'],
  vehicle: ['rolls forward steadily', 'pulls away slowly from a standstill'],
};
const MANNERS = ['slowly and deliberately', 'steadily, at an even pace', 'smoothly, in one fluid motion'];
const IDENTITY: Record<SubjectKind, string> = {
  person: 'face, hair, proportions and wardrobe',
  animal: 'markings, fur and proportions',
  product: 'shape, label, colours and finish',
  food: 'shape, colours and garnish',
  landscape: 'layout, landmarks and colours',
  interior: 'layout, furniture and colours',
  vehicle: 'shape, paintwork and proportions',
};
const SECONDARY: Record<SubjectKind, string> = {
  person: 'hair and clothing follow through a beat after each movement',
  animal: 'fur and tail follow through after each stride',
  product: 'reflections slide across its surface as it turns',
  food: 'steam and crumbs respond to the air',
  landscape: 'water, leaves and dust respond to the wind',
  interior: 'dust motes and curtains drift with the air',
  vehicle: 'the suspension compresses and dust kicks up behind the wheels',
};
const GLOSS: Partial<Record<Move, Record<string, string>>> = {
  dolly: { in: 'toward the subject', out: 'away from the subject' },
  pan: { left: 'turning in place', right: 'turning in place' },
  tilt: { up: 'turning in place', down: 'turning in place' },
  truck: { left: 'sideways, parallel to the subject', right: 'sideways, parallel to the subject' },
  pedestal: { up: 'rising straight up', down: 'lowering straight down' },
  crane: { up: 'rising on the arm', down: 'lowering on the arm' },
  orbit: { left: 'circling the subject', right: 'circling the subject' },
};
const ANGLE_WORDS: Record<string, string> = { 'eye level': 'at eye level', 'low angle': 'from a low angle', 'high angle': 'from a high angle', overhead: 'from directly overhead', dutch: 'at a dutch angle' };

const KIND_WORDS = [...PERSON_WORDS, ...ANIMAL_WORDS, ...FOOD_WORDS, ...PRODUCT_WORDS, ...VEHICLE_WORDS, ...LANDSCAPE_WORDS, ...INTERIOR_WORDS];

/** "the fox": the first word of the text that names a subject, else "the subject". */
export function subjectRef(text: string, named?: string): string {
  if (named?.trim()) return /^(the|a|an)\s/i.test(named.trim()) ? named.trim() : `the ${named.trim()}`;
  const w = words(text).find((x) => KIND_WORDS.includes(x) && x !== 'hands');
  return w ? `the ${w}` : 'the subject';
}

/**
 * Remove the clauses of `text` that move the camera (they are restated as the one primary move).
 * Returns what is left and the moves taken out.
 */
export function stripCameraClauses(text: string): { text: string; removed: string[] } {
  const parts = text.split(/(\s*[.;!?]\s+|,\s*|\s+(?:and|while|as|then)\s+)/);
  const removed: string[] = [];
  const kept: string[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const clause = parts[i] ?? '';
    const sep = parts[i - 1] ?? '';
    if (clause && (cameraMoves(clause).length || /^\s*(?:the )?camera\b/i.test(clause) && /\b(moves?|moving|follows?)\b/i.test(clause))) {
      removed.push(clause.trim());
      continue;
    }
    kept.push(kept.length ? sep : '', clause);
  }
  const out = kept
    .join('')
    .replace(/\s+/g, ' ')
    .replace(/^[\s,;:.]+|[\s,;:]+$/g, '')
    .trim();
  return { text: out, removed };
}

export interface DirectorInput {
  original: string;
  previous: string | null;
  critique: VideoCritique | null;
  seed?: number;
  clip?: VideoClipContext | null;
}

export interface DirectorOutput {
  prompt: string;
  /** What changed and why, for the trace. */
  notes: string[];
  /** The one primary move the prompt uses. */
  camera: Pick<Movement, 'type' | 'direction' | 'speed'> & { end_lens_mm?: number };
}

const SIZE_TEXT_RE = /\b(extreme close-up|medium close-up|close-up|medium shot|medium[- ]wide shot|extreme wide shot|wide shot)\b/i;
const WORD_SIZE: Record<string, ShotSize> = Object.fromEntries(SHOT_SIZES.map((s) => [SHOT_SIZE_WORDS[s], s]));

function durationOf(text: string): number | null {
  const m = /\b(\d+(?:\.\d+)?)\s?(?:-second\b|s\b|sec\b|secs\b|seconds?\b)/i.exec(text);
  const n = m ? Number(m[1]) : NaN;
  return n > 0 && n <= 60 ? n : null;
}

/**
 * The text the lead is made from: quality tags dropped, and a storyboard motion line
 * ("Camera: … . Subject: …, over 5 s.") reduced to its subject part (the camera part is restated
 * as the one primary move).
 */
function leadSource(text: string): string {
  let t = stripStuffing(text).replace(/\s+/g, ' ').trim();
  const sb = /^camera:.*?\.\s+subject:\s*(.+)$/is.exec(t);
  if (sb) t = sb[1]!;
  return t.replace(/\b(subject|action|motion):\s*/gi, '').replace(/,?\s*over \d+(?:\.\d+)?\s?s\.?$/i, '');
}

/** Everything a round writes, decided from the prompt, the clip and the seed. Pure. */
function plan(input: DirectorInput) {
  const clip = input.clip ?? null;
  const seed = input.seed ?? 0;
  const source = leadSource(clip?.description?.trim() || input.original);
  const stripped = stripCameraClauses(source);
  const lead = stripped.text.replace(/[.!?;,\s]+$/, '') || 'The subject';
  const kind = primaryKind(lead);
  const key = `${words(lead).join(' ')}#${seed}`;
  const pick = <T>(slot: string, xs: readonly T[]): T => xs[hash(`${key}:${slot}`) % xs.length]!;
  const subject = subjectRef(lead, clip?.subject);

  // the one primary move
  const named = cameraMoves(input.original);
  let type: Move;
  let direction: string;
  let speed: Speed;
  let from: string;
  if (clip?.camera) {
    ({ type, direction } = clip.camera);
    speed = clip.camera.speed;
    from = 'the storyboard plan';
  } else if (named.length) {
    type = named[0]!.type;
    direction = named.find((m) => m.type === type && m.direction)?.direction ?? pick('dir', MOVE_DIRECTIONS[type].filter((d) => d !== 'none').length ? MOVE_DIRECTIONS[type].filter((d) => d !== 'none') : ['none']);
    speed = named.find((m) => m.type === type && m.speed)?.speed ?? 'slow';
    from = 'the prompt';
  } else {
    [type, direction] = pick('move', DEFAULT_MOVES[kind]);
    if (type === 'handheld' && !['person', 'animal'].includes(kind)) direction = 'none';
    speed = 'slow';
    from = `chosen for a ${kind} subject`;
  }
  const droppedMoves = [...new Set(named.map((m) => m.type))].filter((t) => t !== type);

  const sizeInText = SIZE_TEXT_RE.exec(input.original)?.[1]?.toLowerCase().replace('medium wide', 'medium-wide');
  const size: ShotSize = clip?.shot?.size ?? clip?.start_frame?.size ?? (sizeInText ? (WORD_SIZE[sizeInText.replace('medium-wide', 'medium wide')] ?? DEFAULT_SIZE[kind]) : DEFAULT_SIZE[kind]);
  const lensInText = /\b(\d{2,3})\s?mm\b/i.exec(input.original)?.[1];
  const lens = clip?.shot?.lens_mm ?? clip?.start_frame?.lens_mm ?? (lensInText ? Number(lensInText) : ['ECU', 'CU', 'MCU'].includes(size) ? 85 : ['MS', 'MWS'].includes(size) ? 50 : 24);
  const endLens = type === 'zoom' ? (clip?.camera?.end_lens_mm && clip.camera.end_lens_mm !== lens ? clip.camera.end_lens_mm : direction === 'out' ? Math.max(12, Math.round(lens / 2)) : lens * 2) : lens;
  const angle = clip?.shot?.angle ? (ANGLE_WORDS[clip.shot.angle] ?? `at ${clip.shot.angle}`) : '';
  const duration = clip?.duration_s ?? durationOf(input.original) ?? 5;
  return { clip, kind, lead, subject, type, direction, speed, from, droppedMoves, removedClauses: stripped.removed, size, lens, endLens, angle, duration, pick };
}

type Plan = ReturnType<typeof plan>;

function cameraSentence(p: Plan): string {
  const framing = `${art(SHOT_SIZE_WORDS[p.size])} at ${p.lens}mm${p.angle ? ` ${p.angle}` : ''}`;
  switch (p.type) {
    case 'static':
      return `The camera stays locked-off on ${framing}; only ${p.subject} moves.`;
    case 'zoom':
      return `From ${framing}, the camera holds its position and makes one ${p.speed} zoom ${p.direction} to ${p.endLens}mm, at an even rate.`;
    case 'handheld':
      return p.direction === 'follow'
        ? `One ${p.speed} handheld follow shot on ${framing} keeps ${p.subject} in frame as it moves.`
        : `One ${p.speed} handheld shot on ${framing}, with a slight natural drift.`;
    default:
      return `From ${framing}, the camera makes one ${p.speed} ${p.type} ${p.direction}${GLOSS[p.type]?.[p.direction] ? ` (${GLOSS[p.type]![p.direction]})` : ''}, a single continuous move at an even speed.`;
  }
}

function arcSentence(p: Plan, compact: boolean): string | null {
  const c = p.clip;
  if (!c || !hasArc(c)) return null;
  const s = c.start_frame!;
  const e = c.end_frame!;
  const sSize = s.size ?? p.size;
  const eSize = e.size ?? sSize;
  const bg = c.background?.trim().replace(/[.\s]+$/, '');
  const where = bg && !compact ? (/^(in|on|at|across|over|under|inside|by|near|along|through|beside)\b/i.test(bg) ? ` ${bg}` : ` in ${bg}`) : '';
  const startDesc = `${art(SHOT_SIZE_WORDS[sSize])} at ${s.lens_mm ?? p.lens}mm of ${p.subject}${where}`;
  const framing = e.framing && !compact ? `, ${e.framing.replace(/[.\s]+$/, '')}` : '';
  const endDesc = `${art(SHOT_SIZE_WORDS[eSize])} at ${e.lens_mm ?? p.endLens}mm${framing}`;
  return `It starts on the start frame, ${startDesc}, and ends on the end frame, ${endDesc}.`;
}

function beatsSentence(p: Plan): string {
  const d = p.duration;
  const t1 = r1(d * 0.4);
  const t2 = r1(d * 0.8);
  const still = p.type === 'static';
  return (
    `Over ${d} seconds: 0–${t1} s, ${still ? 'the action begins' : 'the move and the action begin together'}; ` +
    `${t1}–${t2} s, ${p.subject} continues at the same pace; ${t2}–${d} s, ${still ? 'the motion slows and settles' : 'the camera eases to a stop as the motion settles'}.`
  );
}

function continuitySentence(p: Plan, compact: boolean): string {
  return compact
    ? `Throughout, ${p.subject} keeps the same ${IDENTITY[p.kind]}, the light stays constant and the setting does not change; one continuous shot, no cuts.`
    : `Throughout, ${p.subject} keeps the same ${IDENTITY[p.kind]}, the light stays constant in direction and colour temperature, and the setting does not change; one continuous shot with no cuts.`;
}

function physicsSentence(p: Plan, compact: boolean): string {
  return compact
    ? 'Motion carries real weight and momentum, eases in and out, and nothing morphs or warps.'
    : `Motion carries real weight and momentum: ${SECONDARY[p.kind]}, movement eases in and out, and nothing morphs, warps or stretches.`;
}

/** Which refinements a prompt already has (so a round keeps what the last one added). */
export function refinementsIn(text: string | null): Set<DirectorRefinement> {
  const out = new Set<DirectorRefinement>();
  if (!text) return out;
  if (beatCount(text) >= 2) out.add('beats');
  if (/\bThroughout,/.test(text)) out.add('continuity');
  if (/\breal weight and momentum\b/.test(text)) out.add('physics');
  return out;
}

const REFINEMENT_FLAGS: Record<DirectorRefinement, RegExp> = {
  beats: /^missing:(beats|duration)$/,
  continuity: /^missing:continuity|^missing:continuous_shot$/,
  physics: /^missing:(weight|easing|secondary_motion|integrity)$/,
};

/**
 * One round: plan from the prompt (and clip), keep the refinements the previous round had, add
 * those the critic asked for, and write it out compactly when it said too_long.
 */
export function direct(input: DirectorInput): DirectorOutput {
  const p = plan(input);
  const flags = input.critique?.flags ?? [];
  const prev = refinementsIn(input.previous);
  const refinements = new Set<DirectorRefinement>();
  const notes: string[] = [];
  for (const r of ['beats', 'continuity', 'physics'] as const) {
    if (prev.has(r)) refinements.add(r);
    else {
      const asked = flags.filter((f) => REFINEMENT_FLAGS[r].test(f));
      if (asked.length) {
        refinements.add(r);
        notes.push(`added ${r === 'beats' ? 'timed beats' : r === 'continuity' ? 'what stays constant (subject, light, setting, one shot)' : 'physics (weight, momentum, easing, secondary motion, no morphing)'} (critic: ${asked.join(', ')})`);
      }
    }
  }
  const compact = flags.includes('too_long');
  if (compact) notes.push('wrote the continuity, physics and arc sentences compactly (critic: too_long)');

  const s: string[] = [cap(p.lead) + '.'];
  const leadVerbs = motionVerbs(p.lead);
  if (!leadVerbs.length) s.push(`${cap(p.subject)} ${p.pick('action', DEFAULT_ACTION[p.kind])}.`);
  else if (!/\b(slowly|gently|steadily|quickly|gradually|smoothly|briskly|softly|deliberately|rapidly|calmly|at a \w+ pace|in one fluid motion)\b/i.test(p.lead))
    s.push(`The action plays out ${p.speed === 'fast' ? 'briskly but clearly' : p.pick('manner', MANNERS)}, in real time.`);
  s.push(cameraSentence(p));
  const arc = arcSentence(p, compact);
  if (arc) s.push(arc);
  s.push(refinements.has('beats') ? beatsSentence(p) : `The clip runs ${p.duration} seconds.`);
  if (refinements.has('continuity')) s.push(continuitySentence(p, compact));
  if (refinements.has('physics')) s.push(physicsSentence(p, compact));
  const prompt = s.join(' ');

  if (!input.previous || !input.critique) {
    const added = [
      !leadVerbs.length && 'a subject action',
      leadVerbs.length && 'manner and pace',
      `one primary camera move (${p.speed} ${p.type}${p.direction !== 'none' ? ` ${p.direction}` : ''}, from ${p.from}) with framing and lens`,
      'duration',
      arc && 'the start → end arc from the clip\'s frames',
    ].filter(Boolean);
    notes.unshift(`rewrote for motion: ${added.join(', ')}`);
    if (p.clip?.description) notes.push(`led with the storyboard clip's description (clip ${p.clip.clip ?? '?'})`);
    if (p.removedClauses.length) notes.push(`camera direction in the text gathered into the one primary move (removed: ${p.removedClauses.map((c) => `"${c}"`).join(', ')})`);
    if (p.droppedMoves.length) notes.push(`one primary camera move per clip: kept the ${p.type}, dropped ${p.droppedMoves.join(', ')}`);
  }
  for (const f of flags) if (/^(vague|discontinuity|implausible):/.test(f) && input.original.toLowerCase().includes(f.split(':')[1]!)) notes.push(`${f}: from the user's own words, kept`);
  if (input.previous && prompt === input.previous) notes.push('nothing left to fix from the critique');
  if (countWords(prompt) > 200) notes.push('still long: the lead (the user\'s words) carries most of it');
  return { prompt, notes, camera: { type: p.type, direction: p.direction, speed: p.speed, ...(p.type === 'zoom' ? { end_lens_mm: p.endLens } : {}) } };
}

/** The rule-based director as a CreativeAgent for the loop (offline backend). */
export function createOfflineDirector(opts: { seed?: number; clip?: VideoClipContext | null; ledger?: CostLedger; stage?: string } = {}): CreativeAgent<VideoCritique> {
  return {
    name: OFFLINE_DIRECTOR_MODEL,
    async create(input) {
      opts.ledger?.record({ stage: opts.stage ?? 'video_prompt', provider: 'offline', model: OFFLINE_DIRECTOR_MODEL, kind: 'none', cost_usd: 0, note: 'rule-based, no LLM' });
      const r = direct({ original: input.original, previous: input.previous, critique: input.critique, seed: opts.seed, clip: opts.clip });
      return { output: r.prompt, notes: r.notes, model: OFFLINE_DIRECTOR_MODEL, usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 };
    },
  };
}
