import type { CriticAgent } from '../prompt/loop.js';
import type { CostLedger } from '../runs/ledger.js';
import { MOVE_DIRECTIONS, moveWords, SHOT_SIZE_WORDS, type Move } from '../storyboard/plan.js';
import { hasArc, withVideoOverall, type VideoClipContext, type VideoCritique } from './types.js';

/**
 * The offline video critic: scores a motion prompt on the five video dimensions by rules
 * (src/video-prompt/types.ts documents the rubric) and says what to fix, in the same JSON shape the
 * LLM critic returns. Deterministic; no model, no network. What it measures is the prompt's
 * structure (is the motion said, one camera move, what holds constant, physics, the arc), not how
 * a video model will render it.
 *
 * The detectors are exported: the offline director reads its previous prompt with the same ones,
 * so the two cannot drift apart.
 */

export const OFFLINE_VIDEO_CRITIC_MODEL = 'offline-video-rubric-critic';

/** A prompt's length band in words: shorter leaves the motion to chance, longer dilutes it. */
export const VIDEO_LENGTH_BAND = { min: 15, max: 200 } as const;

export type Speed = 'slow' | 'medium' | 'fast';

const SPEED_WORDS: Record<string, Speed> = {
  slow: 'slow', slowly: 'slow', gentle: 'slow', gently: 'slow', gradual: 'slow', gradually: 'slow', subtle: 'slow', unhurried: 'slow', languid: 'slow',
  medium: 'medium', moderate: 'medium', steady: 'medium', steadily: 'medium', measured: 'medium',
  fast: 'fast', quick: 'fast', quickly: 'fast', rapid: 'fast', rapidly: 'fast', brisk: 'fast', briskly: 'fast', whip: 'fast', crash: 'fast', swift: 'fast', swiftly: 'fast',
};
const NEGATORS = new Set(['no', 'not', 'without', 'never', 'nothing', 'nor', 'none', 'avoid', 'avoids', 'avoiding', "don't", 'doesn’t', "doesn't", 'neither']);
/** Words right before an ambiguous move word that make it a camera move ("the camera pans", "slow tilt"). */
const CAMERA_CUES = new Set(['camera', "camera's", 'one', 'single', 'smooth', 'smoothly', 'lateral', 'vertical', 'then', ...Object.keys(SPEED_WORDS)]);

export interface MoveMention {
  type: Move;
  /** From the move's own set (MOVE_DIRECTIONS), or null when none is said. */
  direction: string | null;
  speed: Speed | null;
  index: number;
  text: string;
}

interface MovePattern {
  type: Move;
  re: RegExp;
  /** Counts only with a direction or a camera cue before it ("a truck" is a vehicle, "trucks left" a move). */
  ambiguous: boolean;
  dir?: (m: RegExpExecArray) => string | null;
}

const DIR_MAP: Record<string, string> = {
  forward: 'in', toward: 'in', towards: 'in', back: 'out', backward: 'out', backwards: 'out', away: 'out',
  upward: 'up', upwards: 'up', downward: 'down', downwards: 'down', clockwise: 'right', counterclockwise: 'left', 'counter-clockwise': 'left', anticlockwise: 'left',
};
const dirOf = (g: string | undefined) => (g ? (DIR_MAP[g] ?? g) : null);

