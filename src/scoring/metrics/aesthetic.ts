/**
 * LAION aesthetic predictor v2 (sac+logos+ava1-l14-linearMSE): an MLP 768→1024→128→64→16→1 with no
 * activations, folded into one affine map by models/build-aesthetic-head.ts. Its input is the
 * L2-normalised CLIP ViT-L/14 image embedding, the same one CLIPScore uses (one vision pass).
 */
import { join } from 'node:path';
import { modelDir } from '../../models/store.js';
import { toScale, type AnchorRange } from '../anchors.js';
import { hashFiles, requireFiles } from '../clip.js';
import type { InferenceHost, SessionInfo } from '../inference-host.js';
import type { Device } from '../runtime.js';
import type { MetricResult } from '../types.js';

export const AESTHETIC_ID = 'laion-aesthetic-v2';
export const AESTHETIC_FILE = 'aesthetic_head.onnx';

export interface AestheticHead {
  id: string;
  session: SessionInfo;
  fileHashes: Record<string, string>;
}

export async function loadAesthetic(host: InferenceHost, modelsDir: string, device: Device): Promise<AestheticHead> {
  const dir = modelDir(modelsDir, AESTHETIC_ID);
  requireFiles(AESTHETIC_ID, dir, [AESTHETIC_FILE]);
  const session = await host.load(join(dir, AESTHETIC_FILE), device);
  return { id: AESTHETIC_ID, session, fileHashes: await hashFiles(dir, [AESTHETIC_FILE]) };
}

/** One head run over a batch of normalised embeddings → per-image results. */
export async function aestheticScores(host: InferenceHost, head: AestheticHead, embeds: Float32Array[], anchors: AnchorRange): Promise<MetricResult[]> {
  if (!embeds.length) return [];
  const d = embeds[0]!.length;
  const data = new Float32Array(embeds.length * d);
  embeds.forEach((e, i) => data.set(e, i * d));
  const input = head.session.inputNames[0]!;
  const output = head.session.outputNames[0]!;
  const out = await host.run(head.session.key, { [input]: { type: 'float32', dims: [embeds.length, d], data } }, [output]);
  const values = out[output]!.data as Float32Array;
  return embeds.map((_, i) => {
    const raw = values[i]!;
    return { available: true, raw, ...toScale(raw, anchors), model_id: head.id, file_hashes: head.fileHashes };
  });
}
