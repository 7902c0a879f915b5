/**
 * Owns every onnxruntime session of a scoring process. By default the sessions live in ONE
 * worker thread: `session.run` in onnxruntime-node blocks the calling thread for the whole batch,
 * which on the main thread would starve BullMQ's lock renewal and stall the job.
 *
 * Crossing the thread costs no copy of the pixel data when the caller hands its input buffers over
 * (`transfer: true`: they are moved, and detached on the calling side); outputs come back moved the
 * same way. onnxruntime-node refuses SharedArrayBuffer-backed tensors, so a batch that feeds several
 * models (CLIP and PickScore share one preprocessing) goes over once with `runEach`, which runs
 * every session on the same feeds in the thread. Calls queue in the thread in the order they are
 * made, so a caller can post batch k+1 while batch k runs and the thread never waits for it.
 *
 * The `inline` host runs sessions on the calling thread (benchmarks measure the floor with it).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { type Device, deviceLabel, executionProviders } from './runtime.js';

export type HostTensor =
  | { type: 'float32'; dims: number[]; data: Float32Array }
  | { type: 'int64'; dims: number[]; data: BigInt64Array };

export interface SessionInfo {
  key: string;
  inputNames: string[];
  outputNames: string[];
  /** Device the session really runs on (after any CUDA → CPU fallback). */
  device: string;
  warning?: string;
}

export interface RunOptions {
  /** Move the feeds' buffers to the inference thread instead of copying them; they are detached here. */
  transfer?: boolean;
}

export interface InferenceHost {
  readonly mode: 'thread' | 'inline';
  /** Create (or return the cached) session for a model file on a device. */
  load(modelPath: string, device: Device): Promise<SessionInfo>;
  run(key: string, feeds: Record<string, HostTensor>, fetches: string[], opts?: RunOptions): Promise<Record<string, HostTensor>>;
  /** Several sessions on the same feeds, in order, with one hand-off of the feeds. One result per call. */
  runEach(calls: { key: string; fetches: string[] }[], feeds: Record<string, HostTensor>, opts?: RunOptions): Promise<Record<string, HostTensor>[]>;
  /** session.run calls per session key, and session creations (cache misses). */
  stats(): { runs: Record<string, number>; loads: number };
  close(): Promise<void>;
}

type Ort = typeof import('onnxruntime-node');

