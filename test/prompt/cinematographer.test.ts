import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBrand } from '../../src/prompt/brand.js';
import { cinematograph } from '../../src/prompt/offline-cinematographer.js';
import { rubricCritique } from '../../src/prompt/rubric-critic.js';
import { contentWords, contradictions, coverage, words } from '../../src/prompt/slots.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { ASPECT_RATIOS, aspectRatioIn } from '../../src/generation/metadata.js';
import { ASPECTS } from '../../src/prompt/vocabulary.js';
import { RunOptionsSchema } from '../../src/workflow/run-options.js';

const DEV = readFileSync(join(REPO_ROOT, 'examples', 'dev_prompts.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);

describe('offline cinematographer on every dev prompt', () => {
  it('has the dev prompts', () => expect(DEV.length).toBeGreaterThanOrEqual(20));

  for (const p of DEV)
    it(`keeps the subject and adds camera and lighting: "${p}"`, () => {
      const out = cinematograph({ original: p, previous: null, critique: null }).prompt;
      const outWords = new Set(words(out));
      for (const w of contentWords(p)) expect(outWords, `lost "${w}"`).toContain(w);
      // the user's sentence leads: scene order who/what → … → style
      expect(out.toLowerCase().startsWith(p.toLowerCase())).toBe(true);
      const cov = coverage(out);
      for (const slot of ['shot_size', 'angle', 'camera', 'lens', 'light_source', 'light_direction', 'light_quality', 'colour_temperature', 'composition', 'film_grade', 'mood', 'aspect', 'setting', 'time'] as const)
        expect(cov.slots.has(slot), `${slot} missing in: ${out}`).toBe(true);
      expect(contradictions(out)).toEqual([]);
      // natural sentences, not a tag list
      expect(out.split('. ').length).toBeGreaterThanOrEqual(6);
      expect(rubricCritique(out).flags).not.toContain('tag_list');
      expect(rubricCritique(out).scores.overall).toBeGreaterThan(rubricCritique(p).scores.overall + 40);
    });
});

describe('offline cinematographer behaviour', () => {
  const p = 'a violinist performing on a rooftop at dusk';

  it('is deterministic for the same content and seed, and the seed changes the choices', () => {
    const a = cinematograph({ original: p, previous: null, critique: null, seed: 1 }).prompt;
    const b = cinematograph({ original: p, previous: null, critique: null, seed: 1 }).prompt;
    const others = [2, 3, 4, 5].map((seed) => cinematograph({ original: p, previous: null, critique: null, seed }).prompt);
    expect(a).toBe(b);
    expect(others.some((o) => o !== a)).toBe(true);
  });

  it('fixes what the critic flagged last round', () => {
    const r1 = cinematograph({ original: p, previous: null, critique: null });
    const c1 = rubricCritique(r1.prompt);
    expect(c1.flags).toContain('refine:atmosphere');
    const r2 = cinematograph({ original: p, previous: r1.prompt, critique: c1 });
    const cov = coverage(r2.prompt);
    expect(cov.refinements.has('atmosphere')).toBe(true);
    expect(cov.refinements.has('depth_of_field')).toBe(true);
    expect(r2.notes.join(' ')).toMatch(/refine:atmosphere/);
    expect(rubricCritique(r2.prompt).scores.overall).toBeGreaterThan(c1.scores.overall);
  });

  it('keeps light consistent with the time of day the user gave', () => {
    expect(cinematograph({ original: 'a teenager coding late at night in a dark bedroom', previous: null, critique: null }).prompt).not.toMatch(/sunrise|midday|golden-hour sun/i);
    expect(cinematograph({ original: 'a woman jogging along a beach at sunrise', previous: null, critique: null }).prompt).not.toMatch(/moonlight|midnight/i);
  });

  it('drops quality-booster tags but keeps the content', () => {
    const out = cinematograph({ original: 'a red fox in snow, 8k, masterpiece, trending on artstation', previous: null, critique: null }).prompt;
    expect(out).not.toMatch(/8k|masterpiece|artstation/i);
    expect(out).toMatch(/^A red fox in snow/);
  });

  it('brings in the brand and never what it avoids', () => {
    const brand = parseBrand(readFileSync(join(REPO_ROOT, 'examples', 'brand.json'), 'utf8'));
    for (const q of DEV) {
      const out = cinematograph({ original: q, previous: null, critique: null, brand }).prompt;
      expect(out).toMatch(/deep forest green/);
      expect(out).toMatch(/steam and hands/);
      if (!/neon/i.test(q)) expect(out).not.toMatch(/\bneon\b|harsh flash/i);
      expect(rubricCritique(out, { brand }).scores.brand_alignment).toBe(100);
    }
  });
});

describe('aspect ratio of the images', () => {
  it('writes only ratios generation accepts when the run gives none', () => {
    for (const choices of Object.values(ASPECTS)) for (const c of choices) expect(ASPECT_RATIOS, c).toContain(c.split(' ')[0]);
    for (const p of DEV)
      for (const seed of [0, 1, 2, 3, 4, 5]) {
        const out = cinematograph({ original: p, previous: null, critique: null, seed }).prompt;
        const framed = /Framed for an? (\S+)[^.]* aspect ratio\./.exec(out);
        expect(framed, out).not.toBeNull();
        expect(ASPECT_RATIOS, out).toContain(framed![1]);
        expect(aspectRatioIn(out), out).toBe(framed![1]);
      }
  });

  it('4:5 and 3:2, as the enhancer writes them, are ratios a run accepts', () => {
    for (const ar of ['4:5', '3:2', '21:9', '5:4'] as const) {
      expect(RunOptionsSchema.parse({ aspect_ratio: ar }).aspect_ratio).toBe(ar);
      expect(cinematograph({ original: 'a bottle of perfume on black velvet', previous: null, critique: null, aspectRatio: ar }).prompt).toContain(`Framed for a ${ar} aspect ratio.`);
    }
  });

  it('follows the target aspect ratio when the pipeline gives one, for every dev prompt', () => {
    for (const p of ['a cat sleeping on a windowsill in the afternoon', 'a bottle of perfume on black velvet', 'a drone flying over a turquoise lagoon'])
      for (const ar of ['16:9', '9:16', '1:1']) {
        const out = cinematograph({ original: p, previous: null, critique: null, seed: 3, aspectRatio: ar }).prompt;
        expect(out).toContain(`Framed for a ${ar} aspect ratio.`);
        expect(out.match(/aspect ratio/g)).toHaveLength(1);
      }
  });
});
