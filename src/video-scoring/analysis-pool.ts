/**
 * A pool of analysis threads (analysis-thread.ts): each decodes one video at a time ONCE and runs
 * the model-free dimensions on it (the classical flow for dynamic degree and motion smoothness is
 * most of a video's CPU), while the model frames come back here for the model consumers, which
 * keep using the scorer's InferenceHost. Several videos are analysed at once, and the calling
 * thread's event loop (a worker's BullMQ lock renewal) stays free.
 *
 * Which file a thread runs: the compiled `analysis-thread.js` next to this module (dist/, what
 * tsc emits); when this module runs from its TypeScript source (vitest), the `.ts` file, through
 * module hooks registered inside the thread that transpile the sources with the `typescript`
 * package (a dev dependency, present wherever the sources are; outputs cached by content under
 * the temp dir). When neither can run, or a thread fails to start or dies, `ThreadUnavailable`
 * tells the caller to analyse in-process instead (same results, no parallelism).
 *
 * Threads start lazily (one per video in flight, up to `size`; warm() starts them ahead), are
 * unref'd while idle (an idle pool never keeps the process alive) and end with close().
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AnalysisDone, FromThread, ModelFrame, ToThread } from './analysis-protocol.js';
import type { FramePlan } from './frames.js';

export type { AnalysisDone, ModelFrame } from './analysis-protocol.js';

/** Must equal ANALYSIS_THREAD_MARK of analysis-thread.ts (not imported: this side never loads the thread's module graph). */
const MARK = 'loop-video-analysis';

/** Threads by default: the cores but one (the calling thread feeds the models), at least 2, at most 8. */
export function defaultAnalysisThreads(): number {
  return Math.max(2, Math.min(8, availableParallelism() - 1));
}

/** The thread could not run the job (did not start, died, pool closed): analyse in-process instead. */
export class ThreadUnavailable extends Error {}

/**
 * Transpiles TypeScript sources inside a thread (only when this module itself runs from source).
 * Outputs are cached on disk by content (the typescript package loads only on a miss), so the
 * threads after the first start about as fast as from dist/.
 */
const TS_HOOKS = `
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
let cfg, tsP;
export function initialize(d) { cfg = d; }
export async function resolve(spec, ctx, next) {
  const parent = ctx.parentURL;
  if (parent && parent.startsWith('file:') && parent.endsWith('.ts') && (spec.startsWith('./') || spec.startsWith('../')) && spec.endsWith('.js')) {
    const js = new URL(spec, parent);
    const src = new URL(spec.slice(0, -3) + '.ts', parent);
    if (!existsSync(fileURLToPath(js)) && existsSync(fileURLToPath(src))) return { url: src.href, format: 'module', shortCircuit: true };
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  if (!(url.startsWith('file:') && url.endsWith('.ts'))) return next(url, ctx);
  const file = fileURLToPath(url);
  const text = readFileSync(file, 'utf8');
  const out = join(cfg.cache, createHash('sha256').update(cfg.version + '\\0' + file + '\\0' + text).digest('hex') + '.mjs');
  try {
    return { format: 'module', source: readFileSync(out, 'utf8'), shortCircuit: true };
  } catch {}
  const ts = await (tsP ??= import(cfg.typescript).then((m) => m.default ?? m));
  const source = ts.transpileModule(text, { fileName: file, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true } }).outputText;
  try {
    mkdirSync(cfg.cache, { recursive: true });
    const tmp = out + '.' + process.pid + '-' + Math.random().toString(36).slice(2);
    writeFileSync(tmp, source);
    renameSync(tmp, out);
  } catch {}
  return { format: 'module', source, shortCircuit: true };
}
`;

/** Evaluated as CommonJS or, under `--input-type=module`, as ESM: only import() works in both. */
const BOOT = String.raw`
(async () => {
  const { workerData } = await import('node:worker_threads');
  if (workerData.ts) (await import('node:module')).register('data:text/javascript,' + encodeURIComponent(workerData.ts.hooks), { data: workerData.ts.data });
  await import(workerData.entry);
})().catch((e) => setImmediate(() => { throw e; }));
`;

