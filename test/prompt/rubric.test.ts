import { describe, expect, it } from 'vitest';
import { parseBrand } from '../../src/prompt/brand.js';
import { rubricCritique } from '../../src/prompt/rubric-critic.js';
import { contradictions, findStuffing } from '../../src/prompt/slots.js';
import { CritiqueSchema } from '../../src/prompt/types.js';

const STUFFED = 'cat, windowsill, 8k, masterpiece, trending on artstation, ultra detailed, best quality, octane render';
const BARE = 'a cat on a windowsill';
const COMPLETE =
  'A ginger cat dozing on a sunlit windowsill in the late afternoon. A medium close-up from an eye-level angle, composed on the rule of thirds. ' +
  'Shot on a Canon EOS R5 with an 85mm portrait lens at f/2, with a shallow depth of field. Lit by soft afternoon window light from camera left, ' +
  'warm at about 4500K, with dust motes drifting in the light. Kodak Portra 400 film look with a warm, natural grade, resolving fine detail in fur. ' +
  'The mood is calm and cozy. Framed for a 4:5 vertical aspect ratio.';

describe('rubric critic', () => {
  it('orders stuffed < bare < complete, on every dimension that matters', () => {
    const s = rubricCritique(STUFFED).scores;
    const b = rubricCritique(BARE).scores;
    const c = rubricCritique(COMPLETE).scores;
    expect(s.overall).toBeLessThan(b.overall);
    expect(b.overall).toBeLessThan(c.overall);
    expect(c.overall).toBeGreaterThanOrEqual(90);
    expect(b.overall).toBeLessThan(50);
    expect(s.professionalism).toBeLessThan(b.professionalism);
    expect(c.cinematography).toBe(100);
    expect(b.cinematography).toBe(0);
  });

  it('returns the LLM critic shape, with machine-readable flags for what is missing', () => {
    const r = rubricCritique(BARE);
    expect(CritiqueSchema.parse(r)).toEqual(r);
    expect(r.flags).toEqual(expect.arrayContaining(['missing:lens', 'missing:camera', 'missing:light_direction', 'missing:colour_temperature', 'too_short']));
    expect(r.feedback.length).toBeGreaterThan(3);
    expect(r.scores.brand_alignment).toBeNull();
  });

  it('names each stuffing term once and flags the tag list', () => {
    expect(findStuffing(STUFFED).sort()).toEqual(['8k', 'best quality', 'masterpiece', 'octane render', 'trending on artstation', 'ultra detailed'].sort());
    const r = rubricCritique(STUFFED);
    expect(r.flags).toContain('stuffing:trending on artstation');
    expect(r.flags).not.toContain('stuffing:artstation');
    expect(r.flags).toContain('tag_list');
  });

  it('penalises contradictions', () => {
    const clash = COMPLETE.replace('in the late afternoon', 'at sunrise under the midnight moonlight');
    expect(contradictions(clash).map((c) => c.group)).toContain('time_of_day');
    expect(rubricCritique(clash).scores.overall).toBeLessThan(rubricCritique(COMPLETE).scores.overall);
    expect(rubricCritique(clash).flags).toContain('contradiction:time_of_day');
  });

  it('penalises length outside the band', () => {
    const long = `${COMPLETE} ${COMPLETE.replace(/\./g, ';')}`;
    const r = rubricCritique(long);
    expect(r.flags).toContain('too_long');
    expect(r.scores.professionalism).toBeLessThan(rubricCritique(COMPLETE).scores.professionalism);
  });

  it('scores brand alignment from palette, tone, must_include and avoid', () => {
    const brand = parseBrand(JSON.stringify({ palette: ['copper'], tone: ['calm'], must_include: ['steam'], avoid: ['neon'] }));
    const without = rubricCritique(COMPLETE, { brand });
    const withAll = rubricCritique(`${COMPLETE} Copper tones, with steam rising.`, { brand });
    const avoided = rubricCritique(`${COMPLETE} Copper tones, with steam rising under neon.`, { brand });
    expect(withAll.scores.brand_alignment).toBe(100);
    expect(without.scores.brand_alignment!).toBeLessThan(withAll.scores.brand_alignment!);
    expect(without.flags).toEqual(expect.arrayContaining(['brand_missing:copper', 'brand_missing:steam']));
    expect(avoided.flags).toContain('brand_avoid:neon');
    expect(avoided.scores.brand_alignment!).toBeLessThanOrEqual(70);
  });
});