const MOVE_PATTERNS: MovePattern[] = [
  { type: 'static', re: /\blocked[- ]off\b|\bstatic (?:shot|camera|frame|framing|wide shot|close-up|medium shot)\b|\bcamera (?:stays|remains|is|holds) (?:static|still|locked)\b/g, ambiguous: false, dir: () => 'none' },
  { type: 'handheld', re: /\bhand[- ]?held\b(?:\s+(?:\w+\s+)?(follow(?:s|ing)?))?/g, ambiguous: false, dir: (m) => (m[1] ? 'follow' : 'none') },
  { type: 'dolly', re: /\b(?:dolly|dollies|dollying|dollied)\b(?:\s+(in|out|forward|back|backward|backwards|toward|towards|away))?/g, ambiguous: false, dir: (m) => dirOf(m[1]) },
  { type: 'dolly', re: /\bpush[- ]in\b/g, ambiguous: false, dir: () => 'in' },
  { type: 'dolly', re: /\bpull[- ](?:back|out)\b/g, ambiguous: false, dir: () => 'out' },
  { type: 'dolly', re: /\b(?:push(?:es|ing)?) in\b/g, ambiguous: true, dir: () => 'in' },
  { type: 'dolly', re: /\b(?:pull(?:s|ing)?) (?:back|out)\b/g, ambiguous: true, dir: () => 'out' },
  { type: 'zoom', re: /\b(?:zoom|zooms|zooming|zoomed)\b(?! lens)(?:\s+(in|out))?/g, ambiguous: false, dir: (m) => dirOf(m[1]) },
  { type: 'pan', re: /\bwhip[- ]pan(?:s|ning)?\b(?:\s+(left|right))?/g, ambiguous: false, dir: (m) => dirOf(m[1]) },
  { type: 'pan', re: /\b(?<!whip[- ])(?:pan|pans|panning|panned)\b(?:\s+(left|right|across))?/g, ambiguous: true, dir: (m) => (m[1] === 'across' ? null : dirOf(m[1])) },
  { type: 'tilt', re: /\b(?:tilt|tilts|tilting|tilted)\b(?!-shift)(?:\s+(up|down|upward|downward|upwards|downwards))?/g, ambiguous: true, dir: (m) => dirOf(m[1]) },
  { type: 'truck', re: /\b(?:truck|trucks|trucking|trucked|crab|crabs|crabbing)\b(?:\s+(left|right))?/g, ambiguous: true, dir: (m) => dirOf(m[1]) },
  { type: 'pedestal', re: /\b(?:pedestal|pedestals|pedestaling|pedestalling)\b(?:\s+(up|down))?/g, ambiguous: true, dir: (m) => dirOf(m[1]) },
  { type: 'crane', re: /\b(?:crane|jib) shot\b/g, ambiguous: false, dir: () => null },
  { type: 'crane', re: /\b(?:crane|cranes|craning|craned|jib|jibs)\b(?! shot)(?:\s+(up|down|upward|downward|upwards|downwards))?/g, ambiguous: true, dir: (m) => dirOf(m[1]) },
  { type: 'orbit', re: /\b(?:orbit|orbits|orbiting|orbited)\b(?:\s+(left|right|around|clockwise|counterclockwise|counter-clockwise|anticlockwise))?/g, ambiguous: true, dir: (m) => (m[1] === 'around' ? null : dirOf(m[1])) },
  { type: 'orbit', re: /\b(?:arc|arcs|arcing)\s+(left|right|around)\b/g, ambiguous: false, dir: (m) => (m[1] === 'around' ? null : dirOf(m[1])) },
];

