/**
 * Crash safety, deadlines and aborts of the Replicate backend, against the fake API on 127.0.0.1.
 * A "crash" is a worker that recorded the prediction id (onPrediction, as the queue job does into
 * its job data) and then died: its generate() is abandoned (aborted), and a second backend
 * instance, as the restarted job would, gets that record as `resume`.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GenerationFailed, type GenerateRequest, type PredictionRef } from '../../src/generation/backend.js';
import { DEFAULT_MODEL, ReplicateBackend, type ReplicateBackendOptions } from '../../src/generation/replicate-backend.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';

const FAST = { retries: 4, baseMs: 10, maxMs: 50 };
const SCHNELL = 'black-forest-labs/flux-schnell';
const DEV = 'black-forest-labs/flux-dev';
let fake: FakeReplicate;

beforeAll(async () => {
  // the real API holds a `Prefer: wait` create up to 60 s; 500 ms keeps a wrong wait visible but short
  fake = await startFakeReplicate({ latencyMs: 40, waitCapMs: 500 });
});
afterAll(async () => fake.close());
beforeEach(() => {
  fake.reset();
  fake.setFaults([]);
  fake.setLatency(40);
});

const backend = (over: Partial<ReplicateBackendOptions> = {}) =>
  new ReplicateBackend({ token: fake.token, baseUrl: fake.baseUrl, policy: FAST, pollIntervalMs: 20, ...over });

const request = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
  prompt: 'a lighthouse at dusk, long exposure',
  negativePrompt: null,
  aspectRatio: '1:1',
  seed: 11,
  model: SCHNELL,
  fallbackModels: [],
  width: 1024,
  height: 1024,
  ...over,
});

/** Run generate() until the prediction is recorded, then "crash": abandon it. Returns the record. */
async function crashAfterRecording(over: Partial<GenerateRequest> = {}): Promise<PredictionRef> {
  const ac = new AbortController();
  let rec: PredictionRef | undefined;
  const run = backend().generate(
    request({
      ...over,
      signal: ac.signal,
      onPrediction: async (p) => {
        rec = p;
        ac.abort();
      },
    }),
  );
  await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  expect(rec).toBeDefined();
  return rec!;
}

const untilStatus = async (id: string, status: string) => {
  for (let i = 0; i < 200 && fake.statusOf(id) !== status; i++) await new Promise((r) => setTimeout(r, 10));
  expect(fake.statusOf(id)).toBe(status);
};

