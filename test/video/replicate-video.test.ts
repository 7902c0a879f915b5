/**
 * The Replicate video backend and its per-model adapters, against the fake Replicate API on
 * 127.0.0.1 serving small real MP4s (ffmpeg test patterns; a hand-built MP4 when no ffmpeg is
 * found). The sleep and the clock are injected, so seconds-scale poll gaps and retry-afters are
 * recorded, not waited.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import { GenerationFailed, type PredictionRef } from '../../src/generation/backend.js';
import type { Logger } from '../../src/lib/log.js';
import { registerSecret } from '../../src/lib/secrets.js';
import type { VideoFrame } from '../../src/video/backend.js';
import {
  DEFAULT_VIDEO_DEADLINE_MS,
  ReplicateVideoBackend,
  type ReplicateVideoBackendOptions,
  type ReplicateVideoRequest,
  estimateBatchCost,
  probeMp4,
} from '../../src/video/replicate-video.js';
import { type AdapterRequest, TEXT_TO_VIDEO_DEFAULT, VIDEO_MODELS, frameSize, routeVideoModel, videoAdapter } from '../../src/video/video-models.js';
import { DEFAULT_FAKE_MODELS, type FakeOutput, type FakeReplicate, startFakeReplicate } from '../fakes/replicate-server.js';
import { fixtureSource, handmadeMp4, mp4Fixture } from '../fakes/replicate-video-fixtures.js';

const KLING = 'kwaivgi/kling-v2.1';
const HAILUO = 'minimax/hailuo-02';
const VEO = 'google/veo-3.1';
const WAN = 'wan-video/wan-2.2-i2v-fast';
const LUMA = 'luma/ray';
const MODELS = Object.keys(VIDEO_MODELS);
const FAST = { retries: 4, baseMs: 500, maxMs: 20_000 };

let fake: FakeReplicate;
let CLIP: Buffer;
let START: VideoFrame;
let END: VideoFrame;
let SQUARE: VideoFrame;
let WIDE: VideoFrame;
let TALL: VideoFrame;
const mp4Out = (): FakeOutput => ({ bytes: CLIP, contentType: 'video/mp4', ext: 'mp4' });

const png = async (width: number, height: number, path: string): Promise<VideoFrame> => ({
  bytes: await sharp({ create: { width, height, channels: 3, background: { r: 40, g: 90, b: 160 } } }).png().toBuffer(),
  path,
});

beforeAll(async () => {
  CLIP = mp4Fixture({ width: 320, height: 180, seconds: 5, fps: 24 });
  START = await png(336, 192, 'frames/clip_001_start.png'); // 1.75: SDXL's 16:9
  END = await png(336, 192, 'frames/clip_001_end.png');
  SQUARE = await png(256, 256, 'frames/square.png');
  WIDE = await png(600, 200, 'frames/wide.png'); // 3:1
  TALL = await png(192, 336, 'frames/tall.png'); // 9:16
  fake = await startFakeReplicate({
    latencyMs: 0,
    models: [...DEFAULT_FAKE_MODELS, ...MODELS],
    outputs: Object.fromEntries(MODELS.map((m) => [m, mp4Out()])),
  });
  registerSecret(fake.token);
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.reset();
  fake.setFaults([]);
  fake.setLatency(0);
  for (const m of MODELS) fake.setOutput(m, mp4Out());
});

/** A fake clock: sleeps are recorded and advance it at once (an aborted signal rejects at once). */
function fakeClock() {
  let t = 1_700_000_000_000;
  const sleeps: number[] = [];
  const sleep = async (ms: number, signal?: AbortSignal) => {
    if (signal?.aborted) throw signal.reason;
    sleeps.push(ms);
    t += ms;
    await new Promise((r) => setImmediate(r));
    if (signal?.aborted) throw signal.reason;
  };
  return { sleeps, sleep, now: () => t };
}

const lines: string[] = [];
const logger: Logger = { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), debug: (m) => void lines.push(m) };

function backend(over: Partial<ReplicateVideoBackendOptions> = {}) {
  const clock = fakeClock();
  const b = new ReplicateVideoBackend({ token: fake.token, baseUrl: fake.baseUrl, policy: FAST, random: () => 0.5, sleep: clock.sleep, now: clock.now, logger, ...over });
  return { b, clock };
}