/** The words of the clause before `index` (back to the last . ; : ! ?), last first. */
function wordsBefore(text: string, index: number, n: number): string[] {
  const head = text.slice(0, index);
  const cut = Math.max(head.lastIndexOf('.'), head.lastIndexOf(';'), head.lastIndexOf('!'), head.lastIndexOf('?'), head.lastIndexOf(':'));
  return head
    .slice(cut + 1)
    .split(/[^\p{L}\p{N}'’-]+/u)
    .filter(Boolean)
    .slice(-n)
    .reverse();
}

/** True when a negator ("no", "without", "nothing") stands within the 4 words before `index`, in the same clause. */
export function negatedAt(text: string, index: number): boolean {
  return wordsBefore(text, index, 4).some((w) => NEGATORS.has(w));
}

function speedNear(text: string, index: number, length: number): Speed | null {
  for (const w of wordsBefore(text, index, 4)) if (SPEED_WORDS[w]) return SPEED_WORDS[w]!;
  const tail = text.slice(index + length).split(/[.;!?]/)[0]!.split(/[^\p{L}'-]+/u).filter(Boolean).slice(0, 8);
  for (const w of tail) if (SPEED_WORDS[w]) return SPEED_WORDS[w]!;
  return null;
}

/** Every camera move the text names (negated ones — "no zoom" — left out), in order of appearance. */
export function cameraMoves(prompt: string): MoveMention[] {
  const text = prompt.toLowerCase();
  const out: MoveMention[] = [];
  for (const p of MOVE_PATTERNS) {
    p.re.lastIndex = 0;
    for (let m = p.re.exec(text); m; m = p.re.exec(text)) {
      if (negatedAt(text, m.index)) continue;
      let direction = p.dir ? p.dir(m) : null;
      if (direction && !MOVE_DIRECTIONS[p.type].includes(direction)) direction = null;
      if (p.ambiguous && !m[1] && !wordsBefore(text, m.index, 2).some((w) => CAMERA_CUES.has(w))) continue;
      if (out.some((o) => o.index === m!.index)) continue;
      out.push({ type: p.type, direction, speed: speedNear(text, m.index, m[0].length), index: m.index, text: m[0] });
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

/** The distinct primary moves the text names, in order. */
export function distinctMoves(prompt: string): Move[] {
  return [...new Set(cameraMoves(prompt).map((m) => m.type))];
}

const MOTION_STEMS = [
  'walk', 'run', 'turn', 'spin', 'drift', 'flow', 'pour', 'lift', 'reach', 'step', 'roll', 'sway', 'swirl', 'ripple', 'splash', 'lean', 'raise',
  'lower', 'open', 'blink', 'wave', 'jump', 'leap', 'flutter', 'curl', 'billow', 'crash', 'spread', 'swing', 'nod', 'sip', 'stir', 'fly', 'flies',
  'swim', 'crack', 'steal', 'chase', 'sprint', 'climb', 'drop', 'bounce', 'unfold', 'fall', 'pull', 'push', 'throw', 'catch', 'kick', 'shake',
  'float', 'sink', 'burst', 'dash', 'stretch', 'bend', 'twist', 'tumble', 'splash', 'fold', 'peel', 'drip', 'sprinkle', 'land', 'hover',
  'gallop', 'trot', 'pounce', 'crawl', 'stumble', 'kneel', 'sit', 'stand', 'look', 'gaze', 'point', 'grab', 'carry', 'carries', 'toss', 'flick',
  'pedal', 'steer', 'accelerate', 'brake', 'drive', 'ride', 'rise', 'glide', 'slide', 'dance', 'smile', 'race', 'breathe',
  'settle', 'emerge', 'approach', 'cross', 'enter', 'exit', 'arrive', 'leave', 'melt', 'sparkle', 'shimmer', 'flicker', 'glint', 'steam',
  'rustle', 'scatter', 'gather', 'hurry', 'wander', 'stroll', 'march', 'skate', 'surf', 'dive', 'sail', 'spill', 'wipe', 'fill', 'sweep',
  'unwrap', 'reveal', 'bloom', 'sprout', 'grow', 'shrink', 'ignite', 'spray', 'trickle', 'wobble', 'tremble',
];
const MOTION_RE = new RegExp(
  `\\b(?:${[...new Set(MOTION_STEMS)]
    .map((s) => (s.endsWith('e') ? `${s.slice(0, -1)}(?:e|es|ed|ing)` : `${s}(?:s|es|ed|ing|${s.slice(-1)}ing|${s.slice(-1)}ed)?`))
    .join('|')}|flies|flew|ran|rose|fell|swam|sat|stood|rode|drove|threw|caught|spun|swung|grew|dove|drank|ate)\\b`,
  'gi',
);
const MANNER_RE = /\b(slowly|gently|steadily|quickly|gradually|smoothly|briskly|softly|lazily|deliberately|rapidly|calmly|carefully|gracefully|swiftly|playfully|confidently|at a (?:steady|slow|gentle|brisk|measured|even) pace|in one (?:fluid|smooth|continuous) (?:motion|movement)|in real time|in slow motion)\b/i;
const DURATION_RE = /\b\d+(?:\.\d+)?\s?(?:s|sec|secs|seconds?)\b|\b\d+(?:\.\d+)?-second\b/i;
const RANGE_RE = /\b\d+(?:\.\d+)?\s?(?:–|-|to)\s?\d+(?:\.\d+)?\s?(?:s|sec|secs|seconds?)\b/gi;
const AT_TIME_RE = /\b(?:at|by|until|after|around) (?:the )?\d+(?:\.\d+)?\s?(?:s|sec|secs|seconds?)\b(?: mark)?/gi;
const SEQUENCE_RE = /\b(first|then|next|finally|midway|halfway|by the end|at the end|in the final|at the start|to begin)\b/gi;
const VAGUE_MOTION = ['dynamic', 'epic', 'awesome', 'amazing', 'stunning', 'crazy', 'interesting', 'cinematic motion', 'cinematic movement', 'lots of action', 'action-packed', 'moves around', 'some movement', 'lots of movement', 'things happen'];

export const countWords = (text: string) => text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;

/** Timed beats: ranges ("0–2 s") and moments ("at 3 s"), or a sequence (first … then … finally). */
export function beatCount(text: string): number {
  const ranges = text.match(RANGE_RE)?.length ?? 0;
  const moments = text.match(AT_TIME_RE)?.length ?? 0;
  const seq = new Set((text.match(SEQUENCE_RE) ?? []).map((s) => s.toLowerCase())).size;
  return ranges + moments + (seq >= 2 ? seq : 0);
}

export function motionVerbs(text: string): string[] {
  const out = new Set<string>();
  // "starts on …", "ends on …" describe the arc, not what moves
  const t = text.toLowerCase().replace(new RegExp(START_RE.source, 'gi'), ' ').replace(new RegExp(END_RE.source, 'gi'), ' ');
  MOTION_RE.lastIndex = 0;
  for (let m = MOTION_RE.exec(t); m; m = MOTION_RE.exec(t)) out.add(m[0]);
  return [...out];
}

export function hasDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

export function vagueMotion(text: string): string[] {
  const t = text.toLowerCase();
  return VAGUE_MOTION.filter((v) => {
    const re = new RegExp(`\\b${v.replace(/[-]/g, '[- ]')}\\b`, 'g');
    for (let m = re.exec(t); m; m = re.exec(t)) if (!negatedAt(t, m.index)) return true;
    return false;
  });
}

const SIZE_RE = /\b(extreme close-up|macro close-up|medium close-up|close-up|medium shot|medium[- ]wide shot|full shot|extreme wide shot|wide shot|aerial shot|establishing shot|overhead shot|ECU|MCU|CU|MWS|EWS|WS|MS)\b/;
const LENS_RE = /\b\d{2,3}\s?mm\b/i;

// temporal consistency
const CONSTANCY_RE = /\b(stays?|remains?|constant|unchanged|consistent|throughout|does not change|doesn't change|never changes|holds? steady)\b/i;
const IDENTITY_RE =
  /\b(same|unchanged|consistent|keeps?|keeping)\b[^.;]{0,60}\b(identity|face|features|proportions|wardrobe|outfit|clothing|costume|shape|markings|colou?rs?|label|design|appearance|look|fur|paintwork|silhouette)\b|\b(identity|wardrobe|outfit|clothing|appearance|proportions|markings|shape)\b[^.;]{0,30}\b(stays?|remains?|unchanged|constant|consistent)\b/i;
const LIGHT_WORDS_RE = /\b(light|lighting|sun|sunlight|shadows?|daylight|moonlight|glow|exposure|colou?r temperature)\b/i;
const CONTINUOUS_RE = /\b(one continuous (?:shot|take)|single (?:continuous )?take|continuous shot|no cuts?|without (?:a )?cuts?|unbroken (?:shot|take)|one take)\b/i;
const SETTING_CONST_RE = /\b(setting|background|location|scene|room|backdrop|environment|surroundings)\b[^.;]{0,40}\b(stays?|remains?|unchanged|constant|does not change|doesn't change|the same)\b|\b(same|unchanged)\b[^.;]{0,20}\b(setting|background|location|backdrop|environment)\b/i;
const DISCONTINUITY = ['cut to', 'jump cut', 'suddenly', 'morph', 'morphs', 'morphing', 'transforms', 'turns into', 'changes into', 'becomes a', 'flickers', 'flickering', 'flash to', 'flashes to', 'smash cut'];

// physical plausibility
const WEIGHT_RE = /\b(weight|weighty|momentum|inertia|gravity|mass|heft|heavy|weighted)\b/i;
const EASE_RE = /\b(eases? (?:in|out|to a (?:stop|halt))|easing|decelerat\w*|accelerat\w*|settles?|settling|comes? to rest|slows to a (?:stop|halt)|builds? (?:speed|momentum)|ramps? up)\b/i;
const SECONDARY_RE = /\b(hair|fabric|cloth|clothing|coat|skirt|scarf|dust|steam|water|ripples?|splash\w*|leaves|fur|tail|reflections?|suspension|curtains?|smoke|spray|crumbs|snow|sand|mist|follow[- ]through|follows? through|secondary motion)\b/i;
const INTEGRITY_RE = /\b(nothing (?:morphs|warps|melts|stretches)|no (?:morphing|warping|melting|distortion)|without (?:morphing|warping|distortion)|anatomy|anatomically|proportions|keeps? (?:its|his|her|their) shape|rigid|solid|natural (?:motion|movement|gait|stride)|realistic (?:motion|physics|movement)|real[- ]time|real[- ]world physics|physically (?:plausible|accurate))\b/i;
const IMPLAUSIBLE = ['morphs', 'morphing', 'warps', 'warping', 'melts into', 'defies gravity', 'defying gravity', 'teleports', 'teleporting', 'instantly', 'glitch', 'glitches', 'jitter', 'jittery', 'impossibly', 'liquid body', 'in an instant', 'floats away', 'weightless'];

// start → end arc
const START_RE = /\b(starts? (?:on|with|from|in)|opens? (?:on|with)|begins? (?:on|with|in)|opening on|starting on|from the opening frame|first frame)\b/i;
const END_RE = /\b(ends? (?:on|with|in)|settles? (?:on|into)|finish(?:es)? (?:on|with)|lands? on|closes? (?:on|with)|ending on|comes? to rest on|final frame|last frame)\b/i;

/** Terms of `list` present and not negated. */
function present(text: string, list: readonly string[]): string[] {
  const t = text.toLowerCase();
  return list.filter((term) => {
    const re = new RegExp(`\\b${term.replace(/ /g, '\\s+')}\\b`, 'g');
    for (let m = re.exec(t); m; m = re.exec(t)) if (!negatedAt(t, m.index)) return true;
    return false;
  });
}

const STOP = new Set(
  'a an the of and or in on at to from with by for as is are was be it its this that these those into over under across same every frame clip start end lens shot his her their our'.split(' '),
);
export function contentWordSet(text: string): Set<string> {
  return new Set(
    text
      .toLowerCase()
      .split(/[^\p{L}\p{N}-]+/u)
      .filter((w) => w.length > 2 && !STOP.has(w) && !/^\d+mm$/.test(w)),
  );
}

/** The sentence(s) of `text` from the first match of `re` to the end of that sentence. */
function sentenceFrom(text: string, re: RegExp): string {
  const m = re.exec(text);
  if (!m) return '';
  const rest = text.slice(m.index);
  const end = rest.search(/[.!?](\s|$)/);
  return end === -1 ? rest : rest.slice(0, end);
}

/** Whether the text after "starts on"/"ends on" describes the frame: its shot size, or 3+ of its content words. */
function describesFrame(part: string, frame: NonNullable<VideoClipContext['start_frame']>): boolean {
  if (!part) return false;
  const low = part.toLowerCase();
  if (frame.size && low.includes(SHOT_SIZE_WORDS[frame.size])) return true;
  const mine = contentWordSet(part);
  let shared = 0;
  for (const w of contentWordSet(`${frame.prompt} ${frame.framing ?? ''}`)) if (mine.has(w)) shared++;
  return shared >= 3;
}

const clamp = (n: number) => Math.max(0, Math.min(100, n));

export interface VideoRubricOptions {
  clip?: VideoClipContext | null;
}

/** Score a motion prompt on the five video dimensions; see types.ts for the rubric. */
export function videoRubricCritique(prompt: string, opts: VideoRubricOptions = {}): VideoCritique {
  const clip = opts.clip ?? null;
  const feedback: string[] = [];
  const flags: string[] = [];
  const flag = (f: string, advice?: string) => {
    if (flags.includes(f)) return;
    flags.push(f);
    if (advice) feedback.push(advice);
  };
  const n = countWords(prompt);

  // ---- motion clarity: what moves, how, when -------------------------------------------------
  const verbs = motionVerbs(prompt);
  const vague = vagueMotion(prompt);
  const beats = beatCount(prompt);
  const duration = hasDuration(prompt) || !!prompt.match(/\bover (?:one|two|three|four|five|six|seven|eight|nine|ten) seconds\b/i);
  let motion = 10;
  if (contentWordSet(prompt).size >= 2) motion += 10;
  if (verbs.length >= 1) motion += 25;
  if (verbs.length >= 2) motion += 10;
  if (MANNER_RE.test(prompt)) motion += 10;
  if (duration) motion += 15;
  if (beats >= 2) motion += 20;
  motion -= Math.min(24, 8 * vague.length);
  if (n < VIDEO_LENGTH_BAND.min) motion -= 15;
  if (n > VIDEO_LENGTH_BAND.max) motion -= Math.min(30, Math.ceil((n - VIDEO_LENGTH_BAND.max) / 3));

  if (!verbs.length) flag('missing:subject_motion', 'Say what moves and how: give the subject an action verb (walks, turns, pours, drifts).');
  if (!MANNER_RE.test(prompt)) flag('missing:manner', 'Say how it moves: a manner or pace (slowly, steadily, in one fluid motion).');
  if (!duration) flag('missing:duration', `Give the clip's duration in seconds${clip?.duration_s ? ` (${clip.duration_s} s planned)` : ''}.`);
  if (beats < 2) flag('missing:beats', 'Place the action in time: two or three beats with timings (0–2 s …, 2–4 s …, 4–5 s …).');
  for (const v of vague) flag(`vague:${v}`);
  if (vague.length) feedback.push(`Replace vague motion words (${vague.join(', ')}) with what actually moves, and how.`);

  // ---- camera language: one primary move, direction, speed, framing, lens --------------------
  const mentions = cameraMoves(prompt);
  const moves = [...new Set(mentions.map((m) => m.type))];
  let camera = 10;
  if (!moves.length) {
    flag(
      'missing:camera_move',
      clip?.camera
        ? `Name the one planned camera move, with direction and speed: ${moveWords(clip.camera)}.`
        : 'Name one primary camera move with direction and speed (slow dolly in, pan left, static locked-off).',
    );
  } else {
    const primary = mentions[0]!;
    const needsDir = MOVE_DIRECTIONS[primary.type].some((d) => d !== 'none');
    const directed = mentions.find((m) => m.type === primary.type && m.direction);
    const speeded = mentions.find((m) => m.type === primary.type && m.speed);
    camera = 45;
    if (!needsDir || directed) camera += 20;
    else flag(`missing:camera_direction`, `Say which way the ${primary.type} goes (${MOVE_DIRECTIONS[primary.type].join(' or ')}).`);
    if (primary.type === 'static' || speeded) camera += 15;
    else flag('missing:camera_speed', `Give the ${primary.type}'s speed (slow, medium, fast).`);
    if (moves.length > 1) {
      camera = Math.min(45, camera - 35);
      flag(`multiple_camera_moves:${moves.join('+')}`, `One primary camera move per clip: the prompt names ${moves.join(', ')}; keep one.`);
    }
    if (clip?.camera && !moves.includes(clip.camera.type)) {
      camera -= 25;
      flag(`camera_mismatch:${clip.camera.type}`, `The storyboard plans a ${moveWords(clip.camera)}; the prompt moves the camera differently (${moves.join(', ')}).`);
    } else if (clip?.camera && directed && clip.camera.direction !== 'none' && directed.type === clip.camera.type && directed.direction !== clip.camera.direction) {
      camera -= 10;
      flag(`camera_mismatch:${clip.camera.type}_${clip.camera.direction}`, `The storyboard plans the ${clip.camera.type} ${clip.camera.direction}, not ${directed.direction}.`);
    }
  }
  if (SIZE_RE.test(prompt)) camera += 10;
  else flag('missing:framing', 'Give the framing: a shot size (close-up, medium shot, wide shot).');
  if (LENS_RE.test(prompt)) camera += 10;
  else flag('missing:lens', 'Give the focal length (e.g. 35mm) so the move reads as intended.');

  // ---- temporal consistency: what stays constant ----------------------------------------------
  const breaks = present(prompt, DISCONTINUITY);
  let temporal = 20;
  const sentences = prompt.split(/(?<=[.!?;])\s+/);
  const lightHeld = sentences.some((s) => LIGHT_WORDS_RE.test(s) && CONSTANCY_RE.test(s));
  if (CONSTANCY_RE.test(prompt)) temporal += 20;
  else flag('missing:continuity', 'Say what stays constant through the clip (subject, light, setting).');
  if (IDENTITY_RE.test(prompt)) temporal += 20;
  else flag('missing:continuity_subject', "Keep the subject's identity fixed: same face/shape, wardrobe or markings throughout.");
  if (lightHeld) temporal += 20;
  else flag('missing:continuity_light', 'Hold the light: say it stays constant in direction and colour.');
  if (CONTINUOUS_RE.test(prompt)) temporal += 10;
  else flag('missing:continuous_shot', 'Make it one continuous shot with no cuts.');
  if (SETTING_CONST_RE.test(prompt)) temporal += 10;
  else flag('missing:continuity_setting', 'Say the setting does not change.');
  temporal -= 20 * breaks.length;
  for (const b of breaks) flag(`discontinuity:${b}`);
  if (breaks.length) feedback.push(`Remove what breaks continuity (${breaks.join(', ')}): one clip is one continuous moment.`);

  // ---- physical plausibility --------------------------------------------------------------------
  // morphing breaks both the subject's continuity and physics: it counts in both
  const impossible = present(prompt, IMPLAUSIBLE);
  let physics = 30;
  if (WEIGHT_RE.test(prompt)) physics += 20;
  else flag('missing:weight', 'Give motion weight and momentum (it carries real weight, momentum carries through).');
  if (EASE_RE.test(prompt)) physics += 15;
  else flag('missing:easing', 'Say how motion starts and stops (eases in, decelerates, settles).');
  if (SECONDARY_RE.test(prompt)) physics += 15;
  else flag('missing:secondary_motion', 'Add secondary motion that follows the main action (hair, cloth, dust, water).');
  if (INTEGRITY_RE.test(prompt)) physics += 20;
  else flag('missing:integrity', 'Rule out morphing: say shapes and proportions hold (nothing morphs or warps).');
  physics -= 20 * impossible.length;
  for (const t of impossible) flag(`implausible:${t}`);
  if (impossible.length) feedback.push(`Remove physically implausible motion (${impossible.join(', ')}).`);

  // ---- start → end arc (only with frames) -------------------------------------------------------
  let arc: number | null = null;
  if (clip && hasArc(clip)) {
    arc = 10;
    const startPart = sentenceFrom(prompt, START_RE);
    const endPart = sentenceFrom(prompt, END_RE);
    if (START_RE.test(prompt)) arc += 25;
    else flag('missing:arc_start', 'Say what the clip starts on: the start frame.');
    if (END_RE.test(prompt)) arc += 25;
    else flag('missing:arc_end', 'Say what the clip ends on: the end frame.');
    if (describesFrame(startPart, clip.start_frame!)) arc += 20;
    else flag('refine:arc_start_frame', `Describe the start frame where the clip starts${clip.start_frame!.size ? ` (${SHOT_SIZE_WORDS[clip.start_frame!.size]})` : ''}.`);
    if (describesFrame(endPart, clip.end_frame!)) arc += 20;
    else flag('refine:arc_end_frame', `Describe the end frame where the clip ends${clip.end_frame!.size ? ` (${SHOT_SIZE_WORDS[clip.end_frame!.size]})` : ''}.`);
  }

  if (n < VIDEO_LENGTH_BAND.min) flag('too_short', `At ${n} words the motion is left to chance; aim for ${VIDEO_LENGTH_BAND.min}–${VIDEO_LENGTH_BAND.max}.`);
  else if (n > VIDEO_LENGTH_BAND.max) flag('too_long', `At ${n} words the prompt dilutes its motion; aim for at most ${VIDEO_LENGTH_BAND.max}.`);
  if (!feedback.length) feedback.push('Clear motion, one camera move, continuity and physics stated; no changes needed.');

  return {
    scores: withVideoOverall({
      motion_clarity: clamp(motion),
      camera_language: clamp(camera),
      temporal_consistency: clamp(temporal),
      physical_plausibility: clamp(physics),
      start_end_arc: arc === null ? null : clamp(arc),
    }),
    feedback,
    flags,
  };
}

/** The rubric as a CriticAgent for the loop (offline backend). */
export function createVideoRubricCritic(opts: VideoRubricOptions & { ledger?: CostLedger; stage?: string } = {}): CriticAgent<VideoCritique> {
  return {
    name: OFFLINE_VIDEO_CRITIC_MODEL,
    async critique({ prompt }) {
      opts.ledger?.record({ stage: opts.stage ?? 'video_prompt', provider: 'offline', model: OFFLINE_VIDEO_CRITIC_MODEL, kind: 'none', cost_usd: 0, note: 'rule-based, no LLM' });
      return { output: videoRubricCritique(prompt, opts), model: OFFLINE_VIDEO_CRITIC_MODEL, usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 };
    },
  };
}
