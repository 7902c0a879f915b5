import { readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { isLoopError } from '../../src/errors.js';
import type { Movement } from '../../src/storyboard/plan.js';
import { ANIMATIC_NOTE, AnimaticBackend } from '../../src/video/animatic.js';
import type { VideoRequest } from '../../src/video/backend.js';
import { assertEncoder, decodeFrames, detectFfmpeg, findFfmpeg, NO_ENCODER_MESSAGE, probeVideo, requireFfmpeg } from '../../src/video/ffmpeg.js';

const W = 320;
const H = 180;

/** A W x H PNG from a per-pixel colour function. */
async function png(fn: (x: number, y: number) => [number, number, number], w = W, h = H): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(fn(x, y), (y * w + x) * 3);
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}
const rawOf = async (b: Buffer) => sharp(b).removeAlpha().raw().toBuffer();

/** Mean absolute difference per channel, 0-255. */
function mad(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

async function allFrames(mp4: Buffer, w = W, h = H): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const f of decodeFrames(mp4, { width: w, height: h })) out.push(f);
  return out;
}

const move = (type: Movement['type'], direction: string, speed: Movement['speed'] = 'fast'): Movement => ({ type, direction, speed, end_lens_mm: 35, description: '' });

function request(o: Partial<VideoRequest>): VideoRequest {
  return {
    prompt: 'a lantern on a frozen lake at dusk',
    negativePrompt: null,
    startImage: null,
    endImage: null,
    durationS: 1,
    aspectRatio: '16:9',
    seed: 7,
    model: 'animatic',
    camera: null,
    attempt: 1,
    ...o,
  };
}

/** ffmpeg processes whose parent is this process (read from /proc). */
function ffmpegChildren(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('ffmpeg')) pids.push(Number(d));
    } catch {
      // gone
    }
  }
  return pids;
}

let start: Buffer;
let end: Buffer;
beforeAll(async () => {
  start = await png((x, y) => [Math.round((x / (W - 1)) * 200) + 20, Math.round((y / (H - 1)) * 160) + 40, 70]);
  end = await png((x, y) => [60, Math.round((1 - x / (W - 1)) * 150) + 50, Math.round((y / (H - 1)) * 180) + 40]);
});

describe('ffmpeg', () => {
  it('finds an H.264 encoder and says which one', async () => {
    const f = await findFfmpeg();
    expect(['system', '@ffmpeg-installer/ffmpeg']).toContain(f.source);
    expect(f.libx264).toBe(true);
    expect(f.version).toMatch(/\S/);
    expect(await findFfmpeg()).toBe(f); // cached
    expect(await requireFfmpeg()).toEqual(f);
  });

  it('refuses with one CONFIG line when no ffmpeg runs', async () => {
    const none = await detectFfmpeg({ systemCommand: '/nonexistent/ffmpeg', packagePath: async () => null });
    expect(none).toBeNull();
    let err: unknown;
    try {
      assertEncoder(none);
    } catch (e) {
      err = e;
    }
    expect(isLoopError(err) && err.kind).toBe('CONFIG');
    expect((err as Error).message).toBe(NO_ENCODER_MESSAGE);
    expect(NO_ENCODER_MESSAGE).not.toContain('\n');
  });
});

