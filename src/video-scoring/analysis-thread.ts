/**
 * The body of one analysis thread (see analysis-pool.ts): decodes a video ONCE (one ffmpeg pipe)
 * and runs the model-free accumulators on it (temporal flickering, dynamic degree, motion
 * smoothness, the boundary frames), the same classes on the same frames as the in-process path.
 * The model frames (working size, every `modelInterval`-th) go back to the calling thread as they
 * pass, moved (transferable buffers), for the model consumers there; at most `window` of them are
 * unanswered at a time, so memory stays bounded whatever the video's length.
 *
 * Loaded only inside a worker started by analysis-pool.ts (it does nothing elsewhere).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BoundaryAcc } from './continuity.js';
import { DynamicAcc, FlickerAcc, SmoothnessAcc } from './dimensions.js';
import { decodeInto, type FrameConsumer } from './frames.js';
import type { AnalysisJob, FromThread, ToThread } from './analysis-protocol.js';

export const ANALYSIS_THREAD_MARK = 'loop-video-analysis';

interface Running {
  abort: AbortController;
  window: number;
  /** Model frames posted and not answered yet. */
  outstanding: number;
  wake: (() => void) | null;
}

if (parentPort && (workerData as { kind?: string } | null)?.kind === ANALYSIS_THREAD_MARK) {
  const port = parentPort;
  const jobs = new Map<number, Running>();
  const post = (m: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

  const run = async (job: AnalysisJob) => {
    const me: Running = { abort: new AbortController(), window: Math.max(1, job.window), outstanding: 0, wake: null };
    jobs.set(job.id, me);
    const flicker = new FlickerAcc();
    const dynamic = new DynamicAcc(job.plan);
    const smooth = new SmoothnessAcc(job.plan);
    const boundary = job.boundary ? new BoundaryAcc() : null;
    const forward: FrameConsumer = {
      frame(f) {
        if (!f.modelSample) return;
        const rgb = new Uint8Array(f.rgb); // a copy of its own: moved, the decode keeps the original
        post({ op: 'frame', id: job.id, index: f.index, width: f.width, height: f.height, rgb }, [rgb.buffer as ArrayBuffer]);
        if (++me.outstanding < me.window) return;
        return new Promise<void>((resolve) => (me.wake = resolve));
      },
    };
    try {
      // the order of the in-process path (the model stage sits where `forward` is)
      const s = await decodeInto(job.path, job.plan, [flicker, dynamic, smooth, forward, ...(boundary ? [boundary] : [])], { signal: me.abort.signal });
      const kept = boundary?.result() ?? null;
      // copies with buffers of their own: a small Buffer shares Node's pool, which must not move
      const b = kept && { first: { ...kept.first, rgb: new Uint8Array(kept.first.rgb) }, last: { ...kept.last, rgb: new Uint8Array(kept.last.rgb) } };
      post(
        {
          op: 'done',
          id: job.id,
          stats: s,
          flicker: flicker.result(job.plan),
          dynamic: dynamic.result(),
          smooth: smooth.result(),
          boundary: b,
        },
        b ? [b.first.rgb.buffer as ArrayBuffer, b.last.rgb.buffer as ArrayBuffer] : [],
      );
    } catch (e) {
      post({ op: 'error', id: job.id, message: String((e as Error)?.message ?? e), aborted: me.abort.signal.aborted });
    } finally {
      jobs.delete(job.id);
    }
  };

  port.on('message', (m: ToThread) => {
    if (m.op === 'job') void run(m.job);
    else {
      const j = jobs.get(m.id);
      if (!j) return;
      if (m.op === 'ack') {
        j.outstanding--;
        if (j.wake && j.outstanding < j.window) {
          const w = j.wake;
          j.wake = null;
          w();
        }
      } else if (m.op === 'abort') {
        j.abort.abort();
        j.wake?.();
        j.wake = null;
      }
    }
  });
  post({ op: 'ready' });
}
