import { describe, expect, it } from 'vitest';
import { runFeedbackLoop } from '../../src/prompt/loop.js';
import { createVideoRubricCritic, distinctMoves, videoRubricCritique } from '../../src/video-prompt/critic.js';
import { createOfflineDirector, direct } from '../../src/video-prompt/director.js';
import type { VideoClipContext, VideoCritique } from '../../src/video-prompt/types.js';

const CLIP: VideoClipContext = {
  clip: 2,
  description: 'A fox runs across the frozen lake, and the ice begins to crack',
  subject: 'fox',
  background: 'across the frozen lake',
  camera: { type: 'orbit', direction: 'left', speed: 'slow', end_lens_mm: 50, description: '' },
  shot: { size: 'MS', angle: 'eye level', lens_mm: 50 },
  duration_s: 4,
  start_frame: { file: 'clip_002_start.png', prompt: 'A fox runs across the frozen lake (start of the clip). A medium shot at eye level, 50mm lens; opening framing of a slow orbit left.', size: 'MS', lens_mm: 50, framing: 'opening framing of a slow orbit left' },
  end_frame: { file: 'clip_002_end.png', prompt: 'A fox runs across the frozen lake (end of the clip). A medium shot at eye level, 50mm lens; orbited left around the subject.', size: 'MS', lens_mm: 50, framing: 'orbited left around the subject: seen from its side' },
};

async function loop(prompt: string, clip?: VideoClipContext, threshold = 101, maxIterations = 3) {
  return runFeedbackLoop<VideoCritique>({
    original: prompt,
    creative: createOfflineDirector({ seed: 3, clip }),
    critic: createVideoRubricCritic({ clip }),
    overall: (c) => c.scores.overall,
    maxIterations,
    threshold,
  });
}

describe('offline director', () => {
  it('improves the score across rounds, using the critique', async () => {
    const original = 'a perfume bottle on a table';
    const r = await loop(original);
    const scores = r.iterations.map((i) => i.overall);
    expect(scores[0]).toBeGreaterThan(videoRubricCritique(original).scores.overall);
    expect(scores[1]).toBeGreaterThan(scores[0]!);
    expect(r.best.overall).toBeGreaterThanOrEqual(85);
    // round 2 added what the critic asked for, and says so
    expect(r.iterations[1]!.agent1.notes!.join(' ')).toMatch(/timed beats \(critic: missing:beats/);
    expect(r.iterations[1]!.prompt).toMatch(/0–2 s/);
    expect(r.iterations[1]!.prompt).toMatch(/Throughout/);
    expect(r.iterations[1]!.prompt).toMatch(/weight and momentum/);
    // the user's words lead
    expect(r.best.prompt.startsWith('A perfume bottle on a table.')).toBe(true);
  });

  it('with a clip context: the planned move, the duration and the start → end arc', async () => {
    const r = await loop('Camera: slow orbit left. Subject: A fox runs across the frozen lake, over 4 s.', CLIP, 85);
    const p = r.best.prompt;
    expect(p).toMatch(/starts on the start frame, a medium shot at 50mm of the fox/);
    expect(p).toMatch(/ends on the end frame, a medium shot at 50mm/);
    expect(p).toMatch(/one slow orbit left/);
    expect(p).toMatch(/Over 4 seconds/);
    expect(distinctMoves(p)).toEqual(['orbit']);
    expect(r.best.critique.scores.start_end_arc).toBeGreaterThanOrEqual(90);
    expect(r.stopReason).toBe('threshold_met');
  });

  it('gathers two camera moves into one primary move, and notes it', () => {
    const out = direct({ original: 'A woman walks through a market while the camera dollies in and pans left.', previous: null, critique: null });
    expect(distinctMoves(out.prompt)).toEqual(['dolly']);
    expect(out.camera).toMatchObject({ type: 'dolly', direction: 'in' });
    expect(out.notes.join(' ')).toMatch(/kept the dolly, dropped pan/);
    expect(out.prompt).toMatch(/^A woman walks through a market\./);
  });

  it('is deterministic for a seed, and the seed changes its choices', () => {
    const a = direct({ original: 'a city street at dusk', previous: null, critique: null, seed: 1 });
    expect(direct({ original: 'a city street at dusk', previous: null, critique: null, seed: 1 }).prompt).toBe(a.prompt);
    const seen = new Set([0, 1, 2, 3, 4, 5].map((seed) => direct({ original: 'a city street at dusk', previous: null, critique: null, seed }).prompt));
    expect(seen.size).toBeGreaterThan(1);
  });
});
