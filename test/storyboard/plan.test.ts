import { describe, expect, it } from 'vitest';
import { clipFrames } from '../../src/storyboard/frames.js';
import { planOffline, splitPrompt } from '../../src/storyboard/offline-planner.js';
import { MOVE_DIRECTIONS, MOVES, SHOT_SIZES, StoryboardPlanSchema, validatePlan, type StoryboardPlan } from '../../src/storyboard/plan.js';
import { designFrames } from '../../src/storyboard/storyboard.js';

const CAT = 'a cat sleeping on a windowsill in the afternoon';
const BARISTA =
  'A barista pulls an espresso shot in a sunlit café. She pours steamed milk into the cup, drawing a leaf of latte art, then slides the cup across the counter to a smiling customer. Lit by soft morning light from camera left. Kodak Portra 400 look. A medium close-up from a low angle. Shot on an ARRI Alexa with a 50mm lens.';

/** A one-clip plan with the given shot, for the validator and the frame prompts. */
function oneClip(shot: Partial<StoryboardPlan['clips'][number]['shot']> & { movement?: Partial<StoryboardPlan['clips'][number]['shot']['movement']> }): StoryboardPlan {
  const base = planOffline({ prompt: CAT, numClips: 1, seed: 1 });
  const c = base.clips[0]!;
  return { ...base, clips: [{ ...c, shot: { ...c.shot, ...shot, movement: { ...c.shot.movement, ...(shot.movement ?? {}) } } }] };
}

describe('the plan vocabulary and its validator', () => {
  it('accepts the offline plans and rejects two primary moves in one clip', () => {
    expect(validatePlan(planOffline({ prompt: BARISTA, numClips: 4, seed: 2 }), 4)).toEqual([]);
    const two = oneClip({ movement: { type: 'dolly', direction: 'in', end_lens_mm: 24, description: 'a slow dolly in while panning left' }, lens_mm: 24 });
    expect(validatePlan(two).join('\n')).toMatch(/one primary camera move per clip: the dolly's description also names pan/);
  });

  it('rejects a zoom called a dolly and a zoom that does not change focal length', () => {
    const dollyWithLensChange = oneClip({ lens_mm: 24, movement: { type: 'dolly', direction: 'in', end_lens_mm: 50 } });
    expect(validatePlan(dollyWithLensChange).join('\n')).toMatch(/a dolly keeps the focal length \(a focal-length change is a zoom/);
    const dollyDescribedAsZoom = oneClip({ lens_mm: 24, movement: { type: 'dolly', direction: 'in', end_lens_mm: 24, description: 'zoom in on the cat' } });
    expect(validatePlan(dollyDescribedAsZoom).join('\n')).toMatch(/also names zoom/);
    const flatZoom = oneClip({ lens_mm: 35, movement: { type: 'zoom', direction: 'in', end_lens_mm: 35 } });
    expect(validatePlan(flatZoom).join('\n')).toMatch(/a zoom changes focal length/);
    const backwardZoom = oneClip({ lens_mm: 35, movement: { type: 'zoom', direction: 'in', end_lens_mm: 24 } });
    expect(validatePlan(backwardZoom).join('\n')).toMatch(/zoom in ends on a longer focal length/);
    expect(validatePlan(oneClip({ lens_mm: 35, movement: { type: 'zoom', direction: 'in', end_lens_mm: 70 } }))).toEqual([]);
  });

  it('rejects directions outside the move\'s own set, bad numbering, unknown entities and forward dependencies', () => {
    expect(validatePlan(oneClip({ movement: { type: 'pan', direction: 'up' } })).join('\n')).toMatch(/a pan moves left or right, not "up"/);
    const p = planOffline({ prompt: BARISTA, numClips: 3, seed: 1 });
    const broken = { ...p, clips: p.clips.map((c, i) => (i === 1 ? { ...c, clip: 5, entities: ['ghost'], depends_on: [9] } : c)) };
    const problems = validatePlan(broken, 3).join('\n');
    expect(problems).toMatch(/numbered 1..N/);
    expect(problems).toMatch(/unknown entity "ghost"/);
    expect(problems).toMatch(/depends on clip 9, which is not earlier/);
    expect(validatePlan(p, 4)).toContain('plan has 3 clips, 4 were asked for');
  });

  it('draws every size, move and direction from one controlled vocabulary', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const plan = planOffline({ prompt: BARISTA, numClips: 6, seed });
      for (const c of plan.clips) {
        expect(SHOT_SIZES).toContain(c.shot.size);
        expect(MOVES).toContain(c.shot.movement.type);
        expect(MOVE_DIRECTIONS[c.shot.movement.type]).toContain(c.shot.movement.direction);
      }
      expect(StoryboardPlanSchema.parse(plan)).toEqual(plan);
    }
  });
});

