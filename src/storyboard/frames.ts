import { type ClipPlan, type Entity, moveWords, SHOT_SIZE_WORDS, type ShotSize, stepSize, type StoryboardPlan } from './plan.js';

/**
 * Start and end frame prompts for each clip, derived from its shot and its one camera move (a
 * dolly in from a medium shot ends nearer, a pan right ends on what was right of frame, a zoom
 * ends on a longer lens), and the motion between them in words. Every frame prompt carries the
 * same character block (the entities' descriptions) and the same style block, so the subject and
 * the look hold across frames; continuity of seeds and of continuous transitions is planned in
 * storyboard.ts.
 */

export interface ClipFrames {
  clip: number;
  start: { prompt: string; size: ShotSize; lens_mm: number; framing: string };
  end: { prompt: string; size: ShotSize; lens_mm: number; framing: string };
  /** What moves between start and end: the camera and the subject. */
  motion: { camera: string; subject: string; description: string };
}

/** Where the move leaves the camera: the end frame's shot size, lens and framing note. */
function endOf(c: ClipPlan): { size: ShotSize; lens_mm: number; framing: string } {
  const { size, lens_mm: lens, movement: m } = c.shot;
  const bg = c.background;
  switch (m.type) {
    case 'dolly':
      return m.direction === 'in'
        ? { size: stepSize(size, -1), lens_mm: lens, framing: `the camera has moved in: nearer, the background larger behind the subject, same ${lens}mm lens` }
        : { size: stepSize(size, 1), lens_mm: lens, framing: `the camera has pulled back: more of ${bg} around the subject, same ${lens}mm lens` };
    case 'zoom':
      return m.direction === 'in'
        ? { size: stepSize(size, -1), lens_mm: m.end_lens_mm, framing: `zoomed in to ${m.end_lens_mm}mm from the same position: tighter, the background compressed and softer` }
        : { size: stepSize(size, 1), lens_mm: m.end_lens_mm, framing: `zoomed out to ${m.end_lens_mm}mm from the same position: wider, perspective flattened less` };
    case 'pan':
      return { size, lens_mm: lens, framing: `panned ${m.direction}: the frame now rests on what was ${m.direction} of frame, the subject at the ${m.direction === 'right' ? 'left' : 'right'} third` };
    case 'tilt':
      return { size, lens_mm: lens, framing: m.direction === 'up' ? 'tilted up: the frame now shows what was above, more sky or ceiling' : 'tilted down: the frame now shows what was below, the ground in view' };
    case 'truck':
      return { size, lens_mm: lens, framing: `the camera has trucked ${m.direction}: the subject now at the ${m.direction === 'left' ? 'right' : 'left'} third, the background shifted by parallax` };
    case 'pedestal':
      return { size, lens_mm: lens, framing: m.direction === 'up' ? 'the camera raised on its pedestal: a high angle looking down' : 'the camera lowered on its pedestal: a low angle looking up' };
    case 'crane':
      return m.direction === 'up'
        ? { size: stepSize(size, 1), lens_mm: lens, framing: `craned up: a high angle wide view over ${bg}` }
        : { size: stepSize(size, -1), lens_mm: lens, framing: 'craned down to eye level, nearer the subject' };
    case 'orbit':
      return { size, lens_mm: lens, framing: `orbited ${m.direction} around the subject: seen from its side, the background swung behind it` };
    case 'handheld':
      return { size, lens_mm: lens, framing: m.direction === 'follow' ? 'handheld, following the subject: it has moved across the frame' : 'handheld: the same framing, a slight drift' };
    case 'static':
      return { size, lens_mm: lens, framing: 'the same locked-off framing; only the subject has moved' };
  }
}

const ANGLE_WORDS: Record<string, string> = { 'eye level': 'at eye level', 'low angle': 'from a low angle', 'high angle': 'from a high angle', overhead: 'from directly overhead', dutch: 'at a dutch angle' };

/** The entities of a clip, in words: the same text in every frame of every clip. */
export function characterBlock(plan: StoryboardPlan, c: ClipPlan): string {
  const es = c.entities.map((id) => plan.entities.find((e) => e.id === id)).filter((e): e is Entity => !!e);
  return es.map((e) => `${e.name}: ${e.description}`).join('; ');
}

function framePrompt(plan: StoryboardPlan, c: ClipPlan, size: ShotSize, lens: number, framing: string, moment: string): string {
  const chars = characterBlock(plan, c);
  return [
    `${cap(c.description)} (${moment})`,
    `${/^[aeiou]/i.test(SHOT_SIZE_WORDS[size]) ? 'An' : 'A'} ${SHOT_SIZE_WORDS[size]} ${ANGLE_WORDS[c.shot.angle] ?? c.shot.angle}, ${lens}mm lens; ${framing}`,
    `Setting: ${c.background}`,
    chars ? `Same character in every frame: ${chars}` : '',
    plan.style,
  ]
    .filter(Boolean)
    .map((s) => s.replace(/[.\s]+$/, ''))
    .join('. ')
    .concat('.');
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export function clipFrames(plan: StoryboardPlan, c: ClipPlan): ClipFrames {
  const end = endOf(c);
  const startFraming = `opening framing of a ${moveWords(c.shot.movement)}`;
  const camera = `${moveWords(c.shot.movement)}: ${SHOT_SIZE_WORDS[c.shot.size]} at ${c.shot.lens_mm}mm → ${SHOT_SIZE_WORDS[end.size]} at ${end.lens_mm}mm; ${end.framing}`;
  const subject = c.description;
  return {
    clip: c.clip,
    start: { prompt: framePrompt(plan, c, c.shot.size, c.shot.lens_mm, startFraming, 'start of the clip'), size: c.shot.size, lens_mm: c.shot.lens_mm, framing: startFraming },
    end: { prompt: framePrompt(plan, c, end.size, end.lens_mm, end.framing, 'end of the clip'), ...end },
    motion: { camera, subject, description: `Camera: ${camera}. Subject: ${subject}, over ${c.shot.duration_s} s.` },
  };
}
