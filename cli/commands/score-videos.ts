/**
 * `loop score-videos <folder>`: score videos on VBench-style dimensions (each video decoded once).
 * A video generation folder (clip_NNN/video_NNN.mp4 + metadata) is ranked per clip and renamed so
 * that video_001.mp4 is each clip's best; any other folder of MP4s is scored in place into
 * video_scores.json. Exit 0 all scored, 7 some unscorable, 8 none scorable, 3 not a folder or no
 * videos, 10 an installed model that fails to load.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { action, deviceArg, floatArg, intArg, parseOptions } from '../shared.js';

const Opts = z.object({
  promptFile: z.string().min(1).optional(),
  device: z.string().default('cpu'),
  modelsDir: z.string().min(1).optional(),
  clipModel: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/).optional(),
  maxDuration: z.number().positive().default(120),
  batchSize: z.number().int().min(1).max(64).default(8),
  vqaFrames: z.number().int().min(1).max(16).default(4),
  /** false with --no-cache (commander's name for the switch). */
  cache: z.boolean().optional(),
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
});

const SHORT: Record<string, string> = {
  temporal_flickering: 'flicker',
  dynamic_degree: 'dynamic',
  motion_smoothness: 'smooth',
  subject_consistency: 'subject',
  background_consistency: 'backgr',
  aesthetic_quality: 'aesth',
  imaging_quality: 'imaging',
  text_alignment: 'text',
  text_alignment_vqa: 'vqa',
};