describe('never pay twice for one image after a crash', () => {
  it('hands the prediction id to onPrediction before waiting on it (no Prefer: wait on that create)', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'processing', polls: 3 } }]);
    const seen: { ref: PredictionRef; status: string | undefined; getsSoFar: number }[] = [];
    const r = await backend().generate(
      request({
        onPrediction: async (ref) => {
          seen.push({ ref, status: fake.statusOf(ref.predictionId), getsSoFar: fake.requests.filter((q) => q.kind === 'get').length });
        },
      }),
    );
    expect(seen).toEqual([{ ref: { model: SCHNELL, predictionId: r.provider.prediction_id }, status: 'processing', getsSoFar: 0 }]);
    const [create] = fake.creates();
    expect(create!.prefer).toBeUndefined();
    expect(fake.requests.filter((q) => q.kind === 'get')).toHaveLength(4); // 3 × processing, then succeeded
    expect(r.provider).toMatchObject({ prediction_recorded: true, resumed_prediction: false, prefer_wait_s: null, polls: 4 });
  });

  it('resumes in-flight predictions after a crash: 3 images, 3 predictions (not 6)', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'processing', polls: 2 } }]);
    const records = await Promise.all([1, 2, 3].map((seed) => crashAfterRecording({ seed })));
    expect(fake.created()).toBe(3);
    expect(fake.cancels()).toEqual([]); // an abort leaves the prediction running for the next attempt
    for (const r of records) expect(fake.statusOf(r.predictionId)).toBe('processing');

    const fresh = backend(); // the restarted worker
    const results = await Promise.all(records.map((resume, i) => fresh.generate(request({ seed: i + 1, resume, onPrediction: async () => {} }))));
    expect(fake.created()).toBe(3); // zero new creations
    for (const [i, r] of results.entries()) {
      expect(r.provider.prediction_id).toBe(records[i]!.predictionId);
      expect(r.provider).toMatchObject({ resumed_prediction: true, resume: { outcome: 'completed', prediction_id: records[i]!.predictionId } });
      expect(r.model).toBe(SCHNELL);
      expect([r.width, r.height]).toEqual([1024, 1024]);
      expect(r.bytes.length).toBeGreaterThan(0);
    }
    const gets = fake.requests.filter((q) => q.kind === 'get' && q.predictionId === records[0]!.predictionId);
    expect(gets.length).toBeGreaterThanOrEqual(3); // it polled the recorded prediction until it finished
  });

  it('resumes a prediction that already finished: downloads it, creates nothing', async () => {
    const rec = await crashAfterRecording({ model: DEFAULT_MODEL });
    await untilStatus(rec.predictionId, 'succeeded');
    fake.reset();
    const r = await backend().generate(request({ model: DEFAULT_MODEL, resume: rec }));
    expect(fake.created()).toBe(0);
    expect(r.provider).toMatchObject({ resumed_prediction: true, prediction_id: rec.predictionId });
    expect(r.costUsd).toBe(0.0048);
    expect(fake.requests.map((q) => q.kind)).toEqual(['get', 'file']);
  });

  const fallThrough: [string, () => Promise<PredictionRef>, string][] = [
    [
      'failed',
      async () => {
        fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'fail', error: 'CUDA out of memory' } }]);
        const rec = await crashAfterRecording();
        await untilStatus(rec.predictionId, 'failed');
        return rec;
      },
      'failed',
    ],
    [
      'canceled',
      async () => {
        fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'cancel' } }]);
        const rec = await crashAfterRecording();
        await untilStatus(rec.predictionId, 'canceled');
        return rec;
      },
      'canceled',
    ],
    ['unknown (404)', async () => ({ model: SCHNELL, predictionId: 'fake99999' }), 'not_found'],
    [
      'expired output',
      async () => {
        const rec = await crashAfterRecording();
        await untilStatus(rec.predictionId, 'succeeded');
        fake.expire(rec.predictionId);
        return rec;
      },
      'output_expired',
    ],
  ];
  for (const [what, setup, outcome] of fallThrough) {
    it(`resume of a ${what} prediction creates one new prediction and says so`, async () => {
      const rec = await setup();
      fake.reset();
      fake.setFaults([]);
      const seen: PredictionRef[] = [];
      const r = await backend().generate(request({ resume: rec, onPrediction: async (p) => void seen.push(p) }));
      expect(fake.created()).toBe(1);
      expect(r.provider.prediction_id).not.toBe(rec.predictionId);
      expect(seen).toEqual([{ model: SCHNELL, predictionId: r.provider.prediction_id }]); // the new one is recorded too
      expect(r.provider).toMatchObject({ resumed_prediction: false, resume: { prediction_id: rec.predictionId, outcome, fell_through: true } });
      const errs = r.provider.model_errors as { model: string; reason: string }[];
      expect(errs[0]!.reason).toMatch(new RegExp(`^resumed prediction ${rec.predictionId}: `));
      expect(r.modelsTried).toEqual([SCHNELL]);
    });
  }
});

