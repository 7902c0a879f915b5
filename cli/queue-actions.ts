/**
 * Actions of the queue commands. Loaded only when one of them runs (it pulls in bullmq).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import type { Env } from '../src/config/env.js';
import { checkConfig, resolveCheckedModelsDir } from '../src/config/check.js';
import { resolveDevice } from '../src/lib/device.js';
import { clipSafe, jsonForTerminal, termSafe } from '../src/lib/terminal.js';
import { redact } from '../src/lib/secrets.js';
import { ExitCode, LoopError } from '../src/errors.js';
import { readPromptInput } from '../src/lib/input.js';
import { createLogger, type Logger } from '../src/lib/log.js';
import { createRunDir, resolveRunsRoot } from '../src/runs/run-dir.js';
import { assertRedisReachable } from '../queues/connection.js';
import { QueueContext } from '../queues/context.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../queues/embedded-redis.js';
import { inspectRun, viewToJson, type JobView, type RunView } from '../queues/inspect.js';
import { isQueueName, QUEUE_NAMES, WORKFLOW_STAGES, WORKFLOWS, type QueueName } from '../queues/names.js';
import { validateGenerationRequest } from '../src/generation/generate.js';
import { summaryFor, type RunSpec, type StageSummary } from '../queues/payloads.js';
import { CHECKPOINT_FILE } from '../src/workflow/records.js';
import { queuesOf } from '../src/workflow/stages.js';
import { resolveRunDir, runDirRef } from '../src/workflow/run-paths.js';
import { enqueueRun, getRunSpec, listRuns, stagesOf } from '../queues/runs.js';
import { redisOutageMs, watchRun } from '../queues/watch.js';
import { startWorkers } from '../workers/host.js';
import { BUILT_QUEUES } from '../workers/registry.js';
import { duration, money, table } from './format.js';
import { parseOptions } from './shared.js';

// The run options' flags are declared once, in src/workflow/run-options.ts (imported here, next to
// the two places that use it, so this file's import block stays as it is).
import { RUN_OPTIONS, runFlagsShape, runOptionsFromFlags } from '../src/workflow/run-options.js';

const RunFlags = z.object({
  workflow: z.enum(WORKFLOWS),
  inputImage: z.string().min(1).optional(),
  ...runFlagsShape(RUN_OPTIONS),
  outputDir: z.string().optional(),
  concurrency: z.number().default(4), // run only
  device: z.string().default('cpu'), // run only; syntax checked by the flag's parser
  dryRun: z.boolean().default(false),
  interactive: z.boolean().default(false), // run only
  maxCost: z.number().nonnegative().optional(),
  json: z.boolean(),
  verbose: z.boolean(),
});
type RunFlags = z.infer<typeof RunFlags>;

/**
 * Cost before spending: --dry-run prints the estimate per stage and stops (no Redis, no request,
 * nothing written); --max-cost refuses a run whose estimate passes it. Returns an exit code when
 * the command should stop here.
 */
async function costGate(f: RunFlags, options: RunSpec['options']): Promise<number | undefined> {
  if (!f.dryRun && f.maxCost === undefined) return undefined;
  const { estimateRun } = await import('../src/workflow/estimate.js');
  const e = estimateRun(stagesOf(f.workflow), options);
  const usd = (n: number | null) => (n === null ? 'unknown (no price)' : `$${n.toFixed(4)}`);
  if (f.dryRun) {
    if (f.json) process.stdout.write(JSON.stringify({ workflow: f.workflow, ...e }) + '\n');
    else {
      const rows = e.stages.map((s) => [s.stage, usd(s.cost_usd), s.basis]);
      process.stdout.write(`${table(['stage', 'estimate', 'basis'], rows)}\ntotal ${usd(e.total_usd)}${e.lower_bound ? ' (lower bound: a model has no price)' : ''} · dry run: nothing was requested or written\n`);
    }
    return ExitCode.OK;
  }
  if (f.maxCost !== undefined && e.total_usd > f.maxCost)
    throw new LoopError('USAGE', `the run would cost about $${e.total_usd.toFixed(2)}${e.lower_bound ? ' or more' : ''}, more than --max-cost $${f.maxCost.toFixed(2)}; nothing was started (see --dry-run)`);
  return undefined;
}

/** A run that scores (images unless skipped, or videos) checks its device and models folder at start. */
const needsScorer = (stages: readonly string[], skipScoring: boolean) => (stages.includes('image-scoring') && !skipScoring) || stages.includes('video-scoring');