const request = (over: Partial<ReplicateVideoRequest> = {}): ReplicateVideoRequest => ({
  prompt: 'a red kite over white dunes at noon',
  negativePrompt: null,
  startImage: START,
  endImage: null,
  durationS: 5,
  aspectRatio: '16:9',
  seed: 7,
  model: KLING,
  camera: null,
  attempt: 1,
  ...over,
});

const areq = (over: Partial<AdapterRequest> = {}): AdapterRequest => {
  const { model: _m, attempt: _a, ...r } = request();
  return { ...r, ...over };
};

const gets = () => fake.requests.filter((r) => r.kind === 'get').length;
const files = () => fake.requests.filter((r) => r.kind === 'file').length;

describe('MP4 fixtures and the MP4 check', () => {
  it('reads duration, fps and size from a real MP4, and from the hand-built one', () => {
    const info = probeMp4(CLIP);
    expect(info).toMatchObject({ width: 320, height: 180, fps: 24, frames: 120 });
    expect(info.duration_s).toBeCloseTo(5, 1);
    expect(info.boxes).toEqual(expect.arrayContaining(['ftyp', 'moov', 'mdat']));
    const hand = probeMp4(handmadeMp4({ width: 640, height: 360, seconds: 6, fps: 24 }));
    expect(hand).toMatchObject({ width: 640, height: 360, fps: 24, frames: 144, duration_s: 6, brand: 'isom' });
    // which one the rest of this file runs on (ffmpeg via @ffmpeg-installer/ffmpeg or PATH)
    expect(['ffmpeg', 'handmade']).toContain(fixtureSource());
  });

  it('refuses a truncated MP4 and something that is not one', () => {
    expect(() => probeMp4(CLIP.subarray(0, Math.floor(CLIP.length / 2)))).toThrow(/truncated/);
    expect(() => probeMp4(START.bytes)).toThrow(/not an MP4: no ftyp box/);
    expect(() => probeMp4(Buffer.alloc(0))).toThrow(/not an MP4/);
  });

  it('reads frame sizes from PNG, JPEG and WebP headers', async () => {
    expect(frameSize(START.bytes)).toEqual({ width: 336, height: 192 });
    const jpg = await sharp(START.bytes).jpeg().toBuffer();
    const webp = await sharp(START.bytes).webp().toBuffer();
    const lossless = await sharp(START.bytes).webp({ lossless: true }).toBuffer();
    expect(frameSize(jpg)).toEqual({ width: 336, height: 192 });
    expect(frameSize(webp)).toEqual({ width: 336, height: 192 });
    expect(frameSize(lossless)).toEqual({ width: 336, height: 192 });
  });
});

