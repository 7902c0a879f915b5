/**
 * The controlled vocabulary the offline cinematographer chooses from and the rubric critic
 * recognises. One list per slot; detection patterns live next to the words they detect so the
 * two agents cannot drift apart.
 */

export type SubjectKind = 'person' | 'animal' | 'product' | 'food' | 'landscape' | 'interior' | 'vehicle';

export const PERSON_WORDS = [
  'woman', 'women', 'man', 'men', 'girl', 'boy', 'child', 'children', 'kid', 'kids', 'person', 'people', 'chef', 'friends',
  'friend', 'climber', 'violinist', 'musician', 'farmer', 'teenager', 'keeper', 'runner', 'dancer', 'couple', 'family',
  'crowd', 'worker', 'student', 'athlete', 'surfer', 'skater', 'baker', 'barista', 'doctor', 'nurse', 'artist', 'painter',
  'singer', 'guitarist', 'pianist', 'grandmother', 'grandfather', 'mother', 'father', 'baby', 'soldier', 'knight',
  'astronaut', 'scientist', 'cyclist', 'hiker', 'fisherman', 'commuters', 'traveler', 'traveller', 'model', 'portrait',
  'group', 'team', 'player', 'rider', 'monk', 'queen', 'king', 'hands',
];
export const ANIMAL_WORDS = [
  'cat', 'cats', 'dog', 'dogs', 'puppy', 'kitten', 'bird', 'birds', 'horse', 'fox', 'wolf', 'bear', 'deer', 'owl', 'eagle',
  'fish', 'whale', 'dolphin', 'lion', 'tiger', 'elephant', 'rabbit', 'squirrel', 'butterfly', 'bee', 'cow', 'sheep',
];
export const FOOD_WORDS = [
  'espresso', 'coffee', 'latte', 'cup', 'tea', 'dessert', 'cake', 'bread', 'strawberries', 'strawberry', 'cream', 'fruit',
  'salad', 'pizza', 'burger', 'soup', 'wine', 'cocktail', 'chocolate', 'pastry', 'croissant', 'noodles', 'sushi', 'bowl',
];
export const PRODUCT_WORDS = [
  'bottle', 'perfume', 'shoes', 'sneakers', 'watch', 'phone', 'smartphone', 'laptop', 'headphones', 'bag', 'handbag',
  'vacuum', 'lamp', 'chair', 'jewelry', 'ring', 'necklace', 'camera', 'book', 'books', 'candle', 'glasses', 'sunglasses',
  'robot', 'drone', 'product', 'package', 'can', 'jar', 'mug',
];
export const VEHICLE_WORDS = ['car', 'truck', 'tractor', 'train', 'bicycle', 'bike', 'motorcycle', 'boat', 'ship', 'plane', 'bus', 'van'];
export const LANDSCAPE_WORDS = [
  'skyline', 'city', 'mountain', 'mountains', 'summit', 'lagoon', 'beach', 'ocean', 'sea', 'lake', 'river', 'forest', 'desert',
  'valley', 'field', 'fields', 'canyon', 'coast', 'island', 'waterfall', 'landscape', 'sky', 'street', 'harbor', 'harbour',
  'garden', 'park', 'rooftop', 'lighthouse', 'bridge', 'village', 'meadow', 'glacier', 'wheat', 'jungle', 'cliff',
];
export const INTERIOR_WORDS = [
  'kitchen', 'bedroom', 'room', 'living', 'bookstore', 'library', 'station', 'cafe', 'café', 'restaurant', 'bar', 'studio',
  'office', 'hallway', 'stairs', 'staircase', 'windowsill', 'window', 'church', 'museum', 'shop', 'store', 'warehouse',
  'garage', 'bathroom', 'classroom', 'gym', 'lobby', 'attic', 'cellar', 'interior', 'indoors', 'table', 'counter', 'desk',
];
/** Words that place a scene (the "where"). */
export const PLACE_WORDS = [...new Set([...LANDSCAPE_WORDS, ...INTERIOR_WORDS, 'parking', 'lot', 'velvet', 'backdrop', 'surface', 'marble', 'tabletop', 'campfire', 'puddle', 'snow', 'sand', 'grass', 'road', 'water', 'shore', 'pool', 'rooftop', 'stage'])];
export const INTERIOR_PLACES = new Set(INTERIOR_WORDS);