const exitFor = (o: RunView['outcome']) => (o === 'completed' ? ExitCode.OK : o === 'partial' ? ExitCode.PARTIAL : ExitCode.FAILED);

/**
 * Everything the user could get wrong is checked before a run directory exists. The options come
 * from the flags by their declarations (runOptionsFromFlags): the brand file is read and the
 * backends are decided there, `checkKeys` refusing a requested backend whose key is not set.
 */
export async function prepareRun(input: string, raw: Record<string, unknown>, env: Env, checkKeys: boolean) {
  const f = parseOptions(RunFlags, raw);
  stagesOf(f.workflow); // an unbuilt workflow is a usage error, before anything is written
  if (WORKFLOW_STAGES[f.workflow]?.includes('image-generation'))
    validateGenerationRequest({ numVariations: f.numImageVariations, aspectRatio: f.aspectRatio, seed: f.seed });
  const inputImage = await checkInputImage(f);
  if (f.interactive && !(process.stdin.isTTY && process.stderr.isTTY))
    throw new LoopError('USAGE', '--interactive asks in the terminal, and this one has none: use --review, then `loop review <run-id>` from any terminal');
  if (input === '-' && f.interactive) throw new LoopError('USAGE', '--interactive reads the answers from stdin: give the prompt as a file, not "-"');
  const prompt = await readPromptInput(input);
  const options = await runOptionsFromFlags(f, { env, checkKeys });
  // the gates are in the run (its spec); --interactive only decides who answers them
  if (f.interactive) options.review = true;
  return { f, prompt, options, inputImage };
}

/** video-only starts from the user's image: it must be there and decode, before any run directory exists. */
async function checkInputImage(f: RunFlags): Promise<Buffer | null> {
  if (f.workflow !== 'video-only') {
    if (f.inputImage) throw new LoopError('USAGE', `--input-image is for --workflow video-only (${f.workflow} makes its own images)`);
    return null;
  }
  if (!f.inputImage) throw new LoopError('USAGE', '--workflow video-only needs --input-image PATH: the image the storyboard and its first clip start on');
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(f.inputImage).catch((e: NodeJS.ErrnoException) => {
    throw new LoopError('INPUT', `--input-image ${f.inputImage}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a folder' : `cannot be read (${e.code})`}`);
  });
  const sharp = (await import('sharp')).default;
  // normalised to PNG once here, so every stage after reads one format
  return sharp(bytes)
    .rotate()
    .png()
    .toBuffer()
    .catch(() => {
      throw new LoopError('INPUT', `--input-image ${f.inputImage} is not an image sharp can decode (PNG, JPEG, WebP, AVIF, TIFF, GIF)`);
    });
}

/** Where a run keeps the user's input image, relative to its run directory. */
const INPUT_IMAGE = 'input/input_image.png';

async function newSpec(f: RunFlags, env: Env, prompt: string, input: string, options: RunSpec['options'], inputImage: Buffer | null): Promise<RunSpec> {
  const { newRunId } = await import('../queues/runs.js');
  const runDir = await createRunDir(resolveRunsRoot(f.outputDir, env.LOOP_OUTPUT_DIR, 'feedback_loops'));
  if (inputImage) {
    const { writeFileAtomic } = await import('../src/runs/atomic.js');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(runDir, 'input'), { recursive: true });
    await writeFileAtomic(join(runDir, INPUT_IMAGE), inputImage);
  }
  return {
    run_id: newRunId(runDir),
    workflow: f.workflow,
    // relative to LOOP_OUTPUT_DIR: every worker resolves it against its own (relocatable runs)
    run_dir: runDirRef(runDir, resolve(env.LOOP_OUTPUT_DIR)),
    prompt,
    prompt_source: input === '-' ? 'stdin' : input,
    options,
    input_image: inputImage ? INPUT_IMAGE : null,
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
}

/** The run directory on this machine, for people to open. */
const localRunDir = (spec: RunSpec, env: Env) => resolveRunDir(spec.run_dir, env.LOOP_OUTPUT_DIR);
/** A run view as JSON, with the run directory resolved on this machine (spec.run_dir stays relative). */
const viewJson = (view: RunView, env: Env) => ({ ...viewToJson(view), run_dir: localRunDir(view.spec, env) });

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

/** The live per-stage progress of a run (cli/progress.ts): redrawn on a terminal, a log line per change otherwise. */
async function runProgress(spec: RunSpec, json: boolean) {
  const { createProgressView, runLines } = await import('./progress.js');
  const view = await createProgressView({ stream: json ? process.stderr : process.stdout });
  const stages = stagesOf(spec.workflow);
  return { view, onView: (v: RunView) => view.set(runLines(v, stages)) };
}

