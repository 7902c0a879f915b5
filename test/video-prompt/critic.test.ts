import { describe, expect, it } from 'vitest';
import { cameraMoves, distinctMoves, videoRubricCritique } from '../../src/video-prompt/critic.js';
import { VIDEO_DIMENSIONS, withVideoOverall, type VideoClipContext } from '../../src/video-prompt/types.js';

const DETAILED =
  'A barista slowly pours steamed milk into a cup of espresso on a marble counter. From a close-up at 85mm at eye level, ' +
  'the camera makes one slow dolly in toward the cup, a single continuous move at an even speed. Over 6 seconds: 0–2 s, the pour begins; ' +
  '2–4 s, a leaf pattern spreads across the surface; 4–6 s, the camera eases to a stop as the milk settles. Throughout, the barista keeps the same ' +
  'wardrobe and the light stays constant in direction and colour temperature, and the setting does not change; one continuous shot with no cuts. ' +
  'The milk carries real weight and momentum, steam drifts up and ripples spread, and nothing morphs or warps.';

const CLIP: VideoClipContext = {
  clip: 1,
  description: 'A fox crosses the frozen lake',
  subject: 'fox',
  camera: { type: 'dolly', direction: 'in', speed: 'slow', end_lens_mm: 50, description: '' },
  shot: { size: 'MS', angle: 'eye level', lens_mm: 50 },
  duration_s: 5,
  start_frame: { file: 'clip_001_start.png', prompt: 'A fox crosses the frozen lake (start of the clip). A medium shot at eye level, 50mm lens.', size: 'MS', lens_mm: 50 },
  end_frame: { file: 'clip_001_end.png', prompt: 'A fox crosses the frozen lake (end of the clip). A medium close-up at eye level, 50mm lens; the camera has moved in.', size: 'MCU', lens_mm: 50 },
};

describe('video rubric critic', () => {
  it('documents five dimensions and the overall is their mean (arc left out when null)', () => {
    expect(VIDEO_DIMENSIONS).toEqual(['motion_clarity', 'camera_language', 'temporal_consistency', 'physical_plausibility', 'start_end_arc']);
    expect(withVideoOverall({ motion_clarity: 80, camera_language: 60, temporal_consistency: 40, physical_plausibility: 20, start_end_arc: null }).overall).toBe(50);
    expect(withVideoOverall({ motion_clarity: 80, camera_language: 60, temporal_consistency: 40, physical_plausibility: 20, start_end_arc: 100 }).overall).toBe(60);
  });

  it('a vague prompt scores low on camera_language and motion_clarity, with specific feedback', () => {
    const c = videoRubricCritique('a car, dynamic and epic');
    expect(c.scores.camera_language).toBeLessThanOrEqual(20);
    expect(c.scores.motion_clarity).toBeLessThanOrEqual(20);
    expect(c.scores.overall).toBeLessThan(40);
    expect(c.flags).toEqual(expect.arrayContaining(['missing:camera_move', 'missing:subject_motion', 'missing:duration', 'vague:dynamic', 'vague:epic']));
    expect(c.feedback.join(' ')).toMatch(/camera move/);
  });

  it('two camera moves in one clip are flagged and scored down', () => {
    const two = videoRubricCritique('A woman walks slowly through a market as the camera dollies in and pans left, over 5 seconds.');
    const one = videoRubricCritique('A woman walks slowly through a market as the camera dollies in slowly, over 5 seconds.');
    expect(two.flags).toContain('multiple_camera_moves:dolly+pan');
    expect(two.scores.camera_language).toBeLessThanOrEqual(45);
    expect(one.flags.some((f) => f.startsWith('multiple_camera_moves'))).toBe(false);
    expect(one.scores.camera_language).toBeGreaterThan(two.scores.camera_language);
    expect(two.feedback.join(' ')).toMatch(/One primary camera move per clip/);
  });

  it('a plausible, detailed prompt scores high on every dimension', () => {
    const c = videoRubricCritique(DETAILED);
    for (const d of ['motion_clarity', 'camera_language', 'temporal_consistency', 'physical_plausibility'] as const) expect(c.scores[d], d).toBeGreaterThanOrEqual(85);
    expect(c.scores.overall).toBeGreaterThanOrEqual(90);
    expect(c.flags.filter((f) => /^(multiple|implausible|discontinuity)/.test(f))).toEqual([]);
  });

  it('start_end_arc is neutral (null) without a clip context, and scored with one', () => {
    expect(videoRubricCritique(DETAILED).scores.start_end_arc).toBeNull();
    const noArc = videoRubricCritique(DETAILED, { clip: CLIP });
    expect(noArc.scores.start_end_arc).toBeLessThanOrEqual(30);
    expect(noArc.flags).toEqual(expect.arrayContaining(['missing:arc_start', 'missing:arc_end']));
    const withArc = videoRubricCritique(`${DETAILED} It starts on a medium shot of the fox and ends on a medium close-up of the fox.`, { clip: CLIP });
    expect(withArc.scores.start_end_arc).toBe(100);
    // the arc counts in the overall only when it is scored
    expect(noArc.scores.overall).toBeLessThan(videoRubricCritique(DETAILED).scores.overall);
  });

  it('a move other than the planned one is a mismatch', () => {
    const c = videoRubricCritique('A fox crosses the frozen lake as the camera makes one slow pan right, over 5 seconds.', { clip: CLIP });
    expect(c.flags).toContain('camera_mismatch:dolly');
  });

  it('physically implausible and discontinuous motion count against the prompt; negated mentions do not', () => {
    const bad = videoRubricCritique('A dancer spins, then teleports across the stage and morphs into a bird; cut to the crowd.');
    expect(bad.flags).toEqual(expect.arrayContaining(['implausible:teleports', 'discontinuity:cut to', 'discontinuity:morphs']));
    expect(bad.scores.physical_plausibility).toBeLessThan(30);
    expect(bad.scores.temporal_consistency).toBeLessThan(20);
    const negated = videoRubricCritique('A dancer spins slowly; nothing morphs or warps, no cuts, no zoom.');
    expect(negated.flags.filter((f) => /^(implausible|discontinuity)/.test(f))).toEqual([]);
    expect(distinctMoves('no zoom, no pan left; the camera stays locked-off')).toEqual(['static']);
  });

  it('reads camera moves with direction and speed, and tells a truck (vehicle) from a truck move', () => {
    expect(cameraMoves('a slow dolly in toward her').map((m) => [m.type, m.direction, m.speed])).toEqual([['dolly', 'in', 'slow']]);
    expect(distinctMoves('a red truck drives down the road')).toEqual([]);
    expect(distinctMoves('the camera trucks left with the runner')).toEqual(['truck']);
    expect(distinctMoves('shot on a zoom lens, with a tilt-shift look')).toEqual([]);
  });
});
