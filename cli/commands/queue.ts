import { Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { STAGES as QUEUE_NAMES, WORKFLOWS } from '../../src/workflow/stages.js';
import { MAX_CONCURRENCY } from '../../src/generation/limits.js';
import { longFlag, ModelIdSchema, REPLICATE_MODEL_ID, RUN_OPTIONS, type RunOptionDecl, type RunOptionDecls } from '../../src/workflow/run-options.js';
import { action, choiceArg, collect, deviceArg, floatArg, intArg } from '../shared.js';

/**
 * The queue commands: run, enqueue, worker, tail, status, retry, board. Flags only; the actions
 * live in cli/queue-actions.ts and load bullmq lazily.
 */
const actions = () => import('../queue-actions.js');

/** Model ids go into API URLs: owner/name[:version] only (no paths, no query strings). */
export const modelArg = (flag: string) => (value: string): string => {
  if (!REPLICATE_MODEL_ID.test(value)) throw new InvalidArgumentError(`${flag} must be a Replicate model owner/name or owner/name:version, got "${value}"`);
  return value;
};

type ArgParser = (value: string, previous?: unknown) => unknown;

/**
 * A flag's parser, from its declared zod type: a whole number → intArg, a number → floatArg (both
 * over the type's min and max), an enum → choiceArg, a model id → modelArg, an array → the same
 * per value, repeatable. Other strings and switches need none.
 */
function parserFor(type: z.ZodType, flag: string): ArgParser | undefined {
  if (type instanceof z.ZodArray) {
    const one = parserFor(type.element as z.ZodType, flag);
    return (v: string, prev?: unknown) => collect(one ? (one(v) as string) : v, prev as string[] | undefined);
  }
  if (type === ModelIdSchema) return modelArg(flag);
  if (type instanceof z.ZodNumber) {
    const { minValue: min, maxValue: max } = type;
    if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`${flag}: a number flag needs a declared min and max`);
    return type.isInt ? intArg(flag, min, max) : floatArg(flag, min, max);
  }
  if (type instanceof z.ZodEnum) return choiceArg(flag, type.options as string[]);
  return undefined;
}

/**
 * The commander flag of a declared run option. A single-stage command passes its own flag name
 * and help where they differ (`--max-iterations` for `--max-iterations-image`), and `default:
 * undefined` where it has none; the parser, its range and choices, and the default come from the
 * declaration.
 */
export function runOptionFlag(decl: RunOptionDecl, o: { flags?: string; help?: string; default?: unknown } = {}): Option {
  const flags = o.flags ?? decl.flags;
  const opt = new Option(flags, o.help ?? decl.help);
  const parse = opt.required || opt.optional ? parserFor(decl.flagType ?? decl.type, longFlag(flags)) : undefined;
  if (parse) opt.argParser(parse);
  const def = 'default' in o ? o.default : decl.default;
  if (def !== undefined && def !== null) opt.default(def);
  return opt;
}

/**
 * `run` and `enqueue` take the same run flags (Story 9.3's, plus the single-stage tools'); `run`
 * adds the flags of the workers it embeds. The run options' flags come from their declarations
 * (src/workflow/run-options.ts); `decls` is there for tests.
 */
export function addRunFlags(cmd: Command, embedsWorkers: boolean, decls: RunOptionDecls = RUN_OPTIONS): Command {
  cmd
    // run's is optional: `loop run --resume <checkpoint>` takes none
    .argument(embedsWorkers ? '[input]' : '<input>', 'starting prompt file, or "-" for stdin')
    .addOption(new Option('--workflow <name>', 'stages to run').choices(WORKFLOWS as unknown as string[]).default('full'))
    .option('--input-image <path>', 'video-only: the image clip 1 of the storyboard starts on (PNG, JPEG or WebP)');
  for (const d of decls) cmd.addOption(runOptionFlag(d));
  cmd
    .option('-o, --output-dir <dir>', 'root for run directories (default <LOOP_OUTPUT_DIR>/feedback_loops)')
    .option('--dry-run', 'print what the run would cost per stage (price table) and exit: no request, nothing written', false)
    .option('--max-cost <usd>', 'refuse to start when the estimated cost passes this many USD', floatArg('--max-cost', 0, 1_000_000))
    .option('--json', 'print machine-readable JSON', false)
    .option('-v, --verbose', 'log every call', false);
  // the embedded workers' flags; enqueue accepts them too (same flags as run, so a script can
  // switch between the two) but hides them: there, the workers that take the run decide
  const concurrency = new Option('--concurrency <n>', `jobs per queue at once in the embedded workers (1–${MAX_CONCURRENCY})`)
    .argParser(intArg('--concurrency', 1, MAX_CONCURRENCY))
    .default(4);
  const device = new Option('--device <device>', 'scoring device: cpu, cuda or cuda:N').argParser(deviceArg('--device')).default('cpu');
  if (!embedsWorkers) [concurrency, device].forEach((o) => o.hideHelp());
  return cmd.addOption(concurrency).addOption(device);
}

