import { type Command, Option } from 'commander';
import { z } from 'zod';
import { ExitCode } from '../../src/errors.js';
import { IMAGE_BACKEND_NAMES, IMAGE_BACKENDS } from '../../src/config/backends.js';
import { MAX_CONCURRENCY, MAX_SEED, MAX_VARIATIONS } from '../../src/generation/limits.js';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { RUN_OPTION as O } from '../../src/workflow/run-options.js';
import { action, deviceArg, intArg, parseOptions, collect } from '../shared.js';
import { runOptionFlag } from './queue.js';

const ModelId = z.string().regex(/^[\w.-]+\/[\w.-]+(:[0-9a-f]{16,})?$/, 'a Replicate model is owner/name or owner/name:version');

/**
 * The flags it shares with `loop run` (types, ranges, defaults) come from the run options'
 * declarations (src/workflow/run-options.ts), under this command's own names and help.
 */
const OptionsSchema = z.object({
  numVariations: O.num_image_variations.type,
  aspectRatio: O.aspect_ratio.type,
  seed: O.seed.type.optional(),
  outputDir: z.string().min(1).optional(),
  model: ModelId.optional(),
  fallbackModel: z.array(ModelId).optional(),
  negativePrompt: O.negative_prompt.type.optional(),
  backend: O.image_backend.type.optional(),
  concurrency: z.number().int().min(1).max(MAX_CONCURRENCY).optional(),
  skipScoring: O.skip_scoring.type.optional(),
  /** false with --no-cache (commander's name for the switch). */
  cache: z.boolean().optional(),
  device: z.string().optional(), // syntax checked by deviceArg, the GPU count at start

  modelsDir: z.string().min(1).optional(),
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
});
type Options = z.infer<typeof OptionsSchema>;

const { replicate, sketch } = IMAGE_BACKENDS;

export function register(program: Command): void {
  program
    .command('generate-images')
    .summary('generate image variations, score and rank them')
    .description('generate image variations from a prompt (Replicate, or offline previz sketches), score and rank them, trace everything')
    .argument('<prompt>', 'prompt file, "-" for stdin, or a prompt trace directory from enhance-image-prompt')
    .addOption(runOptionFlag(O.num_image_variations, { flags: '-n, --num-variations <n>', help: `number of variations, 1–${MAX_VARIATIONS}` }))
    .addOption(runOptionFlag(O.aspect_ratio, { flags: '-a, --aspect-ratio <ratio>', help: `one of ${ASPECT_RATIOS.join(', ')}` }))
    .addOption(runOptionFlag(O.seed, { help: `base seed 0–${MAX_SEED}; variation i gets seed+i (default: drawn and recorded)` }))
    .option('-o, --output-dir <dir>', 'parent of the run directory (default: $LOOP_OUTPUT_DIR/image_generations)')
    .option('-m, --model <model>', 'Replicate model (default: stability-ai/sdxl)')
    .option('--fallback-model <model>', 'tried in order when the model fails (repeatable; default: black-forest-labs/flux-schnell)', collect)
    .addOption(runOptionFlag(O.negative_prompt, { help: 'what to avoid (sent to models that accept it)' }))
    .addOption(
      // commander's own choices (and their message), as before; the names come from the descriptors
      new Option(
        '--backend <name>',
        `${replicate.name} (needs ${replicate.key}) or ${sketch.name} (offline previz panels); default: ${replicate.name} when a token is set`,
      ).choices([...IMAGE_BACKEND_NAMES]),
    )
    .option('--concurrency <n>', `variations generated at once, 1–${MAX_CONCURRENCY} (default 8 on Replicate)`, intArg('--concurrency', 1, MAX_CONCURRENCY))
    .addOption(runOptionFlag(O.skip_scoring, { help: 'do not score or rank; files keep generation order', default: undefined }))
    .addOption(runOptionFlag(O.no_cache, { help: 'do not read or write the generation cache: make (and pay for) every variation again' }))
    .option('--device <device>', 'scoring device: cpu, cuda or cuda:N (N 0–15)', deviceArg('--device'))
    .option('--models-dir <dir>', 'scoring model directory (default: $LOOP_MODELS_DIR)')
    .option('--json', 'print the generation trace as JSON on stdout')
    .option('-v, --verbose', 'verbose logging')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop generate-images examples/start.txt -n 4 -a 1:1 --seed 12345 -o my_images\n' +
        '  npx loop enhance-image-prompt examples/start.txt -o my_traces\n' +
        '  npx loop generate-images "$(ls -d my_traces/*/ | tail -n 1)" -n 8   # that trace\'s final prompt',
    )
    .action(
      action(async (prompt: string, raw: Record<string, unknown>, cmd: Command) =>
        // a prompt trace's own ratio wins over the default, never over a given --aspect-ratio
        run(prompt, parseOptions(OptionsSchema, raw), { aspectRatioGiven: cmd.getOptionValueSource('aspectRatio') === 'cli' }),
      ),
    );
}

