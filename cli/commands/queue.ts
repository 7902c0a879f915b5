import { Command, InvalidArgumentError, Option } from 'commander';
import { STAGES as QUEUE_NAMES, WORKFLOWS } from '../../src/workflow/stages.js';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { MAX_CONCURRENCY, MAX_SEED, MAX_VARIATIONS } from '../../src/generation/limits.js';
import { action, choiceArg, collect, deviceArg, floatArg, intArg } from '../shared.js';

/**
 * The queue commands: run, enqueue, worker, tail, status, retry, board. Flags only; the actions
 * live in cli/queue-actions.ts and load bullmq lazily.
 */
const actions = () => import('../queue-actions.js');

/** Model ids go into API URLs: owner/name[:version] only (no paths, no query strings). */
const REPLICATE_MODEL_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(:[0-9a-f]{16,64})?$/;
const modelArg = (flag: string) => (value: string): string => {
  if (!REPLICATE_MODEL_ID.test(value)) throw new InvalidArgumentError(`${flag} must be a Replicate model owner/name or owner/name:version, got "${value}"`);
  return value;
};

/**
 * `run` and `enqueue` take the same run flags (Story 9.3's, plus the single-stage tools'); `run`
 * adds the flags of the workers it embeds.
 */
function addRunFlags(cmd: Command, embedsWorkers: boolean): Command {
  cmd
    .argument('<input>', 'starting prompt file, or "-" for stdin')
    .addOption(new Option('--workflow <name>', 'stages to run').choices(WORKFLOWS as unknown as string[]).default('image-only'))
    .option('--max-iterations-image <n>', 'image prompt enhancement rounds (1-10)', intArg('--max-iterations-image', 1, 10), 3)
    .option('--threshold-image <score>', 'image prompt score to stop at (0-100)', floatArg('--threshold-image', 0, 100), 85)
    .option('--skip-threshold <score>', 'skip enhancement when the initial assessment reaches this (0-100; 101 = never skip)', floatArg('--skip-threshold', 0, 101), 75)
    .option('--agent-backend <name>', 'prompt agents: offline|openai (default: openai when OPENAI_API_KEY is set)', choiceArg('--agent-backend', ['offline', 'openai'] as const))
    .option('--creative-model <model>', 'model for the cinematographer agent', 'gpt-4o')
    .option('--critique-model <model>', 'model for the prompt-engineer critic', 'gpt-4o')
    .option('--brand <file>', 'brand guidelines JSON (palette, tone, must_include, avoid)')
    .option('--seed <n>', `seed for agents and image variations, 0-${MAX_SEED} (variation i gets seed+i)`, intArg('--seed', 0, MAX_SEED))
    .option('--num-image-variations <n>', `images to generate (1-${MAX_VARIATIONS})`, intArg('--num-image-variations', 1, MAX_VARIATIONS), 8)
    .option('--aspect-ratio <ratio>', `image aspect ratio (${ASPECT_RATIOS.join(', ')})`, choiceArg('--aspect-ratio', ASPECT_RATIOS), '16:9')
    .option('--image-backend <name>', 'image generation: sketch|replicate (default: replicate when REPLICATE_API_TOKEN is set)', choiceArg('--image-backend', ['sketch', 'replicate'] as const))
    .option('--image-model <model>', 'Replicate model for images, owner/name[:version] (default stability-ai/sdxl, pinned version)', modelArg('--image-model'))
    .option('--fallback-model <model>', 'tried in order when the image model fails permanently (repeatable)', (v: string, prev: string[] = []) => collect(modelArg('--fallback-model')(v), prev))
    .option('--negative-prompt <text>', 'what the image should not show')
    .option('--skip-scoring', 'keep generation order; do not score images', false)
    .option('--output-dir <dir>', 'root for run directories (default <LOOP_OUTPUT_DIR>/feedback_loops)')
    .option('--json', 'print machine-readable JSON', false)
    .option('-v, --verbose', 'log every call', false);
  // the embedded workers' flags; enqueue accepts them too (same flags as run, so a script can
  // switch between the two) but hides them: there, the workers that take the run decide
  const concurrency = new Option('--concurrency <n>', `jobs per queue at once in the embedded workers (1-${MAX_CONCURRENCY})`)
    .argParser(intArg('--concurrency', 1, MAX_CONCURRENCY))
    .default(4);
  const device = new Option('--device <device>', 'scoring device: cpu, cuda or cuda:N').argParser(deviceArg('--device')).default('cpu');
  if (!embedsWorkers) [concurrency, device].forEach((o) => o.hideHelp());
  return cmd.addOption(concurrency).addOption(device);
}

export function register(program: Command): void {
  addRunFlags(program.command('run').description('run a workflow end to end on this machine: Redis (yours or a private one) + in-process workers + live progress'), true).action(
    action(async (input: string, opts: Record<string, unknown>) => (await actions()).runCommand(input, opts)),
  );

  addRunFlags(program.command('enqueue').description('put a run on the queues (workers run it); prints the run id on its last line'), false).action(
    action(async (input: string, opts: Record<string, unknown>) => (await actions()).enqueueCommand(input, opts)),
  );

  program
    .command('worker')
    .description('process jobs from some stage queues until SIGINT/SIGTERM (running jobs finish first)')
    .option('--queues <names>', `comma-separated stage queues (${QUEUE_NAMES.join(', ')}); "built" = every stage built so far`, 'built')
    .option('--concurrency <n>', 'jobs per queue at once', intArg('--concurrency', 1, 256), 1)
    .option('--device <device>', 'scoring device: cpu, cuda or cuda:N', deviceArg('--device'), 'cpu')
    .option('--lock-duration <ms>', 'job lock duration; a dead worker loses its jobs after this long', intArg('--lock-duration', 1000, 600_000), 8_000)
    .option('--grace <s>', 'on SIGINT/SIGTERM, seconds running jobs get to finish before they are cancelled', intArg('--grace', 0, 3600), 30)
    .option('-v, --verbose', 'log every job', false)
    .action(action(async (opts: Record<string, unknown>) => (await actions()).workerCommand(opts)));

  program
    .command('tail')
    .description('follow a run until it ends; exit 0 completed, 7 partial, 8 failed')
    .argument('<run-id>')
    .option('--json', 'print the final run view as JSON', false)
    .action(action(async (runId: string, opts: Record<string, unknown>) => (await actions()).tailCommand(runId, opts)));

  program
    .command('status')
    .description('stages, jobs, attempts, durations and cost of a run (or list recent runs)')
    .argument('[run-id]')
    .option('--json', 'print JSON', false)
    .action(action(async (runId: string | undefined, opts: Record<string, unknown>) => (await actions()).statusCommand(runId, opts)));

  program
    .command('retry')
    .description('retry the failed jobs of a run (deepest first, so stages re-run in order)')
    .argument('<run-id>')
    .option('--json', 'print JSON', false)
    .action(action(async (runId: string, opts: Record<string, unknown>) => (await actions()).retryCommand(runId, opts)));

  program
    .command('board')
    .description('serve Bull Board over every stage queue')
    .option('--port <port>', 'port', intArg('--port', 0, 65535), 3000)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--read-only', 'no retry/remove/clean buttons', false)
    .action(action(async (opts: Record<string, unknown>) => (await actions()).boardCommand(opts)));
}