describe('deadline', () => {
  it('cancels a hung prediction at the deadline and fails the call without starting the fallback', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'processing' } }]); // never finishes unless canceled
    let id = '';
    const t0 = Date.now();
    const err = await backend({ predictionTimeoutMs: 60_000 })
      .generate(request({ fallbackModels: [DEV], deadlineMs: 400, onPrediction: async (p) => void (id = p.predictionId) }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    expect((err as Error).message).toMatch(new RegExp(`prediction ${id} still processing at the 0.4 s deadline; canceled`));
    expect(fake.cancels().map((q) => q.predictionId)).toEqual([id]);
    expect(fake.statusOf(id)).toBe('canceled');
    expect(fake.creates().map((q) => q.model)).toEqual([SCHNELL]); // no model starts after the deadline
    expect(Date.now() - t0).toBeLessThan(10_000); // generous: the point is "not minutes"
  });

  it('the same with Prefer: wait (no onPrediction): the server-side wait ends before the deadline', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'processing' } }]);
    const err = await backend()
      .generate(request({ deadlineMs: 2500 }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    const [create] = fake.creates();
    expect(create!.prefer).toBe('wait=1'); // 2.5 s budget: the server may hold it 1 s at most
    expect(fake.cancels().map((q) => q.predictionId)).toEqual([create!.predictionId]);
    expect(fake.statusOf(create!.predictionId!)).toBe('canceled');
  });

  it('a prediction still running after the prediction timeout is canceled and the next model tried', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'processing' } }]);
    const r = await backend({ predictionTimeoutMs: 300 }).generate(request({ fallbackModels: [DEV], deadlineMs: 30_000, onPrediction: async () => {} }));
    expect(r.model).toBe(DEV);
    const [first] = fake.creates();
    expect(fake.cancels().map((q) => q.predictionId)).toEqual([first!.predictionId]);
    expect((r.provider.model_errors as { reason: string }[])[0]!.reason).toMatch(/still processing after the 0.3 s prediction timeout; canceled/);
  });

  it('does not sleep through a retry-after that ends past the deadline', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'status', status: 429, retryAfter: '60' } }]);
    const t0 = Date.now();
    const err = await backend()
      .generate(request({ deadlineMs: 2000 }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    expect((err as Error).message).toMatch(/429.*would pass the deadline/);
    expect(fake.creates()).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(1500); // it did not wait for 60 s, nor for the 2 s deadline
  });
});

describe('abort', () => {
  it('stops polling at once, rejects as an abort and never tries the fallback', async () => {
    fake.setFaults([{ on: 'create', match: (c) => c.model === SCHNELL, fault: { kind: 'processing' } }]);
    const ac = new AbortController();
    let abortedAt = 0;
    const run = backend({ firstPollMs: 5000, pollIntervalMs: 5000 }).generate(
      request({
        fallbackModels: [DEV],
        signal: ac.signal,
        onPrediction: async () => {
          setTimeout(() => {
            abortedAt = Date.now();
            ac.abort();
          }, 100);
        },
      }),
    );
    const err = await run.catch((e: unknown) => e);
    expect(Date.now() - abortedAt).toBeLessThan(2000); // the 5 s poll sleep was interrupted
    expect(err).not.toBeInstanceOf(GenerationFailed);
    expect((err as Error).name).toBe('AbortError');
    const count = fake.requests.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.requests.length).toBe(count); // nothing after the abort
    expect(fake.creates().map((q) => q.model)).toEqual([SCHNELL]);
    expect(fake.cancels()).toEqual([]);
  });

  it('interrupts a retry backoff and surfaces the caller’s own reason', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'status', status: 503, retryAfter: '20' } }]);
    const ac = new AbortController();
    const reason = new Error('worker shutting down');
    setTimeout(() => ac.abort(reason), 150);
    const t0 = Date.now();
    const err = await backend()
      .generate(request({ fallbackModels: [DEV], signal: ac.signal }))
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(fake.creates().map((q) => [q.model, q.status])).toEqual([[SCHNELL, 503]]);
  });

  it('an already aborted signal makes no request at all', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(backend().generate(request({ signal: ac.signal }))).rejects.toMatchObject({ name: 'AbortError' });
    expect(fake.requests).toEqual([]);
  });
});
