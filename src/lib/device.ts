/**
 * The scoring device flag (`--device cpu | cuda | cuda:N`): its syntax, checked when the flag is
 * parsed, and whether a requested CUDA index exists on this machine, checked when a command that
 * scores starts. Light on purpose (node builtins only): cli/shared.ts imports it at start-up.
 *
 * The result has the shape of src/scoring/runtime.ts's Device, so it can be handed to the scorer
 * as it is.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { usageError } from '../errors.js';

export type Device = { kind: 'cpu' } | { kind: 'cuda'; deviceId: number };

/** Highest CUDA index the flag accepts (a 16-GPU box is the largest we expect). */
export const MAX_CUDA_INDEX = 15;

const DEVICE_RE = /^(?:cpu|cuda(?::(0|[1-9]\d*))?)$/;

/** Human text for a device problem; undefined when `value` is a valid device. */
export function deviceSyntaxProblem(value: string): string | undefined {
  const v = value.trim().toLowerCase();
  const m = DEVICE_RE.exec(v);
  if (!m) return `must be cpu, cuda or cuda:N (N 0–${MAX_CUDA_INDEX})`;
  if (m[1] !== undefined && (m[1].length > 2 || Number(m[1]) > MAX_CUDA_INDEX)) return `CUDA index must be 0–${MAX_CUDA_INDEX}`;
  return undefined;
}

/** `cpu`, `cuda` (= cuda:0) or `cuda:N` with N 0–15; anything else is a usage error. */
export function parseDevice(value: string, flag = '--device'): Device {
  const problem = deviceSyntaxProblem(value);
  if (problem) throw usageError(`${flag} ${problem}, got "${value}"`);
  const v = value.trim().toLowerCase();
  if (v === 'cpu') return { kind: 'cpu' };
  const n = v.split(':')[1];
  return { kind: 'cuda', deviceId: n === undefined ? 0 : Number(n) };
}

/** The canonical spelling: `cpu` or `cuda:N`. */
export const deviceName = (d: Device): string => (d.kind === 'cpu' ? 'cpu' : `cuda:${d.deviceId}`);

export interface GpuProbe {
  /** Defaults to /proc/driver/nvidia/gpus (one entry per GPU the NVIDIA driver knows). */
  procDir?: string;
  /** Defaults to process.env (CUDA_VISIBLE_DEVICES narrows what CUDA numbers). */
  env?: NodeJS.ProcessEnv;
  /** Command run when procDir does not exist; null skips it. Default `nvidia-smi -L`. */
  nvidiaSmi?: readonly string[] | null;
}

/**
 * How many NVIDIA GPUs CUDA can number on this machine: 0 when there is no NVIDIA driver.
 * Reads /proc/driver/nvidia/gpus (Linux) or, where that folder does not exist, asks
 * `nvidia-smi -L`; CUDA_VISIBLE_DEVICES, when set, limits and renumbers them.
 */
export function countCudaDevices(probe: GpuProbe = {}): number {
  const env = probe.env ?? process.env;
  let physical = 0;
  let found = false;
  try {
    physical = readdirSync(probe.procDir ?? '/proc/driver/nvidia/gpus').length;
    found = true;
  } catch {
    /* no NVIDIA driver in /proc (or not Linux) */
  }
  if (!found && probe.nvidiaSmi !== null) {
    const [cmd, ...args] = probe.nvidiaSmi ?? ['nvidia-smi', '-L'];
    try {
      const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
      if (r.status === 0 && typeof r.stdout === 'string') physical = r.stdout.split('\n').filter((l) => /^GPU \d+/.test(l.trim())).length;
    } catch {
      /* no nvidia-smi */
    }
  }
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible === undefined) return physical;
  // CUDA numbers the listed devices 0..k-1 and stops at the first invalid entry; "" or -1 hides all
  const listed = visible.split(',').map((s) => s.trim());
  let k = 0;
  for (const id of listed) {
    if (!id || id.startsWith('-')) break;
    if (/^\d+$/.test(id) && Number(id) >= physical) break;
    k++;
  }
  return Math.min(k, physical);
}

/**
 * When CUDA device `index` is requested: with no NVIDIA GPU at all nothing is refused (the scorer
 * falls back to CPU with a warning, src/scoring/inference-host.ts); with GPUs but none at `index`,
 * a usage error naming how many there are. Returns the number of GPUs seen.
 */
export function checkCudaDevice(index: number, probe: GpuProbe = {}, flag = '--device'): number {
  const n = countCudaDevices(probe);
  if (n > 0 && index >= n)
    throw usageError(
      `${flag} cuda:${index}: this machine has ${n} NVIDIA GPU${n === 1 ? '' : 's'}${(probe.env ?? process.env).CUDA_VISIBLE_DEVICES !== undefined ? ' visible (CUDA_VISIBLE_DEVICES)' : ''}, so use ${n === 1 ? 'cuda:0' : `cuda:0 … cuda:${n - 1}`} (or cpu)`,
    );
  return n;
}

/** parseDevice + checkCudaDevice: what a command or worker calls once, at start. */
export function resolveDevice(value: string, opts: { flag?: string; probe?: GpuProbe } = {}): Device {
  const d = parseDevice(value, opts.flag);
  if (d.kind === 'cuda') checkCudaDevice(d.deviceId, opts.probe, opts.flag);
  return d;
}