/** Time-of-day / season groups; two different groups in one prompt are a contradiction. */
export const TIME_GROUPS: Record<string, string[]> = {
  dawn: ['sunrise', 'dawn', 'daybreak', 'early morning', 'morning'],
  midday: ['noon', 'midday', 'high noon'],
  afternoon: ['afternoon', 'late afternoon'],
  dusk: ['sunset', 'dusk', 'golden hour', 'twilight', 'blue hour', 'evening'],
  night: ['night', 'midnight', 'late at night', 'nighttime', 'moonlight', 'moonlit'],
};
export const TIME_EXTRA = ['rush hour', 'winter', 'summer', 'autumn', 'spring', 'thunderstorm', 'storm', 'rain', 'snow', 'foggy', 'overcast'];

export const SHOT_SIZES = [
  'extreme close-up', 'macro close-up', 'close-up', 'medium close-up', 'medium shot', 'medium-wide shot', 'full shot',
  'wide shot', 'extreme wide shot', 'aerial shot', 'establishing shot', 'overhead shot', 'tabletop shot',
];
export const SHOT_GROUPS: Record<string, string[]> = {
  close: ['extreme close-up', 'macro close-up', 'close-up', 'medium close-up', 'tabletop shot'],
  medium: ['medium shot', 'medium-wide shot', 'full shot'],
  wide: ['wide shot', 'extreme wide shot', 'aerial shot', 'establishing shot'],
};
export const ANGLES = [
  'eye-level angle', 'low angle', 'high angle', 'overhead angle', 'top-down angle', "bird's-eye view", 'three-quarter angle',
  'dutch angle', 'over-the-shoulder angle', 'worm\'s-eye view',
];

export const CAMERAS = {
  cinema: ['ARRI Alexa Mini LF', 'Sony Venice 2', 'RED V-Raptor', 'ARRI Alexa 35'],
  stills: ['Canon EOS R5', 'Nikon Z9', 'Sony A7R V', 'Fujifilm GFX 100S', 'Hasselblad X2D', 'Leica SL2'],
};
export const CAMERA_PATTERN = /\b(arri|alexa|sony venice|venice 2|red v-raptor|red komodo|canon eos|nikon z\d|sony a7\w*|fujifilm gfx|hasselblad|leica|phase one|blackmagic|pentax 67|mamiya)\b/i;

export const LENSES: Record<'wide' | 'normal' | 'portrait' | 'macro' | 'tele', string[]> = {
  wide: ['16mm ultra-wide lens', '24mm wide-angle lens', '28mm lens'],
  normal: ['35mm lens', '40mm anamorphic lens', '50mm lens'],
  portrait: ['85mm portrait lens', '75mm lens', '105mm lens'],
  macro: ['100mm macro lens', '90mm macro lens'],
  tele: ['135mm telephoto lens', '200mm telephoto lens', '70-200mm telephoto lens'],
};
export const LENS_PATTERN = /\b(\d{2,3}(-\d{2,3})?\s?mm|anamorphic lens|macro lens|telephoto lens|wide-angle lens|prime lens|zoom lens|tilt-shift)\b/i;
export const APERTURES = ['f/1.8', 'f/2', 'f/2.8', 'f/4', 'f/5.6', 'f/8'];
export const APERTURE_PATTERN = /\bf\/\d+(\.\d)?\b|\bt\/?\d(\.\d)?\b/i;