describe('adapters: each model’s fields and rules', () => {
  it('Kling v2.1: start_image, standard mode, 5 s; an end frame switches to pro and says so', () => {
    const k = videoAdapter(KLING)!;
    const a = k.input(areq());
    expect(a.fields).toEqual({ start: 'start_image' });
    expect(a.input).toMatchObject({ mode: 'standard', duration: 5, prompt: 'a red kite over white dunes at noon' });
    expect(String(a.input.start_image)).toMatch(/^data:image\/png;base64,/);
    expect(a.input.end_image).toBeUndefined();

    const withEnd = k.input(areq({ endImage: END }));
    expect(withEnd.fields).toEqual({ start: 'start_image', end: 'end_image' });
    expect(withEnd.input.mode).toBe('pro');
    expect(withEnd.notes.join(' ')).toMatch(/mode set to pro/);
    expect(k.plan(areq({ endImage: END })).priceKey).toBe('kwaivgi/kling-v2.1@pro');
    expect(k.check(areq({ endImage: END }))).toBeNull();
  });

  it('Kling v2.1: durations step up to 5 or 10 s (noted), past 10 s is refused; an asked-for 720p drops the end frame, or refuses it when required', () => {
    const k = videoAdapter(KLING)!;
    const seven = k.input(areq({ durationS: 7 }));
    expect(seven.input.duration).toBe(10);
    expect(seven.notes.join(' ')).toMatch(/7 s asked.*10 s \(trim in the edit\)/);
    expect(k.check(areq({ durationS: 12 }))).toMatch(/makes clips of 5 or 10 s; 12 s is longer than its longest/);
    const p = k.plan(areq({ endImage: END, resolution: '720p' }));
    expect(p.useEnd).toBe(false);
    expect(p.frameNotes.join(' ')).toMatch(/end frame frames\/clip_001_end.png not used/);
    expect(k.check(areq({ endImage: END, resolution: '720p', requireEndFrame: true }))).toMatch(/only in pro mode.*required/);
    expect(k.check(areq({ startImage: null }))).toMatch(/needs a start frame/);
  });

  it('Hailuo-02: first/last_frame_image; 10 s at the default 1080p becomes 768p (said), an asked-for 1080p at 10 s is refused', () => {
    const h = videoAdapter(HAILUO)!;
    const a = h.input(areq({ endImage: END, durationS: 6 }));
    expect(a.fields).toEqual({ start: 'first_frame_image', end: 'last_frame_image' });
    expect(a.input).toMatchObject({ duration: 6, resolution: '1080p', prompt_optimizer: false });

    const ten = h.input(areq({ durationS: 10 }));
    expect(ten.input).toMatchObject({ duration: 10, resolution: '768p' });
    expect(ten.notes.join(' ')).toMatch(/10 s only at 768p, so 768p instead of its default 1080p/);
    expect(h.plan(areq({ durationS: 10 })).priceKey).toBe('minimax/hailuo-02@768p');
    expect(h.check(areq({ durationS: 10 }))).toBeNull();
    expect(h.check(areq({ durationS: 10, resolution: '1080p' }))).toBe(
      'minimax/hailuo-02 makes 10 s clips only at 768p; 1080p was asked for a 10 s clip: ask 768p, or 6 s',
    );
    // text-to-video is landscape only
    expect(h.check(areq({ startImage: null, aspectRatio: '9:16' }))).toMatch(/makes 16:9 clips from text/);
    expect(h.check(areq({ startImage: null }))).toBeNull();
  });

  it('Veo 3.1: image and last_frame, 16:9 or 9:16 only, silent, seeded', () => {
    const v = videoAdapter(VEO)!;
    const a = v.input(areq({ endImage: END, durationS: 5, negativePrompt: 'text, logos' }));
    expect(a.fields).toEqual({ start: 'image', end: 'last_frame' });
    expect(a.input).toMatchObject({ aspect_ratio: '16:9', duration: 6, resolution: '1080p', generate_audio: false, seed: 7, negative_prompt: 'text, logos' });
    expect(v.check(areq({ startImage: TALL, aspectRatio: '9:16' }))).toBeNull();
    expect(v.check(areq({ startImage: SQUARE, aspectRatio: '1:1' }))).toBe('google/veo-3.1 makes 16:9, 9:16 clips; the clip is 1:1');
  });

  it('Wan 2.2 i2v: image and last_image; frames as 16 fps num_frames', () => {
    const w = videoAdapter(WAN)!;
    const a = w.input(areq({ endImage: END }));
    expect(a.fields).toEqual({ start: 'image', end: 'last_image' });
    expect(a.input).toMatchObject({ num_frames: 81, frames_per_second: 16, resolution: '720p', seed: 7 });
    expect(String(a.input.last_image)).toMatch(/^data:image\/png;base64,/);
    expect(w.plan(areq({ endImage: END })).frameNotes).toEqual([]);
    expect(w.check(areq({ endImage: END, requireEndFrame: true }))).toBeNull();
    // without an end frame, none is sent
    expect(w.input(areq({})).input.last_image).toBeUndefined();
  });

  it('Luma Ray: start_image / end_image and aspect_ratio; 3:2 is refused', () => {
    const l = videoAdapter(LUMA)!;
    const a = l.input(areq({ endImage: END }));
    expect(a.fields).toEqual({ start: 'start_image', end: 'end_image' });
    expect(a.input).toMatchObject({ aspect_ratio: '16:9', loop: false });
    expect(l.check(areq({ startImage: null, aspectRatio: '3:2' }))).toMatch(/luma\/ray makes .*; the clip is 3:2/);
  });

  it('frames whose shape the model refuses, or that are not the clip’s shape, are one clear line', () => {
    expect(videoAdapter(KLING)!.check(areq({ startImage: WIDE, aspectRatio: '21:9' }))).toMatch(
      /kwaivgi\/kling-v2.1 takes frames between 1:2.5 and 2.5:1 \(width:height\); start frame frames\/wide.png is 600x200 \(3:1\)/,
    );
    expect(videoAdapter(HAILUO)!.check(areq({ startImage: SQUARE }))).toMatch(/start frame frames\/square.png is 256x256 \(1:1\) but the clip is 16:9/);
    expect(videoAdapter(KLING)!.check(areq({ startImage: { bytes: Buffer.from('hello'), path: 'x.txt' } }))).toMatch(/not a PNG, JPEG or WebP/);
    expect(videoAdapter(KLING)!.check(areq({ startImage: null, endImage: END }))).toMatch(/end frame .* without a start frame/);
  });

  it('the planned camera move goes into the prompt', () => {
    const a = videoAdapter(KLING)!.input(areq({ camera: { type: 'dolly', direction: 'in', speed: 'slow', end_lens_mm: 35, description: '' } }));
    expect(a.input.prompt).toBe('a red kite over white dunes at noon. Camera: slow dolly in.');
  });

  it('no frames: image-to-video-only models route to the text-to-video default', () => {
    expect(routeVideoModel(KLING, { startImage: null, endImage: null })).toEqual({ model: TEXT_TO_VIDEO_DEFAULT, note: expect.stringMatching(/no frames: kwaivgi\/kling-v2.1 is image-to-video only/) });
    expect(routeVideoModel(VEO, { startImage: null, endImage: null })).toEqual({ model: VEO, note: null });
    expect(routeVideoModel(KLING, { startImage: START, endImage: null }).model).toBe(KLING);
  });
});

