/**
 * Actions of the queue commands. Loaded only when one of them runs (it pulls in bullmq).
 */
import { join } from 'node:path';
import { Job } from 'bullmq';
import { z } from 'zod';
import type { Env } from '../src/config/env.js';
import { checkConfig, resolveCheckedModelsDir } from '../src/config/check.js';
import { resolveDevice } from '../src/lib/device.js';
import { clipSafe, jsonForTerminal, termSafe } from '../src/lib/terminal.js';
import { configError, ExitCode, LoopError } from '../src/errors.js';
import { readPromptInput } from '../src/lib/input.js';
import { createLogger, type Logger } from '../src/lib/log.js';
import { createRunDir, resolveRunsRoot } from '../src/runs/run-dir.js';
import { loadBrand } from '../src/prompt/brand.js';
import { assertRedisReachable } from '../queues/connection.js';
import { QueueContext } from '../queues/context.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../queues/embedded-redis.js';
import { inspectRun, type JobView, type RunView } from '../queues/inspect.js';
import { isQueueName, QUEUE_NAMES, WORKFLOW_STAGES, WORKFLOWS, type QueueName } from '../queues/names.js';
import { validateGenerationRequest } from '../src/generation/generate.js';
import { RunOptionsSchema, type RunSpec } from '../queues/payloads.js';
import { enqueueRun, getRunSpec, listRuns, stagesOf } from '../queues/runs.js';
import { redisOutageMs, watchRun } from '../queues/watch.js';
import { startWorkers } from '../workers/host.js';
import { BUILT_QUEUES } from '../workers/registry.js';
import { duration, money, table } from './format.js';
import { parseOptions } from './shared.js';

const RunFlags = z.object({
  workflow: z.enum(WORKFLOWS),
  maxIterationsImage: z.number(),
  thresholdImage: z.number(),
  skipThreshold: z.number(),
  agentBackend: z.enum(['offline', 'openai']).optional(),
  creativeModel: z.string().min(1),
  critiqueModel: z.string().min(1),
  brand: z.string().optional(),
  seed: z.number().optional(),
  numImageVariations: z.number(),
  aspectRatio: z.string(),
  imageBackend: z.enum(['sketch', 'replicate']).optional(),
  imageModel: z.string().optional(),
  fallbackModel: z.array(z.string()).optional(),
  negativePrompt: z.string().optional(),
  skipScoring: z.boolean(),
  outputDir: z.string().optional(),
  concurrency: z.number().default(4), // run only
  device: z.string().default('cpu'), // run only; syntax checked by the flag's parser
  json: z.boolean(),
  verbose: z.boolean(),
});
type RunFlags = z.infer<typeof RunFlags>;

const exitFor = (o: RunView['outcome']) => (o === 'completed' ? ExitCode.OK : o === 'partial' ? ExitCode.PARTIAL : ExitCode.FAILED);

/** Everything the user could get wrong is checked before a run directory exists. */
async function prepareRun(input: string, raw: Record<string, unknown>, env: Env, checkKeys: boolean) {
  const f = parseOptions(RunFlags, raw);
  stagesOf(f.workflow); // an unbuilt workflow is a usage error, before anything is written
  if (WORKFLOW_STAGES[f.workflow]?.includes('image-generation'))
    validateGenerationRequest({ numVariations: f.numImageVariations, aspectRatio: f.aspectRatio, seed: f.seed });
  const prompt = await readPromptInput(input);
  const brand = f.brand ? await loadBrand(f.brand) : null;
  if (checkKeys && f.agentBackend === 'openai' && !env.OPENAI_API_KEY)
    throw configError('--agent-backend openai needs OPENAI_API_KEY; set it, or use --agent-backend offline');
  if (checkKeys && f.imageBackend === 'replicate' && !env.REPLICATE_API_TOKEN)
    throw configError('--image-backend replicate needs REPLICATE_API_TOKEN; set it, or use --image-backend sketch');
  const options = RunOptionsSchema.parse({
    max_iterations_image: f.maxIterationsImage,
    threshold_image: f.thresholdImage,
    skip_threshold: f.skipThreshold,
    // Backends are decided here, once, from the enqueuer's request and keys, and written into
    // run_spec.json: a worker runs exactly these, and one lacking the key fails with a config error
    // instead of switching someone's offline run to a paid provider (or the reverse).
    agent_backend: f.agentBackend ?? (env.OPENAI_API_KEY ? 'openai' : 'offline'),
    creative_model: f.creativeModel,
    critique_model: f.critiqueModel,
    brand,
    seed: f.seed,
    num_image_variations: f.numImageVariations,
    aspect_ratio: f.aspectRatio,
    image_backend: f.imageBackend ?? (env.REPLICATE_API_TOKEN ? 'replicate' : 'sketch'),
    image_model: f.imageModel,
    fallback_models: f.fallbackModel,
    negative_prompt: f.negativePrompt ?? null,
    skip_scoring: f.skipScoring,
  });
  return { f, prompt, options };
}

