import { type Command, Option } from 'commander';
import { z } from 'zod';
import { AGENT_BACKEND_NAMES, IMAGE_BACKEND_NAMES } from '../../src/config/backends.js';
import { ExitCode } from '../../src/errors.js';
import { MAX_CONCURRENCY, MAX_SEED } from '../../src/generation/limits.js';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { MAX_CLIPS, MAX_FRAME_VARIATIONS, ModelIdSchema, RUN_OPTION as O } from '../../src/workflow/run-options.js';
import { action, collect, deviceArg, intArg, parseOptions } from '../shared.js';
import { modelArg, runOptionFlag } from './queue.js';

/**
 * `loop create-storyboard` (Story 8.3): plan a prompt into clips, make each clip's start and end
 * frames, write storyboard_metadata.json and the contact sheet. In this process, no Redis; in a
 * run the same work is stage 3 on the queues.
 */
const OptionsSchema = z.object({
  numClips: O.num_clips.type,
  frameVariations: O.frame_variations.type,
  enhancePrompts: z.boolean().optional(),
  fromImage: z.string().min(1).optional(),
  backend: z.enum(IMAGE_BACKEND_NAMES).optional(),
  planner: z.enum(AGENT_BACKEND_NAMES).optional(),
  plannerModel: z.string().min(1),
  model: ModelIdSchema.optional(),
  fallbackModel: z.array(ModelIdSchema).optional(),
  aspectRatio: O.aspect_ratio.type,
  seed: O.seed.type.optional(),
  negativePrompt: O.negative_prompt.type.optional(),
  outputDir: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).max(MAX_CONCURRENCY),
  /** false with --no-cache (commander's name for the switch). */
  cache: z.boolean().optional(),
  device: z.string().optional(),
  modelsDir: z.string().min(1).optional(),
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
});
type Options = z.infer<typeof OptionsSchema>;

export function register(program: Command): void {
  program
    .command('create-storyboard')
    .summary('plan a prompt into clips with start and end frames')
    .description('plan a prompt into clips with start/end frames, motion arcs and a contact sheet')
    .argument('<prompt>', 'clip prompt file, or "-" for stdin')
    .addOption(runOptionFlag(O.num_clips, { flags: '-c, --num-clips <n>' }))
    .addOption(runOptionFlag(O.frame_variations))
    .option('--enhance-prompts', 'run each frame prompt through the image prompt loop first (2 rounds)')
    .option('--from-image <file>', 'clip 1 starts on this image (PNG, JPEG or WebP) and every frame keeps its look')
    .addOption(new Option('--backend <name>', 'frames: sketch (offline previz panels) or replicate (needs REPLICATE_API_TOKEN); default replicate when a token is set').choices([...IMAGE_BACKEND_NAMES]))
    .addOption(new Option('--planner <name>', 'clip planner: offline (rule-based) or openai (needs OPENAI_API_KEY); default openai when a key is set').choices([...AGENT_BACKEND_NAMES]))
    .option('--planner-model <model>', 'model for the openai planner (and --enhance-prompts)', 'gpt-4o')
    .option('-m, --model <model>', 'Replicate model for frames (default: stability-ai/sdxl, pinned; takes an init image)', modelArg('--model'))
    .option('--fallback-model <model>', 'tried in order when the model fails (repeatable)', (v: string, prev: string[] = []) => collect(modelArg('--fallback-model')(v), prev))
    .addOption(runOptionFlag(O.aspect_ratio, { flags: '-a, --aspect-ratio <ratio>', help: `frame aspect ratio (${ASPECT_RATIOS.join(', ')})` }))
    .addOption(runOptionFlag(O.seed, { help: `seed 0–${MAX_SEED} for the plan and the frames (one per consistency group)` }))
    .addOption(runOptionFlag(O.negative_prompt))
    .option('-o, --output-dir <dir>', 'parent of the storyboard directory (default: $LOOP_OUTPUT_DIR/storyboards)')
    .option('--concurrency <n>', `frames made at once, 1–${MAX_CONCURRENCY}`, intArg('--concurrency', 1, MAX_CONCURRENCY), 4)
    .addOption(runOptionFlag(O.no_cache, { help: 'do not read or write the generation cache: make (and pay for) every frame again' }))
    .option('--device <device>', 'scoring device for --frame-variations > 1: cpu, cuda or cuda:N', deviceArg('--device'))
    .option('--models-dir <dir>', 'scoring model directory (default: $LOOP_MODELS_DIR)')
    .option('--json', 'print storyboard_metadata.json on stdout')
    .option('-v, --verbose', 'verbose logging')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop create-storyboard examples/clip.txt -c 3 -a 16:9 -o my_boards\n' +
        '  npx loop create-storyboard examples/clip.txt --from-image examples/still.png --frame-variations 2\n' +
        `\nClips: 1–${MAX_CLIPS}; candidates per frame: 1–${MAX_FRAME_VARIATIONS}.`,
    )
    .action(action(async (prompt: string, raw: Record<string, unknown>) => run(prompt, parseOptions(OptionsSchema, raw))));
}

