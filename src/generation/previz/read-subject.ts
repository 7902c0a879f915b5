import {
  ANIMAL_WORDS, FOOD_WORDS, INTERIOR_WORDS, LANDSCAPE_WORDS, PERSON_WORDS, PRODUCT_WORDS, VEHICLE_WORDS,
} from '../../prompt/vocabulary.js';
import { leadSentence, tokens } from './text.js';

/**
 * What the picture is of: the subject's class and its own noun, read from the prompt's lead
 * sentence (the user's words; the enhancer appends its camera, light and brand sentences after
 * it, and those name hands, windows, lamps and cameras that are not the subject).
 *
 * Classes follow the prompt vocabulary the offline cinematographer uses, so the panel and the
 * enhancer agree on what a prompt is about; its `interior` kind is drawn as architecture.
 * Decision: a cup of espresso (and any drink or dish) is `food`, drawn as a cup; a mug or a
 * bottle on its own is a `product`.
 */
export type SubjectClass = 'person' | 'animal' | 'product' | 'vehicle' | 'landscape' | 'food';

/** The shape drawn for the subject. */
export type Silhouette =
  | 'figure' | 'group' | 'quadruped' | 'bird' | 'cup' | 'bottle' | 'box' | 'car' | 'boat' | 'two-wheeler' | 'skyline'
  | 'ridge' | 'horizon' | 'interior' | 'plate' | 'bowl';

// Words the vocabulary lacks; the vocabulary's own lists come first.
const EXTRA: Record<SubjectClass, string[]> = {
  person: [
    'lady', 'gentleman', 'bride', 'groom', 'boxer', 'businessman', 'businesswoman', 'actor', 'actress', 'warrior', 'samurai',
    'wizard', 'witch', 'toddler', 'swimmer', 'photographer', 'pilot', 'sailor', 'vendor', 'shopper', 'tourist', 'tourists',
    'bartender', 'waiter', 'waitress', 'gardener', 'mechanic', 'boy', 'girls', 'boys', 'kid', 'performer', 'drummer',
    'ballerina', 'skier', 'snowboarder', 'yogi', 'writer', 'reader', 'customer', 'crowd',
  ],
  animal: [
    'cattle', 'goat', 'pig', 'duck', 'swan', 'penguin', 'giraffe', 'zebra', 'monkey', 'panda', 'leopard', 'cheetah', 'hedgehog',
    'mouse', 'frog', 'turtle', 'lizard', 'parrot', 'hummingbird', 'koala', 'kangaroo', 'camel', 'donkey', 'chicken', 'hen',
    'rooster', 'hawk', 'falcon', 'crow', 'raven', 'seal', 'otter', 'shark', 'octopus', 'kittens', 'puppies', 'horses', 'cows',
    'goats', 'ducks', 'dragon', 'unicorn',
  ],
  product: [
    'box', 'vase', 'teapot', 'kettle', 'clock', 'speaker', 'tablet', 'controller', 'backpack', 'suitcase', 'umbrella', 'guitar',
    'violin', 'sneaker', 'shoe', 'boot', 'boots', 'hat', 'lipstick', 'serum', 'skincare', 'soap', 'tube', 'toy', 'keyboard',
    'bottles', 'cans', 'jars', 'mugs', 'cosmetics', 'flask', 'tumbler', 'pen', 'notebook', 'wallet', 'earbuds', 'console',
  ],
  vehicle: [
    'cars', 'scooter', 'jeep', 'suv', 'sedan', 'taxi', 'tram', 'yacht', 'sailboat', 'canoe', 'kayak', 'airplane', 'aeroplane',
    'jet', 'helicopter', 'rocket', 'spaceship', 'submarine', 'locomotive', 'motorbike', 'vespa', 'convertible', 'racecar', 'ferry',
  ],
  landscape: [
    'skyscraper', 'skyscrapers', 'tower', 'building', 'buildings', 'castle', 'cathedral', 'temple', 'house', 'cabin', 'cottage',
    'barn', 'ruins', 'palace', 'pier', 'dock', 'alley', 'avenue', 'road', 'highway', 'horizon', 'hills', 'hill', 'volcano',
    'dunes', 'savanna', 'prairie', 'plains', 'tundra', 'cliffs', 'shore', 'bay', 'fjord', 'reef', 'cave', 'marsh', 'swamp',
    'pond', 'downtown', 'metropolis', 'town', 'architecture', 'facade', 'cityscape', 'seascape', 'vineyard', 'orchard',
  ],
  food: [
    'plate', 'dish', 'meal', 'breakfast', 'dinner', 'pasta', 'ramen', 'steak', 'taco', 'tacos', 'sandwich', 'donut', 'doughnut',
    'cookie', 'cookies', 'cupcake', 'pie', 'tart', 'smoothie', 'juice', 'beer', 'cappuccino', 'mocha', 'macchiato', 'matcha',
    'pancakes', 'waffles', 'eggs', 'egg', 'cheese', 'berries', 'apple', 'apples', 'oranges', 'lemons', 'grapes', 'vegetables',
    'omelette', 'curry', 'dumplings', 'bagel', 'muffin', 'brownie', 'gelato', 'milkshake', 'teacup', 'glass', 'cereal',
    'espresso', 'cups', 'bowls', 'plates', 'drink', 'drinks', 'cocktails', 'cakes', 'pastries', 'croissants',
  ],
};

