/**
 * What a kill -9 of a worker costs, on real Redis (REDIS_URL) and the fake Replicate server
 * (test/fakes/replicate-server.ts, in this process), with `loop worker` / `loop enqueue` child
 * processes exactly as a user runs them:
 *  1. recovery time: image-only runs of 4 variations; once the first worker has them all active
 *     (each with its prediction id saved), it is killed with SIGKILL and a second worker started.
 *     Measured from the kill until every in-flight variation job is active again on the second
 *     worker (its processedOn, written by BullMQ), and until the run completes; with
 *     `--lock-duration 30000` ("before", BullMQ's lock length) and the default 8000 ("after").
 *  2. predictions paid: creates the fake server answered 201 for an 8-variation run, uninterrupted
 *     against killed mid-flight and finished by a second worker.
 * One repetition of each, one process, figures side by side: a benchmark, not a timed test.
 *   node dist/bench/recovery.js
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { startFakeReplicate } from '../test/fakes/replicate-server.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'loop-bench-recovery-'));
const promptFile = join(root, 'prompt.txt');
writeFileSync(promptFile, 'a lighthouse on a basalt cliff in a winter storm, long exposure\n');
const base = `loopbench-recovery-${randomBytes(3).toString('hex')}`;
const QUEUES = ['image-prompt', 'image-generation', 'image-scoring'] as const;
/** Fake predictions take this long: all variations are still running when the worker dies. */
const LATENCY_MS = 4000;
const BEFORE_LOCK_MS = 30_000;
const AFTER_LOCK_MS = 8_000;
const RUN_TIMEOUT_MS = 120_000;

const fake = await startFakeReplicate({ token: 'r8_bench_recovery_0123456789abcdef', latencyMs: LATENCY_MS });
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
const children = new Set<ChildProcess>();
let scenarioNo = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });

function childEnv(prefix: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REDIS_URL,
    LOOP_QUEUE_PREFIX: prefix,
    LOOP_OUTPUT_DIR: join(root, prefix),
    REPLICATE_API_TOKEN: fake.token,
    REPLICATE_BASE_URL: fake.baseUrl,
    OPENAI_API_KEY: '',
  };
}

interface WorkerProc {
  child: ChildProcess;
  log: () => string;
  readyAt: number;
}

function startWorker(prefix: string, lockMs: number, concurrency: number): Promise<WorkerProc> {
  const args = [cli, 'worker', '--queues', QUEUES.join(','), '--concurrency', String(concurrency), '--lock-duration', String(lockMs)];
  const child = spawn(process.execPath, args, { env: childEnv(prefix), stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let log = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      log += d;
      if (log.includes('worker ready')) resolve({ child, log: () => log, readyAt: performance.now() });
    });
    child.once('exit', (c, sig) => reject(new Error(`worker exited (${c ?? sig}) before it was ready: ${log.trim()}`)));
  });
}

function killHard(w: WorkerProc): Promise<void> {
  return new Promise((r) => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return r();
    w.child.once('exit', () => r());
    w.child.kill('SIGKILL');
  });
}