describe('animatic backend', () => {
  const backend = new AnimaticBackend();

  it('encodes H.264 at the duration and fps asked, starting on the start frame and ending on the end frame', async () => {
    const r = await backend.generate(
      request({ startImage: { bytes: start, path: 'a.png' }, endImage: { bytes: end, path: 'b.png' }, durationS: 2, camera: move('pan', 'right', 'medium') }),
    );
    const p = await probeVideo(r.bytes);
    expect(p).toMatchObject({ codec: 'h264', pix_fmt: 'yuv420p', width: W, height: H, fps: 24, frames: 48 });
    expect(p.duration_s).toBeCloseTo(2, 1);
    expect([r.width, r.height, r.fps, r.duration_s]).toEqual([W, H, 24, 2]);
    expect(r.cost_usd).toBe(0);
    expect(backend.estimateCost()).toBe(0);
    expect(backend.note).toBe(ANIMATIC_NOTE);
    expect(r.frames_used).toMatchObject({ start: true, end: true, fields: { start: 'first frame', end: 'last frame' } });
    expect(r.provider).toMatchObject({ kind: 'animatic', easing: 'ease-in-out', frames: 48, move: { type: 'pan', direction: 'right', mode: 'panorama' } });
    expect((r.provider.encoder as { source: string }).source).toBe((await findFfmpeg()).source);
    // faststart: the index before the media data
    expect(r.bytes.indexOf('moov')).toBeLessThan(r.bytes.indexOf('mdat'));

    const frames = await allFrames(r.bytes);
    expect(frames).toHaveLength(48);
    const a = await rawOf(start);
    const b = await rawOf(end);
    expect(mad(a, b)).toBeGreaterThan(30); // the two ends really differ
    expect(mad(frames[0]!, a)).toBeLessThan(3);
    expect(mad(frames[47]!, b)).toBeLessThan(3);
    expect(mad(frames[24]!, a)).toBeGreaterThan(3); // and it moves in between
    expect(mad(frames[24]!, b)).toBeGreaterThan(3);
  });

  it('a zoom in magnifies the start frame monotonically (a centred square grows)', async () => {
    const sq = await png((x, y) => (Math.abs(x - 160 + 0.5) < 20 && Math.abs(y - 90 + 0.5) < 20 ? [220, 30, 30] : [90, 90, 90]));
    const r = await backend.generate(request({ startImage: { bytes: sq, path: 'sq.png' }, durationS: 1, camera: move('zoom', 'in', 'fast'), attempt: 2 }));
    const frames = await allFrames(r.bytes);
    const redWidth = (f: Buffer) => {
      let n = 0;
      for (let x = 0; x < W; x++) {
        const i = (90 * W + x) * 3;
        if (f[i]! > 150 && f[i + 1]! < 100) n++;
      }
      return n;
    };
    const widths = frames.map(redWidth);
    expect(widths[0]).toBeGreaterThanOrEqual(39);
    expect(widths[0]).toBeLessThanOrEqual(41);
    for (let i = 1; i < widths.length; i++) expect(widths[i]!).toBeGreaterThanOrEqual(widths[i - 1]! - 1);
    expect(widths[12]!).toBeGreaterThan(46); // mid-clip, linear (attempt 2): about 40 * 1.5^0.5 = 49
    expect(widths[widths.length - 1]!).toBeGreaterThanOrEqual(58); // 40 * 1.5
    // the centre of a middle frame is the start's centre magnified: the same colours, no grey inside the square
    const mid = frames[12]!;
    const c = (90 * W + 160) * 3;
    expect(mid[c]!).toBeGreaterThan(180);
  });

  it('a pan right moves the content left, monotonically', async () => {
    const stripe = await png((x) => (x >= 196 && x < 204 ? [20, 20, 20] : [200, 200, 190]));
    const r = await backend.generate(request({ startImage: { bytes: stripe, path: 's.png' }, durationS: 1, camera: move('pan', 'right', 'fast') }));
    const frames = await allFrames(r.bytes);
    /** The stripe's centre: the darkness-weighted mean x over a few rows. */
    const stripeX = (f: Buffer) => {
      let sw = 0;
      let sx = 0;
      for (let y = 40; y < 140; y += 10)
        for (let x = 0; x < W; x++) {
          const d = Math.max(0, 150 - f[(y * W + x) * 3]!);
          sw += d;
          sx += d * x;
        }
      return sx / sw;
    };
    const xs = frames.map(stripeX);
    expect(Math.abs(xs[0]! - 199.5)).toBeLessThan(1);
    for (let i = 1; i < xs.length; i++) expect(xs[i]!).toBeLessThanOrEqual(xs[i - 1]! + 0.25);
    expect(xs[0]! - xs[xs.length - 1]!).toBeGreaterThan(30); // 320 - 120.5 * 1.35 ≈ 157
    expect(r.frames_used.end).toBe(false);
    expect(r.frames_used.fields).toEqual({ start: 'first frame' });
  });

  it('the same request gives the same bytes; attempts differ', async () => {
    const req = (attempt: number) =>
      request({ startImage: { bytes: start, path: 'a.png' }, endImage: { bytes: end, path: 'b.png' }, durationS: 1, camera: move('dolly', 'in', 'medium'), attempt });
    const one = await backend.generate(req(1));
    const again = await backend.generate(req(1));
    const two = await backend.generate(req(2));
    expect(one.bytes.equals(again.bytes)).toBe(true);
    expect(one.bytes.equals(two.bytes)).toBe(false);
    expect(one.provider.easing).not.toBe(two.provider.easing);
    // a dolly in onto an end frame also starts and ends exactly
    const frames = await allFrames(one.bytes);
    expect(mad(frames[0]!, await rawOf(start))).toBeLessThan(3);
    expect(mad(frames[frames.length - 1]!, await rawOf(end))).toBeLessThan(3);
  });

  it('an abort kills ffmpeg and rejects with the reason', async () => {
    const pre = new AbortController();
    pre.abort(new Error('stopped before'));
    await expect(backend.generate(request({ startImage: { bytes: start, path: 'a.png' }, signal: pre.signal }))).rejects.toThrow('stopped before');

    const ac = new AbortController();
    const reason = new Error('stopped by the test');
    const p = backend.generate(request({ startImage: { bytes: start, path: 'a.png' }, durationS: 120, camera: move('zoom', 'in'), signal: ac.signal }));
    p.catch(() => {});
    const t0 = Date.now();
    while (ffmpegChildren().length === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(ffmpegChildren().length).toBeGreaterThan(0);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(ffmpegChildren()).toEqual([]);
  });

  it('without a start image renders a title card of the prompt into a valid video', async () => {
    const r = await backend.generate(request({ durationS: 0.5, aspectRatio: '1:1', camera: move('zoom', 'in', 'slow') }));
    const p = await probeVideo(r.bytes);
    expect(p.codec).toBe('h264');
    expect([p.width, p.height, p.frames]).toEqual([1024, 1024, 12]);
    expect(r.frames_used).toMatchObject({ start: false, end: false, fields: {} });
    const [first] = await allFrames(r.bytes, 64, 64);
    // not a blank frame: the card has a gradient and text
    let min = 255;
    let max = 0;
    for (const v of first!) [min, max] = [Math.min(min, v), Math.max(max, v)];
    expect(max - min).toBeGreaterThan(40);
  });
});
