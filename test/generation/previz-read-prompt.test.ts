import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hexToRgb } from '../../src/generation/previz/colours.js';
import { readPrompt } from '../../src/generation/previz/read-prompt.js';
import { parseBrand } from '../../src/prompt/brand.js';
import { cinematograph } from '../../src/prompt/offline-cinematographer.js';
import { LIGHT_PRESETS } from '../../src/prompt/vocabulary.js';
import { REPO_ROOT } from '../helpers/cli.js';

const DEV = readFileSync(join(REPO_ROOT, 'examples', 'dev_prompts.txt'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
const BRAND = parseBrand(readFileSync(join(REPO_ROOT, 'examples', 'brand.json'), 'utf8'));
const dev = (start: string) => DEV.find((p) => p.startsWith(start))!;
const enhance = (p: string, seed = 0, brand: typeof BRAND | null = null) => cinematograph({ original: p, previous: null, critique: null, seed, brand, aspectRatio: '16:9' }).prompt;

const greenish = (hex: string) => {
  const [r, g, b] = hexToRgb(hex);
  return g > r && g > b;
};

describe('readPrompt: the subject', () => {
  const cases: Array<[string, string, string | null]> = [
    ['a cat sleeping on a windowsill', 'animal', 'cat'],
    ['a cup of espresso on a wooden table', 'food', 'cup'], // decision: a drink is food, drawn as a cup
    ['a city skyline during a thunderstorm', 'landscape', 'skyline'],
    ['a woman jogging along a beach at sunrise', 'person', 'woman'],
    ['a lighthouse keeper climbing spiral stairs', 'person', 'keeper'], // a compound names its last noun
    ['a busy train station at rush hour', 'landscape', 'station'], // not the train
    ['an electric car charging in a desert parking lot', 'vehicle', 'car'],
    ['a bottle of perfume on black velvet', 'product', 'bottle'],
    ['a pair of running shoes splashing through a puddle', 'product', 'shoes'], // the noun after "a pair of"
    ['a group of friends laughing around a campfire', 'person', 'friends'],
    ['fresh strawberries falling into a bowl of cream', 'food', 'strawberries'],
    ['a robot vacuum cleaning a living room', 'product', 'vacuum'],
    ['an old bookstore with towering shelves', 'landscape', 'bookstore'],
    ['product shot of a perfume bottle on marble', 'product', 'bottle'],
    ['Portrait of an old fisherman, 85mm portrait lens', 'person', 'fisherman'],
    ['a glowing orb of unknown origin', 'product', null], // nothing named: an object, said so
  ];
  for (const [prompt, cls, noun] of cases)
    it(`${prompt} → ${cls} "${noun}"`, () => {
      const r = readPrompt(prompt);
      expect(r.subject_class).toBe(cls);
      expect(r.subject).toBe(noun);
      if (noun === null) expect(r.defaults).toContain('subject');
    });

  it('draws each class with its own silhouette', () => {
    expect(readPrompt(dev('a cat')).silhouette).toBe('quadruped');
    expect(readPrompt(dev('a cup of espresso')).silhouette).toBe('cup');
    expect(readPrompt(dev('a city skyline')).silhouette).toBe('skyline');
    expect(readPrompt(dev('a woman')).silhouette).toBe('figure');
    expect(readPrompt(dev('a bottle of perfume')).silhouette).toBe('bottle');
    expect(readPrompt(dev('an electric car')).silhouette).toBe('car');
    expect(readPrompt(dev('fresh strawberries')).silhouette).toBe('bowl');
    expect(readPrompt(dev('a mountain climber')).silhouette).toBe('figure');
    expect(readPrompt('snow-capped mountains under a pale sky').silhouette).toBe('ridge');
  });

  it("keeps the user's subject through the enhancer's additions (hands, window light, camera bodies, lamps)", () => {
    for (const p of DEV) {
      const raw = readPrompt(p);
      for (const seed of [0, 1, 2, 3, 7]) {
        const r = readPrompt(enhance(p, seed, seed === 7 ? BRAND : null));
        expect([r.subject_class, r.subject], `${p} (seed ${seed})`).toEqual([raw.subject_class, raw.subject]);
      }
    }
  });
});

describe('readPrompt: the key light', () => {
  it('reads "window light from camera left" as a key from the left, soft, not from the seed', () => {
    for (const seed of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) {
      const r = readPrompt('a cat on a windowsill, soft window light from camera left', seed);
      expect(r.key_side).toBe('left');
      expect(r.key_quality).toBe('soft');
      expect(r.key_phrase).toBe('from camera left');
      expect(r.from_seed).not.toContain('key_side');
      expect(r.from_seed).not.toContain('key_quality');
    }
  });

  // every light the offline cinematographer writes, in its own words
  const SIDE: Record<string, string> = {
    sunrise: 'left', 'morning-window': 'right', 'noon-sun': 'top', 'afternoon-window': 'left', 'afternoon-sun': 'right',
    'golden-hour': 'back', 'blue-hour': 'back', moonlight: 'right', 'practicals-night': 'side', 'neon-night': 'back', storm: 'top',
    overcast: 'top', softbox: 'left', window: 'left', firelight: 'front', candle: 'side', 'rim-studio': 'back',
  };
  const QUALITY: Record<string, string> = {
    sunrise: 'soft', 'morning-window': 'soft', 'noon-sun': 'hard', 'afternoon-window': 'soft', 'afternoon-sun': 'soft',
    'golden-hour': 'soft', 'blue-hour': 'soft', moonlight: 'soft', 'practicals-night': 'hard', 'neon-night': 'hard', storm: 'hard',
    overcast: 'soft', softbox: 'soft', window: 'soft', firelight: 'soft', candle: 'soft', 'rim-studio': 'soft',
  };
  it('covers every light preset of the cinematographer', () => expect(Object.keys(SIDE).sort()).toEqual(LIGHT_PRESETS.map((p) => p.id).sort()));
  for (const l of LIGHT_PRESETS)
    it(`"Lit by ${l.quality} ${l.source} ${l.direction}" → ${SIDE[l.id]}, ${QUALITY[l.id]}`, () => {
      const prompt = `A violinist on a rooftop. Lit by ${l.quality} ${l.source} ${l.direction}, neutral at about ${l.kelvin}K.`;
      const r = readPrompt(prompt, 3);
      if (SIDE[l.id] === 'side') {
        // "from the side" names no side: the seed picks left or right, and says so
        expect(['left', 'right']).toContain(r.key_side);
        expect(r.from_seed).toContain('key_side');
      } else {
        expect(r.key_side).toBe(SIDE[l.id]);
        expect(r.from_seed).not.toContain('key_side');
      }
      expect(r.key_quality).toBe(QUALITY[l.id]);
    });

  it('takes the key, not the fill, and reads side-light phrasings', () => {
    expect(readPrompt('Lit by a large softbox key light from camera left with a subtle fill from the right.').key_side).toBe('left');
    expect(readPrompt('fill light from camera right, key light from camera left').key_side).toBe('left');
    expect(readPrompt('a dancer, rim light, dark stage').key_side).toBe('back');
    expect(readPrompt('a backlit dandelion').key_side).toBe('back');
    expect(readPrompt('portrait, hard light from the right, deep shadows').key_side).toBe('right');
    expect(readPrompt('portrait, hard light from the right, deep shadows').key_quality).toBe('hard');
    expect(readPrompt('harsh overhead light on a boxer').key_side).toBe('top');
  });

  it('ignores negated light words and directions that are not about light', () => {
    expect(readPrompt('no harsh flash, soft window light').key_quality).toBe('soft');
    const walking = readPrompt('a woman walking in from the left, neon signs', 5);
    expect(walking.from_seed).toContain('key_side'); // "from the left" is where she walks, not where a lamp is
  });
});

describe('readPrompt: the shot size (the most specific phrase wins, wherever it stands)', () => {
  const cases: Array<[string, string]> = [
    ['close-up of an espresso cup, shot with a 100mm macro lens', 'close-up'],
    ['100mm macro lens, a close-up of an espresso cup', 'close-up'],
    ['macro shot of a dewdrop on a leaf', 'extreme close-up'],
    ['A macro close-up from a three-quarter angle', 'extreme close-up'],
    ['an extreme close-up of an eye', 'extreme close-up'],
    ['a medium close-up of a fox', 'medium close-up'],
    ['a woman, medium-wide shot', 'medium wide'],
    ['An extreme wide shot of a valley', 'extreme wide'],
    ['an aerial shot of a lagoon', 'extreme wide'],
    ['a climber, wide shot, 24mm wide-angle lens', 'wide'],
  ];
  for (const [prompt, size] of cases) it(`${prompt} → ${size}`, () => expect(readPrompt(prompt).shot_size).toBe(size));

  it('reads no shot from lenses, and says when the shot size is a default for the subject', () => {
    const r = readPrompt('a woman, 85mm portrait lens, f/1.8');
    expect(r.shot_phrase).toBeNull();
    expect(r.shot_size).toBe('medium');
    expect(r.defaults).toContain('shot_size');
    expect(readPrompt('a perfume bottle, 24mm wide-angle lens').shot_size).toBe('close-up');
  });

  it('notes lens, camera and film separately', () => {
    const r = readPrompt(enhance(dev('a cup of espresso'), 7, BRAND));
    expect(r.lens.some((l) => /macro lens/.test(l))).toBe(true);
    expect(r.lens.some((l) => /^f\/\d/.test(l))).toBe(true);
    expect(r.camera).toMatch(/Sony A7R V|Hasselblad|Canon|Nikon|Fujifilm GFX|Leica/);
    expect(r.film).toMatch(/Kodak|Fujifilm|Cinestill/);
    expect(readPrompt('a cat, Fujifilm GFX 100S, Fujifilm Pro 400H film look')).toMatchObject({ camera: 'Fujifilm GFX 100S', film: 'Fujifilm Pro 400H' });
  });
});

describe('readPrompt: the palette (named colours before mood words)', () => {
  it('reads a brand palette folded in by the enhancer as the brand, green first, not the "warm" tone', () => {
    const prompt = enhance(dev('a cup of espresso'), 7, BRAND);
    expect(prompt).toMatch(/in a palette of deep forest green, warm cream and copper/);
    expect(prompt).toMatch(/\bwarm\b/);
    const r = readPrompt(prompt);
    expect(r.palette_source).toBe('brand');
    expect(r.palette_names.slice(0, 3)).toEqual(['deep forest green', 'warm cream', 'copper']);
    expect(greenish(r.palette[0]!)).toBe(true);
    // none of the colours the word "warm" would have painted
    const warm = readPrompt('a warm, cosy nook').palette;
    expect(r.palette.filter((c) => warm.includes(c))).toEqual([]);
  });

  it('reads green, cream and copper named in the prompt as prompt colours, before "warm"', () => {
    const r = readPrompt('a warm, cosy coffee shop counter in green, cream and copper');
    expect(r.palette_source).toBe('prompt colours');
    expect(r.palette_names).toEqual(['green', 'cream', 'copper']);
    expect(greenish(r.palette[0]!)).toBe(true);
  });

  it('reads "brand palette:" and colour words, and skips words that only look like colours', () => {
    expect(readPrompt('a sneaker on concrete, brand palette: navy blue / off-white / signal red').palette_source).toBe('brand');
    expect(readPrompt('a red umbrella on a rainy street').palette_names).toEqual(['red']);
    expect(readPrompt('a drone over a turquoise lagoon').palette_names).toEqual(['turquoise']);
    // food, film stocks, cameras and times of day are not colours
    for (const p of ['strawberries falling into a bowl of cream', 'a cup of coffee, Kodak Gold 200', 'a street at blue hour, RED V-Raptor', 'a black and white portrait of a sailor'])
      expect(readPrompt(p).palette_source, p).not.toBe('prompt colours');
  });

  it('falls back to a mood word, named, then to the default', () => {
    expect(readPrompt('a warm, cosy reading nook').palette_source).toBe('mood word warm');
    expect(readPrompt('a street at night, neon signs').palette_source).toBe('mood word neon');
    const d = readPrompt('a chair');
    expect(d.palette_source).toBe('default');
    expect(d.defaults).toContain('palette');
  });
});

describe('readPrompt: placement, and what the seed chooses', () => {
  it('places the subject as the composition says', () => {
    expect(readPrompt('a fox on the left third of the frame, rule of thirds').placement.horizontal).toBe('left third');
    expect(readPrompt('a lone tree on the right, negative space').placement.horizontal).toBe('right third');
    expect(readPrompt('a perfume bottle, centred symmetrical composition').placement.horizontal).toBe('centre');
    expect(readPrompt('a bird low in the frame').placement.vertical).toBe('low');
    expect(readPrompt('a mug in the foreground, blurred kitchen').placement.foreground).toBe(true);
    expect(readPrompt('a beach, composed on the rule of thirds with the horizon on the lower third').horizon).toBe('low');
    // "camera left" in a light clause is the lamp's place, not the subject's
    expect(readPrompt('a chef, window light on the left', 4).from_seed).toContain('placement');
  });

  it('lets the seed choose only the third when the prompt says "rule of thirds" without a side', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 24; seed++) {
      const r = readPrompt('a fox in the snow, composed on the rule of thirds', seed);
      expect(r.from_seed).toContain('placement');
      seen.add(r.placement.horizontal);
    }
    expect([...seen].sort()).toEqual(['left third', 'right third']);
  });

  it('varies only the open values with the seed, and names them', () => {
    const full = 'a cat on the left third, medium close-up, soft window light from camera left, horizon on the lower third, in teal and cream';
    const readings = Array.from({ length: 16 }, (_, seed) => readPrompt(full, seed));
    for (const r of readings) {
      expect(r.from_seed).toEqual([]);
      expect(r).toEqual({ ...readings[0]!, from_seed: [] });
    }
    const bare = Array.from({ length: 16 }, (_, seed) => readPrompt('a cat', seed));
    expect(bare[0]!.from_seed).toEqual(['placement', 'horizon', 'key_side', 'key_quality']);
    expect(new Set(bare.map((r) => r.key_side)).size).toBe(2);
    expect(new Set(bare.map((r) => r.placement.horizontal)).size).toBeGreaterThan(1);
    // the same prompt and seed: the same reading
    expect(readPrompt('a cat', 5)).toEqual(readPrompt('a cat', 5));
  });
});
