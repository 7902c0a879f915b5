/**
 * Device selection for onnxruntime-node. `cpu`, `cuda` or `cuda:N`; CUDA falls back to CPU with a
 * warning when the provider cannot be created (no GPU, or an onnxruntime build without CUDA).
 */
import { usageError } from '../errors.js';

export type Device = { kind: 'cpu' } | { kind: 'cuda'; deviceId: number };

export function parseDevice(value: string | undefined): Device {
  const v = (value ?? 'cpu').trim().toLowerCase();
  if (v === 'cpu') return { kind: 'cpu' };
  const m = /^cuda(?::(\d{1,2}))?$/.exec(v);
  if (m) return { kind: 'cuda', deviceId: m[1] ? Number(m[1]) : 0 };
  throw usageError(`--device must be cpu, cuda or cuda:N, got "${value}"`);
}

export const deviceLabel = (d: Device) => (d.kind === 'cpu' ? 'cpu' : `cuda:${d.deviceId}`);

/** Execution providers to try, in order; the host retries with CPU alone if creation fails. */
export function executionProviders(d: Device): unknown[] {
  return d.kind === 'cpu' ? ['cpu'] : [{ name: 'cuda', deviceId: d.deviceId }];
}