async function run(input: string, o: Options, given: { aspectRatioGiven: boolean }): Promise<number> {
  const { checkConfig, resolveCheckedModelsDir } = await import('../../src/config/check.js');
  const { createLogger } = await import('../../src/lib/log.js');
  const { redact } = await import('../../src/lib/secrets.js');
  const { jsonForTerminal, termSafe } = await import('../../src/lib/terminal.js');
  const { createRunDir, resolveRunsRoot } = await import('../../src/runs/run-dir.js');
  const gen = await import('../../src/generation/generate.js');
  const { GenerationCache } = await import('../../src/cache/generation-cache.js');
  const { renderResults } = await import('../image-report.js');

  // Everything a user can get wrong is checked before the run directory exists.
  const scoring = !o.skipScoring;
  // the models folder matters only when the images will be scored
  const env = checkConfig();
  const modelsDir = scoring ? resolveCheckedModelsDir(o.modelsDir, env) : undefined;
  if (scoring && o.device) (await import('../../src/lib/device.js')).resolveDevice(o.device); // cuda:N exists?
  const log = createLogger({ verbose: o.verbose });
  const backend = gen.resolveImageBackend(o.backend, env);
  const { prompt, source, aspectRatio: traceRatio } = await gen.loadPromptSource(input);
  const aspectRatio = !given.aspectRatioGiven && traceRatio ? traceRatio : o.aspectRatio;
  if (aspectRatio !== o.aspectRatio) log.info(`aspect ratio ${aspectRatio}, as the prompt trace records (--aspect-ratio overrides)`);
  const outDir = await createRunDir(resolveRunsRoot(o.outputDir, env.LOOP_OUTPUT_DIR, 'image_generations'));

  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  const progress = await (await import('../progress.js')).batchProgress('generating', 'images');
  log.info(`generating ${o.numVariations} variation${o.numVariations === 1 ? '' : 's'} with ${backend === 'sketch' ? 'the sketch backend (offline previz sketches, not model output)' : 'Replicate'} → ${termSafe(outDir)}`);
  let trace;
  try {
    trace = await gen.generateImages({
      prompt,
      promptSource: source,
      negativePrompt: o.negativePrompt ?? null,
      numVariations: o.numVariations,
      aspectRatio,
      seed: o.seed,
      model: o.model,
      fallbackModels: o.fallbackModel,
      backend,
      concurrency: o.concurrency,
      outDir,
      logger: log,
      env,
      signal: ac.signal,
      cache: o.cache === false ? null : GenerationCache.at(env.LOOP_OUTPUT_DIR),
      onProgress: (done, total, failed) => progress.update(done - failed, total, failed),
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }

  if (trace.from_cache)
    log.info(`${trace.from_cache} of ${trace.images.length} image${trace.images.length === 1 ? '' : 's'} came from the generation cache: nothing paid for ${trace.from_cache === 1 ? 'it' : 'them'} this time (--no-cache makes them again)`);

  // Scoring: rank and rename when a scorer is available; otherwise keep generation order and say why.
  if (trace.images.length === 0) trace = await gen.recordScoringOutcome(outDir, { status: 'skipped', reason: 'no images to score' });
  else if (o.skipScoring) trace = await gen.recordScoringOutcome(outDir, { status: 'skipped', reason: '--skip-scoring' });
  else if (ac.signal.aborted) trace = await gen.recordScoringOutcome(outDir, { status: 'skipped', reason: 'interrupted' });
  else {
    try {
      const { scoreGenerationDir } = await import('../../src/scoring/rank.js');
      log.info(`scoring ${trace.images.length} image${trace.images.length === 1 ? '' : 's'}…`);
      await scoreGenerationDir(outDir, { prompt, device: o.device, modelsDir, logger: log });
      trace = await gen.readGenerationTrace(outDir);
    } catch (e) {
      const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
      log.warn(`scoring unavailable: ${termSafe(reason)}; images keep generation order`);
      trace = await gen.recordScoringOutcome(outDir, { status: 'unavailable', reason });
    }
  }

  if (o.json) process.stdout.write(redact(jsonForTerminal(trace)) + '\n');
  else process.stdout.write(redact(renderResults(trace, outDir)) + '\n');

  if (ac.signal.aborted) return ExitCode.INTERRUPTED;
  const failed = trace.failures.length;
  if (failed === 0) return ExitCode.OK;
  if (trace.images.length === 0) {
    log.warn(`all ${failed} variations failed; the trace is in ${termSafe(outDir)}`);
    return ExitCode.REMOTE;
  }
  log.warn(`${failed} of ${trace.num_variations} variations failed; the other ${trace.images.length} were saved in ${termSafe(outDir)}`);
  return ExitCode.PARTIAL;
}
