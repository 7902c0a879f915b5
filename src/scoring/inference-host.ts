/**
 * Owns every onnxruntime session of a scoring process. By default the sessions live in ONE
 * worker thread: `session.run` in onnxruntime-node blocks the calling thread for the whole batch,
 * which on the main thread would starve BullMQ's lock renewal and stall the job. Tensors travel
 * as transferred ArrayBuffers, so crossing the thread costs no copy of the pixel data.
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

export interface InferenceHost {
  readonly mode: 'thread' | 'inline';
  /** Create (or return the cached) session for a model file on a device. */
  load(modelPath: string, device: Device): Promise<SessionInfo>;
  run(key: string, feeds: Record<string, HostTensor>, fetches: string[]): Promise<Record<string, HostTensor>>;
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
    const opts = { executionProviders: providers, graphOptimizationLevel: 'all', logSeverityLevel: 3 };
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
  async function close() {
    for (const s of sessions.values()) await s.session.release();
    sessions.clear();
  }
  return { load, run, close };
}
`;

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('worker_threads');
const ort = require(workerData.ortPath);
${CORE_SOURCE}
const core = makeCore(ort);
parentPort.on('message', async (m) => {
  try {
    let result, transfer = [];
    if (m.op === 'load') result = await core.load(m.path, m.providers, m.label);
    else if (m.op === 'run') {
      result = await core.run(m.key, m.feeds, m.fetches);
      // copy out of ORT-owned memory into transferable buffers
      for (const k of Object.keys(result)) { const d = result[k].data.slice(); result[k].data = d; transfer.push(d.buffer); }
    } else if (m.op === 'close') result = await core.close();
    parentPort.postMessage({ id: m.id, ok: true, result }, transfer);
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, error: String(e && e.message || e) });
  }
});
`;

interface Core {
  load(path: string, providers: unknown[], label: string): Promise<SessionInfo>;
  run(key: string, feeds: Record<string, HostTensor>, fetches: string[]): Promise<Record<string, HostTensor>>;
  close(): Promise<void>;
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
    run(key, feeds, fetches) {
      c.ran(key);
      // inputs are copied, not transferred: one pixel batch may feed several models
      return call<Record<string, HostTensor>>({ op: 'run', key, feeds, fetches });
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
