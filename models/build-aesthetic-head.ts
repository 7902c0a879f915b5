#!/usr/bin/env node
/**
 * Writes the LAION aesthetic predictor v2 head as ONNX (one folded affine map 768→1) from its
 * published weights, exported from sac+logos+ava1-l14-linearMSE.pth as one of:
 *   .json  state dict {"layers.0.weight": [[…]], "layers.0.bias": […], …, "layers.7.bias": […]}
 *   .npy   one float32 vector: weight, bias of each layer in state_dict order
 *   other  the same vector as raw little-endian float32 (.f32 / .bin)
 * See models/README.md for the export snippet. Usage:
 *   node dist/models/build-aesthetic-head.js --weights head.f32 --out <models-dir>/laion-aesthetic-v2/aesthetic_head.onnx
 * Note: uses onnx-proto (a devDependency).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { aestheticHeadOnnx, layersFromFlat, layersFromStateDict, parseNpy, type LinearLayer } from '../src/models/aesthetic-head.js';

export function readHeadWeights(path: string): LinearLayer[] {
  const buf = readFileSync(path);
  if (path.endsWith('.json')) return layersFromStateDict(JSON.parse(buf.toString('utf8')) as Record<string, unknown>);
  if (path.endsWith('.npy')) return layersFromFlat(parseNpy(buf));
  if (buf.byteLength % 4 !== 0) throw new Error(`${path}: raw float32 file size must be a multiple of 4`);
  const copy = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return layersFromFlat(new Float32Array(copy));
}

function main(): number {
  const { values } = parseArgs({ options: { weights: { type: 'string' }, out: { type: 'string' } } });
  if (!values.weights || !values.out) {
    process.stderr.write('usage: build-aesthetic-head --weights <state_dict.json | head.npy | head.f32> --out <dir>/aesthetic_head.onnx\n');
    return 2;
  }
  try {
    const bytes = aestheticHeadOnnx(readHeadWeights(values.weights));
    mkdirSync(dirname(resolve(values.out)), { recursive: true });
    writeFileSync(values.out, bytes);
    process.stdout.write(`wrote ${values.out} (${bytes.byteLength} bytes)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`build-aesthetic-head: error: ${(e as Error).message}\n`);
    return 3;
  }
}

if (process.argv[1] && resolve(process.argv[1]).replace(/\.ts$/, '.js').endsWith('build-aesthetic-head.js')) process.exitCode = main();
