import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { cachedVideoBackend, type GenerationCache } from '../cache/generation-cache.js';
import { GenerationFailed } from '../generation/backend.js';
import type { AspectRatio } from '../generation/metadata.js';
import { mapPool } from '../lib/pool.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import type { Movement } from '../storyboard/plan.js';
import type { VideoBackend } from './backend.js';
import { generateAttempt, planVideos, VIDEO_PLAN_FILE, writeVideoTrace, type AttemptFailure, type VideoClip, type VideoMetadata, type VideoPlan } from './generate.js';

/**
 * `loop generate-videos` in this process: the same plan, attempts and trace as stage 5 on the
 * queues (workers/video-generation.ts), every clip × attempt concurrently (bounded).
 */
export async function generateVideos(o: {
  dir: string;
  backend: VideoBackend;
  model: string;
  clips: VideoClip[];
  /** Folder the clips' frame paths are relative to. */
  framesRoot: string;
  attempts: number;
  aspectRatio: AspectRatio;
  negativePrompt: string | null;
  seed?: number;
  maxCostUsd?: number;
  concurrency: number;
  signal?: AbortSignal;
  /** The generation cache in front of the backend; null: bypassed (--no-cache); undefined: the backend as given. */
  cache?: GenerationCache | null;
  onAttempt?: (e: { clip: number; attempt: number; ok: boolean; detail: string; cost_usd: number | null; reused: boolean; from_cache?: boolean }) => void;
}): Promise<{ plan: VideoPlan; trace: Awaited<ReturnType<typeof writeVideoTrace>>; failures: AttemptFailure[] }> {
  const backend = o.cache === undefined ? o.backend : cachedVideoBackend(o.backend, o.cache);
  const plan = planVideos({ ...o, backend, framesRoot: o.framesRoot });
  await writeJsonAtomic(join(o.dir, VIDEO_PLAN_FILE), plan);
  const jobs = plan.clips.flatMap((c) => Array.from({ length: plan.attempts }, (_, a) => ({ clip: c, attempt: a + 1 })));
  const made: { metadata: VideoMetadata; reused: boolean }[] = [];
  const failures: AttemptFailure[] = [];
  await mapPool(jobs, o.concurrency, async ({ clip, attempt }) => {
    try {
      const r = await generateAttempt(o.dir, plan, clip, attempt, backend, { signal: o.signal });
      made.push(r);
      o.onAttempt?.({
        clip: clip.clip,
        attempt,
        ok: true,
        detail: `${relative(o.dir, join(o.dir, `clip_${String(clip.clip).padStart(3, '0')}`, r.metadata.file))}`,
        cost_usd: r.metadata.cost_usd,
        reused: r.reused,
        from_cache: r.metadata.cache?.status === 'hit',
      });
    } catch (e) {
      // the provider could not make it: recorded, the rest go on; anything else is a bug or the host
      if (!(e instanceof GenerationFailed) || o.signal?.aborted) throw e;
      failures.push({ clip: clip.clip, attempt, seed: plan.seeds[attempt - 1]!, reason: e.message });
      o.onAttempt?.({ clip: clip.clip, attempt, ok: false, detail: e.message, cost_usd: null, reused: false });
    }
  });
  const trace = await writeVideoTrace(o.dir, plan, made, failures, backend.note);
  return { plan, trace, failures };
}

/** The clips of a storyboard_enhanced_motion_prompts.json, with frames relative to the file's storyboard folder. */
export function clipsFromMotionFile(
  motionPath: string,
  m: { storyboard_dir: string; clips: { clip: number; enhanced_motion_prompt: string; start_frame: string | null; end_frame: string | null; camera: Movement | null; duration_s: number }[] },
): { framesRoot: string; clips: VideoClip[] } {
  const framesRoot = isAbsolute(m.storyboard_dir) ? m.storyboard_dir : resolve(dirname(motionPath), m.storyboard_dir);
  return {
    framesRoot,
    clips: m.clips.map((c) => ({ clip: c.clip, prompt: c.enhanced_motion_prompt, start_frame: c.start_frame, end_frame: c.end_frame, camera: c.camera, duration_s: c.duration_s })),
  };
}