// Earlier classes win a word listed twice (the vocabulary lists "portrait" and "hands" as people).
const CLASS_ORDER: SubjectClass[] = ['person', 'animal', 'food', 'product', 'vehicle', 'landscape'];
const CLASS_OF = new Map<string, SubjectClass>();
const INTERIOR = new Set(INTERIOR_WORDS);
{
  const base: Record<SubjectClass, string[]> = {
    person: PERSON_WORDS, animal: ANIMAL_WORDS, food: FOOD_WORDS, product: PRODUCT_WORDS, vehicle: VEHICLE_WORDS,
    landscape: [...LANDSCAPE_WORDS, ...INTERIOR_WORDS],
  };
  for (const c of CLASS_ORDER) for (const w of base[c]) if (!CLASS_OF.has(w)) CLASS_OF.set(w, c);
  for (const c of CLASS_ORDER) for (const w of EXTRA[c]) if (!CLASS_OF.has(w)) CLASS_OF.set(w, c);
  CLASS_OF.set('mug', 'product');
  CLASS_OF.set('mugs', 'product');
}

/** "a pair of shoes", "a group of friends", "a portrait of a woman": the noun after "of" is the subject. */
const OF_SKIP = new Set([
  'pair', 'group', 'couple', 'set', 'bunch', 'flock', 'herd', 'pack', 'handful', 'stack', 'pile', 'row', 'line', 'team',
  'portrait', 'photo', 'photograph', 'picture', 'image', 'shot', 'close-up', 'closeup', 'view', 'silhouette', 'painting',
  'illustration', 'render', 'still', 'family', 'crowd', 'collection', 'series', 'swarm', 'school', 'pod', 'fleet',
]);
/** A class word in these places is not the subject ("from camera left", "window light", "portrait lens"). */
function notASubject(w: string, prev: string | undefined, next: string | undefined): boolean {
  if (w === 'camera' && (next === 'left' || next === 'right' || prev === 'from' || prev === 'on')) return true;
  if ((w === 'window' || w === 'sky' || w === 'street' || w === 'studio' || w === 'candle' || w === 'lamp') && /^(light|lights|lighting|lamps?|glow)$/.test(next ?? '')) return true;
  if (w === 'portrait' && /^(lens|orientation|format|mode)$/.test(next ?? '')) return true;
  if ((w === 'product' || w === 'landscape') && /^(shot|photo|photograph|photography|orientation|format|mode)$/.test(next ?? '')) return true;
  if (w === 'model' && /^(number|year)$/.test(next ?? '')) return true;
  return false;
}

const SINGULAR = (w: string) => (w.endsWith('ies') ? w.slice(0, -3) + 'y' : w.endsWith('es') && CLASS_OF.has(w.slice(0, -2)) ? w.slice(0, -2) : w.endsWith('s') ? w.slice(0, -1) : w);
function classOf(w: string): SubjectClass | undefined {
  return CLASS_OF.get(w) ?? (w.length > 3 ? CLASS_OF.get(SINGULAR(w)) : undefined);
}

