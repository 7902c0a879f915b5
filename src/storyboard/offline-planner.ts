import { seeded, seededPick } from '../generation/previz/rng.js';
import { readPrompt } from '../generation/previz/read-prompt.js';
import {
  type ClipPlan,
  type Move,
  MOVE_DIRECTIONS,
  type ShotSize,
  type StoryboardPlan,
  StoryboardPlanSchema,
  type Shot,
  validatePlan,
} from './plan.js';

/**
 * The offline planner (the default, no key): beats from the prompt's own sentences and clauses;
 * with fewer beats than clips, a narrative arc (establish → develop → climax → resolve) with a
 * shot-size progression from wide to near and moves that fit each role. The seed settles only what
 * the prompt leaves open; the same prompt, clip count and seed give the same plan.
 */

/** Sentences about the look, not the action: they go into the shared style block, not into beats. */
const STYLE_SENTENCE =
  /^(shot on|filmed on|captured on|lit by|lighting|framed for|the mood|mood:|composed|composition|colou?r grade|graded|(kodak|fujifilm|cinestill|ilford|portra|ektar)\b|(a |an )?(extreme |medium |)(close-up|wide shot|medium shot|long shot|establishing shot)|(a |an )?\d+\s?mm\b|in a palette of|brand palette|palette:|avoid|negative)/i;
/**
 * Of those, the ones each clip decides for itself (shot size, angle, composition, camera and lens,
 * aspect ratio): kept out of the style block, or every frame would carry one clip's framing.
 */
const FRAMING_SENTENCE = /^(shot on|filmed on|captured on|framed for|composed|composition|(a |an )?(extreme |medium |)(close-up|wide shot|medium shot|long shot|establishing shot)|(a |an )?\d+\s?mm\b)/i;

function sentences(text: string): string[] {
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?;])\s+/)
    .map((s) => s.trim().replace(/[.!?;]+$/, ''))
    .filter(Boolean);
}

/** Clauses a sentence hands over between ("…, then …", "… and then …", "…, as …"). */
function clauses(sentence: string): string[] {
  const parts = sentence
    .split(/,?\s+(?:and then|then|after that|before|as|while|until)\s+|,\s+(?=[a-z]+s\b)/i)
    .map((c) => c.trim())
    .filter((c) => c.split(' ').length >= 2);
  // "She pours the milk, then slides the cup": the second clause keeps its subject ("She slides …")
  const words = parts[0]?.split(' ') ?? [];
  const verbAt = words.findIndex((w, i) => i > 0 && /^[a-z]+s$/.test(w));
  const subject = verbAt > 0 ? words.slice(0, verbAt).join(' ') : null;
  return parts.map((c, i) => (i > 0 && subject && /^[a-z]+s\b/.test(c) ? `${subject} ${c}` : c));
}

export interface PromptParts {
  /** Action beats, in order. */
  beats: string[];
  /** The look: what every frame shares. */
  style: string;
}

export function splitPrompt(prompt: string): PromptParts {
  const all = sentences(prompt);
  const style = all.filter((s) => STYLE_SENTENCE.test(s) && !FRAMING_SENTENCE.test(s));
  const content = all.filter((s) => !STYLE_SENTENCE.test(s));
  const beats = content.length ? content : all.slice(0, 1);
  return { beats, style: style.join('. ') };
}

/** Where the prompt's first beat happens ("on a windowsill", "in a neon-lit alley"). */
function backgroundOf(text: string): string | null {
  const m = /\b(on|in|at|by|under|across|through|over|inside|beside|along)\s+(?:the|a|an)\s+([^,.;]+)/i.exec(text);
  return m ? `${m[1]!.toLowerCase()} the ${m[2]!.trim()}` : null;
}

/** establish → develop → resolve, with a climax before the resolution from four clips on. */
const ROLES_FOR = (n: number): ClipPlan['narrative_role'][] => {
  if (n === 1) return ['establish'];
  if (n === 2) return ['establish', 'resolve'];
  if (n === 3) return ['establish', 'develop', 'resolve'];
  return ['establish', ...Array.from({ length: n - 3 }, () => 'develop' as const), 'climax', 'resolve'];
};

/** The shot-size progression: wide to establish, nearer as the piece develops, closest at its peak. */
const SIZE_FOR: Record<ClipPlan['narrative_role'], readonly ShotSize[]> = {
  establish: ['WS', 'EWS', 'WS'],
  develop: ['MS', 'MWS', 'MS'],
  climax: ['MCU', 'CU'],
  resolve: ['CU', 'MCU', 'MWS'],
};
/** Moves that fit each role (a reveal, a follow, a push, a settle). */
const MOVES_FOR: Record<ClipPlan['narrative_role'], readonly [Move, string][]> = {
  establish: [['dolly', 'in'], ['crane', 'down'], ['pan', 'right'], ['pan', 'left']],
  develop: [['truck', 'left'], ['truck', 'right'], ['orbit', 'left'], ['handheld', 'follow'], ['pedestal', 'up']],
  climax: [['dolly', 'in'], ['zoom', 'in'], ['tilt', 'up']],
  resolve: [['static', 'none'], ['dolly', 'out'], ['crane', 'up']],
};
const LENS_FOR: Record<ShotSize, number> = { ECU: 100, CU: 85, MCU: 65, MS: 50, MWS: 35, WS: 24, EWS: 18 };
const ANGLE_FOR: Record<ClipPlan['narrative_role'], readonly Shot['angle'][]> = {
  establish: ['high angle', 'eye level'],
  develop: ['eye level', 'low angle'],
  climax: ['low angle', 'eye level'],
  resolve: ['eye level', 'high angle'],
};

