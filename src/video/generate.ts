import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CacheInfoSchema, cacheInfoOf, countFromCache } from '../cache/cache-info.js';
import type { Env } from '../config/env.js';
import { LoopError } from '../errors.js';
import { ASPECT_RATIOS, type AspectRatio } from '../generation/metadata.js';
import { variationSeeds } from '../generation/seeds.js';
import { sha256File, sha256Hex } from '../lib/hash.js';
import { writeFileAtomic, writeJsonAtomic } from '../runs/atomic.js';
import { ensureDir } from '../runs/run-dir.js';
import { MovementSchema } from '../storyboard/plan.js';
import type { VideoBackend, VideoBackendName, VideoRequest } from './backend.js';

/**
 * Video generation (Story 9.2), shared by `loop generate-videos` (in process) and stage 5 on the
 * queues (one job per clip × attempt). The plan (backend, model, one seed per attempt, each
 * clip's prompt, frames and move) is saved before anything is generated; each attempt writes
 * clip_NNN/video_NNN.mp4 and its metadata, and an attempt already made (same prompt, seed and
 * bytes) is reused, so a resume or a retry never buys a video twice.
 */
export const VIDEO_PLAN_FILE = 'video_plan.json';
export const VIDEO_TRACE_FILE = 'generation_trace.json';
export const MAX_ATTEMPTS = 8;
export const DEFAULT_ATTEMPTS = 3;

export const VideoClipSchema = z.object({
  clip: z.number().int().positive(),
  prompt: z.string().min(1),
  /** Frames relative to the plan's frames root (the run directory, or the motion file's folder). */
  start_frame: z.string().nullable(),
  end_frame: z.string().nullable(),
  camera: MovementSchema.nullable(),
  duration_s: z.number().positive().max(60),
});
export type VideoClip = z.infer<typeof VideoClipSchema>;

export const VideoPlanSchema = z.object({
  version: z.literal(1),
  backend: z.enum(['animatic', 'replicate']),
  model: z.string(),
  aspect_ratio: z.enum(ASPECT_RATIOS),
  negative_prompt: z.string().nullable(),
  attempts: z.number().int().min(1).max(MAX_ATTEMPTS),
  /** One seed per attempt (attempt a of every clip uses seeds[a-1]). */
  seeds: z.array(z.number().int().nonnegative()),
  seed_source: z.enum(['user', 'drawn']),
  clips: z.array(VideoClipSchema).min(1),
  /** How the frame paths resolve: against the run directory (a run) or an absolute folder (the CLI). */
  frames_root: z.string(),
  estimated_cost_usd: z.number().nullable(),
  started_at: z.string(),
});
export type VideoPlan = z.infer<typeof VideoPlanSchema>;

export const VideoMetadataSchema = z.object({
  schema_version: z.literal(1),
  clip: z.number().int().positive(),
  attempt: z.number().int().positive(),
  file: z.string(),
  /** 1 = best of its clip; null until scored. */
  rank: z.number().int().positive().nullable(),
  prompt: z.string(),
  negative_prompt: z.string().nullable(),
  backend: z.enum(['animatic', 'replicate']),
  model: z.string(),
  seed: z.number().int().nonnegative(),
  start_frame: z.string().nullable(),
  end_frame: z.string().nullable(),
  frames_used: z.object({ start: z.boolean(), end: z.boolean(), fields: z.record(z.string(), z.string()), note: z.string().nullable() }),
  duration_s: z.number(),
  fps: z.number(),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  cost_usd: z.number().nullable(),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
  prediction_id: z.string().nullable(),
  provider: z.record(z.string(), z.unknown()),
  /** The generation cache: hit (cost 0 this time), miss (made and stored) or bypassed (--no-cache), with the key. */
  cache: CacheInfoSchema.optional(),
  scores: z.record(z.string(), z.unknown()).nullable(),
});
export type VideoMetadata = z.infer<typeof VideoMetadataSchema>;

const pad = (n: number) => String(n).padStart(3, '0');
export const clipDir = (clip: number) => `clip_${pad(clip)}`;
export const videoFile = (attempt: number) => `video_${pad(attempt)}.mp4`;
export const videoMetaFile = (attempt: number) => `video_${pad(attempt)}_metadata.json`;