/** Shared by both hosts: the worker thread evaluates this same source (plain JS, no imports). */
const CORE_SOURCE = String.raw`
function makeCore(ort) {
  const sessions = new Map();
  async function load(path, providers, label) {
    const key = path + '|' + label;
    const hit = sessions.get(key);
    if (hit) return hit.info;
    // intra-op threads sleep between ops instead of spinning: the cores are shared with image
    // decoding and the technical metric (alone it runs as fast; beside them it burns less CPU)
    const opts = { executionProviders: providers, graphOptimizationLevel: 'all', logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } };
    let session, device = label, warning;
    try {
      session = await ort.InferenceSession.create(path, opts);
    } catch (e) {
      if (label === 'cpu') throw e;
      warning = 'CUDA execution provider unavailable for ' + path + ' (' + String(e && e.message || e).split('\n')[0] + '); falling back to CPU';
      session = await ort.InferenceSession.create(path, { ...opts, executionProviders: ['cpu'] });
      device = 'cpu';
    }
    const info = { key, inputNames: [...session.inputNames], outputNames: [...session.outputNames], device, warning };
    sessions.set(key, { session, info });
    return info;
  }
  async function run(key, feeds, fetches) {
    const s = sessions.get(key);
    if (!s) throw new Error('no session ' + key);
    const input = {};
    for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(t.type, t.data, t.dims);
    const out = await s.session.run(input, fetches);
    const res = {};
    for (const name of fetches) {
      const t = out[name];
      res[name] = { type: t.type, dims: [...t.dims], data: t.data };
    }
    return res;
  }
  async function runEach(calls, feeds) {
    const out = [];
    for (const c of calls) out.push(await run(c.key, feeds, c.fetches));
    return out;
  }
  async function close() {
    for (const s of sessions.values()) await s.session.release();
    sessions.clear();
  }
  return { load, run, runEach, close };
}
`;

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('worker_threads');
const ort = require(workerData.ortPath);
${CORE_SOURCE}
const core = makeCore(ort);
// an output that owns its whole ArrayBuffer moves back as it is; anything else is copied out first
function movable(outs, transfer) {
  for (const res of outs)
    for (const k of Object.keys(res)) {
      let d = res[k].data;
      if (!(d.buffer instanceof ArrayBuffer) || d.byteOffset !== 0 || d.byteLength !== d.buffer.byteLength || transfer.includes(d.buffer)) d = res[k].data = d.slice();
      transfer.push(d.buffer);
    }
}
parentPort.on('message', async (m) => {
  try {
    let result, transfer = [];
    if (m.op === 'load') result = await core.load(m.path, m.providers, m.label);
    else if (m.op === 'run') (result = await core.runEach(m.calls, m.feeds)), movable(result, transfer);
    else if (m.op === 'close') result = await core.close();
    try {
      parentPort.postMessage({ id: m.id, ok: true, result }, transfer);
    } catch (e) {
      // a buffer that cannot be moved (external memory): send copies
      if (m.op !== 'run') throw e;
      for (const res of result) for (const k of Object.keys(res)) res[k].data = res[k].data.slice();
      parentPort.postMessage({ id: m.id, ok: true, result });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, error: String(e && e.message || e) });
  }
});
`;

interface Core {
  load(path: string, providers: unknown[], label: string): Promise<SessionInfo>;
  run(key: string, feeds: Record<string, HostTensor>, fetches: string[]): Promise<Record<string, HostTensor>>;
  runEach(calls: { key: string; fetches: string[] }[], feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>[]>;
  close(): Promise<void>;
}

/** The distinct plain ArrayBuffers behind the feeds (what `transfer: true` moves). */
function feedBuffers(feeds: Record<string, HostTensor>): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const t of Object.values(feeds)) if (t.data.buffer instanceof ArrayBuffer && !out.includes(t.data.buffer)) out.push(t.data.buffer);
  return out;
}

function ortPath(): string {
  return createRequire(import.meta.url).resolve('onnxruntime-node');
}

function counters() {
  const runs: Record<string, number> = {};
  let loads = 0;
  const seen = new Set<string>();
  return {
    loaded(key: string) {
      if (!seen.has(key)) (seen.add(key), loads++);
    },
    ran(key: string) {
      runs[key] = (runs[key] ?? 0) + 1;
    },
    stats: () => ({ runs: { ...runs }, loads }),
  };
}

export async function createInlineHost(): Promise<InferenceHost> {
  const ort = (await import('onnxruntime-node')) as unknown as Ort;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const core = new Function('ort', `${CORE_SOURCE}; return makeCore(ort);`)(ort) as Core;
  const c = counters();
  return {
    mode: 'inline',
    async load(path, device) {
      const info = await core.load(path, executionProviders(device), deviceLabel(device));
      c.loaded(info.key);
      return info;
    },
    async run(key, feeds, fetches) {
      c.ran(key);
      return core.run(key, feeds, fetches);
    },
    async runEach(calls, feeds) {
      for (const x of calls) c.ran(x.key);
      return core.runEach(calls, feeds);
    },
    stats: c.stats,
    close: () => core.close(),
  };
}

export function createThreadHost(): InferenceHost {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath: ortPath() } });
  worker.unref(); // an idle host never keeps the process alive; pending calls hold it via promises
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let dead: Error | undefined;
  const c = counters();
  worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(m.error));
  });
  const fail = (e: Error) => {
    dead = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`inference thread exited (code ${code})`)));
  const call = <T>(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    worker.ref();
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...msg, id }, transfer);
    }).finally(() => {
      if (pending.size === 0) worker.unref();
    });
  };
  return {
    mode: 'thread',
    async load(path, device) {
      const info = await call<SessionInfo>({ op: 'load', path, providers: executionProviders(device), label: deviceLabel(device) });
      c.loaded(info.key);
      return info;
    },
    async run(key, feeds, fetches, opts) {
      c.ran(key);
      const [out] = await call<Record<string, HostTensor>[]>({ op: 'run', calls: [{ key, fetches }], feeds }, opts?.transfer ? feedBuffers(feeds) : []);
      return out!;
    },
    runEach(calls, feeds, opts) {
      for (const x of calls) c.ran(x.key);
      return call<Record<string, HostTensor>[]>({ op: 'run', calls, feeds }, opts?.transfer ? feedBuffers(feeds) : []);
    },
    stats: c.stats,
    async close() {
      if (dead) return;
      try {
        await call({ op: 'close' });
      } finally {
        dead = new Error('inference host closed');
        await worker.terminate();
      }
    },
  };
}