describe('the offline planner', () => {
  it('is deterministic by seed, and the seed only settles what the prompt leaves open', () => {
    expect(planOffline({ prompt: BARISTA, numClips: 3, seed: 7 })).toEqual(planOffline({ prompt: BARISTA, numClips: 3, seed: 7 }));
    const shots = new Set([1, 2, 3, 4, 5, 6].map((seed) => JSON.stringify(planOffline({ prompt: BARISTA, numClips: 3, seed }).clips.map((c) => c.shot))));
    expect(shots.size).toBeGreaterThan(1);
    const beats = new Set([1, 2, 3].map((seed) => JSON.stringify(planOffline({ prompt: BARISTA, numClips: 3, seed }).clips.map((c) => c.description))));
    expect(beats.size).toBe(1); // the beats come from the prompt, whatever the seed
  });

  it('takes beats from the prompt\'s sentences and clauses, and keeps the look out of them', () => {
    const { beats, style } = splitPrompt(BARISTA);
    expect(beats[0]).toBe('A barista pulls an espresso shot in a sunlit café');
    expect(style).toMatch(/Lit by soft morning light/);
    expect(style).toMatch(/Kodak Portra/);
    // a clip's framing is its own: no shot size, lens or camera from the prompt in the shared block
    expect(style).not.toMatch(/close-up|50mm|ARRI/);
    const plan = planOffline({ prompt: BARISTA, numClips: 3, seed: 1 });
    expect(plan.clips.map((c) => c.description)).toEqual([
      'A barista pulls an espresso shot in a sunlit café',
      'She pours steamed milk into the cup, drawing a leaf of latte art',
      'She slides the cup across the counter to a smiling customer',
    ]);
  });

  it('with fewer beats than clips, follows a narrative arc from wide to near', () => {
    const plan = planOffline({ prompt: CAT, numClips: 4, seed: 3 });
    expect(plan.clips.map((c) => c.narrative_role)).toEqual(['establish', 'develop', 'climax', 'resolve']);
    expect(plan.clips.every((c) => c.description.toLowerCase().includes('cat'))).toBe(true);
    const size = (s: string) => SHOT_SIZES.indexOf(s as (typeof SHOT_SIZES)[number]);
    // the establishing shot is wider than the climax
    expect(size(plan.clips[0]!.shot.size)).toBeGreaterThan(size(plan.clips[2]!.shot.size));
    expect(plan.entities).toEqual([expect.objectContaining({ id: 'subject', name: 'cat', consistency_group: 'main-subject' })]);
    for (const n of [1, 2, 3, 5, 12]) expect(planOffline({ prompt: CAT, numClips: n, seed: 1 }).clips).toHaveLength(n);
  });
});

describe('start and end frames follow the move', () => {
  it('a dolly in from a medium shot ends nearer on the same lens; a dolly out ends wider', () => {
    const f = clipFrames(...withClip({ size: 'MS', lens_mm: 50, movement: { type: 'dolly', direction: 'in', end_lens_mm: 50 } }));
    expect(f.start.size).toBe('MS');
    expect(f.end.size).toBe('MCU');
    expect(f.end.lens_mm).toBe(50);
    expect(f.start.prompt).toMatch(/A medium shot /);
    expect(f.end.prompt).toMatch(/A medium close-up /);
    expect(f.end.prompt).toMatch(/moved in/);
    expect(clipFrames(...withClip({ size: 'MS', lens_mm: 50, movement: { type: 'dolly', direction: 'out', end_lens_mm: 50 } })).end.size).toBe('MWS');
  });

  it('a zoom ends on its end focal length; a pan right ends on what was right of frame', () => {
    const z = clipFrames(...withClip({ size: 'WS', lens_mm: 24, movement: { type: 'zoom', direction: 'in', end_lens_mm: 50 } }));
    expect(z.end.lens_mm).toBe(50);
    expect(z.end.size).toBe('MWS');
    expect(z.end.prompt).toMatch(/zoomed in to 50mm from the same position/);
    const p = clipFrames(...withClip({ size: 'MS', lens_mm: 50, movement: { type: 'pan', direction: 'right', end_lens_mm: 50 } }));
    expect(p.end.size).toBe('MS');
    expect(p.end.prompt).toMatch(/panned right: the frame now rests on what was right of frame/);
    expect(p.motion.camera).toMatch(/pan right/);
  });

  it('every frame prompt carries the same character and style blocks', () => {
    const plan = planOffline({ prompt: BARISTA, numClips: 3, seed: 2 });
    const { specs } = designFrames({ plan, seed: 9, fromImage: false });
    for (const s of specs) {
      expect(s.prompt).toContain('Same character in every frame: barista:');
      expect(s.prompt).toContain('Lit by soft morning light');
    }
  });
});

describe('frame continuity', () => {
  it('one seed per consistency group; clip 1 starts on the source image; a continuous transition starts where the last clip ended', () => {
    const plan = planOffline({ prompt: BARISTA, numClips: 3, seed: 2 });
    plan.clips[0]!.shot.transition = 'continuous';
    const { specs, seeds } = designFrames({ plan, seed: 9, fromImage: true });
    expect(seeds).toEqual({ 'main-subject': 9 });
    expect(new Set(specs.map((s) => s.seed))).toEqual(new Set([9]));
    expect(specs.find((s) => s.key === 'c001-start')!.how).toEqual({ source: 'from-image' });
    expect(specs.find((s) => s.key === 'c002-start')!.how).toEqual({ source: 'continues', from: 'c001-end' });
    expect(specs.find((s) => s.key === 'c003-start')!.how.source).toBe(plan.clips[1]!.shot.transition === 'continuous' ? 'continues' : 'generate');
  });
});

function withClip(shot: Partial<StoryboardPlan['clips'][number]['shot']> & { movement: Partial<StoryboardPlan['clips'][number]['shot']['movement']> }): [StoryboardPlan, StoryboardPlan['clips'][number]] {
  const plan = oneClip(shot);
  return [plan, plan.clips[0]!];
}
