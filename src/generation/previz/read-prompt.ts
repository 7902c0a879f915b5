import { readCamera } from './read-camera.js';
import { readAngle, readPlacement, readShot, type Angle, type Horizontal, type ShotSize, type Vertical } from './read-framing.js';
import { readLight, type KeyQuality, type KeySide } from './read-light.js';
import { readPalette, type MoodPalette, type PaletteSource } from './read-palette.js';
import { readSubject, type Silhouette, type SubjectClass } from './read-subject.js';
import { seeded, seededPick } from './rng.js';

export type { Angle, Horizontal, KeyQuality, KeySide, PaletteSource, ShotSize, Silhouette, SubjectClass, Vertical };

/** A value the prompt left open and the seed chose. */
export type SeededField = 'placement' | 'horizon' | 'key_side' | 'key_quality';
/** A value neither the prompt nor the seed sets: a fixed default. */
export type DefaultedField = 'subject' | 'shot_size' | 'placement_vertical' | 'horizon' | 'palette';

/**
 * What the panel understood from the prompt. Stored in each image's metadata as
 * `provider.reading`, so a user (and a test) can see what was read and what the seed chose.
 */
export interface PanelReading {
  subject_class: SubjectClass;
  /** The subject's own noun ("cat", "cup", "skyline"); null when the prompt names none. */
  subject: string | null;
  /** The shape drawn for it. */
  silhouette: Silhouette;
  placement: { horizontal: Horizontal; vertical: Vertical; foreground: boolean };
  horizon: 'high' | 'low';
  angle: Angle | null;
  dutch: boolean;
  key_side: KeySide;
  key_quality: KeyQuality;
  /** The lighting words the key's side was read from, as written; null when the seed chose. */
  key_phrase: string | null;
  /** The word its quality was read from; null when the seed chose. */
  key_quality_phrase: string | null;
  palette_source: PaletteSource;
  /** sRGB hex, most important first. */
  palette: string[];
  /** The colours' names, or the mood palette's name. */
  palette_names: string[];
  shot_size: ShotSize;
  /** The phrase the shot size was read from; null when it is the default for the subject. */
  shot_phrase: string | null;
  lens: string[];
  camera: string | null;
  film: string | null;
  /** The fields the seed chose because the prompt left them open. */
  from_seed: SeededField[];
  /** The fields set by a fixed default. */
  defaults: DefaultedField[];
}

/** With no shot phrase, the usual framing for the subject. */
const DEFAULT_SHOT: Record<SubjectClass, ShotSize> = {
  person: 'medium',
  animal: 'medium',
  product: 'close-up',
  food: 'close-up',
  vehicle: 'wide',
  landscape: 'wide',
};

/** Everything the panel takes from the prompt, with its mood palette for drawing. Pure. */
export function readPromptFull(prompt: string, seed = 0): { reading: PanelReading; mood: MoodPalette | null } {
  const subject = readSubject(prompt);
  const shot = readShot(prompt);
  const { angle, dutch } = readAngle(prompt);
  const place = readPlacement(prompt);
  const light = readLight(prompt);
  const palette = readPalette(prompt);
  const camera = readCamera(prompt);
  const fromSeed: SeededField[] = [];
  const defaults: DefaultedField[] = [];

  let horizontal: Horizontal;
  if (place.horizontal === null || place.horizontal === 'thirds') {
    // rule of thirds without a side: one of the thirds; nothing said: a third or the centre
    horizontal = seededPick(seed, 'placement', place.horizontal === 'thirds' ? (['left third', 'right third'] as const) : (['left third', 'centre', 'right third'] as const));
    fromSeed.push('placement');
  } else horizontal = place.horizontal;
  const vertical = place.vertical ?? 'middle';
  if (!place.vertical) defaults.push('placement_vertical');

  let horizon: 'high' | 'low';
  if (place.horizon) horizon = place.horizon;
  else if (angle === 'low angle') horizon = 'low'; // looking up: mostly sky
  else if (angle === 'high angle') horizon = 'high'; // looking down: mostly ground
  else if (subject.subject_class === 'landscape') {
    horizon = 'low'; // scenery stands on a low horizon, with the sky to show it against
    defaults.push('horizon');
  } else {
    horizon = seeded(seed, 'horizon') < 0.5 ? 'high' : 'low';
    fromSeed.push('horizon');
  }

  let keySide: KeySide;
  if (light.key_side === null) {
    keySide = seededPick(seed, 'key_side', ['left', 'right'] as const);
    fromSeed.push('key_side');
  } else if (light.key_side === 'side') {
    keySide = seededPick(seed, 'key_side', ['left', 'right'] as const);
    fromSeed.push('key_side');
  } else keySide = light.key_side;

  let keyQuality: KeyQuality;
  if (light.key_quality) keyQuality = light.key_quality;
  else {
    keyQuality = seeded(seed, 'key_quality') < 0.5 ? 'soft' : 'hard';
    fromSeed.push('key_quality');
  }

  if (!subject.subject) defaults.push('subject');
  if (!shot) defaults.push('shot_size');
  if (palette.source === 'default') defaults.push('palette');

  const reading: PanelReading = {
    subject_class: subject.subject_class,
    subject: subject.subject,
    silhouette: subject.silhouette,
    placement: { horizontal, vertical, foreground: place.foreground },
    horizon,
    angle,
    dutch,
    key_side: keySide,
    key_quality: keyQuality,
    key_phrase: light.side_phrase,
    key_quality_phrase: light.quality_phrase,
    palette_source: palette.source,
    palette: palette.colours,
    palette_names: palette.names,
    shot_size: shot?.size ?? DEFAULT_SHOT[subject.subject_class],
    shot_phrase: shot?.phrase ?? null,
    lens: camera.lens,
    camera: camera.camera,
    film: camera.film,
    from_seed: fromSeed,
    defaults,
  };
  return { reading, mood: palette.mood };
}

/**
 * The panel's reading of a prompt: subject, placement, key light, palette, shot size, lens and
 * film notes. The prompt's own words decide; the seed fills only what the prompt leaves open and
 * `from_seed` names those fields. Pure: the same prompt and seed give the same reading.
 */
export function readPrompt(prompt: string, seed = 0): PanelReading {
  return readPromptFull(prompt, seed).reading;
}
