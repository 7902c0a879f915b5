/**
 * The line a scoring worker prints at start: which execution provider its sessions will get.
 * A CUDA device is probed the way a model load goes (a session on an inference thread, falling
 * back to CPU when the CUDA provider cannot be created, src/scoring/inference-host.ts), on a
 * one-node model built here, so the worker says it before its first job.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeModel } from '../models/onnx-graph.js';
import { createThreadHost } from './inference-host.js';
import { parseDevice } from './runtime.js';

/** Where onnxruntime-node looks for its CUDA provider (linux/x64: fetched by its install script). */
function cudaProviderFile(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const main = createRequire(import.meta.url).resolve('onnxruntime-node'); // …/onnxruntime-node/dist/index.js
  return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
}

/** "scoring on cuda:0 (CUDAExecutionProvider)", "scoring on cpu (CPUExecutionProvider)" or "CUDA unavailable, scoring on CPU: <reason>". */
export async function scoringDeviceLine(device: string): Promise<string> {
  const d = parseDevice(device);
  if (d.kind === 'cpu') return 'scoring on cpu (CPUExecutionProvider)';
  const dir = await mkdtemp(join(tmpdir(), 'loop-device-probe-'));
  const host = createThreadHost();
  try {
    const model = join(dir, 'probe.onnx');
    const io = (name: string) => ({ name, type: 'float32' as const, shape: [1] });
    await writeFile(model, encodeModel({ name: 'probe', inputs: [io('x')], outputs: [io('y')], initializers: [{ name: 'one', dims: [1], data: [1] }], nodes: [{ op: 'Add', inputs: ['x', 'one'], outputs: ['y'] }] }));
    const info = await host.load(model, d);
    if (info.device !== 'cpu') return `scoring on ${info.device} (CUDAExecutionProvider)`;
    const provider = cudaProviderFile();
    const reason =
      provider && !existsSync(provider)
        ? `onnxruntime-node's CUDA provider is not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js, or the Docker image's gpu target)`
        : (/\((.*)\); falling back to CPU$/s.exec(info.warning ?? '')?.[1] ?? info.warning ?? 'unknown');
    return `CUDA unavailable, scoring on CPU: ${reason.split('\n')[0]}`;
  } catch (e) {
    return `could not create an onnxruntime session on ${device}: ${String((e as Error)?.message ?? e).split('\n')[0]}`;
  } finally {
    await host.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