export function planVideos(o: {
  backend: VideoBackend;
  model: string;
  aspectRatio: AspectRatio;
  negativePrompt: string | null;
  attempts: number;
  seed?: number;
  clips: VideoClip[];
  framesRoot: string;
  maxCostUsd?: number;
}): VideoPlan {
  if (!Number.isInteger(o.attempts) || o.attempts < 1 || o.attempts > MAX_ATTEMPTS) throw new LoopError('USAGE', `--num-attempts must be between 1 and ${MAX_ATTEMPTS}, got ${o.attempts}`);
  const { seeds, source } = variationSeeds(o.attempts, o.seed);
  // cost before spending: the whole batch from the price table
  const each = o.clips.map((c) => o.backend.estimateCost({ model: o.model, durationS: c.duration_s, startImage: c.start_frame ? { bytes: Buffer.alloc(0), path: c.start_frame } : null, endImage: c.end_frame ? { bytes: Buffer.alloc(0), path: c.end_frame } : null }));
  const estimate = each.some((e) => e === null) ? null : Math.round(each.reduce<number>((a, e) => a + (e ?? 0), 0) * o.attempts * 1e6) / 1e6;
  if (o.maxCostUsd !== undefined) {
    if (estimate === null) throw new LoopError('USAGE', `--max-cost ${o.maxCostUsd}: ${o.model} has no price in the price table, so the batch cannot be estimated (add it to LOOP_PRICES_FILE)`);
    if (estimate > o.maxCostUsd)
      throw new LoopError('USAGE', `the batch would cost about $${estimate.toFixed(2)} (${o.clips.length} clip(s) × ${o.attempts} attempt(s) on ${o.model}), more than --max-cost $${o.maxCostUsd.toFixed(2)}; nothing was started`);
  }
  return VideoPlanSchema.parse({
    version: 1,
    backend: o.backend.name,
    model: o.backend.name === 'animatic' ? 'animatic' : o.model,
    aspect_ratio: o.aspectRatio,
    negative_prompt: o.negativePrompt,
    attempts: o.attempts,
    seeds,
    seed_source: source,
    clips: o.clips,
    frames_root: o.framesRoot,
    estimated_cost_usd: estimate,
    started_at: new Date().toISOString(),
  });
}

/** The absolute path of a plan's frame. */
export const framePath = (plan: Pick<VideoPlan, 'frames_root'>, rel: string, runDir?: string) => join(plan.frames_root === '.' && runDir ? runDir : plan.frames_root, rel);

/**
 * Make one attempt of one clip into `dir/clip_NNN/`. Reused when already made with the same
 * prompt and seed and the bytes its metadata records.
 */
export async function generateAttempt(
  dir: string,
  plan: VideoPlan,
  clip: VideoClip,
  attempt: number,
  backend: VideoBackend,
  o: { runDir?: string; signal?: AbortSignal; onPrediction?: VideoRequest['onPrediction']; resume?: VideoRequest['resume'] } = {},
): Promise<{ metadata: VideoMetadata; reused: boolean }> {
  const out = join(dir, clipDir(clip.clip));
  const seed = plan.seeds[attempt - 1]!;
  const metaPath = join(out, videoMetaFile(attempt));
  const saved = await readFile(metaPath, 'utf8').then((t) => VideoMetadataSchema.safeParse(JSON.parse(t)), () => null);
  if (saved?.success && saved.data.prompt === clip.prompt && saved.data.seed === seed && saved.data.file === videoFile(attempt)) {
    if ((await sha256File(join(out, saved.data.file)).catch(() => null)) === saved.data.sha256) return { metadata: saved.data, reused: true };
  }
  const frame = async (rel: string | null) => (rel ? { bytes: await readFile(framePath(plan, rel, o.runDir)), path: rel } : null);
  const started = new Date();
  const t0 = performance.now();
  const r = await backend.generate({
    prompt: clip.prompt,
    negativePrompt: plan.negative_prompt,
    startImage: await frame(clip.start_frame),
    endImage: await frame(clip.end_frame),
    durationS: clip.duration_s,
    aspectRatio: plan.aspect_ratio,
    seed,
    model: plan.model,
    camera: clip.camera,
    attempt,
    signal: o.signal,
    onPrediction: o.onPrediction,
    resume: o.resume,
  });
  await ensureDir(out);
  await writeFileAtomic(join(out, videoFile(attempt)), r.bytes);
  const cache = cacheInfoOf(r.provider);
  const metadata = VideoMetadataSchema.parse({
    schema_version: 1,
    clip: clip.clip,
    attempt,
    file: videoFile(attempt),
    rank: null,
    prompt: clip.prompt,
    negative_prompt: plan.negative_prompt,
    backend: backend.name,
    model: r.model,
    seed,
    start_frame: clip.start_frame,
    end_frame: clip.end_frame,
    frames_used: r.frames_used,
    duration_s: r.duration_s,
    fps: r.fps,
    width: r.width,
    height: r.height,
    bytes: r.bytes.length,
    sha256: sha256Hex(r.bytes),
    cost_usd: r.cost_usd,
    started_at: started.toISOString(),
    ended_at: new Date().toISOString(),
    duration_ms: Math.round(performance.now() - t0),
    prediction_id: typeof r.provider.prediction_id === 'string' ? r.provider.prediction_id : null,
    provider: r.provider,
    ...(cache ? { cache } : {}),
    scores: null,
  });
  await writeJsonAtomic(metaPath, metadata);
  return { metadata, reused: false };
}

