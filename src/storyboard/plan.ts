import { z } from 'zod';

/**
 * A storyboard plan in the spirit of VideoDirectorGPT's published shape (scene descriptions,
 * entities with consistency groups, backgrounds, a shot list): clips with a description, the
 * entities in each (one consistency group per recurring subject, so it looks the same in every
 * frame), the background, a narrative role and dependencies, and one shot-list entry from a
 * controlled vocabulary. Both planners (offline and LLM) produce this; validatePlan checks what
 * the schema cannot.
 */

/** Shot sizes, tightest first (index order is "nearer" → "wider"). */
export const SHOT_SIZES = ['ECU', 'CU', 'MCU', 'MS', 'MWS', 'WS', 'EWS'] as const;
export type ShotSize = (typeof SHOT_SIZES)[number];
export const SHOT_SIZE_WORDS: Record<ShotSize, string> = {
  ECU: 'extreme close-up',
  CU: 'close-up',
  MCU: 'medium close-up',
  MS: 'medium shot',
  MWS: 'medium wide shot',
  WS: 'wide shot',
  EWS: 'extreme wide shot',
};

export const ANGLES = ['eye level', 'low angle', 'high angle', 'overhead', 'dutch'] as const;

/**
 * One primary camera movement per clip. A dolly moves the camera toward or away (focal length
 * fixed); a zoom changes the focal length with the camera fixed; pan and tilt turn it in place;
 * truck and pedestal move it sideways and up/down; a crane lifts or lowers it on an arm; an orbit
 * circles the subject.
 */
export const MOVES = ['static', 'pan', 'tilt', 'dolly', 'truck', 'pedestal', 'crane', 'zoom', 'orbit', 'handheld'] as const;
export type Move = (typeof MOVES)[number];

/** The directions each move can take; `none` for moves without one. */
export const MOVE_DIRECTIONS: Record<Move, readonly string[]> = {
  static: ['none'],
  pan: ['left', 'right'],
  tilt: ['up', 'down'],
  dolly: ['in', 'out'],
  truck: ['left', 'right'],
  pedestal: ['up', 'down'],
  crane: ['up', 'down'],
  zoom: ['in', 'out'],
  orbit: ['left', 'right'],
  handheld: ['none', 'follow'],
};
export const SPEEDS = ['slow', 'medium', 'fast'] as const;
export const TRANSITIONS = ['cut', 'continuous', 'dissolve', 'match cut'] as const;
export const NARRATIVE_ROLES = ['establish', 'develop', 'climax', 'resolve'] as const;

export const MovementSchema = z.object({
  type: z.enum(MOVES),
  direction: z.string(),
  speed: z.enum(SPEEDS),
  /** Focal length at the end of the clip; differs from the shot's lens only for a zoom. */
  end_lens_mm: z.number().positive().max(2000),
  /** In words, as a director would say it (checked against the type). */
  description: z.string().default(''),
});
export type Movement = z.infer<typeof MovementSchema>;

export const ShotSchema = z.object({
  size: z.enum(SHOT_SIZES),
  angle: z.enum(ANGLES),
  lens_mm: z.number().positive().max(2000),
  movement: MovementSchema,
  duration_s: z.number().positive().max(60),
  /** How this clip hands over to the next one (the last clip's is how the piece ends). */
  transition: z.enum(TRANSITIONS),
});
export type Shot = z.infer<typeof ShotSchema>;

export const EntitySchema = z.object({
  id: z.string().regex(/^[a-z0-9_-]+$/),
  name: z.string().min(1),
  description: z.string().min(1),
  /** Entities in one group must look the same in every frame (same seed, same character block). */
  consistency_group: z.string().regex(/^[a-z0-9_-]+$/),
});
export type Entity = z.infer<typeof EntitySchema>;

export const ClipPlanSchema = z.object({
  clip: z.number().int().positive(),
  description: z.string().min(1),
  narrative_role: z.enum(NARRATIVE_ROLES),
  background: z.string().min(1),
  entities: z.array(z.string()),
  /** Earlier clips this one follows from (continuity, cause and effect). */
  depends_on: z.array(z.number().int().positive()),
  shot: ShotSchema,
});
export type ClipPlan = z.infer<typeof ClipPlanSchema>;

export const StoryboardPlanSchema = z.object({
  /** A shared style block every frame prompt carries (look, light, grade). */
  style: z.string().min(1),
  entities: z.array(EntitySchema),
  clips: z.array(ClipPlanSchema).min(1),
});
export type StoryboardPlan = z.infer<typeof StoryboardPlanSchema>;