describe('cost from the price table', () => {
  it('per second asked of the model; an end frame on Kling prices pro; unpriced models are null and make the batch a lower bound', () => {
    const { b } = backend();
    expect(b.estimateCost({ model: KLING, durationS: 5, startImage: START, endImage: null })).toBeCloseTo(0.25, 6);
    expect(b.estimateCost({ model: KLING, durationS: 5, startImage: START, endImage: END })).toBeCloseTo(0.45, 6);
    expect(b.estimateCost({ model: KLING, durationS: 8, startImage: START, endImage: null })).toBeCloseTo(0.5, 6);
    expect(b.estimateCost({ model: HAILUO, durationS: 6, startImage: START, endImage: null })).toBeCloseTo(0.48, 6);
    expect(b.estimateCost({ model: HAILUO, durationS: 10, startImage: START, endImage: null })).toBeCloseTo(0.45, 6);
    expect(b.estimateCost({ model: VEO, durationS: 8, startImage: START, endImage: END })).toBeCloseTo(1.6, 6);
    expect(b.estimateCost({ model: WAN, durationS: 5, startImage: START, endImage: null })).toBeNull();
    expect(b.estimateCost({ model: 'someone/else', durationS: 5, startImage: START, endImage: null })).toBeNull();
    // frame bytes are not read (the planner passes empty ones)
    expect(b.estimateCost({ model: KLING, durationS: 5, startImage: { bytes: Buffer.alloc(0), path: 'a.png' }, endImage: { bytes: Buffer.alloc(0), path: 'b.png' } })).toBeCloseTo(0.45, 6);

    expect(estimateBatchCost([
      { model: KLING, durationS: 5, startImage: START, endImage: null },
      { model: KLING, durationS: 10, startImage: START, endImage: END },
    ])).toEqual({ total: 1.15, lower_bound: false });
    expect(estimateBatchCost([
      { model: KLING, durationS: 5, startImage: START, endImage: null },
      { model: WAN, durationS: 5, startImage: START, endImage: null },
    ])).toEqual({ total: 0.25, lower_bound: true });
    expect(estimateBatchCost([{ model: LUMA, durationS: 5, startImage: START, endImage: null }])).toEqual({ total: null, lower_bound: true });
    expect(estimateBatchCost([])).toEqual({ total: 0, lower_bound: false });
  });
});