async function newSpec(f: RunFlags, env: Env, prompt: string, input: string, options: RunSpec['options']): Promise<RunSpec> {
  const { newRunId } = await import('../queues/runs.js');
  const runDir = await createRunDir(resolveRunsRoot(f.outputDir, env.LOOP_OUTPUT_DIR, 'feedback_loops'));
  return {
    run_id: newRunId(runDir),
    workflow: f.workflow,
    run_dir: runDir,
    prompt,
    prompt_source: input === '-' ? 'stdin' : input,
    options,
    created_at: new Date().toISOString(),
  };
}

/** One line when Redis goes away and when it is back: run and tail ride through short outages. */
const redisNotice = (logger: Logger) => (state: 'down' | 'back') =>
  state === 'down'
    ? logger.warn(`Redis is not answering; waiting up to ${Math.round(redisOutageMs() / 1000)} s for it (LOOP_REDIS_OUTAGE_S)`)
    : logger.info('Redis is back');

function progressText(p: unknown): string {
  if (p && typeof p === 'object' && 'message' in p) return String((p as { message: unknown }).message);
  if (typeof p === 'number' && p > 0) return `${p}%`;
  return '';
}

/** Prints one line per change of a job's state or progress. */
function makePrinter(log: (line: string) => void) {
  const seen = new Map<string, string>();
  return (view: RunView) => {
    for (const j of [...view.jobs].reverse()) {
      const key = `${j.state}|${progressText(j.progress)}|${j.attemptsMade}`;
      if (seen.get(j.id) === key) continue;
      seen.set(j.id, key);
      const extra =
        j.state === 'completed' ? `in ${duration(j.durationMs)}` : j.state === 'failed' ? `: ${j.failedReason ?? ''}` : progressText(j.progress);
      const attempt = j.attemptsMade > 0 && j.state !== 'completed' ? ` (attempts ${j.attemptsMade})` : '';
      log(`[${j.queue}] ${j.name === 'stage' ? 'stage' : j.id.split('.').pop()} ${j.state}${attempt} ${extra}`.trimEnd());
    }
  };
}

function printOutcome(view: RunView, log: (line: string) => void) {
  const s = view.spec;
  log(`run ${s.run_id} ${view.outcome} · cost ${money(view.costUsd)} · ${view.stages.length} stage(s)`);
  for (const st of view.stages) {
    const note = typeof st.outputs.backend_note === 'string' ? `  ${st.outputs.backend_note}` : '';
    log(`  ${st.stage.padEnd(17)} ${duration(st.duration_ms).padStart(7)}  ${money(st.cost_usd)}${note}`);
  }
  const best = view.stages.find((x) => x.outputs.best_image)?.outputs.best_image;
  if (best) log(`best image: ${String(best)}`);
  const fp = view.stages.find((x) => x.stage === 'image-prompt')?.outputs.final_prompt;
  if (fp) log(`final prompt: ${String(fp)}`);
  if (view.error && view.outcome === 'failed') log(`error: ${view.error}`);
  log(`run directory: ${s.run_dir}`);
}