export interface AttemptFailure {
  clip: number;
  attempt: number;
  seed: number;
  reason: string;
}

/** generation_trace.json for the whole set: the plan, every video made, every failure, cost and time. */
export async function writeVideoTrace(dir: string, plan: VideoPlan, made: { metadata: VideoMetadata; reused: boolean }[], failures: AttemptFailure[], backendNote: string) {
  const videos = made.map((m) => m.metadata).sort((a, b) => a.clip - b.clip || a.attempt - b.attempt);
  // paid this time: made now, and not served by the generation cache
  const paid = made.filter((m) => !m.reused && m.metadata.cache?.status !== 'hit').map((m) => m.metadata);
  const ended = new Date();
  const trace = {
    schema_version: 1,
    backend: plan.backend,
    backend_note: backendNote,
    model: plan.model,
    aspect_ratio: plan.aspect_ratio,
    attempts: plan.attempts,
    seeds: plan.seeds,
    seed_source: plan.seed_source,
    clips: plan.clips.map((c) => ({
      ...c,
      dir: clipDir(c.clip),
      videos: videos.filter((v) => v.clip === c.clip).map((v) => `${clipDir(c.clip)}/${v.file}`),
      failures: failures.filter((f) => f.clip === c.clip),
    })),
    videos,
    failures: [...failures].sort((a, b) => a.clip - b.clip || a.attempt - b.attempt),
    ordering: 'generation' as const,
    ordering_note: 'not scored yet: video_NNN is attempt NNN of its clip',
    estimated_cost_usd: plan.estimated_cost_usd,
    total_cost_usd: Math.round(videos.reduce((s, v) => s + (v.cost_usd ?? 0), 0) * 1e6) / 1e6,
    cost_is_lower_bound: videos.some((v) => v.cost_usd === null),
    paid_this_time: paid.length,
    /** Videos whose bytes came from the generation cache (nothing paid for them this time). */
    from_cache: countFromCache(videos),
    started_at: plan.started_at,
    ended_at: ended.toISOString(),
    duration_ms: ended.getTime() - Date.parse(plan.started_at),
  };
  await writeJsonAtomic(join(dir, VIDEO_TRACE_FILE), trace);
  return trace;
}

/** The video backend by name (the animatic needs nothing; Replicate needs its token). */
export async function createVideoBackend(name: VideoBackendName, env: Pick<Env, 'REPLICATE_API_TOKEN' | 'REPLICATE_BASE_URL'>): Promise<VideoBackend> {
  // previz resolution: an animatic is for timing and framing, and a 2-core laptop makes it in seconds
  if (name === 'animatic') return new (await import('./animatic.js')).AnimaticBackend({ maxWidth: 640 });
  if (!env.REPLICATE_API_TOKEN) throw new LoopError('CONFIG', '--video-backend replicate needs REPLICATE_API_TOKEN (in the environment or .env); or use --video-backend animatic (offline animatic, not model output)');
  const { ReplicateVideoBackend } = await import('./replicate-video.js');
  return new ReplicateVideoBackend({ token: env.REPLICATE_API_TOKEN, baseUrl: env.REPLICATE_BASE_URL });
}