describe('ReplicateVideoBackend against the fake API', () => {
  it('a long prediction: id recorded before any poll, polled with seconds-scale backoff, then the MP4 downloaded and measured', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'processing', polls: 4 } }]);
    const { b, clock } = backend();
    const seen: { ref: PredictionRef; getsSoFar: number }[] = [];
    const r = await b.generate(request({ endImage: END, onPrediction: async (ref) => void seen.push({ ref, getsSoFar: gets() }) }));

    expect(seen).toEqual([{ ref: { model: KLING, predictionId: r.provider.prediction_id }, getsSoFar: 0 }]);
    const [create] = fake.creates();
    expect(create!.prefer).toBeUndefined(); // no server-side wait
    expect(create!.path).toBe('/v1/models/kwaivgi/kling-v2.1/predictions');
    expect(create!.body).toMatchObject({ input: { mode: 'pro', duration: 5 } });
    expect(String((create!.body!.input as Record<string, unknown>).start_image)).toMatch(/^data:image\/png;base64,/);

    // 5 polls: 2 s, then x1.5 each (jitter centred by random() = 0.5)
    expect(clock.sleeps).toEqual([2000, 3000, 4500, 6750, 10125]);
    expect(gets()).toBe(5);
    expect(r.provider.polls).toBe(5);
    expect(r.bytes.equals(CLIP)).toBe(true);
    expect(files()).toBe(1);
    expect(r).toMatchObject({ model: KLING, width: 320, height: 180, fps: 24, cost_usd: 0.45 });
    expect(r.duration_s).toBeCloseTo(5, 1);
    expect(r.frames_used).toEqual({ start: true, end: true, fields: { start: 'start_image', end: 'end_image' }, note: expect.stringMatching(/mode set to pro/) });
    expect(r.provider).toMatchObject({ prediction_recorded: true, resumed_prediction: false, price_key: 'kwaivgi/kling-v2.1@pro', output_bytes: CLIP.length, output_content_type: 'video/mp4', frames_sent_as: 'data URI' });
  });

  it('poll gaps grow to 15 s and stay there, jittered within ±20 %', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'processing', polls: 12 } }]);
    let i = 0;
    const randoms = [0, 1];
    const { b, clock } = backend({ random: () => randoms[i++ % 2]! });
    await b.generate(request());
    expect(clock.sleeps.length).toBe(13);
    expect(Math.min(...clock.sleeps)).toBeGreaterThanOrEqual(1600);
    expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(18000);
    // from the 6th gap on, 15 s ±20 % (random() alternates 0 and 1: the two extremes)
    for (const gap of clock.sleeps.slice(6)) expect([12000, 18000]).toContain(gap);
    expect(clock.sleeps.slice(0, 2)).toEqual([1600, 3600]); // 2 s -20 %, 3 s +20 %
  });

  it('a failed prediction is GenerationFailed with the provider’s reason, redacted', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'fail', error: `NSFW content detected in input (request by ${fake.token})` } }]);
    const { b } = backend();
    const err = await b.generate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    expect((err as Error).message).toMatch(/kwaivgi\/kling-v2.1: prediction fake\d+ failed: NSFW content detected in input \(request by \[redacted\]\)/);
    expect((err as Error).message).not.toContain(fake.token);
    expect((err as GenerationFailed).modelsTried).toEqual([KLING]);
  });

  it('429 on create: waits the retry-after, then creates once', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'status', status: 429, retryAfter: '7' } }]);
    const { b, clock } = backend();
    const r = await b.generate(request());
    expect(clock.sleeps[0]).toBe(7000);
    expect(fake.creates().length).toBe(2);
    expect(fake.created()).toBe(1);
    expect(r.provider.http_retries).toEqual([{ what: 'kwaivgi/kling-v2.1: create prediction', status: 429, wait_ms: 7000 }]);
  });

  it('a saved prediction id is resumed: one create at the server, even when the first call is aborted mid-poll', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'processing', polls: 6 } }]);
    const ac = new AbortController();
    const clock = fakeClock();
    let sleeps = 0;
    let saved: PredictionRef | undefined;
    const first = new ReplicateVideoBackend({
      token: fake.token,
      baseUrl: fake.baseUrl,
      random: () => 0.5,
      now: clock.now,
      sleep: async (ms, signal) => {
        if (++sleeps === 3) ac.abort();
        return clock.sleep(ms, signal);
      },
    });
    const run = first.generate(request({ signal: ac.signal, onPrediction: async (p) => void (saved = p) }));
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(saved).toEqual({ model: KLING, predictionId: expect.stringMatching(/^fake/) });
    expect(gets()).toBe(2);
    expect(fake.cancels()).toHaveLength(0); // left running for the resume
    expect(fake.statusOf(saved!.predictionId)).toBe('processing');

    const { b } = backend();
    const r = await b.generate(request({ resume: saved, onPrediction: async () => expect.fail('resume must not create') }));
    expect(fake.created()).toBe(1);
    expect(r.provider).toMatchObject({ prediction_id: saved!.predictionId, resumed_prediction: true, resume: { outcome: 'completed' } });
    expect(r.bytes.equals(CLIP)).toBe(true);
    expect(r.cost_usd).toBe(0.25);

    // resumed again after it succeeded (a crash after the download, before the job finished): still one create
    const again = await backend().b.generate(request({ resume: saved }));
    expect(fake.created()).toBe(1);
    expect(again.provider.polls).toBe(1);
  });

  it('a resumed prediction that failed, or whose output expired, is replaced by a new one and says so', async () => {
    fake.setFaults([{ on: 'create', times: 1, fault: { kind: 'fail', error: 'GPU fell over' } }]);
    const failed = await backend().b.generate(request()).catch(() => null);
    expect(failed).toBeNull();
    const failedId = fake.creates()[0]!.predictionId!;
    const r = await backend().b.generate(request({ resume: { model: KLING, predictionId: failedId } }));
    expect(fake.created()).toBe(2);
    expect(r.provider).toMatchObject({ resumed_prediction: false, resume: { outcome: 'failed', prediction_id: failedId, fell_through: true } });

    fake.expire(r.provider.prediction_id as string);
    const r2 = await backend().b.generate(request({ resume: { model: KLING, predictionId: r.provider.prediction_id as string } }));
    expect(r2.provider).toMatchObject({ resume: { outcome: 'output_expired' } });
    const r3 = await backend().b.generate(request({ resume: { model: KLING, predictionId: 'nope' } }));
    expect(r3.provider).toMatchObject({ resume: { outcome: 'not_found' } });
  });

  it('the deadline: a recorded prediction is left running for a resume, an unrecorded one is canceled', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'processing' } }]);
    const { b, clock } = backend();
    const err = await b.generate(request({ deadlineMs: 60_000, onPrediction: async () => undefined })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    expect((err as Error).message).toMatch(/still processing at the 60 s deadline \(\d+ polls\); left running: a retry with its id resumes it/);
    expect(clock.sleeps.reduce((s, x) => s + x, 0)).toBeLessThanOrEqual(60_000);
    expect(fake.cancels()).toHaveLength(0);

    const err2 = await backend().b.generate(request({ deadlineMs: 30_000 })).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/at the 30 s deadline .*; canceled/);
    expect(fake.cancels()).toHaveLength(1);
    expect(DEFAULT_VIDEO_DEADLINE_MS).toBe(15 * 60_000);
  });

  it('text-to-video when there are no frames: routed to the default model, and the output names it', async () => {
    const { b } = backend();
    const r = await b.generate(request({ startImage: null, durationS: 6 }));
    expect(r.model).toBe(HAILUO);
    expect(fake.creates()[0]!.path).toBe('/v1/models/minimax/hailuo-02/predictions');
    expect(fake.creates()[0]!.body).toMatchObject({ input: { duration: 6, resolution: '1080p' } });
    expect(r.frames_used).toEqual({ start: false, end: false, fields: {}, note: expect.stringMatching(/no frames: kwaivgi\/kling-v2.1 is image-to-video only, so text-to-video with minimax\/hailuo-02/) });
    expect(r.cost_usd).toBeCloseTo(0.48, 6);
  });

  it('Wan with an end frame: sent as last_image; cost null with a note (priced per video, not per second)', async () => {
    const { b } = backend();
    const r = await b.generate(request({ model: WAN, endImage: END }));
    expect(r.frames_used).toMatchObject({ start: true, end: true, fields: { start: 'image', end: 'last_image' } });
    expect(r.cost_usd).toBeNull();
    expect(r.provider.cost_note).toMatch(/no per_video_second price for wan-video\/wan-2.2-i2v-fast/);
    expect(Object.keys(fake.creates()[0]!.body!.input as object)).toContain('last_image');
  });

  it('Kling at 720p with an end frame: dropped with a note, as frames_used says', async () => {
    const { b } = backend();
    const r = await b.generate(request({ model: KLING, endImage: END, resolution: '720p' }));
    expect(r.frames_used).toMatchObject({ start: true, end: false, note: expect.stringMatching(/end frame .* not used/) });
    expect(Object.keys(fake.creates()[0]!.body!.input as object)).not.toContain('end_image');
  });

  it('a rule the model refuses is one USAGE line, and nothing is created', async () => {
    const { b } = backend();
    const err = await b.generate(request({ model: HAILUO, durationS: 10, resolution: '1080p' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoopError);
    expect((err as LoopError).kind).toBe('USAGE');
    expect((err as Error).message).toMatch(/10 s clips only at 768p/);
    const err2 = await b.generate(request({ model: KLING, endImage: END, requireEndFrame: true, resolution: '720p' })).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/takes an end frame only in pro mode.*the end frame is required/);
    const err3 = await b.generate(request({ model: 'acme/unknown-video' })).catch((e: unknown) => e);
    expect((err3 as Error).message).toMatch(/no Replicate video adapter for acme\/unknown-video; known: /);
    expect(fake.creates()).toHaveLength(0);
  });

  it('a truncated download is retried; an output that is not an MP4 fails', async () => {
    fake.setFaults([{ on: 'file', times: 1, fault: { kind: 'truncate' } }]);
    const r = await backend().b.generate(request());
    expect(files()).toBe(2);
    expect(r.bytes.equals(CLIP)).toBe(true);

    fake.reset();
    fake.setFaults([]);
    fake.setOutput(KLING, { bytes: START.bytes, contentType: 'image/png', ext: 'png' });
    const err = await backend({ policy: { retries: 1, baseMs: 500, maxMs: 1000 } }).b.generate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    expect((err as Error).message).toMatch(/download: not an MP4: no ftyp box/);
  });

  it('the API token never appears in errors, logs or provider detail', async () => {
    lines.length = 0;
    fake.setFaults([{ on: 'create', fault: { kind: 'status', status: 500, body: { detail: `upstream said: bad key ${fake.token} for this model ${'x'.repeat(180)}` } } }]);
    const err = await backend().b.generate(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    expect((err as Error).message).toMatch(/HTTP 500 upstream said: bad key \[redacted\]/);
    expect((err as Error).message).not.toContain(fake.token.slice(0, 8));
    expect(lines.join('\n')).not.toContain(fake.token.slice(0, 8));

    fake.setFaults([]);
    const r = await backend().b.generate(request({ endImage: END }));
    expect(JSON.stringify(r.provider)).not.toContain(fake.token.slice(0, 8));
    expect(fake.creates().every((c) => c.authorization === `Bearer ${fake.token}`)).toBe(true);
    // the download goes without the token (delivery URLs are public)
    expect(fake.requests.filter((q) => q.kind === 'file').every((q) => q.authorization === undefined)).toBe(true);
  });

  it('an abort while waiting rejects at once with the abort, and leaves the prediction running', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'processing' } }]);
    const ac = new AbortController();
    const b = new ReplicateVideoBackend({ token: fake.token, baseUrl: fake.baseUrl }); // the real sleep: a 2 s first gap
    const t0 = performance.now();
    const run = b.generate(request({ signal: ac.signal, onPrediction: async () => void setTimeout(() => ac.abort(), 20) }));
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(gets()).toBe(0);
    expect(fake.cancels()).toHaveLength(0);
  });
});