function enqueue(prefix: string, n: number): Promise<{ run_id: string; root: { queue: string; id: string } }> {
  const args = [cli, 'enqueue', promptFile, '--num-image-variations', String(n), '--image-backend', 'replicate', '--image-model', 'black-forest-labs/flux-schnell', '--agent-backend', 'offline', '--skip-scoring', '--json'];
  const child = spawn(process.execPath, args, { env: childEnv(prefix), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`enqueue exited ${code}: ${err.trim()}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!));
    }),
  );
}

interface JobFacts {
  id: string;
  recoveredMs?: number; // processedOn of the second worker's attempt, minus the kill
  lockLeftMs?: number; // PTTL of the job's lock at the kill
  stalledCounter: number;
  attemptsStarted: number;
  resumed?: boolean;
}

interface Outcome {
  label: string;
  lockMs: number;
  n: number;
  runMs: number; // enqueue → root completed (uninterrupted), or kill → root completed (crash)
  creates: number; // 201 creates: predictions paid
  createRequests: number;
  createsAfterKill: number;
  duplicateSeeds: number[];
  jobs: JobFacts[];
  killedWith?: { active: number; saved: number };
  secondReadyMs?: number;
  outcome: string;
}

async function deleteKeys(pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

const variationIds = (runId: string, n: number) => Array.from({ length: n }, (_, i) => `${runId}.variation.${String(i + 1).padStart(3, '0')}`);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = RUN_TIMEOUT_MS, everyMs = 50): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > until) throw new Error(`timed out after ${s(timeoutMs)} waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * One run. crash: kill -9 the first worker once all n variations are active with a saved
 * prediction id, then start a second worker. eraseIds: after the kill, the bench itself deletes
 * the saved ids from the jobs' data (an emulation of a worker that never saved them).
 */
async function scenario(o: { label: string; lockMs: number; n: number; crash: boolean; eraseIds?: boolean }): Promise<Outcome> {
  const prefix = `${base}-${++scenarioNo}`;
  const gen = new Queue('image-generation', { connection: redis, prefix });
  const rootQueues = new Map<string, Queue>();
  const workers: WorkerProc[] = [];
  fake.reset();
  try {
    workers.push(await startWorker(prefix, o.lockMs, o.n));
    const t0 = performance.now();
    const { run_id, root: rootRef } = await enqueue(prefix, o.n);
    const rq = rootQueues.get(rootRef.queue) ?? new Queue(rootRef.queue, { connection: redis, prefix });
    rootQueues.set(rootRef.queue, rq);
    const ids = variationIds(run_id, o.n);
    const getJobs = async () => Promise.all(ids.map((id) => gen.getJob(id)));
    const rootDone = async () => {
      const j = await rq.getJob(rootRef.id);
      const st = j ? await j.getState() : 'missing';
      if (st === 'failed') throw new Error(`run ${run_id} failed: ${j?.failedReason}`);
      return st === 'completed' ? j! : undefined;
    };

    let killEpoch = 0;
    let killPerf = 0;
    let killedWith: Outcome['killedWith'];
    let requestsAtKill = Infinity;
    let secondReadyMs: number | undefined;
    const recovered = new Map<string, number>();
    const lockLeft = new Map<string, number>();
    if (o.crash) {
      // every variation active on the first worker, each with its prediction id in the job data
      const inFlight = await waitFor(`${o.n} active variations with saved prediction ids`, async () => {
        const jobs = await getJobs();
        if (jobs.some((j) => !j)) return undefined;
        const states = await Promise.all(jobs.map((j) => j!.getState()));
        const saved = jobs.filter((j) => j!.data.prediction).length;
        return states.every((x) => x === 'active') && saved === o.n ? (jobs as Job[]) : undefined;
      });
      killedWith = { active: inFlight.length, saved: inFlight.filter((j) => j.data.prediction).length };
      for (const j of inFlight) lockLeft.set(j.id!, await redis.pttl(`${prefix}:image-generation:${j.id}:lock`));
      killEpoch = Date.now();
      killPerf = performance.now();
      requestsAtKill = fake.requests.length;
      await killHard(workers[0]!);
      if (o.eraseIds)
        for (const j of inFlight) {
          const { prediction: _drop, ...rest } = j.data as Record<string, unknown>;
          await j.updateData(rest);
        }
      const second = await startWorker(prefix, o.lockMs, o.n);
      workers.push(second);
      secondReadyMs = second.readyAt - killPerf;
      // a job is back when BullMQ has moved it to active again: processedOn after the kill
      await waitFor('every in-flight variation to be active again', async () => {
        for (const j of await getJobs()) {
          if (!j || recovered.has(j.id!)) continue;
          if (j.processedOn && j.processedOn > killEpoch) recovered.set(j.id!, j.processedOn - killEpoch);
          if (j.failedReason) throw new Error(`${j.id} failed: ${j.failedReason}`);
        }
        return recovered.size === o.n ? true : undefined;
      });
    }
    const rootJob = await waitFor(`run ${run_id} to complete`, rootDone);
    const runMs = performance.now() - (o.crash ? killPerf : t0);

    const jobs: JobFacts[] = (await getJobs()).map((j, i) => {
      const rv = j?.returnvalue as { ok?: boolean; metadata?: { provider?: { resumed_prediction?: boolean } } } | undefined;
      return {
        id: ids[i]!,
        recoveredMs: recovered.get(ids[i]!),
        lockLeftMs: lockLeft.get(ids[i]!),
        stalledCounter: j?.stalledCounter ?? 0,
        attemptsStarted: j?.attemptsStarted ?? 0,
        resumed: rv?.metadata?.provider?.resumed_prediction,
      };
    });
    const createReqs = fake.creates();
    const paid = createReqs.filter((r) => r.status === 201);
    const bySeed = new Map<number, number>();
    for (const r of paid) {
      const seed = Number((r.body?.input as Record<string, unknown> | undefined)?.seed);
      bySeed.set(seed, (bySeed.get(seed) ?? 0) + 1);
    }
    const stages = (rootJob.returnvalue as { stages?: { partial?: boolean }[] } | undefined)?.stages ?? [];
    return {
      label: o.label,
      lockMs: o.lockMs,
      n: o.n,
      runMs,
      creates: paid.length,
      createRequests: createReqs.length,
      createsAfterKill: fake.requests.slice(requestsAtKill).filter((r) => r.kind === 'create' && r.status === 201).length,
      duplicateSeeds: [...bySeed].filter(([, c]) => c > 1).map(([seed]) => seed),
      jobs,
      killedWith,
      secondReadyMs,
      outcome: stages.some((x) => x.partial) ? 'partial' : 'completed',
    };
  } finally {
    for (const w of workers) await killHard(w);
    await gen.close();
    for (const q of rootQueues.values()) await q.close();
    await deleteKeys(`${prefix}:*`);
  }
}

function recoverySummary(r: Outcome) {
  const t = r.jobs.map((j) => j.recoveredMs ?? NaN);
  return { last: Math.max(...t), first: Math.min(...t) };
}

const range = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? s(xs[0]!) : `${s(Math.min(...xs))}–${s(Math.max(...xs))}`);

function describe(r: Outcome): string {
  const { first, last } = recoverySummary(r);
  const stalled = r.jobs.map((j) => j.stalledCounter).join('/');
  const resumed = r.jobs.filter((j) => j.resumed).length;
  const stalledInterval = Math.max(500, Math.floor(r.lockMs / 3)); // as workers/host.ts sets it
  const lockLeft = r.jobs.map((j) => j.lockLeftMs ?? NaN);
  const afterExpiry = r.jobs.map((j) => (j.recoveredMs ?? NaN) - (j.lockLeftMs ?? NaN));
  // back later than one stalled check after the lock expired (plus the 2nd worker's start-up)
  const late = afterExpiry.filter((x) => x > stalledInterval + (r.secondReadyMs ?? 0)).length;
  return (
    `  ${r.label.padEnd(7)} lock ${s(r.lockMs)}: jobs back ${s(first)}–${s(last)} after the kill = ${(last / r.lockMs).toFixed(2)} lock periods; ` +
    `locks had ${range(lockLeft)} left at the kill, jobs back ${range(afterExpiry)} after their locks expired ` +
    `(stalled check every ${s(stalledInterval)}; ${late}/${r.n} missed the first check after expiry); run completed ${s(r.runMs)} after the kill\n` +
    `          2nd worker ready at ${s(r.secondReadyMs ?? NaN)}; stalledCounter ${stalled}; ${resumed}/${r.n} resumed a saved prediction; ` +
    `creates ${r.creates} (${r.createsAfterKill} after the kill; ${r.createRequests} requests)${r.duplicateSeeds.length ? `; seeds created twice: ${r.duplicateSeeds.join(', ')}` : ''}`
  );
}

let exitCode = 0;
try {
  const t0 = performance.now();
  // 1. recovery time, before (30 s lock) and after (8 s default)
  const before = await scenario({ label: 'before', lockMs: BEFORE_LOCK_MS, n: 4, crash: true });
  const after = await scenario({ label: 'after', lockMs: AFTER_LOCK_MS, n: 4, crash: true });
  // 2. predictions paid per crash
  const clean = await scenario({ label: 'clean', lockMs: AFTER_LOCK_MS, n: 8, crash: false });
  const crash = await scenario({ label: 'crash', lockMs: AFTER_LOCK_MS, n: 8, crash: true });
  const erased = await scenario({ label: 'erased', lockMs: AFTER_LOCK_MS, n: 8, crash: true, eraseIds: true });

  const b = recoverySummary(before).last;
  const a = recoverySummary(after).last;
  console.log(
    `kill -9 of a worker mid-run, real Redis + fake Replicate (${s(LATENCY_MS)} predictions), one repetition each, side by side (${s(performance.now() - t0)} in all)`,
  );
  console.log(`recovery after kill -9 (every in-flight job active again on the 2nd worker, 4 variations):`);
  console.log(`  before ${s(b)}, after ${s(a)} (${(a / b).toFixed(2)}x)   [before: --lock-duration ${BEFORE_LOCK_MS}; after: default ${AFTER_LOCK_MS}]`);
  console.log(`run completed after kill -9: before ${s(before.runMs)}, after ${s(after.runMs)} (${(after.runMs / before.runMs).toFixed(2)}x)`);
  console.log(`predictions paid (${clean.n} variations): uninterrupted ${clean.creates}, with a crash ${crash.creates} (${(crash.creates / clean.creates).toFixed(2)}x)`);
  console.log(
    `  before the saved-prediction resume: not measurable without changing src/ (no option or env var turns the resume off); ` +
      `emulated by the bench erasing the saved ids from the job data after the kill: ${erased.creates} (${(erased.creates / clean.creates).toFixed(2)}x)`,
  );
  console.log('details:');
  for (const r of [before, after, crash, erased]) console.log(describe(r));
  console.log(`  clean   ${clean.n} variations uninterrupted: ${s(clean.runMs)} enqueue → completed, creates ${clean.creates} (${clean.createRequests} requests)`);
  console.log(
    `  note: the CLI derives stalledInterval = lock/3 (host.ts), so "before" checks every ${s(BEFORE_LOCK_MS / 3)}; ` +
      `a stock BullMQ worker (30 s lock, 30 s stalledInterval) would be slower still`,
  );
} catch (e) {
  console.error(`recovery bench failed: ${e instanceof Error ? e.message : String(e)}`);
  exitCode = 1;
} finally {
  killAll();
  await deleteKeys(`${base}-*`).catch(() => 0);
  redis.disconnect();
  await fake.close();
  rmSync(root, { recursive: true, force: true });
}
process.exit(exitCode);