/** The score each stage reached, for people (the files keep every score at full precision). */
function qualityLine(stages: StageSummary[]): string {
  const n = (v: unknown) => (typeof v === 'number' ? v.toFixed(1) : null);
  const parts: string[] = [];
  const push = (label: string, v: string | null) => v && parts.push(`${label} ${v}`);
  for (const s of stages) {
    const sc = s.scores as Record<string, unknown>;
    if (s.stage === 'image-prompt') push('image prompt', n(sc.image_prompt_overall));
    if (s.stage === 'image-scoring') push('best image', n(sc.best_overall));
    if (s.stage === 'video-prompt') push('video prompts', n(sc.video_prompt_overall));
    if (s.stage === 'video-scoring') push('best videos', Object.values((sc.best_per_clip ?? {}) as Record<string, unknown>).map((v) => n(v) ?? '-').join(' / ') || null);
  }
  return parts.join(' · ');
}

function printOutcome(view: RunView, env: Env, log: (line: string) => void) {
  const s = view.spec;
  const runDir = localRunDir(s, env);
  const first = view.stages[0], last = view.stages[view.stages.length - 1];
  const wall = first && last ? ` · ${duration(Date.parse(last.ended_at) - Date.parse(first.started_at))}` : '';
  log(`run ${s.run_id} ${view.outcome} · cost ${money(view.costUsd)} · ${view.stages.length} stage(s)${wall}`);
  for (const st of view.stages) log(`  ${st.stage.padEnd(17)} ${duration(st.duration_ms).padStart(7)}  ${money(st.cost_usd)}  ${st.outputs.backend_note}`);
  const best = summaryFor(view.stages, 'image-scoring')?.outputs.best_image;
  if (best) log(`best image: ${join(runDir, best)}`);
  const vs = summaryFor(view.stages, 'video-scoring')?.outputs;
  for (const [clip, file] of Object.entries(vs?.best_per_clip ?? {})) log(`best video of ${clip}: ${file ? join(runDir, file) : 'none scorable'}`);
  if (vs?.continuity != null) log(`continuity across cuts: ${vs.continuity.toFixed(1)}${vs.continuity_substitute ? ' (substitute: histogram + pixels, no CLIP installed)' : ''}`);
  const q = qualityLine(view.stages);
  if (q) log(`quality: ${q}`);
  const fp = summaryFor(view.stages, 'image-prompt')?.outputs.final_prompt;
  if (fp) log(`final prompt: ${fp}`);
  if (view.error && view.outcome === 'failed') log(`error: ${view.error}`);
  log(`run directory: ${runDir}`);
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

export async function runCommand(input: string | undefined, raw: Record<string, unknown>): Promise<number> {
  if (typeof raw.resume === 'string') {
    if (raw.workflowFromCli) throw new LoopError('USAGE', '--resume continues the workflow its checkpoint names: drop --workflow');
    if (input !== undefined) throw new LoopError('USAGE', '--resume takes the checkpoint in place of a prompt file: drop the prompt argument');
    return resumeRun(raw.resume, raw);
  }
  if (input === undefined) throw new LoopError('USAGE', 'missing the prompt file argument (or "-" for stdin), or --resume <checkpoint>');
  const env = checkConfig();
  const { f, prompt, options, inputImage } = await prepareRun(input, raw, env, true);
  const stop = await costGate(f, options);
  if (stop !== undefined) return stop;
  if (needsScorer(WORKFLOW_STAGES[f.workflow] ?? [], f.skipScoring)) {
    resolveDevice(f.device);
    resolveCheckedModelsDir(undefined, env);
  }
  return runEmbedded(env, f, async () => ({ spec: await newSpec(f, env, prompt, input, options, inputImage), carry: [] }));
}

/** `loop run --resume`: a verified checkpoint's run continues here, with embedded workers. */
async function resumeRun(path: string, raw: Record<string, unknown>): Promise<number> {
  const env = checkConfig();
  const f = parseOptions(z.object({ concurrency: z.number().default(4), device: z.string().default('cpu'), json: z.boolean().default(false), verbose: z.boolean().default(false) }), raw);
  const { planResume } = await import('../queues/resume.js');
  const plan = await planResume(path, env.LOOP_OUTPUT_DIR);
  if (plan.kind === 'finished') return reportFinished(plan.checkpoint, f.json);
  const o = plan.spec.options;
  if (needsScorer(stagesOf(plan.spec.workflow), o.skip_scoring)) {
    resolveDevice(f.device);
    resolveCheckedModelsDir(undefined, env);
  }
  return runEmbedded(env, f, async (ctx) => {
    const { assertNotOnQueues } = await import('../queues/resume.js');
    await assertNotOnQueues(ctx, plan.spec.run_id);
    return { spec: plan.spec, carry: plan.carry };
  });
}

function reportFinished(cp: { run_id: string; status: string }, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify({ run_id: cp.run_id, resumed: false, status: cp.status }) + '\n');
  else process.stdout.write(`run ${cp.run_id} already finished (${cp.status}): nothing to resume${cp.status === 'partial' ? '; `loop retry` re-runs its failed items' : ''}\n`);
  return ExitCode.OK;
}