interface Entry {
  entry: string;
  /** Set when the entry is TypeScript: the typescript package (file URL, version) and the transpile cache. */
  ts?: { typescript: string; version: string; cache: string };
}

function threadEntry(): Entry | { unavailable: string } {
  const here = import.meta.url;
  if (!here.startsWith('file:')) return { unavailable: `cannot locate the analysis thread from ${here}` };
  const js = new URL('./analysis-thread.js', here);
  if (existsSync(fileURLToPath(js))) return { entry: js.href };
  const ts = new URL('./analysis-thread.ts', here);
  if (existsSync(fileURLToPath(ts)))
    try {
      const req = createRequire(here);
      const version = (req('typescript/package.json') as { version: string }).version;
      return { entry: ts.href, ts: { typescript: pathToFileURL(req.resolve('typescript')).href, version, cache: join(tmpdir(), 'loop-ts-thread-cache') } };
    } catch {
      return { unavailable: 'running from the TypeScript sources without the typescript package to load the analysis thread' };
    }
  return { unavailable: `no analysis thread next to ${fileURLToPath(here)}` };
}

export interface AnalyseOptions {
  path: string;
  plan: FramePlan;
  boundary: boolean;
  /** Model frames the thread may post before it waits for onFrame to finish with them. */
  window: number;
  signal?: AbortSignal;
  /** Each model frame in decode order; the next is handed over when the returned promise settles. */
  onFrame: (f: ModelFrame) => void | Promise<void>;
}

export interface AnalysisPool {
  readonly size: number;
  /** Decode + model-free dimensions of one video in a thread. Rejects with ThreadUnavailable, the decode's error, or the abort reason. */
  analyse(o: AnalyseOptions): Promise<AnalysisDone>;
  /** Start threads (up to `size`) ahead of the jobs: a thread's start (module load, ffmpeg lookup) overlaps the model load. */
  warm(threads: number): void;
  stats(): { threads: number; jobs: number };
  close(): Promise<void>;
}

interface Current {
  message(m: FromThread): void;
  fail(e: Error): void;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  busy: boolean;
  dead?: Error;
  current?: Current;
}