async function withContext<T>(env: Env, fn: (ctx: QueueContext) => Promise<T>, url = env.REDIS_URL): Promise<T> {
  await assertRedisReachable(url);
  const ctx = new QueueContext(url, env.LOOP_QUEUE_PREFIX);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

export async function runCommand(input: string, raw: Record<string, unknown>): Promise<number> {
  const env = checkConfig();
  const { f, prompt, options } = await prepareRun(input, raw, env, true);
  if (WORKFLOW_STAGES[f.workflow]?.includes('image-scoring') && !f.skipScoring) {
    resolveDevice(f.device);
    resolveCheckedModelsDir(undefined, env);
  }
  const logger = createLogger({ verbose: f.verbose });
  const out = (line: string) => (f.json ? process.stderr : process.stdout).write(termSafe(line, { multiline: true }) + '\n');
  let embedded: EmbeddedRedis | undefined;
  const url = process.env.REDIS_URL ? env.REDIS_URL : (embedded = await startEmbeddedRedis()).url;
  if (embedded) logger.info(`using a private redis-server at ${embedded.url} (set REDIS_URL to use yours)`);
  try {
    return await withContext(
      env,
      async (ctx) => {
        const spec = await newSpec(f, env, prompt, input, options);
        const host = await startWorkers({ redisUrl: url, prefix: ctx.prefix, queues: stagesOf(spec.workflow), concurrency: f.concurrency, device: f.device, logger });
        const abort = new AbortController();
        const onSignal = () => abort.abort();
        process.once('SIGINT', onSignal);
        try {
          await enqueueRun(ctx, spec);
          out(`run ${spec.run_id} (${spec.workflow}) → ${spec.run_dir}`);
          const view = await watchRun(ctx, spec, makePrinter(out), { signal: abort.signal, onRedis: redisNotice(logger) });
          if (abort.signal.aborted) {
            logger.warn(
              embedded
                ? `interrupted: the running jobs finish, then the private Redis stops; what was written stays in ${spec.run_dir}`
                : `interrupted: the running jobs finish; the rest of run ${spec.run_id} stays queued on REDIS_URL for \`loop worker\` (follow it with \`loop tail ${spec.run_id}\`)`,
            );
            return ExitCode.INTERRUPTED;
          }
          if (f.json) process.stdout.write(jsonForTerminal(view) + '\n');
          else printOutcome(view, out);
          return exitFor(view.outcome);
        } finally {
          process.off('SIGINT', onSignal);
          await host.close();
        }
      },
      url,
    );
  } finally {
    await embedded?.stop();
  }
}

export async function enqueueCommand(input: string, raw: Record<string, unknown>): Promise<number> {
  const env = checkConfig();
  const { f, prompt, options } = await prepareRun(input, raw, env, false);
  return withContext(env, async (ctx) => {
    const spec = await newSpec(f, env, prompt, input, options);
    const { root } = await enqueueRun(ctx, spec);
    if (f.json) process.stdout.write(JSON.stringify({ run_id: spec.run_id, run_dir: spec.run_dir, workflow: spec.workflow, root }) + '\n');
    else process.stdout.write(`enqueued ${spec.workflow} run → ${spec.run_dir}\nfollow it: loop tail ${spec.run_id}\n${spec.run_id}\n`);
    return ExitCode.OK;
  });
}

const WorkerFlags = z.object({
  queues: z.string(),
  concurrency: z.number(),
  device: z.string(),
  lockDuration: z.number(),
  grace: z.number(),
  verbose: z.boolean(),
});

function parseQueues(list: string): QueueName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new LoopError('USAGE', '--queues is empty');
  for (const n of names) if (!isQueueName(n)) throw new LoopError('USAGE', `unknown queue "${n}"; queues: ${QUEUE_NAMES.join(', ')}`);
  return [...new Set(names)] as QueueName[];
}

