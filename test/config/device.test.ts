import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLoopError } from '../../src/errors.js';
import { checkCudaDevice, countCudaDevices, parseDevice, resolveDevice } from '../../src/lib/device.js';

const root = mkdtempSync(join(tmpdir(), 'loop-device-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake /proc/driver/nvidia/gpus with n entries. */
function fakeGpus(n: number): string {
  const dir = join(root, `gpus-${n}`);
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) mkdirSync(join(dir, `0000:0${i}:00.0`), { recursive: true });
  return dir;
}

describe('parseDevice', () => {
  it('parses cpu, cuda and cuda:N', () => {
    expect(parseDevice('cpu')).toEqual({ kind: 'cpu' });
    expect(parseDevice('cuda')).toEqual({ kind: 'cuda', deviceId: 0 });
    expect(parseDevice(' Cuda:7 ')).toEqual({ kind: 'cuda', deviceId: 7 });
  });
  it('refuses other spellings and indices past 15 with a USAGE error', () => {
    for (const v of ['cuda:16', 'cuda:100', 'gpu', 'cuda:', 'cuda:0x1']) {
      let err: unknown;
      try {
        parseDevice(v);
      } catch (e) {
        err = e;
      }
      expect(isLoopError(err) && err.kind, v).toBe('USAGE');
    }
  });
});

describe('counting CUDA devices', () => {
  const none = join(root, 'no-such-dir');
  it('counts /proc/driver/nvidia/gpus entries', () => {
    expect(countCudaDevices({ procDir: fakeGpus(2), env: {}, nvidiaSmi: null })).toBe(2);
  });
  it('is 0 without an NVIDIA driver', () => {
    expect(countCudaDevices({ procDir: none, env: {}, nvidiaSmi: null })).toBe(0);
  });
  it('asks nvidia-smi -L where /proc has nothing', () => {
    const smi = [process.execPath, '-e', 'console.log("GPU 0: NVIDIA H100 (UUID: GPU-1)\\nGPU 1: NVIDIA H100 (UUID: GPU-2)\\nGPU 2: NVIDIA H100 (UUID: GPU-3)")'];
    expect(countCudaDevices({ procDir: none, env: {}, nvidiaSmi: smi })).toBe(3);
    expect(countCudaDevices({ procDir: none, env: {}, nvidiaSmi: ['/nonexistent/nvidia-smi'] })).toBe(0);
  });
  it('honours CUDA_VISIBLE_DEVICES', () => {
    const four = fakeGpus(4);
    expect(countCudaDevices({ procDir: four, env: { CUDA_VISIBLE_DEVICES: '2,3' }, nvidiaSmi: null })).toBe(2);
    expect(countCudaDevices({ procDir: four, env: { CUDA_VISIBLE_DEVICES: '' }, nvidiaSmi: null })).toBe(0);
    expect(countCudaDevices({ procDir: four, env: { CUDA_VISIBLE_DEVICES: '1,9,2' }, nvidiaSmi: null })).toBe(1);
  });
});

describe('checkCudaDevice', () => {
  it('with GPUs, an index past them is a usage error naming how many there are', () => {
    const probe = { procDir: fakeGpus(2), env: {}, nvidiaSmi: null };
    expect(checkCudaDevice(1, probe)).toBe(2);
    expect(() => checkCudaDevice(2, probe)).toThrow(/this machine has 2 NVIDIA GPUs, so use cuda:0 … cuda:1/);
    expect(() => resolveDevice('cuda:5', { probe })).toThrow(expect.objectContaining({ kind: 'USAGE' }));
    expect(resolveDevice('cpu', { probe })).toEqual({ kind: 'cpu' });
  });
  it('with no NVIDIA GPU nothing is refused: the scorer falls back to CPU with its warning', () => {
    const probe = { procDir: join(root, 'nothing'), env: {}, nvidiaSmi: null };
    expect(checkCudaDevice(3, probe)).toBe(0);
    expect(resolveDevice('cuda:3', { probe })).toEqual({ kind: 'cuda', deviceId: 3 });
  });
});