export { MAX_CLIPS } from '../workflow/run-options.js';

const MOVE_WORDS: Record<Move, RegExp> = {
  static: /\b(static|locked[- ]off)\b/i,
  pan: /\bpan(s|ning|ned)?\b/i,
  tilt: /\btilt(s|ing|ed)?\b/i,
  dolly: /\b(dolly|dollies|dollying|push[- ]in|pull[- ](out|back))\b/i,
  truck: /\b(truck(s|ing)?|crab(s|bing)?)\b/i,
  pedestal: /\bpedestal(s|ing)?\b/i,
  crane: /\b(crane|jib)(s|ing)?\b/i,
  zoom: /\bzoom(s|ing|ed)?\b/i,
  orbit: /\b(orbit(s|ing)?|arc(s|ing)? around)\b/i,
  handheld: /\bhand[- ]?held\b/i,
};

/** The primary moves a text names (a description that names two is two moves). */
export function movesNamed(text: string): Move[] {
  return MOVES.filter((m) => MOVE_WORDS[m].test(text));
}

/**
 * What the schema cannot say: one primary move per clip (a description naming a second one is
 * refused), a zoom is a focal-length change with the camera fixed and a dolly is the camera moving
 * with the focal length fixed (so a "dolly" whose lens changes, or whose description says zoom, is
 * refused), directions from the move's own set, clips numbered 1..N, known entities, dependencies
 * on earlier clips only. Returns one line per problem; empty when the plan is sound.
 */
export function validatePlan(plan: StoryboardPlan, expectedClips?: number): string[] {
  const problems: string[] = [];
  const ids = new Set(plan.entities.map((e) => e.id));
  if (expectedClips !== undefined && plan.clips.length !== expectedClips) problems.push(`plan has ${plan.clips.length} clips, ${expectedClips} were asked for`);
  plan.clips.forEach((c, i) => {
    const at = `clip ${c.clip}`;
    if (c.clip !== i + 1) problems.push(`${at}: clips must be numbered 1..N in order (found ${c.clip} at position ${i + 1})`);
    const mv = c.shot.movement;
    if (!MOVE_DIRECTIONS[mv.type].includes(mv.direction)) problems.push(`${at}: a ${mv.type} moves ${MOVE_DIRECTIONS[mv.type].join(' or ')}, not "${mv.direction}"`);
    const named = movesNamed(mv.description).filter((m) => m !== mv.type);
    if (named.length) problems.push(`${at}: one primary camera move per clip: the ${mv.type}'s description also names ${named.join(', ')}`);
    const lensChanges = Math.abs(mv.end_lens_mm - c.shot.lens_mm) > 1e-6;
    if (mv.type === 'zoom' && !lensChanges) problems.push(`${at}: a zoom changes focal length: end_lens_mm must differ from lens_mm`);
    if (mv.type === 'zoom' && mv.direction === 'in' && mv.end_lens_mm < c.shot.lens_mm) problems.push(`${at}: a zoom in ends on a longer focal length`);
    if (mv.type === 'zoom' && mv.direction === 'out' && mv.end_lens_mm > c.shot.lens_mm) problems.push(`${at}: a zoom out ends on a shorter focal length`);
    if (mv.type !== 'zoom' && lensChanges) problems.push(`${at}: a ${mv.type} keeps the focal length (a focal-length change is a zoom, not a ${mv.type})`);
    for (const e of c.entities) if (!ids.has(e)) problems.push(`${at}: unknown entity "${e}"`);
    for (const d of c.depends_on) if (d >= c.clip) problems.push(`${at}: depends on clip ${d}, which is not earlier`);
  });
  return problems;
}

/** The shot size one step nearer or wider, within the scale. */
export function stepSize(size: ShotSize, steps: number): ShotSize {
  const i = SHOT_SIZES.indexOf(size);
  return SHOT_SIZES[Math.max(0, Math.min(SHOT_SIZES.length - 1, i + steps))]!;
}

/** "slow dolly in", "static", "medium pan right (24mm)": a move in a director's words. */
export function moveWords(m: Movement): string {
  if (m.type === 'static') return 'static (locked-off)';
  if (m.type === 'handheld') return `${m.speed} handheld${m.direction === 'follow' ? ' follow' : ''}`;
  return `${m.speed} ${m.type} ${m.direction}`;
}
