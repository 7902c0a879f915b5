/**
 * The scoring worker's start line (issue 13, item 7): which execution provider it got. On a
 * machine without onnxruntime-node's CUDA provider (CI, the CPU image) cuda:0 falls back and says
 * why; with the provider and a GPU (the gpu image) it says cuda:0.
 */
import { describe, expect, it } from 'vitest';
import { scoringDeviceLine } from '../../src/scoring/device-line.js';

describe('scoringDeviceLine', () => {
  it('cpu needs no probe', async () => {
    expect(await scoringDeviceLine('cpu')).toBe('scoring on cpu (CPUExecutionProvider)');
  });

  it('cuda:0 says which provider a session really got, with the reason on a fallback', { timeout: 60_000 }, async () => {
    const line = await scoringDeviceLine('cuda:0');
    expect(line).toMatch(/^(scoring on cuda:0 \(CUDAExecutionProvider\)|CUDA unavailable, scoring on CPU: \S.*)$/);
    expect(line).not.toMatch(/\n/);
  });
});