/** A light preset: where the light comes from, which way, how hard, what colour. */
export interface LightPreset {
  id: string;
  source: string; // "golden sunrise light"
  direction: string; // "from camera left"
  quality: string; // "soft"
  kelvin: number;
  time: keyof typeof TIME_GROUPS | 'any';
  where: 'exterior' | 'interior' | 'any';
}
export const LIGHT_PRESETS: LightPreset[] = [
  { id: 'sunrise', source: 'golden sunrise light', direction: 'raking in low from camera left', quality: 'soft', kelvin: 3500, time: 'dawn', where: 'exterior' },
  { id: 'morning-window', source: 'morning window light', direction: 'falling from camera right', quality: 'soft, diffused', kelvin: 5200, time: 'dawn', where: 'interior' },
  { id: 'noon-sun', source: 'high midday sun', direction: 'from overhead', quality: 'crisp', kelvin: 5600, time: 'midday', where: 'exterior' },
  { id: 'afternoon-window', source: 'afternoon window light', direction: 'streaming in from camera left', quality: 'soft', kelvin: 4800, time: 'afternoon', where: 'interior' },
  { id: 'afternoon-sun', source: 'warm afternoon sunlight', direction: 'as a side light from camera right', quality: 'gentle', kelvin: 4500, time: 'afternoon', where: 'exterior' },
  { id: 'golden-hour', source: 'low golden-hour sun', direction: 'backlighting the subject with a warm rim', quality: 'soft', kelvin: 3200, time: 'dusk', where: 'exterior' },
  { id: 'blue-hour', source: 'blue-hour skylight mixed with warm practical lamps', direction: 'wrapping around from behind', quality: 'soft', kelvin: 6500, time: 'dusk', where: 'any' },
  { id: 'moonlight', source: 'cool moonlight', direction: 'from high camera right', quality: 'soft', kelvin: 7000, time: 'night', where: 'exterior' },
  { id: 'practicals-night', source: 'warm tungsten practicals and a cool screen glow', direction: 'from the side, leaving deep shadows', quality: 'low-key', kelvin: 3000, time: 'night', where: 'interior' },
  { id: 'neon-night', source: 'neon signs and wet street reflections', direction: 'from behind the subject', quality: 'hard', kelvin: 4000, time: 'night', where: 'exterior' },
  { id: 'storm', source: 'stormy overcast sky split by lightning', direction: 'from above and behind', quality: 'dramatic, high-contrast', kelvin: 6500, time: 'any', where: 'exterior' },
  { id: 'overcast', source: 'overcast daylight', direction: 'from above', quality: 'soft, even', kelvin: 6000, time: 'any', where: 'exterior' },
  { id: 'softbox', source: 'large softbox key light', direction: 'from camera left with a subtle fill from the right', quality: 'soft', kelvin: 5600, time: 'any', where: 'interior' },
  { id: 'window', source: 'north-facing window light', direction: 'from camera left', quality: 'diffused', kelvin: 5000, time: 'any', where: 'interior' },
  { id: 'firelight', source: 'flickering firelight', direction: 'from below and in front', quality: 'warm, soft', kelvin: 2000, time: 'night', where: 'any' },
  { id: 'candle', source: 'candlelight and a single tungsten lamp', direction: 'from the side', quality: 'soft, low-key', kelvin: 2400, time: 'night', where: 'interior' },
  { id: 'rim-studio', source: 'strip-light rim and soft key light', direction: 'from behind and camera right', quality: 'sculpted, specular', kelvin: 5600, time: 'any', where: 'interior' },
];
export const LIGHT_SOURCE_PATTERN = /\b(sun|sunlight|sunrise light|sunset light|daylight|skylight|window light|moonlight|lamp|lamps|practicals?|neon|candlelight|firelight|softbox|strip-light|led panel|key light|fill light|overcast|lightning|street ?lights?|spotlight|screen glow|flash|torchlight|lantern)\b/i;
export const LIGHT_DIRECTION_PATTERN = /\b(from camera (left|right)|from (the )?(left|right|above|below|behind|overhead|the side|high)|backlit|backlighting|side ?light(ing)?|rim( light)?|top ?light|front ?light|three-quarter light|raking|overhead)\b/i;
export const LIGHT_QUALITY_PATTERN = /\b(soft|diffused|hard|harsh|crisp|gentle|dappled|specular|low-key|high-key|even|dramatic|sculpted|moody)\b/i;
export const KELVIN_PATTERN = /\b\d{4}\s?K\b/;
export const COLOUR_TEMP_WORDS = /\b(\d{4}\s?K|warm tungsten|cool daylight|colou?r temperature)\b/i;

