import { z } from 'zod';
import { clamp100 as clamp, critiqueSchema, round1 as r1, scoresSchema } from '../prompt/rubric.js';
import { MovementSchema, SHOT_SIZES } from '../storyboard/plan.js';

/**
 * The video prompt stage's shapes (Story 9.1): what the critics (rubric and LLM) return, and the
 * clip context a storyboard gives each clip. zod at the boundary: LLM JSON and storyboard files are
 * parsed with these before anything trusts them.
 *
 * The rubric, five dimensions, each 0–100 (src/video-prompt/critic.ts scores them by rules; the
 * LLM critic is asked for the same):
 *
 * - motion_clarity: what moves and how, and when: a subject, motion verbs, manner (slowly,
 *   steadily), the duration, and beats placed in time (0–2 s …, 2–4 s …). Vague motion words
 *   ("dynamic", "epic") count against it, as does a prompt far too short or too long.
 * - camera_language: one primary camera move from the storyboard vocabulary (static, pan, tilt,
 *   dolly, truck, pedestal, crane, zoom, orbit, handheld) with its direction and speed, plus
 *   framing (shot size) and lens. Two or more primary moves are flagged and scored down; with a
 *   clip context, a move other than the planned one is flagged too.
 * - temporal_consistency: what stays constant across the clip: the subject's identity and
 *   wardrobe/shape, the light, the setting, one continuous shot. Cuts, morphs and sudden changes
 *   count against it.
 * - physical_plausibility: weight and momentum, easing in and out, secondary motion (hair, cloth,
 *   water, dust), an explicit "nothing morphs" constraint; impossible motion (teleports, warps,
 *   defies gravity) counts against it.
 * - start_end_arc: only with a clip context that has start/end frames: the prompt says what the
 *   clip starts on and ends on, in terms of those frames. Without one it is null (neutral) and
 *   left out of the overall.
 *
 * overall = the plain mean of the dimensions that are not null, computed here for both backends.
 */
export const VIDEO_DIMENSIONS = ['motion_clarity', 'camera_language', 'temporal_consistency', 'physical_plausibility', 'start_end_arc'] as const;
export type VideoDimension = (typeof VIDEO_DIMENSIONS)[number];

/** The five dimensions and overall; start_end_arc null = neutral: no clip context with start/end frames, so it is left out of the overall. */
export const VideoScoresSchema = scoresSchema(VIDEO_DIMENSIONS, 'start_end_arc');
export type VideoScores = z.infer<typeof VideoScoresSchema>;

/**
 * Flags the director fixes next round (`kind:detail`): missing:<what>,
 * multiple_camera_moves:<a>+<b>, camera_mismatch:<planned>, vague:<word>, discontinuity:<term>,
 * implausible:<term>, too_short, too_long.
 */
export const VideoCritiqueSchema = critiqueSchema(VideoScoresSchema);
export type VideoCritique = z.infer<typeof VideoCritiqueSchema>;

export const FrameContextSchema = z.object({
  /** The frame file, relative to the storyboard folder (null: not made). */
  file: z.string().nullable().optional(),
  prompt: z.string(),
  size: z.enum(SHOT_SIZES).optional(),
  lens_mm: z.number().positive().optional(),
  /** The framing note the storyboard gives the frame ("the camera has moved in: nearer, …"). */
  framing: z.string().optional(),
});
export type FrameContext = z.infer<typeof FrameContextSchema>;

/** What a storyboard knows about one clip: the director writes for it, the critic checks against it. */
export const VideoClipContextSchema = z.object({
  clip: z.number().int().positive().optional(),
  /** What happens in the clip, in words (the storyboard's clip description). */
  description: z.string().optional(),
  /** Who or what the clip is about, short ("fox"): the recurring subject's name. */
  subject: z.string().optional(),
  background: z.string().optional(),
  /** The planned camera move: the one primary move the prompt must use. */
  camera: MovementSchema.nullable().optional(),
  shot: z.object({ size: z.enum(SHOT_SIZES).optional(), angle: z.string().optional(), lens_mm: z.number().positive().optional() }).optional(),
  duration_s: z.number().positive().max(60).optional(),
  /** The storyboard's motion description of the clip. */
  motion: z.string().optional(),
  start_frame: FrameContextSchema.optional(),
  end_frame: FrameContextSchema.optional(),
});
export type VideoClipContext = z.infer<typeof VideoClipContextSchema>;

/** True when the context gives both frames, so the start → end arc can be judged. */
export function hasArc(clip: VideoClipContext | null | undefined): boolean {
  return !!clip?.start_frame?.prompt && !!clip?.end_frame?.prompt;
}

/** The overall (mean of the non-null dimensions), the same for both backends: an LLM's arithmetic is not trusted. */
export function withVideoOverall(s: Omit<VideoScores, 'overall'> & { overall?: number }): VideoScores {
  const vals = VIDEO_DIMENSIONS.map((d) => s[d]).filter((v): v is number => typeof v === 'number');
  return {
    motion_clarity: r1(clamp(s.motion_clarity)),
    camera_language: r1(clamp(s.camera_language)),
    temporal_consistency: r1(clamp(s.temporal_consistency)),
    physical_plausibility: r1(clamp(s.physical_plausibility)),
    start_end_arc: s.start_end_arc === null || s.start_end_arc === undefined ? null : r1(clamp(s.start_end_arc)),
    overall: vals.length ? r1(vals.reduce((a, v) => a + clamp(v), 0) / vals.length) : 0,
  };
}