/** What each arc role makes of the prompt's lead beat when the prompt has fewer beats than clips. */
const ARC_BEAT: Record<ClipPlan['narrative_role'], (beat: string, where: string) => string> = {
  establish: (b, w) => `${cap(b)}: the setting ${w} established`,
  develop: (b) => `${cap(b)}, seen closer as the moment unfolds`,
  climax: (b) => `${cap(b)}: the key moment, in detail`,
  resolve: (b) => `${cap(b)}; the moment settles and resolves`,
};

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function planOffline(o: { prompt: string; numClips: number; seed: number }): StoryboardPlan {
  const { beats: raw, style } = splitPrompt(o.prompt);
  let beats = raw;
  if (beats.length < o.numClips) beats = raw.flatMap(clauses);
  if (beats.length === 0) beats = raw;
  const subjectNoun = readPrompt(o.prompt, o.seed).subject ?? 'subject';
  const where = backgroundOf(raw[0] ?? o.prompt) ?? 'in its setting';
  const roles = ROLES_FOR(o.numClips);

  // one beat per clip: with more beats than clips they are shared out in order; with fewer, the
  // prompt's beats open the piece and the arc carries it to its end
  const fromPrompt = (i: number) => beats.length >= o.numClips || (i > 0 && i < beats.length);
  const clipBeats = roles.map((role, i) => {
    if (beats.length >= o.numClips) {
      const from = Math.floor((i * beats.length) / o.numClips);
      const to = Math.floor(((i + 1) * beats.length) / o.numClips);
      return beats.slice(from, to).join('; then ');
    }
    return fromPrompt(i) ? beats[i]! : ARC_BEAT[role](beats[Math.min(i, beats.length - 1)] ?? o.prompt, where);
  });

  // the subject as the prompt first names it: its opening clause, not the whole prompt
  const lead = (raw[0] ?? o.prompt).split(/,|;|\s+(?:while|as|then)\s+/)[0]!.trim();
  const entities = [{ id: 'subject', name: subjectNoun, description: lead.split(' ').slice(0, 16).join(' '), consistency_group: 'main-subject' }];
  const clips: ClipPlan[] = roles.map((role, i) => {
    const slot = (s: string) => `clip${i + 1}-${s}`;
    const size = seededPick(o.seed, slot('size'), SIZE_FOR[role]);
    let [type, direction] = seededPick(o.seed, slot('move'), MOVES_FOR[role]);
    if (!MOVE_DIRECTIONS[type].includes(direction)) direction = MOVE_DIRECTIONS[type][0]!;
    const lens = LENS_FOR[size];
    const endLens = type === 'zoom' ? (direction === 'in' ? Math.round(lens * 1.6) : Math.round(lens / 1.6)) : lens;
    const speed = role === 'climax' ? 'medium' : seeded(o.seed, slot('speed')) < 0.7 ? 'slow' : 'medium';
    const last = i === roles.length - 1;
    return {
      clip: i + 1,
      description: clipBeats[i]!,
      narrative_role: role,
      // a beat of the prompt's own says where it happens; an arc beat stays where the piece began
      background: (fromPrompt(i) ? backgroundOf(clipBeats[i]!) : null) ?? where,
      entities: ['subject'],
      depends_on: i === 0 ? [] : [i],
      shot: {
        size,
        angle: seededPick(o.seed, slot('angle'), ANGLE_FOR[role]),
        lens_mm: lens,
        movement: { type, direction, speed, end_lens_mm: endLens, description: '' },
        duration_s: role === 'establish' ? 5 : 4,
        // a push toward the peak carries straight on; elsewhere a cut, and the piece ends on one
        transition: last ? 'cut' : roles[i + 1] === 'climax' ? 'continuous' : seededPick(o.seed, slot('transition'), ['cut', 'cut', 'dissolve'] as const),
      },
    };
  });
  const plan = StoryboardPlanSchema.parse({ style: style || 'cinematic, consistent look across every frame', entities, clips });
  const problems = validatePlan(plan, o.numClips);
  if (problems.length) throw new Error(`offline planner made an invalid plan: ${problems[0]}`); // a bug: the planner only picks valid moves
  return plan;
}