export const COMPOSITIONS: Record<SubjectKind, string[]> = {
  person: ['composed on the rule of thirds with space in the direction of movement', 'framed off-centre with leading lines drawing the eye to the subject', 'layered composition with the subject in the mid-ground'],
  animal: ['composed on the rule of thirds with the eyes on the upper third', 'framed with negative space around the subject', 'framed within a frame by its surroundings'],
  product: ['centred symmetrical composition with generous negative space', 'composed on the rule of thirds with a clean, uncluttered background', 'diagonal composition that leads the eye across the product'],
  food: ['composed on the rule of thirds with a shallow diagonal', 'centred composition with negative space around the subject', 'tight composition with props cropped at the frame edge'],
  landscape: ['composed on the rule of thirds with the horizon on the lower third', 'leading lines pulling the eye toward the horizon', 'layered foreground, mid-ground and background for depth'],
  interior: ['symmetrical one-point perspective composition', 'leading lines of the architecture drawing the eye inward', 'framed within a frame by doorways and shelves'],
  vehicle: ['low three-quarter composition with leading lines toward the vehicle', 'composed on the rule of thirds with space ahead of the vehicle', 'centred composition with strong negative space'],
};
export const COMPOSITION_PATTERN = /\b(rule of thirds|leading lines?|symmetr(ical|y)|negative space|frame within a frame|framed within a frame|golden ratio|one-point perspective|diagonal composition|centred composition|centered composition|layered (foreground|composition)|off-centre|off-center|composition)\b/i;

export const FILM_LOOKS = [
  'Kodak Portra 400', 'Kodak Ektar 100', 'Kodak Vision3 500T', 'Kodak Vision3 250D', 'Fujifilm Pro 400H', 'Cinestill 800T',
  'Fujifilm Eterna 250D', 'Kodak Gold 200',
];
export const GRADES = [
  'a warm, natural grade with gentle highlight roll-off', 'a soft pastel grade', 'a rich, high-contrast grade',
  'a restrained teal-and-orange grade', 'a muted, filmic grade with lifted blacks', 'a clean, true-to-life grade',
];
export const FILM_PATTERN = /\b(kodak|portra|ektar|vision3|fujifilm (pro|eterna|velvia|superia)|cinestill|ilford|velvia|film (look|stock|grain|emulation)|grade|graded|colou?r grade|bleach[- ]bypass|teal-and-orange|lut)\b/i;

export const MOODS = [
  'serene', 'hopeful', 'energetic', 'intimate', 'contemplative', 'dramatic', 'nostalgic', 'mysterious', 'joyful',
  'tense', 'luxurious', 'cozy', 'triumphant', 'whimsical', 'calm', 'melancholic', 'peaceful', 'moody', 'warm', 'playful',
  'quiet', 'focused', 'bustling', 'dreamy',
];
/** Content cues → moods; the first cue that matches wins. */
export const MOOD_CUES: Array<[RegExp, string[]]> = [
  [/\b(thunderstorm|storm|lightning)\b/i, ['dramatic', 'brooding']],
  [/\b(laugh|laughing|friends|party|celebrat)/i, ['joyful', 'warm']],
  [/\b(summit|reaching|victory|win)\b/i, ['triumphant', 'awe-struck']],
  [/\b(sleeping|quiet|tea ceremony|calm|garden)\b/i, ['serene', 'peaceful']],
  [/\b(late at night|dark|night|midnight)\b/i, ['focused', 'moody']],
  [/\b(perfume|velvet|jewel|luxury|watch)\b/i, ['luxurious', 'sensual']],
  [/\b(jogging|running|splashing|falling|flying|rush hour|busy)\b/i, ['energetic', 'dynamic']],
  [/\b(old|vintage|bookstore|harvest)/i, ['nostalgic', 'timeless']],
  [/\b(chef|plating|coding|climbing)\b/i, ['focused', 'precise']],
];
export const MOOD_PATTERN = new RegExp(`\\b(${MOODS.join('|')}|mood|atmosphere)\\b`, 'i');