/** A run on this machine: Redis (REDIS_URL, or a private one), in-process workers, live progress. */
async function runEmbedded(
  env: Env,
  f: { concurrency: number; device: string; json: boolean; verbose: boolean; interactive?: boolean },
  makeSpec: (ctx: QueueContext) => Promise<{ spec: RunSpec; carry: StageSummary[] }>,
): Promise<number> {
  const logger = createLogger({ verbose: f.verbose });
  const out = (line: string) => (f.json ? process.stderr : process.stdout).write(termSafe(line, { multiline: true }) + '\n');
  let embedded: EmbeddedRedis | undefined;
  const url = process.env.REDIS_URL ? env.REDIS_URL : (embedded = await startEmbeddedRedis()).url;
  if (embedded) logger.info(`using a private redis-server at ${embedded.url} (set REDIS_URL to use yours)`);
  try {
    return await withContext(
      env,
      async (ctx) => {
        const { spec, carry } = await makeSpec(ctx);
        // every stage of the workflow, not just this round's, and the queues their fan-outs use
        // (the storyboard's frames are image-generation jobs, its picks scoring jobs)
        // the embedded workers' chatter stays out of the progress view unless --verbose; their
        // warnings print above it
        let sink: ((line: string) => void) | undefined;
        const workerLogger: Logger = f.verbose ? logger : { info() {}, debug() {}, warn: (m) => (sink ? sink(`warning: ${m}`) : logger.warn(m)) };
        const host = await startWorkers({ redisUrl: url, prefix: ctx.prefix, queues: queuesOf(stagesOf(spec.workflow)), concurrency: f.concurrency, device: f.device, logger: workerLogger });
        const abort = new AbortController();
        const onSignal = () => abort.abort();
        process.once('SIGINT', onSignal);
        const runDir = localRunDir(spec, env);
        try {
          await enqueueRun(ctx, spec, { outputRoot: env.LOOP_OUTPUT_DIR, carry });
          out(`run ${spec.run_id} (${spec.workflow}${spec.start_stage ? `, resumed at ${spec.start_stage}` : ''}) → ${runDir}`);
          if (spec.options.review && !f.interactive) out(`review gates on: answer with \`loop review ${spec.run_id}\` when the run waits`);
          const ended = new AbortController();
          const progress = await runProgress(spec, f.json);
          sink = (line) => progress.view.log(termSafe(redact(line)));
          const asking = f.interactive
            ? (await import('./review-actions.js')).askAtGates(ctx, spec, env, { signal: ended.signal, pause: (on) => progress.view.pause(on) })
            : Promise.resolve();
          const view = await watchRun(ctx, spec, progress.onView, { signal: abort.signal, onRedis: redisNotice(logger) }).finally(() => {
            ended.abort();
            progress.view.done();
          });
          await asking;
          if (abort.signal.aborted) {
            logger.warn(
              embedded
                ? `interrupted: the running jobs finish, then the private Redis stops; what was written stays in ${runDir} (continue it with \`loop run --resume ${join(runDir, CHECKPOINT_FILE)}\`)`
                : `interrupted: the running jobs finish; the rest of run ${spec.run_id} stays queued on REDIS_URL for \`loop worker\` (follow it with \`loop tail ${spec.run_id}\`)`,
            );
            return ExitCode.INTERRUPTED;
          }
          if (f.json) process.stdout.write(jsonForTerminal(viewJson(view, env)) + '\n');
          else printOutcome(view, env, out);
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

/** `loop resume`: verify a checkpoint and enqueue the rest of its run for the workers. */
export async function resumeCommand(path: string, raw: Record<string, unknown>): Promise<number> {
  const json = raw.json === true;
  const env = checkConfig();
  const { planResume, assertNotOnQueues } = await import('../queues/resume.js');
  const plan = await planResume(path, env.LOOP_OUTPUT_DIR);
  if (plan.kind === 'finished') return reportFinished(plan.checkpoint, json);
  return withContext(env, async (ctx) => {
    await assertNotOnQueues(ctx, plan.spec.run_id);
    const { root } = await enqueueRun(ctx, plan.spec, { outputRoot: env.LOOP_OUTPUT_DIR, carry: plan.carry });
    const skipped = plan.carry.map((c) => c.stage);
    if (json) process.stdout.write(JSON.stringify({ run_id: plan.spec.run_id, resumed: true, round: plan.spec.round, start_stage: plan.spec.start_stage, skipped, root }) + '\n');
    else
      process.stdout.write(
        `resumed run ${plan.spec.run_id} at ${plan.spec.start_stage}${skipped.length ? ` (verified and kept: ${skipped.join(', ')})` : ''}\nfollow it: loop tail ${plan.spec.run_id}\n${plan.spec.run_id}\n`,
      );
    return ExitCode.OK;
  });
}

export async function enqueueCommand(input: string, raw: Record<string, unknown>): Promise<number> {
  const env = checkConfig();
  const { f, prompt, options, inputImage } = await prepareRun(input, raw, env, false);
  const stop = await costGate(f, options);
  if (stop !== undefined) return stop;
  return withContext(env, async (ctx) => {
    const spec = await newSpec(f, env, prompt, input, options, inputImage);
    const { root } = await enqueueRun(ctx, spec, { outputRoot: env.LOOP_OUTPUT_DIR });
    if (f.json) process.stdout.write(JSON.stringify({ run_id: spec.run_id, run_dir: spec.run_dir, workflow: spec.workflow, root }) + '\n');
    else {
      if (isAbsolute(spec.run_dir)) process.stderr.write(`loop: note: ${spec.run_dir} is outside LOOP_OUTPUT_DIR, so every worker must see it at this same path\n`);
      process.stdout.write(`enqueued ${spec.workflow} run → ${localRunDir(spec, env)}\nfollow it: loop tail ${spec.run_id}\n${spec.run_id}\n`);
    }
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
  if (queues.some((q) => q === 'image-scoring' || q === 'video-scoring')) logger.info(await (await import('../src/scoring/device-line.js')).scoringDeviceLine(f.device));
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
    const progress = await runProgress(spec, json);
    const view = await watchRun(ctx, spec, progress.onView, { onRedis: redisNotice(createLogger({ verbose: false })) }).finally(() => progress.view.done());
    if (json) process.stdout.write(jsonForTerminal(viewJson(view, env)) + '\n');
    else printOutcome(view, env, out);
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
      if (json) process.stdout.write(JSON.stringify(views.map((v) => ({ run_id: v.spec.run_id, workflow: v.spec.workflow, outcome: v.outcome, cost_usd: v.costUsd, run_dir: localRunDir(v.spec, env) }))) + '\n');
      else if (!views.length) process.stdout.write('no runs yet: loop enqueue <prompt-file>\n');
      else process.stdout.write(table(['run', 'workflow', 'outcome', 'cost', 'dir'], views.map((v) => [v.spec.run_id, v.spec.workflow, v.outcome, money(v.costUsd), localRunDir(v.spec, env)])) + '\n');
      return ExitCode.OK;
    }
    const view = await inspectRun(ctx, await getRunSpec(ctx, runId));
    if (json) {
      process.stdout.write(jsonForTerminal(viewJson(view, env)) + '\n');
      return ExitCode.OK;
    }
    process.stdout.write(`run ${runId} (${view.spec.workflow}): ${view.outcome} · cost so far ${money(view.costUsd)}\n`);
    process.stdout.write(table(['queue', 'job', 'state', 'attempts', 'took', 'progress / error'], jobRows(view.jobs)) + '\n');
    process.stdout.write(`run directory: ${localRunDir(view.spec, env)}\n`);
    return ExitCode.OK;
  });
}

export async function retryCommand(runId: string, raw: Record<string, unknown>): Promise<number> {
  const json = raw.json === true;
  const env = checkConfig();
  return withContext(env, async (ctx) => {
    const spec = await getRunSpec(ctx, runId);
    const { retryRun } = await import('../queues/retry.js');
    const failed = await retryRun(ctx, spec);
    if (json) process.stdout.write(JSON.stringify({ run_id: runId, retried: failed.map((j) => ({ queue: j.queue, id: j.id })) }) + '\n');
    else if (!failed.length) process.stdout.write(`run ${runId} has no failed jobs (${(await inspectRun(ctx, spec)).outcome})\n`);
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