export function createAnalysisPool(size: number): AnalysisPool {
  const slots: Slot[] = [];
  const waiting: ((s: Slot | Error) => void)[] = [];
  let broken: string | undefined;
  let closed = false;
  let nextId = 1;
  let jobs = 0;
  let entry: Entry | undefined;

  const spawn = (busy = true): Slot => {
    if (!entry) {
      const e = threadEntry();
      if ('unavailable' in e) throw new ThreadUnavailable((broken = e.unavailable));
      entry = e;
    }
    const worker = new Worker(BOOT, { eval: true, workerData: { kind: MARK, entry: entry.entry, ts: entry.ts && { hooks: TS_HOOKS, data: entry.ts } } });
    worker.unref();
    let ready!: () => void, notReady!: (e: Error) => void;
    const slot: Slot = { worker, busy, ready: new Promise<void>((res, rej) => ((ready = res), (notReady = rej))) };
    slot.ready.catch(() => {});
    let started = false;
    const die = (e: Error) => {
      if (slot.dead) return;
      slot.dead = e;
      if (!started) broken ??= `the analysis thread did not start: ${e.message.split('\n')[0]}`;
      notReady(e);
      slot.current?.fail(e);
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      void worker.terminate();
    };
    worker.on('message', (m: FromThread) => {
      if (m.op === 'ready') ((started = true), ready());
      else slot.current?.message(m);
    });
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`analysis thread exited (code ${code})`)));
    slots.push(slot);
    return slot;
  };

  const acquire = (signal?: AbortSignal): Promise<Slot> => {
    if (closed) return Promise.reject(new ThreadUnavailable('analysis pool is closed'));
    if (broken) return Promise.reject(new ThreadUnavailable(broken));
    const idle = slots.find((s) => !s.busy && !s.dead);
    if (idle) return ((idle.busy = true), Promise.resolve(idle));
    if (slots.length < size) {
      try {
        return Promise.resolve(spawn());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise<Slot>((resolve, reject) => {
      // an abort while waiting for a thread leaves the queue at once
      const onAbort = () => {
        const i = waiting.indexOf(take);
        if (i >= 0) waiting.splice(i, 1);
        reject(signal!.reason);
      };
      const take = (s: Slot | Error) => {
        signal?.removeEventListener('abort', onAbort);
        if (s instanceof Error) reject(s);
        else if (signal?.aborted) (reject(signal.reason), release(s));
        else resolve(s);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(take);
    });
  };

  const release = (slot: Slot) => {
    slot.current = undefined;
    slot.busy = false;
    slot.worker.unref();
    const next = waiting.shift();
    if (!next) return;
    if (closed || broken) return next(new ThreadUnavailable(broken ?? 'analysis pool is closed'));
    if (!slot.dead) return ((slot.busy = true), next(slot));
    try {
      next(spawn());
    } catch (e) {
      next(e as Error);
    }
  };

  async function analyse(o: AnalyseOptions): Promise<AnalysisDone> {
    if (o.signal?.aborted) throw o.signal.reason;
    const slot = await acquire(o.signal);
    slot.worker.ref();
    try {
      await slot.ready;
    } catch (e) {
      release(slot);
      throw new ThreadUnavailable((e as Error).message);
    }
    if (o.signal?.aborted) {
      release(slot);
      throw o.signal.reason;
    }
    jobs++;
    const id = nextId++;
    const post = (m: ToThread) => {
      if (!slot.dead) slot.worker.postMessage(m);
    };
    try {
      return await new Promise<AnalysisDone>((resolve, reject) => {
        let settled = false;
        let chain: Promise<void> = Promise.resolve();
        const finish = (f: () => void) => {
          if (settled) return;
          settled = true;
          o.signal?.removeEventListener('abort', onAbort);
          f();
        };
        const onAbort = () => {
          post({ op: 'abort', id });
          finish(() => reject(o.signal!.reason));
        };
        o.signal?.addEventListener('abort', onAbort, { once: true });
        slot.current = {
          message(m) {
            if (!('id' in m) || m.id !== id || settled) return;
            if (m.op === 'frame') {
              const f: ModelFrame = { index: m.index, width: m.width, height: m.height, rgb: m.rgb };
              chain = chain.then(async () => {
                if (settled) return;
                await o.onFrame(f);
                post({ op: 'ack', id });
              });
              chain.catch((e: unknown) => {
                post({ op: 'abort', id });
                finish(() => reject(e));
              });
            } else if (m.op === 'done') {
              const { op: _op, id: _id, ...done } = m;
              chain.then(() => finish(() => resolve(done)), () => {});
            } else if (m.op === 'error') finish(() => reject(m.aborted && o.signal?.aborted ? o.signal.reason : new Error(m.message)));
          },
          fail(e) {
            finish(() => reject(new ThreadUnavailable(e.message)));
          },
        };
        post({ op: 'job', job: { id, path: o.path, plan: o.plan, boundary: o.boundary, window: o.window } });
      });
    } finally {
      release(slot);
    }
  }

  return {
    size,
    analyse,
    warm(n) {
      try {
        while (!closed && !broken && slots.length < Math.min(n, size)) spawn(false);
      } catch {
        // unavailable: the jobs will say so
      }
    },
    stats: () => ({ threads: slots.length, jobs }),
    async close() {
      if (closed) return;
      closed = true;
      for (const w of waiting.splice(0)) w(new ThreadUnavailable('analysis pool is closed'));
      const all = slots.splice(0);
      for (const s of all) s.current?.fail(new Error('analysis pool is closed'));
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