async function run(input: string, o: Options): Promise<number> {
  const { checkConfig, resolveCheckedModelsDir } = await import('../../src/config/check.js');
  const { resolveBackend } = await import('../../src/config/backends.js');
  const { createLogger } = await import('../../src/lib/log.js');
  const { readPromptInput } = await import('../../src/lib/input.js');
  const { jsonForTerminal, termSafe } = await import('../../src/lib/terminal.js');
  const { createRunDir, resolveRunsRoot } = await import('../../src/runs/run-dir.js');
  const { planGeneration } = await import('../../src/generation/generate.js');
  const { checkFromImage } = await import('../../src/storyboard/storyboard.js');

  // everything a user can get wrong is checked before the storyboard directory exists
  const env = checkConfig();
  const backend = resolveBackend('image', o.backend, env, '--backend');
  const planner = resolveBackend('agent', o.planner, env, '--planner');
  const picking = o.frameVariations > 1;
  const modelsDir = picking ? resolveCheckedModelsDir(o.modelsDir, env) : undefined;
  if (picking && o.device) (await import('../../src/lib/device.js')).resolveDevice(o.device);
  const prompt = await readPromptInput(input);
  const fromImage = o.fromImage ? { bytes: await checkFromImage(o.fromImage), origin: o.fromImage } : undefined;
  const log = createLogger({ verbose: o.verbose });
  const images = planGeneration({ backend, env, model: o.model, fallbackModels: o.fallbackModel, numVariations: 1, aspectRatio: o.aspectRatio, seed: o.seed, negativePrompt: o.negativePrompt ?? null });
  const dir = await createRunDir(resolveRunsRoot(o.outputDir, env.LOOP_OUTPUT_DIR, 'storyboards'));

  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  log.info(`planning ${o.numClips} clip${o.numClips === 1 ? '' : 's'} (${planner} planner), frames with ${backend === 'sketch' ? 'the sketch backend (offline previz sketches, not model output)' : 'Replicate'} → ${termSafe(dir)}`);
  const { createStoryboard } = await import('../../src/storyboard/create.js');
  const { GenerationCache } = await import('../../src/cache/generation-cache.js');
  let out: Awaited<ReturnType<typeof createStoryboard>>;
  try {
    out = await createStoryboard({
      dir,
      prompt,
      numClips: o.numClips,
      seed: o.seed,
      planner,
      plannerModel: o.plannerModel,
      env,
      frameVariations: o.frameVariations,
      backend: images.backend,
      model: images.model,
      fallbackModels: images.fallbackModels,
      aspectRatio: o.aspectRatio,
      negativePrompt: o.negativePrompt ?? null,
      fromImage,
      enhancePrompts: o.enhancePrompts ? { backend: planner, maxIterations: 2, threshold: 85 } : undefined,
      concurrency: o.concurrency,
      device: o.device,
      modelsDir,
      logger: log,
      signal: ac.signal,
      cache: o.cache === false ? null : GenerationCache.at(env.LOOP_OUTPUT_DIR),
      onFrame: (done, total, failed) => log.debug(`frames ${done}/${total}${failed ? ` (${failed} failed)` : ''}`),
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (ac.signal.aborted) return ExitCode.INTERRUPTED;
  const { design, result } = out;
  if (o.json) process.stdout.write(jsonForTerminal(result.metadata) + '\n');
  else {
    const w = (line: string) => process.stdout.write(termSafe(line, { multiline: true }) + '\n');
    w(`storyboard: ${design.num_clips} clip${design.num_clips === 1 ? '' : 's'} · ${design.planner_note}`);
    for (const c of result.clips) {
      const plan = design.plan.clips[c.clip - 1]!;
      w(`clip ${c.clip} (${plan.narrative_role}) ${plan.description}`);
      w(`  shot   ${plan.shot.size}, ${plan.shot.angle}, ${plan.shot.lens_mm}mm · ${c.camera} · ${plan.shot.duration_s} s · ${plan.shot.transition}`);
      w(`  motion ${c.motion}`);
      w(`  start  ${c.start ? `${dir}/${c.start}` : 'FAILED'}${design.frame_specs.find((f) => f.key === `c${String(c.clip).padStart(3, '0')}-start`)?.how.source !== 'generate' ? ' (derived: see metadata)' : ''}`);
      w(`  end    ${c.end ? `${dir}/${c.end}` : 'FAILED'}`);
    }
    w(`contact sheet: ${dir}/storyboard.png`);
    w(`metadata: ${dir}/storyboard_metadata.json · cost $${result.cost_usd.toFixed(4)}${result.cost_is_lower_bound ? ' (lower bound: a model has no price)' : ''}`);
  }
  if (result.failed_frames.length) {
    process.stderr.write(`loop: ${result.failed_frames.length} frame(s) failed: ${result.failed_frames.join(', ')} (the rest of the storyboard is written)\n`);
    return ExitCode.PARTIAL;
  }
  return ExitCode.OK;
}
