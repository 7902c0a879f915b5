import { z } from 'zod';

/**
 * The shape both rubrics share — the image rubric (types.ts) and the video rubric
 * (src/video-prompt/types.ts): five dimensions scored 0–100, one of which may be null (neutral,
 * left out of the overall), an overall computed by us, and a critique of scores, advice and flags.
 * Each rubric keeps its own dimensions and its own overall formula.
 */
export const ScoreSchema = z.number().min(0).max(100);

type ScoresShape<D extends string, N extends D> = { [K in D | 'overall']: K extends N ? z.ZodNullable<typeof ScoreSchema> : typeof ScoreSchema };

/** The scores object for `dims` (in that order) then `overall`; `neutral` is the nullable one. */
export function scoresSchema<const D extends string, const N extends D>(dims: readonly D[], neutral: N): z.ZodObject<ScoresShape<D, N>> {
  const shape: Record<string, z.ZodType> = {};
  for (const d of dims) shape[d] = d === neutral ? ScoreSchema.nullable() : ScoreSchema;
  shape.overall = ScoreSchema;
  return z.object(shape) as unknown as z.ZodObject<ScoresShape<D, N>>;
}

/**
 * A critique: `scores`, human-readable specific advice (`feedback`), and machine-readable issues
 * the creative agent fixes next round (`flags`, `kind:detail`).
 */
export function critiqueSchema<S extends z.ZodType>(scores: S) {
  return z.object({ scores, feedback: z.array(z.string()), flags: z.array(z.string()) });
}

/** What the shared stage code (stage.ts, the LLM agents) needs of either rubric's critique. */
export interface RubricCritique {
  scores: { overall: number };
  feedback: string[];
  flags: string[];
}

export const round1 = (n: number) => Math.round(n * 10) / 10;
export const clamp100 = (n: number) => Math.max(0, Math.min(100, n));
