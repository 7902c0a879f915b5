import { type Command, Option } from 'commander';
import { z } from 'zod';
import { ExitCode } from '../../src/errors.js';
import { MAX_CONCURRENCY, MAX_SEED } from '../../src/generation/limits.js';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { MAX_VIDEO_ATTEMPTS, ModelIdSchema, RUN_OPTION as O } from '../../src/workflow/run-options.js';
import { action, floatArg, intArg, parseOptions } from '../shared.js';
import { modelArg, runOptionFlag } from './queue.js';

/**
 * `loop generate-videos` (Story 9.2): videos from a storyboard's enhanced motion prompts (one
 * folder per clip) or from one prompt with optional start/end frames; --num-attempts per clip,
 * all concurrent. In this process, no Redis; in a run the same work is stage 5 on the queues.
 */
const OptionsSchema = z.object({
  numAttempts: O.num_video_attempts.type,
  backend: O.video_backend.type.optional(),
  model: ModelIdSchema,
  startImage: z.string().min(1).optional(),
  endImage: z.string().min(1).optional(),
  duration: z.number().positive().max(60),
  aspectRatio: O.aspect_ratio.type,
  seed: O.seed.type.optional(),
  negativePrompt: O.negative_prompt.type.optional(),
  maxCost: z.number().nonnegative().optional(),
  outputDir: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).max(MAX_CONCURRENCY),
  /** false with --no-cache (commander's name for the switch). */
  cache: z.boolean().optional(),
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
});
type Options = z.infer<typeof OptionsSchema>;

export function register(program: Command): void {
  program
    .command('generate-videos')
    .summary('generate videos (Replicate or animatic) from prompts')
    .description('generate videos from a storyboard\'s enhanced motion prompts or one prompt (Replicate, or the offline animatic)')
    .argument('<input>', 'storyboard_enhanced_motion_prompts.json, a video prompt file, or "-" for stdin')
    .addOption(runOptionFlag(O.num_video_attempts, { flags: '-n, --num-attempts <n>', help: `videos per clip (1–${MAX_VIDEO_ATTEMPTS})` }))
    .addOption(new Option('--backend <name>', 'animatic (offline, not model output) or replicate (needs REPLICATE_API_TOKEN); default replicate when a token is set').choices(['animatic', 'replicate']))
    .option('-m, --model <model>', 'Replicate video model (kwaivgi/kling-v2.1, luma/ray, minimax/hailuo-02, google/veo-3.1, wan-video/…)', modelArg('--model'), 'kwaivgi/kling-v2.1')
    .option('--start-image <file>', 'first frame (prompt mode)')
    .option('--end-image <file>', 'last frame (prompt mode; models that take one)')
    .option('--duration <s>', 'seconds per video in prompt mode (storyboard mode: each clip\'s own)', floatArg('--duration', 1, 60), 5)
    .addOption(runOptionFlag(O.aspect_ratio, { flags: '-a, --aspect-ratio <ratio>', help: `video aspect ratio (${ASPECT_RATIOS.join(', ')})` }))
    .addOption(runOptionFlag(O.seed, { help: `seed 0–${MAX_SEED}; attempt i gets seed+i-1 (default: drawn and recorded)` }))
    .addOption(runOptionFlag(O.negative_prompt))
    .option('--max-cost <usd>', 'refuse to start when the batch\'s estimate from the price table exceeds this', floatArg('--max-cost', 0, 100_000))
    .option('-o, --output-dir <dir>', 'parent of the run directory (default: $LOOP_OUTPUT_DIR/video_generations)')
    .option('--concurrency <n>', `videos generated at once, 1–${MAX_CONCURRENCY}`, intArg('--concurrency', 1, MAX_CONCURRENCY), 6)
    .addOption(runOptionFlag(O.no_cache, { help: 'do not read or write the generation cache: make (and pay for) every video again' }))
    .option('--json', 'print generation_trace.json on stdout')
    .option('-v, --verbose', 'verbose logging')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop generate-videos examples/motion.txt -n 2 --start-image examples/still.png \\\n' +
        '      --end-image examples/still_end.png -o my_videos\n' +
        '  npx loop generate-videos "$(ls my_motion/*/storyboard_enhanced_motion_prompts.json | tail -n 1)"\n' +
        '  npx loop generate-videos examples/motion.txt --backend replicate --start-image examples/still.png',
    )
    .action(action(async (input: string, raw: Record<string, unknown>) => run(input, parseOptions(OptionsSchema, raw))));
}

