import { z } from 'zod';
import { clamp100 as clamp, critiqueSchema, round1 as r1, scoresSchema } from './rubric.js';

/**
 * The shapes both critics (rubric and LLM) return, and the brand file. zod at the boundary:
 * LLM JSON and brand files are parsed with these before anything trusts them.
 */
export const DIMENSIONS = ['completeness', 'specificity', 'professionalism', 'cinematography', 'brand_alignment'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The five dimensions and overall; brand_alignment null = neutral: no brand was given, so it is left out of the overall. */
export const ScoresSchema = scoresSchema(DIMENSIONS, 'brand_alignment');
export type Scores = z.infer<typeof ScoresSchema>;

/**
 * Flags (`kind:detail`): missing:<slot>, refine:<aspect>, stuffing:<term>, vague:<word>,
 * contradiction:<group>, too_long, too_short, tag_list, brand_missing:<term>, brand_avoid:<term>.
 */
export const CritiqueSchema = critiqueSchema(ScoresSchema);
export type Critique = z.infer<typeof CritiqueSchema>;

export const BrandSchema = z.object({
  brand: z.string().trim().min(1).optional(),
  palette: z.array(z.string().trim().min(1)).default([]),
  tone: z.array(z.string().trim().min(1)).default([]),
  must_include: z.array(z.string().trim().min(1)).default([]),
  avoid: z.array(z.string().trim().min(1)).default([]),
});
export type Brand = z.infer<typeof BrandSchema>;

/** Weights of the overall score. Brand alignment drops out (weights renormalised) without a brand. */
export const WEIGHTS: Record<Dimension, number> = {
  completeness: 0.2,
  specificity: 0.2,
  professionalism: 0.2,
  cinematography: 0.25,
  brand_alignment: 0.15,
};

/** The weighted overall, computed the same way for both backends (an LLM's arithmetic is not trusted). */
export function withOverall(s: Omit<Scores, 'overall'> & { overall?: number }): Scores {
  let sum = 0;
  let wsum = 0;
  for (const d of DIMENSIONS) {
    const v = s[d];
    if (v === null || v === undefined) continue;
    sum += clamp(v) * WEIGHTS[d];
    wsum += WEIGHTS[d];
  }
  const out: Scores = {
    completeness: r1(clamp(s.completeness)),
    specificity: r1(clamp(s.specificity)),
    professionalism: r1(clamp(s.professionalism)),
    cinematography: r1(clamp(s.cinematography)),
    brand_alignment: s.brand_alignment === null ? null : r1(clamp(s.brand_alignment)),
    overall: wsum ? r1(sum / wsum) : 0,
  };
  return out;
}