export function register(program: Command): void {
  program
    .command('score-videos')
    .argument('<folder>', 'a video generation folder (clip_NNN/video_NNN.mp4 + metadata), or any folder of .mp4 files')
    .summary('score and rank videos on VBench-style dimensions')
    .description('score videos (VBench-style dimensions, each video decoded once): rank and rename a generation folder per clip, or write video_scores.json')
    .option('--prompt-file <file>', 'score text alignment against this prompt (default: each video\'s prompt from its metadata; none for a plain folder); "-" reads stdin')
    .option('--device <device>', 'cpu, cuda or cuda:N, N 0–15 (with no NVIDIA GPU, CUDA falls back to CPU with a warning)', deviceArg('--device'), 'cpu')
    .option('--models-dir <dir>', 'model folder (default: LOOP_MODELS_DIR, then ~/.cache/loop/models)')
    .option('--clip-model <id>', 'CLIP model for background consistency, text alignment and the aesthetic head (default clip-vit-large-patch14)')
    .option('--max-duration <s>', 'videos longer than this many seconds are not scored', floatArg('--max-duration', 0.1, 3600), 120)
    .option('--batch-size <n>', 'frames per model run', intArg('--batch-size', 1, 64), 8)
    .option('--vqa-frames <n>', 'frames per video asked of the VQA model (LOOP_VQA_MODEL), 1–16; a paid request each', intArg('--vqa-frames', 1, 16), 4)
    .option('--no-cache', 'score every video again instead of reusing the scores of the same bytes (LOOP_OUTPUT_DIR/.cache)')
    .option('--json', 'print the result as JSON on stdout')
    .option('-v, --verbose', 'detailed logs on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop generate-videos examples/motion.txt --start-image examples/still.png -o my_videos\n' +
        '  npx loop score-videos "$(ls -d my_videos/*/ | tail -n 1)" --prompt-file examples/motion.txt',
    )
    .action(
      action(async (dir: string, raw: unknown) => {
        const o = parseOptions(Opts, raw);
        const { ExitCode, LoopError } = await import('../../src/errors.js');
        const { resolveDevice } = await import('../../src/lib/device.js');
        resolveDevice(o.device);
        const { createLogger } = await import('../../src/lib/log.js');
        const log = createLogger({ verbose: o.verbose });
        const { checkConfig, resolveCheckedModelsDir } = await import('../../src/config/check.js');
        const env = checkConfig();
        const modelsDir = resolveCheckedModelsDir(o.modelsDir, env);
        const { termSafe, jsonForTerminal } = await import('../../src/lib/terminal.js');
        const { redact } = await import('../../src/lib/secrets.js');
        const t = (x: string) => termSafe(redact(String(x)));
        let prompt: string | undefined;
        if (o.promptFile) prompt = await (await import('../../src/lib/input.js')).readPromptInput(o.promptFile);
        const { createVideoScorer } = await import('../../src/video-scoring/score.js');
        const { rankVideoFolder } = await import('../../src/video-scoring/rank-videos.js');
        const { DIMENSION_IDS } = await import('../../src/video-scoring/dimensions.js');
        const scorer = createVideoScorer({ device: o.device, modelsDir, logger: log, clipModel: o.clipModel, maxDurationS: o.maxDuration, batchSize: o.batchSize, vqaFrames: o.vqaFrames });
        try {
          const avail = await scorer.availability();
          if (avail.model_errors.length) throw new LoopError('MODEL', `${avail.model_errors[0]}${avail.model_errors.length > 1 ? ` (and ${avail.model_errors.length - 1} more)` : ''}; run \`loop models verify\``);
          const progress = await (await import('../progress.js')).batchProgress('scoring', 'videos');
          const { GenerationCache } = await import('../../src/cache/generation-cache.js');
          const result = await rankVideoFolder(dir, {
            scorer,
            cache: o.cache === false ? null : GenerationCache.at(env.LOOP_OUTPUT_DIR),
            prompt: prompt ?? null,
            logger: log,
            onProgress: (done, total) => progress.update(done, total),
          });
          if (o.json) process.stdout.write(redact(jsonForTerminal(result)) + '\n');
          else {
            const cols = DIMENSION_IDS.filter((d) => result.videos.some((v) => v.dimensions[d]));
            const head = ['rank', 'overall', ...cols.map((d) => SHORT[d] ?? d), 'file'];
            const lines: string[] = [];
            const groups = result.mode === 'generation' ? result.clips.map((c) => ({ title: `clip ${c.clip} (${c.dir})`, videos: c.videos })) : [{ title: result.dir, videos: result.videos }];
            for (const g of groups) {
              lines.push(t(g.title), head.join('\t'));
              for (const v of g.videos)
                lines.push(
                  [
                    v.rank === null ? '-' : String(v.rank),
                    v.overall === null ? '-' : v.overall.toFixed(1),
                    ...cols.map((d) => (v.dimensions[d] ? v.dimensions[d]!.value.toFixed(1) : '-')),
                    t(v.file) + (v.reason ? `  (not scored: ${t(v.reason)})` : ''),
                  ].join('\t'),
                );
              lines.push('');
            }
            process.stdout.write(lines.join('\n'));
            const w = Object.entries(result.weights_used).map(([k, v]) => `${k} ${((v ?? 0) * 100).toFixed(0)}%`).join(', ');
            process.stdout.write(`overall from: ${w || 'nothing'} (anchors ${t(result.anchors_version)}, device ${t(result.device)}); not a VBench total: several dimensions use named substitutes\n`);
            for (const [c, best] of Object.entries(result.best_per_clip)) process.stdout.write(`best of ${t(c)}: ${best ? t(best) : 'none scorable'}\n`);
            if (result.mode === 'folder') process.stdout.write(`best: ${result.best ? t(result.best) : 'none scorable'}; scores written to ${t(result.scores_file ?? '')}\n`);
            if (result.continuity)
              for (const p of result.continuity.pairs) process.stdout.write(`continuity clip ${p.from_clip} → ${p.to_clip}: ${p.value.toFixed(1)}${result.continuity.substitute ? ' (substitute: histogram + pixels)' : ''}\n`);
            for (const [d, why] of Object.entries(result.dimensions_unavailable)) process.stdout.write(`unavailable: ${t(d)}: ${t(String(why))}\n`);
            if (result.cache_hits) process.stdout.write(`${result.cache_hits} of ${result.videos.length} videos scored before: their scores came from the cache (--no-cache scores them again)\n`);
            if (result.cost_usd > 0 || result.cost_is_lower_bound) process.stdout.write(`VQAScore requests: $${result.cost_usd.toFixed(4)}${result.cost_is_lower_bound ? ' or more (a model without a price in prices.json)' : ''}\n`);
          }
          if (result.unscorable.length === result.videos.length) return ExitCode.FAILED;
          return result.unscorable.length ? ExitCode.PARTIAL : ExitCode.OK;
        } finally {
          await scorer.close();
        }
      }),
    );
}