const GROUP_WORDS = new Set(['friends', 'people', 'crowd', 'family', 'couple', 'group', 'team', 'children', 'kids', 'women', 'men', 'commuters', 'tourists', 'girls', 'boys', 'dancers', 'musicians']);
const BIRD_WORDS = new Set(['bird', 'birds', 'owl', 'eagle', 'hawk', 'falcon', 'crow', 'raven', 'parrot', 'hummingbird', 'swan', 'duck', 'ducks', 'penguin', 'butterfly', 'bee', 'bees', 'chicken', 'hen', 'rooster']);
const CUP_WORDS = new Set(['cup', 'cups', 'mug', 'mugs', 'espresso', 'coffee', 'latte', 'cappuccino', 'tea', 'teacup', 'mocha', 'macchiato', 'matcha', 'glass', 'wine', 'cocktail', 'cocktails', 'beer', 'juice', 'smoothie', 'milkshake', 'drink', 'drinks', 'tumbler', 'flask']);
const BOWL_WORDS = new Set(['bowl', 'bowls', 'soup', 'noodles', 'ramen', 'salad', 'cream', 'berries', 'strawberries', 'strawberry', 'fruit', 'cereal', 'curry', 'gelato', 'grapes']);
const BOTTLE_WORDS = new Set(['bottle', 'bottles', 'perfume', 'jar', 'jars', 'vase', 'can', 'cans', 'serum', 'lipstick', 'candle', 'tube', 'cosmetics', 'skincare', 'soap']);
const BOAT_WORDS = new Set(['boat', 'ship', 'yacht', 'sailboat', 'canoe', 'kayak', 'ferry', 'submarine']);
const TWO_WHEEL = new Set(['bicycle', 'bike', 'motorcycle', 'motorbike', 'scooter', 'vespa']);
const SKYLINE_WORDS = new Set(['skyline', 'city', 'street', 'building', 'buildings', 'skyscraper', 'skyscrapers', 'downtown', 'rooftop', 'village', 'town', 'harbor', 'harbour', 'bridge', 'lighthouse', 'tower', 'castle', 'cathedral', 'temple', 'house', 'cabin', 'cottage', 'barn', 'ruins', 'palace', 'alley', 'avenue', 'metropolis', 'architecture', 'facade', 'cityscape', 'pier', 'dock']);
const RIDGE_WORDS = new Set(['mountain', 'mountains', 'summit', 'canyon', 'glacier', 'valley', 'hills', 'hill', 'volcano', 'cliff', 'cliffs', 'dunes', 'desert', 'fjord']);

function silhouetteFor(cls: SubjectClass, noun: string): Silhouette {
  switch (cls) {
    case 'person':
      return GROUP_WORDS.has(noun) ? 'group' : 'figure';
    case 'animal':
      return BIRD_WORDS.has(noun) ? 'bird' : 'quadruped';
    case 'food':
      return CUP_WORDS.has(noun) ? 'cup' : BOWL_WORDS.has(noun) ? 'bowl' : 'plate';
    case 'product':
      return CUP_WORDS.has(noun) ? 'cup' : BOTTLE_WORDS.has(noun) ? 'bottle' : 'box';
    case 'vehicle':
      return BOAT_WORDS.has(noun) ? 'boat' : TWO_WHEEL.has(noun) ? 'two-wheeler' : 'car';
    case 'landscape':
      return INTERIOR.has(noun) ? 'interior' : SKYLINE_WORDS.has(noun) ? 'skyline' : RIDGE_WORDS.has(noun) ? 'ridge' : 'horizon';
  }
}

export interface SubjectReading {
  subject_class: SubjectClass;
  /** The subject's own noun as the prompt writes it ("cat", "cup", "skyline"); null when none was recognised. */
  subject: string | null;
  silhouette: Silhouette;
}

/** The subject of a prompt; a prompt that names none is read as an object (`subject: null`). */
export function readSubject(prompt: string): SubjectReading {
  const ts = tokens(leadSentence(prompt));
  for (let i = 0; i < ts.length; i++) {
    const w = ts[i]!;
    if (!classOf(w) || notASubject(w, ts[i - 1], ts[i + 1])) continue;
    // a quantifier or a picture word: the noun after "of" is the subject
    if (OF_SKIP.has(w) && ts[i + 1] === 'of') continue;
    // a noun-noun compound names its last noun ("city skyline", "lighthouse keeper", "train station")
    let j = i;
    while (j + 1 < ts.length && classOf(ts[j + 1]!) && !notASubject(ts[j + 1]!, ts[j], ts[j + 2])) j++;
    const noun = ts[j]!;
    const cls = classOf(noun)!;
    return { subject_class: cls, subject: noun, silhouette: silhouetteFor(cls, noun) };
  }
  return { subject_class: 'product', subject: null, silhouette: 'box' };
}