export function register(program: Command): void {
  addRunFlags(program.command('run').description('run a workflow end to end on this machine'), true)
    .option('--resume <checkpoint>', 'continue a run from its verified workflow_checkpoint.json (or its run directory) instead of a prompt file')
    .addHelpText(
      'after',
      '\nRedis: the one at REDIS_URL, or a private redis-server; the workers run in this process, with\nlive progress.\n' +
        '\nExamples:\n  npx loop run examples/start.txt --workflow prompt-only\n' +
        '  npx loop run examples/start.txt -a 1:1 --num-image-variations 4 --brand examples/brand.json\n' +
        '  npx loop run --resume "$(ls -d output/feedback_loops/*/ | tail -n 1)"   # after a Ctrl-C',
    )
    .option('--interactive', 'pause after the images and after the videos and ask here (implies --review; needs a terminal)', false)
    .action(
      action(async (input: string | undefined, opts: Record<string, unknown>, cmd: Command) =>
        (await actions()).runCommand(input, { ...opts, workflowFromCli: cmd.getOptionValueSource('workflow') === 'cli' }),
      ),
    );

  program
    .command('resume')
    .description('verify a checkpoint and enqueue the rest of its run')
    .argument('<checkpoint>', 'workflow_checkpoint.json, or the run directory holding it')
    .option('--json', 'print machine-readable JSON', false)
    .addHelpText(
      'after',
      '\nThe run goes on from the first stage not completed; `loop worker` processes it.\n' +
        '\nExamples:\n  npx loop resume "$(ls -d output/feedback_loops/*/ | tail -n 1)"   # after a Ctrl-C\n  npx loop worker',
    )
    .action(action(async (path: string, opts: Record<string, unknown>) => (await actions()).resumeCommand(path, opts)));

  addRunFlags(program.command('enqueue').description('put a run on the queues for workers; prints its run id'), false)
    .addHelpText(
      'after',
      '\nThe last line printed is the run id (for tail, status and retry).\n' +
        '\nExamples:\n  npx loop enqueue examples/start.txt --num-image-variations 4 -a 16:9\n' +
        '  npx loop worker --queues built   # in another shell: the workers that take it',
    )
    .action(action(async (input: string, opts: Record<string, unknown>) => (await actions()).enqueueCommand(input, opts)));

  program
    .command('worker')
    .description('process jobs from stage queues until SIGINT/SIGTERM')
    .option('--queues <names>', `comma-separated stage queues (${QUEUE_NAMES.join(', ')}); "built" = every stage built so far`, 'built')
    .option('--concurrency <n>', 'jobs per queue at once', intArg('--concurrency', 1, 256), 1)
    .option('--device <device>', 'scoring device: cpu, cuda or cuda:N', deviceArg('--device'), 'cpu')
    .option('--lock-duration <ms>', 'job lock duration; a dead worker loses its jobs after this long', intArg('--lock-duration', 1000, 600_000), 8_000)
    .option('--grace <s>', 'on SIGINT/SIGTERM, seconds running jobs get to finish before they are cancelled', intArg('--grace', 0, 3600), 30)
    .option('-v, --verbose', 'log every job', false)
    .addHelpText(
      'after',
      '\nOn SIGINT/SIGTERM running jobs finish first (for up to --grace seconds).\n' +
        '\nExamples:\n  npx loop worker --queues image-prompt,image-generation --concurrency 4\n' +
        '  npx loop worker --queues image-scoring --device cuda:0   # GPU-pinned scorer',
    )
    .action(action(async (opts: Record<string, unknown>) => (await actions()).workerCommand(opts)));

  program
    .command('tail')
    .description('follow a run\'s progress until it ends')
    .argument('<run-id>')
    .option('--json', 'print the final run view as JSON', false)
    .addHelpText(
      'after',
      '\nExit: 0 completed, 7 partial, 8 failed.\n' +
        '\nExamples:\n  npx loop tail "$(npx loop enqueue examples/start.txt --workflow prompt-only | tail -n 1)"',
    )
    .action(action(async (runId: string, opts: Record<string, unknown>) => (await actions()).tailCommand(runId, opts)));

  program
    .command('status')
    .description('show a run\'s stages, jobs and cost (no id: recent runs)')
    .argument('[run-id]')
    .option('--json', 'print JSON', false)
    .addHelpText(
      'after',
      '\nPer stage: jobs, attempts, durations and cost so far.\n' +
        '\nExamples:\n  npx loop status\n  npx loop status "$(npx loop enqueue examples/start.txt | tail -n 1)" --json',
    )
    .action(action(async (runId: string | undefined, opts: Record<string, unknown>) => (await actions()).statusCommand(runId, opts)));

  program
    .command('retry')
    .description('re-run what failed in a run, then every stage after it')
    .argument('<run-id>')
    .option('--json', 'print JSON', false)
    .addHelpText(
      'after',
      '\nWhat failed: a variation, a frame or a stage.\n' +
        '\nExamples:\n  RUN=$(npx loop enqueue examples/start.txt | tail -n 1)\n  npx loop tail "$RUN" || npx loop retry "$RUN"',
    )
    .action(action(async (runId: string, opts: Record<string, unknown>) => (await actions()).retryCommand(runId, opts)));

  program
    .command('review')
    .description('answer a run waiting at a review gate (--review / --interactive), from any terminal')
    .argument('<run-id>')
    .option('--continue', 'go on to the next stage', false)
    .option('--regenerate <what>', 'images or videos: make a new set with --feedback (the earlier ones are kept and ranked with them)')
    .option('--feedback <text>', 'what to change, folded into the prompt by the agents')
    .option('--stop', 'end the run here', false)
    .option('--json', 'print JSON', false)
    .addHelpText('after', '\nExamples:\n  loop review <run-id>                      # what it waits for\n  loop review <run-id> --regenerate images --feedback "warmer light, less clutter"\n  loop review <run-id> --continue')
    .action(action(async (runId: string, opts: Record<string, unknown>) => (await import('../review-actions.js')).reviewCommand(runId, opts)));

  program
    .command('board')
    .description('serve Bull Board over every stage queue')
    .option('--port <port>', 'port', intArg('--port', 0, 65535), 3000)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--read-only', 'no retry/remove/clean buttons', false)
    .addHelpText('after', '\nExamples:\n  npx loop board --port 3000   # http://127.0.0.1:3000/\n  npx loop board --read-only')
    .action(action(async (opts: Record<string, unknown>) => (await actions()).boardCommand(opts)));
}