/** The offline cinematographer's choice when the run gives none: each starts with a ratio generation accepts (ASPECT_RATIOS). */
export const ASPECTS: Record<SubjectKind, string[]> = {
  person: ['16:9 widescreen', '4:5 vertical', '3:2'],
  animal: ['3:2', '4:5 vertical', '16:9 widescreen'],
  product: ['4:5 vertical', '1:1 square', '3:2'],
  food: ['4:5 vertical', '1:1 square', '3:2'],
  landscape: ['16:9 widescreen', '21:9 anamorphic widescreen', '3:2'],
  interior: ['16:9 widescreen', '3:2', '21:9 anamorphic widescreen'],
  vehicle: ['21:9 anamorphic widescreen', '16:9 widescreen', '3:2'],
};
export const ASPECT_PATTERN = /\b(\d{1,2}(\.\d{1,2})?:\d{1,2}|widescreen|square format|vertical format|aspect ratio|panoramic)\b/i;

/** Refinements the second pass adds when the critic asks for more specificity. */
export const ATMOSPHERES: Record<keyof typeof TIME_GROUPS | 'any', string[]> = {
  dawn: ['a thin morning haze', 'dew catching the light', 'soft mist in the distance'],
  midday: ['heat shimmer in the distance', 'crisp, clear air'],
  afternoon: ['dust motes drifting in the light', 'a faint warm haze'],
  dusk: ['a soft haze that glows in the low sun', 'long shadows stretching across the ground'],
  night: ['faint haze around the light sources', 'deep pools of shadow'],
  any: ['a light atmospheric haze', 'fine dust motes in the light', 'subtle atmospheric depth'],
};
export const ATMOSPHERE_PATTERN = /\b(haze|mist|fog|dust motes|dew|heat shimmer|steam|smoke|spray|atmospheric depth|long shadows|pools of shadow|clear air)\b/i;
export const TEXTURE_PATTERN = /\b(texture|textures|grain of|fine detail|crisp detail|skin detail|material detail|surface detail|fabric|weathered)\b/i;
export const DOF_PATTERN = /\b(depth of field|bokeh|shallow focus|deep focus|out-of-focus|soft background|focus falls)\b/i;

/** Quality-booster tags: not content, penalised by the critic, dropped by the cinematographer. */
export const STUFFING_TERMS = [
  'trending on artstation', 'artstation', 'masterpiece', 'best quality', 'high quality', 'highest quality', 'ultra detailed',
  'ultra-detailed', 'highly detailed', 'hyper detailed', 'hyperdetailed', 'hyperrealistic', 'hyper-realistic', 'ultra realistic',
  'ultra-realistic', 'octane render', 'unreal engine', 'award winning', 'award-winning', 'intricate details', '8k', '4k', '16k',
  'uhd', 'hdr', 'hd', 'sharp focus', 'insanely detailed', 'beautiful lighting', 'studio quality', 'photorealistic 8k',
];
export const VAGUE_WORDS = ['beautiful', 'nice', 'amazing', 'stunning', 'epic', 'awesome', 'pretty', 'gorgeous', 'great', 'perfect', 'incredible', 'good', 'very', 'really'];

export const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Whole-word / whole-phrase, case-insensitive. */
export function phraseRe(phrase: string, flags = 'i'): RegExp {
  return new RegExp(`(?<![\\w-])${escapeRe(phrase)}(?![\\w-])`, flags);
}
