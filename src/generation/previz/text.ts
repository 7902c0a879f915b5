import { words } from '../../prompt/slots.js';

/** Lower-case words, the same tokens the prompt critic and the cinematographer read. */
export const tokens = (text: string): string[] => words(text);

/**
 * Sentences: split after ., ! or ? followed by a space (so "f/2.8" and "Vision3" stay whole)
 * and at semicolons.
 */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|;\s*/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The user's lead sentence: the enhancer writes the subject first and its additions after. */
export function leadSentence(text: string): string {
  return sentences(text)[0] ?? '';
}

/** Is the match at `index` in `text` negated ("no harsh flash", "without hard shadows", "avoid neon")? */
export function negated(text: string, index: number): boolean {
  const before = text.slice(Math.max(0, index - 24), index).toLowerCase();
  return /\b(no|not|without|avoid|avoiding|never|instead of)\s+(\w+[\s,]+)?$/.test(before);
}
