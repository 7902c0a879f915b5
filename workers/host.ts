import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { QueueContext } from '../queues/context.js';
import { createConnection } from '../queues/connection.js';
import { isQueueName, type QueueName } from '../queues/names.js';
import type { Logger } from '../src/lib/log.js';
import { LoopError } from '../src/errors.js';
import { BUILT_QUEUES, PROCESSORS, type ProcessorModule } from './registry.js';
import { loadEnv } from '../src/config/env.js';
import { makeStageProcessor, recordFailedRun, rerunFinishedParent, type StageEnv } from './stage.js';
import { publicStack, toJobError as toPlainJobError } from './job-errors.js';
import { jobKind } from '../queues/runs.js';

/** Job lock: a dead worker's jobs go to another worker about this long after it died. */
export const DEFAULT_LOCK_MS = 8_000;

export interface WorkerHostOptions {
  redisUrl: string;
  prefix: string;
  queues: QueueName[];
  concurrency: number;
  logger: Logger;
  device?: string;
  /** Root that relative run directories resolve against (default: this process's LOOP_OUTPUT_DIR). */
  outputRoot?: string;
  /** Lock duration (ms): a worker that dies loses its jobs to another after this long. */
  lockDuration?: number;
  /** Replace the processors of some queues (tests, embedding). */
  processors?: Partial<Record<QueueName, () => Promise<ProcessorModule[]>>>;
  onEvent?: (e: { type: 'active' | 'completed' | 'failed' | 'progress'; queue: string; jobId: string; detail?: string }) => void;
  /** Keep the full stack of a failed job in Redis (the board shows it); default: the logger's --verbose, else LOOP_VERBOSE=1. */
  verbose?: boolean;
}

export interface WorkerHost {
  workers: Worker[];
  /** Graceful: running jobs finish; nothing new is taken. */
  close(): Promise<void>;
}

/** Run workers for a subset of the stage queues in this process. */
export async function startWorkers(opts: WorkerHostOptions): Promise<WorkerHost> {
  const loaders = opts.queues.map((queueName) => {
    const load = opts.processors?.[queueName] ?? PROCESSORS[queueName];
    if (!load) throw new LoopError('USAGE', `the ${queueName} stage is not built yet; queues with workers: ${BUILT_QUEUES.join(', ')}`);
    return { queueName, load };
  });
  const ctx = new QueueContext(opts.redisUrl, opts.prefix);
  const workers: Worker[] = [];
  const connections: ReturnType<typeof createConnection>[] = [];
  const disposers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(disposers.map((d) => d()));
    await ctx.close();
    for (const c of connections) c.disconnect();
  };
  try {
    for (const { queueName, load } of loaders) {
      const modules = await load();
      const connection = createConnection(opts.redisUrl, { blocking: true });
      connections.push(connection);
      workers.push(createWorker(queueName, modules, connection, ctx, opts, disposers));
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
  } catch (e) {
    // a half-started host must not keep blocking Redis connections open
    await closeAll();
    throw e;
  }
  return { workers, close: closeAll };
}

function createWorker(
  queueName: QueueName,
  modules: ProcessorModule[],
  connection: ReturnType<typeof createConnection>,
  ctx: QueueContext,
  opts: WorkerHostOptions,
  disposers: (() => Promise<void>)[],
): Worker {
  const byName = new Map<string, ProcessorModule>();
  let stageProcessor: ReturnType<typeof makeStageProcessor> | undefined;
  const stageEnv: StageEnv = { queue: (n) => ctx.queue(n), logger: opts.logger, device: opts.device, outputRoot: opts.outputRoot ?? loadEnv().LOOP_OUTPUT_DIR };
  for (const m of modules) {
    if (m.kind === 'stage') {
      stageProcessor = makeStageProcessor(m.def, stageEnv);
      if (m.dispose) disposers.push(m.dispose);
    } else byName.set(m.name, m);
  }
  // Jobs are routed by the `kind` in their data (jobKind), never by their name, which is for people.
  // Three parameters: BullMQ hands an AbortSignal only to processors that take one.
  const route = async (job: Job, token?: string, signal?: AbortSignal) => {
    const kind = jobKind(job);
    if (kind === 'stage' && stageProcessor) return stageProcessor(job, token, signal);
    const plain = byName.get(kind);
    if (!plain || plain.kind !== 'plain') throw new UnrecoverableError(`[internal] no processor for "${kind}" jobs on ${queueName}`);
    const sig = signal ?? new AbortController().signal;
    try {
      return await plain.process(job.data, {
        progress: (pct, message) => job.updateProgress({ pct: Math.round(pct), message }),
        device: opts.device,
        outputRoot: stageEnv.outputRoot,
        signal: sig,
        saveState: (patch) => job.updateData({ ...(job.data as object), ...patch }),
      });
    } catch (e) {
      throw toPlainJobError(e, sig);
    }
  };
  // What BullMQ stores as the failed job's stack (the board shows it): the one-line message,
  // unless verbose (LOOP_VERBOSE=1 or the worker's --verbose)
  const processor = async (job: Job, token?: string, signal?: AbortSignal) => {
    try {
      return await route(job, token, signal);
    } catch (e) {
      throw publicStack(e, opts.verbose ?? opts.logger.verbose);
    }
  };
  // After a kill -9 a job is picked up again once its lock expires and a stalled check sees it:
  // about lockDuration + 2 stalled intervals. 8 s locks renewed every 4 s bring that from the 31–46 s
  // of BullMQ's 30 s default to about 10 s; inference runs off the main thread, so renewals are not starved.
  const lockDuration = opts.lockDuration ?? DEFAULT_LOCK_MS;
  const worker = new Worker(queueName, processor, {
    connection,
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    lockDuration,
    stalledInterval: Math.max(500, Math.floor(lockDuration / 3)),
    maxStalledCount: 2,
  });
  worker.on('error', (e) => opts.logger.debug(`worker ${queueName}: ${e.message}`));
  worker.on('active', (job) => opts.onEvent?.({ type: 'active', queue: queueName, jobId: job.id ?? '?' }));
  worker.on('completed', (job) => {
    opts.onEvent?.({ type: 'completed', queue: queueName, jobId: job.id ?? '?' });
    rerunFinishedParent(job, (n) => (isQueueName(n) ? ctx.queue(n) : undefined), opts.logger).catch((e) =>
      opts.logger.warn(`could not re-run the parent of ${job.id}: ${(e as Error).message}`),
    );
  });
  worker.on('failed', (job, err) => {
    opts.onEvent?.({ type: 'failed', queue: queueName, jobId: job?.id ?? '?', detail: err.message });
    if (job && jobKind(job) === 'stage') recordFailedRun(job, err, stageEnv).catch((e) => opts.logger.warn(`could not record failed run: ${(e as Error).message}`));
  });
  return worker;
}