export async function workerCommand(raw: Record<string, unknown>): Promise<number> {
  const f = parseOptions(WorkerFlags, raw);
  const queues = f.queues === 'built' ? BUILT_QUEUES : parseQueues(f.queues);
  const env = checkConfig();
  if (queues.includes('image-scoring')) {
    resolveDevice(f.device);
    resolveCheckedModelsDir(undefined, env);
  }
  await assertRedisReachable(env.REDIS_URL);
  const logger: Logger = createLogger({ verbose: f.verbose });
  const host = await startWorkers({
    redisUrl: env.REDIS_URL,
    prefix: env.LOOP_QUEUE_PREFIX,
    queues,
    concurrency: f.concurrency,
    device: f.device,
    lockDuration: f.lockDuration,
    logger,
    onEvent: (e) => logger.info(`[${e.queue}] ${e.jobId} ${e.type}${e.detail ? `: ${e.detail}` : ''}`),
  });
  logger.info(`worker ready: ${queues.join(', ')} (concurrency ${f.concurrency}, device ${f.device}, pid ${process.pid})`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      logger.info(`${sig}: finishing running jobs for up to ${f.grace} s (send again to quit now)`);
      process.once('SIGINT', () => process.exit(ExitCode.INTERRUPTED));
      process.once('SIGTERM', () => process.exit(ExitCode.INTERRUPTED));
      // Past the grace period (or with Redis gone, when a graceful close cannot finish) running jobs
      // are cancelled: their remote calls stop waiting, and their locks expire so another worker
      // takes them over (a variation resumes its saved prediction instead of buying a new one).
      const force = setTimeout(() => {
        logger.warn(`grace period over: cancelling running jobs and quitting`);
        for (const w of host.workers) w.cancelAllJobs('worker shutting down');
        setTimeout(() => process.exit(ExitCode.INTERRUPTED), 1000).unref();
      }, f.grace * 1000);
      force.unref();
      host.close().then(
        () => {
          clearTimeout(force);
          resolve();
        },
        () => resolve(),
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  logger.info('worker stopped');
  return ExitCode.OK;
}

export async function tailCommand(runId: string, raw: Record<string, unknown>): Promise<number> {
  const json = raw.json === true;
  const env = checkConfig();
  return withContext(env, async (ctx) => {
    const spec = await getRunSpec(ctx, runId);
    const out = (line: string) => (json ? process.stderr : process.stdout).write(termSafe(line, { multiline: true }) + '\n');
    const view = await watchRun(ctx, spec, makePrinter(out), { onRedis: redisNotice(createLogger({ verbose: false })) });
    if (json) process.stdout.write(jsonForTerminal(view) + '\n');
    else printOutcome(view, out);
    return exitFor(view.outcome);
  });
}

function jobRows(jobs: JobView[]): string[][] {
  return jobs.map((j) => [
    '  '.repeat(j.depth) + j.queue,
    j.id,
    j.state,
    String(j.attemptsMade),
    duration(j.durationMs),
    clipSafe(j.state === 'failed' ? j.failedReason ?? '' : progressText(j.progress), 60),
  ]);
}

export async function statusCommand(runId: string | undefined, raw: Record<string, unknown>): Promise<number> {
  const json = raw.json === true;
  const env = checkConfig();
  return withContext(env, async (ctx) => {
    if (!runId) {
      const ids = await listRuns(ctx);
      // a run whose record or jobs expired is left out of the list, not an error
      const views = (await Promise.all(ids.map(async (id) => inspectRun(ctx, await getRunSpec(ctx, id)).catch(() => null)))).filter(
        (v): v is RunView => v !== null,
      );
      if (json) process.stdout.write(JSON.stringify(views.map((v) => ({ run_id: v.spec.run_id, workflow: v.spec.workflow, outcome: v.outcome, cost_usd: v.costUsd, run_dir: v.spec.run_dir }))) + '\n');
      else if (!views.length) process.stdout.write('no runs yet: loop enqueue <prompt-file>\n');
      else process.stdout.write(table(['run', 'workflow', 'outcome', 'cost', 'dir'], views.map((v) => [v.spec.run_id, v.spec.workflow, v.outcome, money(v.costUsd), v.spec.run_dir])) + '\n');
      return ExitCode.OK;
    }
    const view = await inspectRun(ctx, await getRunSpec(ctx, runId));
    if (json) {
      process.stdout.write(jsonForTerminal(view) + '\n');
      return ExitCode.OK;
    }
    process.stdout.write(`run ${runId} (${view.spec.workflow}): ${view.outcome} · cost so far ${money(view.costUsd)}\n`);
    process.stdout.write(table(['queue', 'job', 'state', 'attempts', 'took', 'progress / error'], jobRows(view.jobs)) + '\n');
    process.stdout.write(`run directory: ${view.spec.run_dir}\n`);
    return ExitCode.OK;
  });
}

export async function retryCommand(runId: string, raw: Record<string, unknown>): Promise<number> {
  const json = raw.json === true;
  const env = checkConfig();
  return withContext(env, async (ctx) => {
    const view = await inspectRun(ctx, await getRunSpec(ctx, runId));
    // Deepest first: a child back in its parent's dependencies before the parent re-runs, so the
    // parent parks in waiting-children until the child is done (workers/stage.ts).
    const failed = view.jobs.filter((j) => j.state === 'failed').sort((a, b) => b.depth - a.depth);
    for (const j of failed) {
      const job = await Job.fromId(ctx.queue(j.queue as QueueName), j.id);
      await job?.retry('failed', { resetAttemptsMade: true });
    }
    if (json) process.stdout.write(JSON.stringify({ run_id: runId, retried: failed.map((j) => ({ queue: j.queue, id: j.id })) }) + '\n');
    else if (!failed.length) process.stdout.write(`run ${runId} has no failed jobs (${view.outcome})\n`);
    else process.stdout.write(`retrying ${failed.length} job(s) of run ${runId}: ${failed.map((j) => `${j.queue}/${j.id}`).join(', ')}\nfollow it: loop tail ${runId}\n`);
    return ExitCode.OK;
  });
}

export async function boardCommand(raw: Record<string, unknown>): Promise<number> {
  const f = parseOptions(z.object({ port: z.number(), host: z.string(), readOnly: z.boolean() }), raw);
  const env = checkConfig();
  await assertRedisReachable(env.REDIS_URL);
  const { serveBoard } = await import('../queues/board.js');
  const ctx = new QueueContext(env.REDIS_URL, env.LOOP_QUEUE_PREFIX);
  const server = await serveBoard(ctx, { port: f.port, host: f.host, readOnly: f.readOnly });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : f.port;
  process.stdout.write(`Bull Board: http://${f.host}:${port}/ (${QUEUE_NAMES.length} queues, prefix ${ctx.prefix}${f.readOnly ? ', read-only' : ''})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await ctx.close();
  return ExitCode.OK;
}