async function run(input: string, o: Options): Promise<number> {
  const { readFile, stat } = await import('node:fs/promises');
  const { basename, dirname, resolve } = await import('node:path');
  const { checkConfig } = await import('../../src/config/check.js');
  const { LoopError } = await import('../../src/errors.js');
  const { createLogger } = await import('../../src/lib/log.js');
  const { readPromptInput } = await import('../../src/lib/input.js');
  const { jsonForTerminal, termSafe } = await import('../../src/lib/terminal.js');
  const { createRunDir, resolveRunsRoot } = await import('../../src/runs/run-dir.js');
  const { createVideoBackend } = await import('../../src/video/generate.js');
  const { clipsFromMotionFile, generateVideos } = await import('../../src/video/create.js');
  const { GenerationCache } = await import('../../src/cache/generation-cache.js');

  // everything a user can get wrong is checked before the run directory exists
  const env = checkConfig();
  const backendName = o.backend ?? (env.REPLICATE_API_TOKEN ? 'replicate' : 'animatic');
  const backend = await createVideoBackend(backendName, env);
  const log = createLogger({ verbose: o.verbose });
  if (backendName === 'animatic') {
    const { requireFfmpeg } = await import('../../src/video/ffmpeg.js');
    const ff = await requireFfmpeg();
    log.info(`encoder: ${ff.source} ffmpeg ${ff.version} (${ff.path})`);
  }
  let clips;
  let framesRoot: string;
  const isMotionFile = input !== '-' && input.endsWith('.json');
  if (isMotionFile) {
    if (o.startImage || o.endImage) throw new LoopError('USAGE', '--start-image/--end-image are for a single prompt; a motion file names each clip\'s frames');
    const { StoryboardMotionFileSchema } = await import('../../src/video-prompt/storyboard-mode.js');
    const text = await readFile(input, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new LoopError('INPUT', `cannot read ${input}: ${e.code ?? e.message}`);
    });
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new LoopError('INPUT', `${input} is not valid JSON (expected storyboard_enhanced_motion_prompts.json)`);
    }
    const m = StoryboardMotionFileSchema.safeParse(raw);
    if (!m.success) throw new LoopError('INPUT', `${input} is not a storyboard motion file: ${m.error.issues[0]?.path.join('.')} ${m.error.issues[0]?.message}`);
    ({ clips, framesRoot } = clipsFromMotionFile(resolve(input), m.data));
    for (const c of clips)
      for (const f of [c.start_frame, c.end_frame])
        if (f && !(await stat(resolve(framesRoot, f)).catch(() => null))?.isFile()) throw new LoopError('INPUT', `clip ${c.clip}: frame ${resolve(framesRoot, f)} is missing`);
  } else {
    const prompt = await readPromptInput(input);
    for (const [flag, f] of [['--start-image', o.startImage], ['--end-image', o.endImage]] as const)
      if (f && !(await stat(f).catch(() => null))?.isFile()) throw new LoopError('INPUT', `${flag} ${f}: no such file`);
    if (o.endImage && !o.startImage) throw new LoopError('USAGE', '--end-image needs --start-image');
    framesRoot = o.startImage ? dirname(resolve(o.startImage)) : process.cwd();
    const rel = (f: string | undefined) => (f ? (dirname(resolve(f)) === framesRoot ? basename(f) : resolve(f)) : null);
    clips = [{ clip: 1, prompt, start_frame: rel(o.startImage), end_frame: rel(o.endImage), camera: null, duration_s: o.duration }];
  }
  const dir = await createRunDir(resolveRunsRoot(o.outputDir, env.LOOP_OUTPUT_DIR, 'video_generations'));
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  log.info(`${clips.length} clip(s) × ${o.numAttempts} attempt(s) with ${backend.note} → ${termSafe(dir)}`);
  let out: Awaited<ReturnType<typeof generateVideos>>;
  const progress = await (await import('../progress.js')).batchProgress('generating', 'videos');
  const total = clips.length * o.numAttempts;
  let made = 0;
  let failed = 0;
  progress.update(0, total);
  try {
    out = await generateVideos({
      dir,
      backend,
      model: o.model,
      clips,
      framesRoot,
      attempts: o.numAttempts,
      aspectRatio: o.aspectRatio,
      negativePrompt: o.negativePrompt ?? null,
      seed: o.seed,
      maxCostUsd: o.maxCost,
      concurrency: o.concurrency,
      signal: ac.signal,
      cache: o.cache === false ? null : GenerationCache.at(env.LOOP_OUTPUT_DIR),
      onAttempt: (e) => {
        if (e.ok) made++;
        else failed++;
        progress.log(termSafe(`clip ${e.clip} attempt ${e.attempt}: ${e.ok ? `done${e.reused ? ' (already made)' : e.from_cache ? ' (from the generation cache)' : ''} ${e.detail} · ${e.cost_usd === null ? 'cost unknown' : `$${e.cost_usd.toFixed(4)}`}` : `FAILED ${e.detail}`}`));
        progress.update(made, total, failed);
      },
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (ac.signal.aborted) return ExitCode.INTERRUPTED;
  const { trace, failures } = out;
  if (o.json) process.stdout.write(jsonForTerminal(trace) + '\n');
  else {
    const w = (line: string) => process.stdout.write(termSafe(line, { multiline: true }) + '\n');
    for (const c of trace.clips) w(`clip ${c.clip}: ${c.videos.length} video(s)${c.failures.length ? `, ${c.failures.length} failed` : ''} → ${c.videos.map((v) => `${dir}/${v}`).join(', ') || '-'}`);
    w(`${trace.backend_note} · ${trace.videos.length} video(s) · cost $${trace.total_cost_usd.toFixed(4)}${trace.cost_is_lower_bound ? ' (lower bound)' : ''} · ${dir}/generation_trace.json`);
  }
  if (!failures.length) return ExitCode.OK;
  return trace.videos.length ? ExitCode.PARTIAL : ExitCode.REMOTE;
}
