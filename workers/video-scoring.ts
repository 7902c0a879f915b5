import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { GenerationCache } from '../src/cache/generation-cache.js';
import { LoopError } from '../src/errors.js';
import { removeStaleTemps } from '../src/runs/atomic.js';
import { rankVideoFolder } from '../src/video-scoring/rank-videos.js';
import { summaryFor } from '../src/workflow/types.js';
import { sessionLoads, videoScorerFor } from './scoring-models.js';
import type { StageDefinition } from './stage.js';

export { closeScoringModels } from './scoring-models.js';

/**
 * The end of stage 5: score every video of the generation folder (VBench-style dimensions, each
 * video decoded once), rank each clip and rename it so video_001.mp4 is its best, and measure the
 * continuity of the chosen videos across cuts. Served by the scoring worker, whose models (one
 * inference host) are shared with image scoring and held across jobs.
 */
export const videoScoringStage: StageDefinition<'video-scoring'> = {
  stage: 'video-scoring',
  async run(ctx) {
    const gen = summaryFor(ctx.previous, 'video-generation');
    if (!gen) throw new UnrecoverableError('[internal] video-scoring needs the video-generation stage before it');
    const rel = gen.outputs.generation_dir;
    const dir = join(ctx.runDir, rel);
    const device = ctx.device ?? 'cpu';
    const scorer = await videoScorerFor(device, ctx.logger);
    const avail = await scorer.availability();
    // an installed model that does not load is a setup error, not an unscorable video
    if (avail.model_errors.length) throw new LoopError('MODEL', `${avail.model_errors[0]}; run \`loop models verify\``);
    const r = await rankVideoFolder(dir, {
      scorer,
      logger: ctx.logger,
      signal: ctx.signal,
      // the same bytes scored before (a re-run, a resume, a retry) cost no decode and no VQA call; --no-cache scores all
      cache: ctx.spec.options.no_cache ? null : GenerationCache.at(ctx.outputRoot),
      onProgress: (done, total) => void ctx.progress((done / Math.max(1, total)) * 100, `scored ${done}/${total} videos on ${device}`),
    });
    // generation has finished and the folder is ranked: a temp a killed writer left can go
    await Promise.all(r.clips.map((c) => removeStaleTemps(join(dir, c.dir))));
    if (r.unscorable.length === r.videos.length) throw new LoopError('REMOTE', `no video could be scored: ${r.unscorable[0]?.reason ?? 'unknown'}`);
    const inRun = (f: string) => `${rel}/${f}`;
    const missing = Object.keys(r.dimensions_unavailable);
    return {
      partial: gen.partial || r.unscorable.length > 0,
      cost_usd: r.cost_usd, // VQAScore requests, when a vision model is configured
      outputs: {
        ordering: 'rank',
        generation_dir: rel,
        backend_note: `ranked by ${r.dimensions_available.join(', ')}${missing.length ? `; unavailable: ${missing.join(', ')} (reasons in generation_trace.json; loop models list)` : ''}; not a VBench total`,
        best_per_clip: Object.fromEntries(Object.entries(r.best_per_clip).map(([c, f]) => [c, f ? inRun(f) : null])),
        dimensions_available: r.dimensions_available,
        dimensions_unavailable: Object.fromEntries(Object.entries(r.dimensions_unavailable).map(([d, why]) => [d, String(why)])),
        weights_used: Object.fromEntries(Object.entries(r.weights_used).map(([d, w]) => [d, w ?? 0])),
        unscorable: r.unscorable.map((u) => ({ file: inRun(u.file), reason: u.reason })),
        continuity: r.continuity?.mean ?? null,
        continuity_substitute: r.continuity?.substitute ?? false,
        device: r.device,
        worker: `${hostname()}:${process.pid}`,
        scorer_session_loads: sessionLoads(device),
        scores_from_cache: r.cache_hits,
      },
      scores: {
        best_per_clip: Object.fromEntries(r.clips.map((c) => [`clip_${String(c.clip).padStart(3, '0')}`, c.videos[0]?.overall ?? null])),
        ranked: r.videos.map((v) => ({ file: inRun(v.file), clip: v.clip, rank: v.rank, overall: v.overall })),
        ...(r.continuity ? { continuity: r.continuity.pairs.map((p) => ({ from_clip: p.from_clip, to_clip: p.to_clip, value: p.value })) } : {}),
      },
      artifacts: [`${rel}/generation_trace.json`, ...r.videos.flatMap((v) => [inRun(v.file), inRun(v.file.replace(/\.mp4$/, '_metadata.json'))])],
    };
  },
};
