import { createThreadHost, type InferenceHost } from '../src/scoring/inference-host.js';
import { createImageScorer, type ImageScorer } from '../src/scoring/scorer.js';
import type { Logger } from '../src/lib/log.js';
import type { VideoScorer } from '../src/video-scoring/score.js';

/**
 * The models a scoring worker holds, one set per device and process: ONE inference host (its own
 * thread) serves the image scorer and the video scorer, and the host returns the session already
 * loaded for a model file and device, so CLIP and the aesthetic head load once however many image
 * and video jobs this process scores (`loop worker --queues image-scoring,video-scoring`).
 */
interface Held {
  host: InferenceHost;
  image?: ImageScorer;
  video?: Promise<VideoScorer>;
}

const held = new Map<string, Held>();

function heldFor(device: string): Held {
  let h = held.get(device);
  if (!h) {
    h = { host: createThreadHost() };
    held.set(device, h);
  }
  return h;
}

export function imageScorerFor(device: string, logger: Logger): ImageScorer {
  const h = heldFor(device);
  return (h.image ??= createImageScorer({ device, logger, host: h.host }));
}

export function videoScorerFor(device: string, logger: Logger): Promise<VideoScorer> {
  const h = heldFor(device);
  // the video scorer's module (frame decoding, flow) loads only in a worker that scores videos
  return (h.video ??= import('../src/video-scoring/score.js').then((m) => m.createVideoScorer({ device, logger, host: h.host })));
}

/** Session creations so far in this process's host for `device` (the same on every job after the first). */
export const sessionLoads = (device: string): number => held.get(device)?.host.stats().loads ?? 0;

export async function closeScoringModels(): Promise<void> {
  const all = [...held.values()];
  held.clear();
  await Promise.all(
    all.map(async (h) => {
      await Promise.all([h.image?.close(), h.video?.then((v) => v.close())]);
      await h.host.close();
    }),
  );
}
