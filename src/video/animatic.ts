import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopError } from '../errors.js';
import { sizeFor } from '../generation/sizes.js';
import type { Movement } from '../storyboard/plan.js';
import type { VideoBackend, VideoRequest, VideoResult } from './backend.js';
import { requireFfmpeg, type FfmpegInfo } from './ffmpeg.js';

/**
 * The offline video backend (Story 9.2), the default without a Replicate token: an H.264 MP4 that
 * starts exactly on the start frame and ends exactly on the end frame, moving between them along
 * the planned camera move. Not a video model: a previsualisation of the clip's timing and move.
 *
 * The camera is a window over the start image (start-image pixels; the full image at p = 0):
 *   zoom / dolly: the window shrinks (in) or grows (out) about the centre, geometrically, so the
 *     magnification is monotone and looks uniform;
 *   pan / truck / orbit: the window slides sideways (right: the content moves left);
 *   tilt / pedestal / crane: it slides vertically (up: the content moves down);
 *   handheld: a small seeded drift that starts and ends on the full frame;
 *   static: the window stays put.
 * With an end image the end image is what the camera sees at p = 1: it rides the same camera
 * (its own window is the camera's, expressed relative to the final one), so in a pan it sits beside
 * the start image like a panorama and in a zoom in it is the shrunken centre; the start layer is
 * composited over the end layer, the end layer over the start layer, and a cross-dissolve between
 * the two carries what the move cannot explain. Without an end image a pan or tilt slides a
 * slightly narrowing window inside the start image (nothing outside it is invented) and the last
 * frame is the start image moved along the path; a zoom out, which must show what is outside the
 * start frame, fills it with a dimmed blur of the start frame. Text-to-video (no start image)
 * starts on a title card of the prompt.
 *
 * Exact endpoints: the first frames are the start image's pixels and the last ones the end
 * image's (held 2 frames each at ≥ 24 frames, so the encoder's references land on them), encoded
 * at CRF 12. Frames are sampled in JS (bilinear, sub-pixel, so slow eased moves do not stutter on
 * whole-pixel steps) from the images sharp decoded and fitted, and piped as raw RGB24 into
 * ffmpeg's stdin; no frame touches the disk. Attempts differ by easing (1 ease-in-out, 2 linear,
 * 3 ease-out, 4 ease-in, then round again) and by when the dissolve happens; the seed moves the
 * dissolve a little and shapes the handheld drift. Same request, same bytes: libx264 with a fixed
 * thread count (x264 is deterministic for a given thread count), bitexact muxing, no metadata.
 */
export const ANIMATIC_NOTE = 'offline animatic (start frame → end frame along the planned camera move, encoded locally), not model output';
export const ANIMATIC_MODEL = 'animatic';

export type Easing = 'ease-in-out' | 'linear' | 'ease-out' | 'ease-in';
const EASINGS: readonly Easing[] = ['ease-in-out', 'linear', 'ease-out', 'ease-in'];

export function easingFor(attempt: number): Easing {
  return EASINGS[(Math.max(1, Math.floor(attempt)) - 1) % EASINGS.length]!;
}

export function ease(e: Easing, t: number): number {
  const x = Math.min(1, Math.max(0, t));
  switch (e) {
    case 'linear':
      return x;
    case 'ease-out':
      return 1 - (1 - x) * (1 - x);
    case 'ease-in':
      return x * x;
    case 'ease-in-out':
      return 0.5 - 0.5 * Math.cos(Math.PI * x);
  }
}

/** A small deterministic PRNG (mulberry32) over a hash of the seed and a label. */
function rng(seed: number, label: string): () => number {
  let h = 2166136261 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** When the cross-dissolve runs, in clip time (0..1): attempt 1 mid-clip, 2 the whole clip, 3 late, then seeded. */
export function dissolveFor(seed: number, attempt: number): { from: number; to: number } {
  const r = rng(seed, `dissolve:${attempt}`);
  const base: Record<number, [number, number]> = { 1: [0.3, 0.8], 2: [0, 1], 3: [0.55, 0.95] };
  let [from, to] = base[attempt] ?? ((): [number, number] => {
    const len = 0.3 + 0.4 * r();
    const start = (1 - len) * r();
    return [start, start + len];
  })();
  if (attempt in base && to - from < 1) {
    const shift = (r() - 0.5) * 0.1;
    from = Math.min(Math.max(0, from + shift), 1);
    to = Math.min(Math.max(0, to + shift), 1);
  }
  return { from: round3(from), to: round3(to) };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A camera window in start-image pixels (same aspect as the frame). */
export interface Win {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** How far each speed moves: a fraction of the frame for slides, a magnification for zoom and dolly. */
const SLIDE = { slow: 0.12, medium: 0.22, fast: 0.35 } as const;
const SCALE = { slow: 1.15, medium: 1.3, fast: 1.5 } as const;
const HANDHELD_MARGIN = 0.06;

export type MoveMode = 'static' | 'slide' | 'panorama' | 'scale' | 'drift';

export interface CameraPath {
  mode: MoveMode;
  /** The window at eased progress p (0..1); the full frame at 0. */
  at(p: number): Win;
}

/** The camera path of a move over a W x H start frame (exported for tests and the bench). */
export function cameraPath(move: Pick<Movement, 'type' | 'direction' | 'speed'> | null, o: { width: number; height: number; hasEnd: boolean; seed: number; durationS: number }): CameraPath {
  const W = o.width;
  const H = o.height;
  const full: Win = { x: 0, y: 0, w: W, h: H };
  const type = move?.type ?? 'static';
  const speed = (move?.speed ?? 'medium') as keyof typeof SLIDE;
  const dir = move?.direction ?? 'none';
  switch (type) {
    case 'pan':
    case 'truck':
    case 'orbit': {
      const sign = dir === 'left' ? -1 : 1;
      const a = (SLIDE[speed] ?? SLIDE.medium) * (type === 'orbit' ? 0.6 : 1);
      if (o.hasEnd) return { mode: 'panorama', at: (p) => ({ x: sign * a * W * p, y: 0, w: W, h: H }) };
      return {
        mode: 'slide',
        at: (p) => {
          const s = 1 / (1 + a * p);
          const w = W * s;
          const h = H * s;
          return { x: sign > 0 ? W - w : 0, y: (H - h) / 2, w, h };
        },
      };
    }
    case 'tilt':
    case 'pedestal':
    case 'crane': {
      const sign = dir === 'up' ? -1 : 1;
      const a = SLIDE[speed] ?? SLIDE.medium;
      if (o.hasEnd) return { mode: 'panorama', at: (p) => ({ x: 0, y: sign * a * H * p, w: W, h: H }) };
      return {
        mode: 'slide',
        at: (p) => {
          const s = 1 / (1 + a * p);
          const w = W * s;
          const h = H * s;
          return { x: (W - w) / 2, y: sign > 0 ? H - h : 0, w, h };
        },
      };
    }
    case 'zoom':
    case 'dolly': {
      const z = SCALE[speed] ?? SCALE.medium;
      const out = dir === 'out';
      return {
        mode: 'scale',
        at: (p) => {
          const f = out ? Math.pow(z, p) : Math.pow(z, -p);
          const w = W * f;
          const h = H * f;
          return { x: (W - w) / 2, y: (H - h) / 2, w, h };
        },
      };
    }
    case 'handheld': {
      const r = rng(o.seed, 'handheld');
      const cycles = Math.max(1, o.durationS * 0.6);
      const ph = [r(), r(), r(), r()].map((v) => v * Math.PI * 2);
      const follow = dir === 'follow';
      const noise = (p: number, i: number) =>
        0.65 * Math.sin(2 * Math.PI * cycles * p + ph[i]!) + 0.35 * Math.sin(2 * Math.PI * cycles * 2.3 * p + ph[i + 1]!);
      return {
        mode: 'drift',
        at: (p) => {
          const env = Math.sin(Math.PI * p);
          if (env <= 1e-9) return full;
          const s = 1 / (1 + HANDHELD_MARGIN * env);
          const w = W * s;
          const h = H * s;
          const sx = (W - w) / 2;
          const sy = (H - h) / 2;
          const nx = follow ? Math.max(-1, Math.min(1, 0.6 * Math.sin(Math.PI * p) + 0.4 * noise(p, 0))) : noise(p, 0);
          return { x: sx * (1 + nx), y: sy * (1 + 0.7 * noise(p, 2)), w, h };
        },
      };
    }
    default:
      return { mode: 'static', at: () => full };
  }
}

/** The start frame's size rounded down to even, at most maxWidth wide (aspect kept). */
export function outputSize(width: number, height: number, maxWidth = 1280): { width: number; height: number } {
  let w = width;
  let h = height;
  if (w > maxWidth) {
    h = (h * maxWidth) / w;
    w = maxWidth;
  }
  const even = (v: number) => Math.max(2, Math.floor(v / 2) * 2);
  return { width: even(w), height: even(h) };
}

const isIdentity = (win: Win, W: number, H: number) =>
  Math.abs(win.x) < 1e-9 && Math.abs(win.y) < 1e-9 && Math.abs(win.w - W) < 1e-9 && Math.abs(win.h - H) < 1e-9;

/**
 * Bilinear resampling of a W x H RGB image through a window, into `out` (W x H RGB) and its
 * coverage (0..255: how much of each output pixel lies on the image; 1 px ramp at the edges).
 * Returns true when every pixel is covered (no coverage written).
 */
class Sampler {
  private readonly c0: Int32Array;
  private readonly c1: Int32Array;
  private readonly cf: Int32Array;
  /** Per-column and per-row coverage of the last sample (0..255); a pixel's is their product / 255. */
  readonly cc: Int32Array;
  private readonly r0: Int32Array;
  private readonly r1: Int32Array;
  private readonly rf: Int32Array;
  readonly rc: Int32Array;
  /** The columns [spanX0, spanX1) fully covered in the last sample. */
  spanX0 = 0;
  spanX1 = 0;
  private readonly h0: Int32Array;
  private readonly h1: Int32Array;
  constructor(
    readonly W: number,
    readonly H: number,
  ) {
    this.h0 = new Int32Array(W * 3);
    this.h1 = new Int32Array(W * 3);
    this.c0 = new Int32Array(W);
    this.c1 = new Int32Array(W);
    this.cf = new Int32Array(W);
    this.cc = new Int32Array(W);
    this.r0 = new Int32Array(H);
    this.r1 = new Int32Array(H);
    this.rf = new Int32Array(H);
    this.rc = new Int32Array(H);
  }

  private axis(n: number, origin: number, scale: number, i0: Int32Array, i1: Int32Array, f: Int32Array, c: Int32Array, stride: number): boolean {
    let full = true;
    for (let i = 0; i < n; i++) {
      const a = origin + (i + 0.5) * scale - 0.5;
      let a0 = Math.floor(a);
      let fr = Math.round((a - a0) * 256);
      if (fr === 256) {
        a0++;
        fr = 0;
      }
      const cov = Math.max(0, Math.min(1, a + 1.5, n + 0.5 - a));
      c[i] = Math.round(cov * 255);
      if (c[i] !== 255) full = false;
      i0[i] = Math.min(n - 1, Math.max(0, a0)) * stride;
      i1[i] = Math.min(n - 1, Math.max(0, a0 + 1)) * stride;
      f[i] = fr;
    }
    return full;
  }

  /**
   * Separable: each source row a frame needs is resampled horizontally once (fixed point, x256),
   * then each output row is a vertical blend of two of those rows (x256 again, >> 16).
   */
  sample(src: Uint8Array, win: Win, out: Uint8Array, cov: Uint8Array): boolean {
    const { W, H } = this;
    if (isIdentity(win, W, H)) {
      out.set(src);
      return true;
    }
    const fullX = this.axis(W, win.x, win.w / W, this.c0, this.c1, this.cf, this.cc, 3);
    const fullY = this.axis(H, win.y, win.h / H, this.r0, this.r1, this.rf, this.rc, W * 3);
    const full = fullX && fullY;
    const { c0, c1, cf, cc, r0, r1, rf, rc } = this;
    let x0 = 0;
    while (x0 < W && cc[x0] !== 255) x0++;
    let x1 = x0;
    while (x1 < W && cc[x1] === 255) x1++;
    this.spanX0 = x0;
    this.spanX1 = x1;
    const W3 = W * 3;
    let rowA = this.h0;
    let rowB = this.h1;
    let keyA = -1;
    let keyB = -1;
    for (let y = 0; y < H; y++) {
      if (rc[y] === 0) {
        cov.fill(0, y * W, (y + 1) * W);
        continue;
      }
      const ka = r0[y]!;
      const kb = r1[y]!;
      const fy = rf[y]!;
      // the two horizontally resampled source rows, reusing the previous row's
      if (ka !== keyA) {
        if (ka === keyB) {
          [rowA, rowB] = [rowB, rowA];
          [keyA, keyB] = [keyB, keyA];
        } else {
          hpass(src, ka, W, c0, c1, cf, rowA);
          keyA = ka;
        }
      }
      if (fy !== 0 && kb !== keyB) {
        if (kb === keyA) {
          rowB.set(rowA);
        } else hpass(src, kb, W, c0, c1, cf, rowB);
        keyB = kb;
      }
      const o = y * W3;
      if (fy === 0) {
        for (let i = 0; i < W3; i++) out[o + i] = (rowA[i]! + 128) >> 8;
      } else {
        const gy = 256 - fy;
        for (let i = 0; i < W3; i++) out[o + i] = (rowA[i]! * gy + rowB[i]! * fy + 32768) >> 16;
      }
      if (!full) {
        const cy = rc[y]!;
        const po = y * W;
        for (let x = 0; x < W; x++) cov[po + x] = ((cc[x]! * cy + 127) / 255) | 0;
      }
    }
    return full;
  }
}

/** One source row (byte offset `row`) resampled to W pixels: 256 x the value. */
function hpass(src: Uint8Array, row: number, W: number, c0: Int32Array, c1: Int32Array, cf: Int32Array, dst: Int32Array): void {
  for (let x = 0, o = 0; x < W; x++, o += 3) {
    const p0 = row + c0[x]!;
    const p1 = row + c1[x]!;
    const fx = cf[x]!;
    const gx = 256 - fx;
    dst[o] = src[p0]! * gx + src[p1]! * fx;
    dst[o + 1] = src[p0 + 1]! * gx + src[p1 + 1]! * fx;
    dst[o + 2] = src[p0 + 2]! * gx + src[p1 + 2]! * fx;
  }
}

/** The per-frame compositor: start layer, end layer, fill, dissolve. */
export class FrameRenderer {
  private readonly sa: Sampler;
  private readonly sb: Sampler;
  private readonly la: Uint8Array;
  private readonly lb: Uint8Array;
  private readonly ca: Uint8Array;
  private readonly cb: Uint8Array;
  constructor(
    readonly W: number,
    readonly H: number,
    /** The start frame, W x H RGB. */
    readonly start: Buffer,
    /** The end frame, W x H RGB, or null: the start image along the path. */
    readonly end: Buffer | null,
    /** Where neither layer covers (a zoom out without an end frame). */
    readonly fill: Buffer,
    readonly path: CameraPath,
  ) {
    this.sa = new Sampler(W, H);
    this.sb = new Sampler(W, H);
    this.la = new Uint8Array(W * H * 3);
    this.lb = new Uint8Array(W * H * 3);
    this.ca = new Uint8Array(W * H);
    this.cb = new Uint8Array(W * H);
  }

  /** The frame at eased progress p with end-layer weight w (0..1). A fresh buffer (it is queued to the encoder). */
  render(p: number, w: number): Buffer {
    const { W, H } = this;
    const out = Buffer.allocUnsafe(W * H * 3);
    const win = this.path.at(p);
    const fill = this.fill;
    if (!this.end) {
      if (isCovering(win, W, H) && this.sa.sample(this.start, win, out, this.ca)) return out;
      if (!this.sa.sample(this.start, win, this.la, this.ca)) composite(out, this.la, this.ca, fill);
      else out.set(this.la);
      return out;
    }
    const last = this.path.at(1);
    const k = W / last.w;
    const winB: Win = p >= 1 ? { x: 0, y: 0, w: W, h: H } : { x: (win.x - last.x) * k, y: (win.y - last.y) * k, w: win.w * k, h: win.h * k };
    const wq = Math.round(Math.min(1, Math.max(0, w)) * 256);
    const needA = wq < 256 || !isCovering(winB, W, H);
    const needB = wq > 0 || !isCovering(win, W, H);
    if (!needB && this.sa.sample(this.start, win, out, this.ca)) return out;
    if (!needA && this.sb.sample(this.end, winB, out, this.cb)) return out;
    const fullA = needA ? this.sa.sample(this.start, win, this.la, this.ca) : false;
    const fullB = needB ? this.sb.sample(this.end, winB, this.lb, this.cb) : false;
    const { la, lb, ca, cb } = this;
    if (fullA && fullB) {
      const v = 256 - wq;
      for (let i = 0; i < out.length; i++) out[i] = (la[i]! * v + lb[i]! * wq + 128) >> 8;
      return out;
    }
    // Some pixels lie off a layer: start over end over fill, end over start over fill, then the
    // dissolve between the two. Per row, the columns on both layers take a tight integer loop,
    // the rest the per-pixel composite.
    const wf = wq / 256;
    const v = 256 - wq;
    const { sa, sb } = this;
    for (let y = 0; y < H; y++) {
      const rowA = needA && (fullA || sa.rc[y] === 255);
      const rowB = needB && (fullB || sb.rc[y] === 255);
      let lo = 0;
      let hi = 0;
      if (rowA && rowB) {
        lo = Math.max(fullA ? 0 : sa.spanX0, fullB ? 0 : sb.spanX0);
        hi = Math.min(fullA ? W : sa.spanX1, fullB ? W : sb.spanX1);
        if (hi < lo) hi = lo;
        for (let i = (y * W + lo) * 3, e = (y * W + hi) * 3; i < e; i++) out[i] = (la[i]! * v + lb[i]! * wq + 128) >> 8;
      }
      for (let x = 0; x < W; x++) {
        if (x === lo && hi > lo) {
          x = hi - 1;
          continue;
        }
        const px = y * W + x;
        const i = px * 3;
        const ai = !needA ? 0 : fullA ? 255 : ca[px]!;
        const bi = !needB ? 0 : fullB ? 255 : cb[px]!;
        if (ai === 255 && bi === 255) {
          out[i] = (la[i]! * v + lb[i]! * wq + 128) >> 8;
          out[i + 1] = (la[i + 1]! * v + lb[i + 1]! * wq + 128) >> 8;
          out[i + 2] = (la[i + 2]! * v + lb[i + 2]! * wq + 128) >> 8;
        } else if (ai === 255 && bi === 0) {
          out[i] = la[i]!;
          out[i + 1] = la[i + 1]!;
          out[i + 2] = la[i + 2]!;
        } else if (ai === 0 && bi === 255) {
          out[i] = lb[i]!;
          out[i + 1] = lb[i + 1]!;
          out[i + 2] = lb[i + 2]!;
        } else {
          const a = ai / 255;
          const b = bi / 255;
          for (let c = 0; c < 3; c++) {
            const A = la[i + c]!;
            const B = lb[i + c]!;
            const F = fill[i + c]!;
            const c1 = A * a + (B * b + F * (1 - b)) * (1 - a);
            const c2 = B * b + (A * a + F * (1 - a)) * (1 - b);
            out[i + c] = Math.round(c1 + (c2 - c1) * wf);
          }
        }
      }
    }
    return out;
  }
}

/** Whether a window lies inside the image (every output pixel on it). */
function isCovering(win: Win, W: number, H: number): boolean {
  const e = 1e-6;
  return win.x >= -e && win.y >= -e && win.x + win.w <= W + e && win.y + win.h <= H + e;
}

function composite(out: Buffer, layer: Uint8Array, cov: Uint8Array, fill: Buffer): void {
  for (let px = 0, i = 0; px < cov.length; px++, i += 3) {
    const a = cov[px]!;
    if (a === 255) {
      out[i] = layer[i]!;
      out[i + 1] = layer[i + 1]!;
      out[i + 2] = layer[i + 2]!;
    } else if (a === 0) {
      out[i] = fill[i]!;
      out[i + 1] = fill[i + 1]!;
      out[i + 2] = fill[i + 2]!;
    } else {
      out[i] = (layer[i]! * a + fill[i]! * (255 - a) + 127) / 255;
      out[i + 1] = (layer[i + 1]! * a + fill[i + 1]! * (255 - a) + 127) / 255;
      out[i + 2] = (layer[i + 2]! * a + fill[i + 2]! * (255 - a) + 127) / 255;
    }
  }
}

const xmlEscape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

/** Word-wraps to at most `maxLines` lines of about `perLine` characters (an ellipsis when cut). */
function wrap(text: string, perLine: number, maxLines: number): string[] {
  const words = text.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    const word = w.length > perLine ? w.slice(0, perLine - 1) + '…' : w;
    if (!cur) cur = word;
    else if (cur.length + 1 + word.length <= perLine) cur += ' ' + word;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur) lines.push(cur);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = kept[maxLines - 1]!.replace(/\s*\S*$/, '') + ' …';
    return kept;
  }
  return lines.length ? lines : ['(no prompt)'];
}

/** The title card of a text-to-video clip: the prompt on a seeded gradient (SVG). */
export function titleCardSvg(prompt: string, width: number, height: number, seed: number): string {
  const hue = (seed >>> 0) % 360;
  const hsl = (h: number, sat: number, l: number) => {
    const a = sat * Math.min(l, 1 - l);
    const f = (n: number) => {
      const k = (n + h / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))))
        .toString(16)
        .padStart(2, '0');
    };
    return `#${f(0)}${f(8)}${f(4)}`;
  };
  const font = Math.max(12, Math.round(Math.min(width, height) / 14));
  const perLine = Math.max(12, Math.floor((width * 0.8) / (font * 0.55)));
  const lines = wrap(prompt, perLine, 6);
  const lineH = Math.round(font * 1.3);
  const top = Math.round(height / 2 - (lines.length * lineH) / 2 + font * 0.8);
  const small = Math.max(10, Math.round(font * 0.45));
  const tspans = lines.map((l, i) => `<tspan x="${width / 2}" y="${top + i * lineH}">${xmlEscape(l)}</tspan>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${hsl(hue, 0.35, 0.16)}"/><stop offset="1" stop-color="${hsl((hue + 40) % 360, 0.4, 0.3)}"/></linearGradient></defs>
<rect width="${width}" height="${height}" fill="url(#g)"/>
<rect x="${Math.round(width * 0.04)}" y="${Math.round(height * 0.06)}" width="${Math.round(width * 0.92)}" height="${Math.round(height * 0.88)}" fill="none" stroke="rgba(255,255,255,0.35)" stroke-width="2"/>
<text font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${font}" fill="#f4f1ea" text-anchor="middle">${tspans}</text>
<text x="${width / 2}" y="${Math.round(height * 0.06 + small * 2)}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="${small}" fill="rgba(255,255,255,0.6)" text-anchor="middle" letter-spacing="2">ANIMATIC · TEXT TO VIDEO</text>
</svg>`;
}

export interface AnimaticOptions {
  /** Frames per second (default 24). */
  fps?: number;
  /** libx264 CRF (default 12: the first and last frames must survive the codec). */
  crf?: number;
  /** libx264 preset (default veryfast). */
  preset?: string;
  /** Widest output (default 1280). */
  maxWidth?: number;
  /** libx264 threads, fixed so the bytes do not depend on the machine's cores (default 2). */
  threads?: number;
  /** The encoder (default: requireFfmpeg()). */
  ffmpeg?: () => Promise<FfmpegInfo>;
}

const abortReason = (signal: AbortSignal) => signal.reason ?? new LoopError('INTERRUPTED', 'aborted');

export class AnimaticBackend implements VideoBackend {
  readonly name = 'animatic' as const;
  readonly note = ANIMATIC_NOTE;
  private readonly fps: number;
  private readonly crf: number;
  private readonly preset: string;
  private readonly maxWidth: number;
  private readonly threads: number;
  private readonly ffmpeg: () => Promise<FfmpegInfo>;

  constructor(o: AnimaticOptions = {}) {
    this.fps = o.fps ?? 24;
    this.crf = o.crf ?? 12;
    this.preset = o.preset ?? 'veryfast';
    this.maxWidth = o.maxWidth ?? 1280;
    this.threads = o.threads ?? 2;
    this.ffmpeg = o.ffmpeg ?? requireFfmpeg;
    if (!(this.fps > 0 && this.fps <= 120)) throw new LoopError('USAGE', `animatic fps must be in (0, 120], got ${this.fps}`);
  }

  estimateCost(): number {
    return 0;
  }

  async generate(req: VideoRequest): Promise<VideoResult> {
    const signal = req.signal;
    if (signal?.aborted) throw abortReason(signal);
    if (!(req.durationS > 0 && req.durationS <= 600)) throw new LoopError('USAGE', `video duration must be in (0, 600] s, got ${req.durationS}`);
    const ff = await this.ffmpeg();
    const sharp = (await import('sharp')).default;
    if (signal?.aborted) throw abortReason(signal);

    // Frames: the start image (or the title card), the end image fitted to it, the fill.
    let W: number;
    let H: number;
    let start: Buffer;
    if (req.startImage) {
      const img = sharp(req.startImage.bytes, { failOn: 'error' }).rotate();
      const meta = await img.metadata().catch((e: unknown) => {
        throw new LoopError('INPUT', `start frame ${req.startImage!.path} is not an image: ${(e as Error).message}`);
      });
      const swap = (meta.orientation ?? 1) >= 5;
      ({ width: W, height: H } = outputSize(swap ? meta.height! : meta.width!, swap ? meta.width! : meta.height!, this.maxWidth));
      start = await rgb(sharp(req.startImage.bytes).rotate(), W, H);
    } else {
      const s = sizeFor(req.aspectRatio);
      ({ width: W, height: H } = outputSize(s.width, s.height, this.maxWidth));
      start = await rgb(sharp(Buffer.from(titleCardSvg(req.prompt, W, H, req.seed))), W, H);
    }
    let end: Buffer | null = null;
    if (req.endImage) {
      end = await rgb(sharp(req.endImage.bytes, { failOn: 'error' }).rotate(), W, H).catch((e: unknown) => {
        throw new LoopError('INPUT', `end frame ${req.endImage!.path} is not an image: ${(e as Error).message}`);
      });
    }
    const fill = await sharp(start, { raw: { width: W, height: H, channels: 3 } })
      .blur(Math.max(2, Math.round(Math.min(W, H) / 24)))
      .modulate({ brightness: 0.6 })
      .removeAlpha()
      .raw()
      .toBuffer();
    if (signal?.aborted) throw abortReason(signal);

    // Timing: N frames; the first and last `hold`+1 are the exact endpoints.
    const fps = this.fps;
    const frames = Math.max(2, Math.round(req.durationS * fps));
    const hold = frames >= 24 ? 2 : frames >= 8 ? 1 : 0;
    const span = frames - 1 - 2 * hold;
    const attempt = Math.max(1, Math.floor(req.attempt || 1));
    const easing = easingFor(attempt);
    const dissolve = end ? dissolveFor(req.seed, attempt) : null;
    const path = cameraPath(req.camera, { width: W, height: H, hasEnd: !!end, seed: req.seed ^ Math.imul(attempt, 0x9e3779b1), durationS: req.durationS });
    const renderer = new FrameRenderer(W, H, start, end, fill, path);
    const weight = (t: number) => {
      if (!dissolve) return 0;
      if (t <= dissolve.from) return t >= 1 ? 1 : 0;
      if (t >= dissolve.to) return 1;
      const u = (t - dissolve.from) / (dissolve.to - dissolve.from);
      return u * u * (3 - 2 * u);
    };
    let moved: Buffer | null = null;
    const frameAt = (i: number): Buffer => {
      const t = Math.min(1, Math.max(0, (i - hold) / span));
      if (t <= 0) return start;
      if (t >= 1) return end ?? (moved ??= renderer.render(1, 1));
      return renderer.render(ease(easing, t), weight(t));
    };

    // Encode: raw RGB24 on stdin → libx264 yuv420p MP4 in a private temp dir (faststart rewrites the file).
    const dir = await mkdtemp(join(tmpdir(), 'loop-animatic-'));
    const outPath = join(dir, 'clip.mp4');
    const t0 = performance.now();
    const args = [
      '-hide_banner', '-nostats', '-loglevel', 'error',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', String(fps), '-i', 'pipe:0',
      '-an', '-sws_flags', 'bicubic+accurate_rnd+full_chroma_int+bitexact',
      '-c:v', 'libx264', '-preset', this.preset, '-crf', String(this.crf), '-pix_fmt', 'yuv420p', '-threads', String(this.threads),
      '-colorspace', 'smpte170m',
      '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-movflags', '+faststart',
      '-y', outPath,
    ];
    const child = spawn(ff.path, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 64 << 10) stderr += d;
    });
    const closed = new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, error }));
      child.on('close', (code) => resolve({ code }));
    });
    let exited = false;
    void closed.then(() => (exited = true));
    child.stdin.on('error', () => {}); // EPIPE when ffmpeg dies: reported from its exit below
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (let i = 0; i < frames; i++) {
        if (signal?.aborted) throw abortReason(signal);
        if (exited) break;
        const buf = frameAt(i);
        if (!child.stdin.write(buf)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              child.stdin.off('drain', done);
              signal?.removeEventListener('abort', done);
              resolve();
            };
            child.stdin.once('drain', done);
            signal?.addEventListener('abort', done, { once: true });
            void closed.then(done);
          });
        }
      }
      if (signal?.aborted) throw abortReason(signal);
      child.stdin.end();
      const r = await closed;
      if (signal?.aborted) throw abortReason(signal);
      if (r.error) throw new LoopError('CONFIG', `cannot run ffmpeg (${ff.path}): ${r.error.message}`);
      if (r.code !== 0) throw new Error(`ffmpeg failed encoding the animatic (exit ${r.code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const bytes = await readFile(outPath);
      const encode_ms = Math.round(performance.now() - t0);
      const moveName = req.camera ? `${req.camera.speed} ${req.camera.type} ${req.camera.direction}` : 'static (no move planned)';
      const notes: string[] = [];
      if (!req.startImage) notes.push('no start frame: the clip opens on a title card of the prompt');
      if (!req.endImage) notes.push('no end frame: the last frame is the first moved along the camera path');
      return {
        bytes,
        model: req.model || ANIMATIC_MODEL,
        duration_s: frames / fps,
        fps,
        width: W,
        height: H,
        cost_usd: 0,
        frames_used: {
          start: !!req.startImage,
          end: !!req.endImage,
          fields: { ...(req.startImage ? { start: 'first frame' } : {}), ...(req.endImage ? { end: 'last frame' } : {}) },
          note: notes.length ? notes.join('; ') : 'the first frame is the start image and the last the end image (held, CRF 12)',
        },
        provider: {
          kind: 'animatic',
          encoder: { source: ff.source, path: ff.path, version: ff.version },
          move: { type: req.camera?.type ?? 'static', direction: req.camera?.direction ?? 'none', speed: req.camera?.speed ?? null, words: moveName, mode: path.mode },
          easing,
          dissolve,
          frames,
          hold_frames: hold + 1,
          x264: { preset: this.preset, crf: this.crf, threads: this.threads },
          encode_ms,
        },
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await closed;
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Decoded, oriented, flattened, fitted (cover) to W x H, raw RGB24. */
async function rgb(img: import('sharp').Sharp, W: number, H: number): Promise<Buffer> {
  const { data, info } = await img
    .flatten({ background: '#000000' })
    .resize(W, H, { fit: 'cover', position: 'centre' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== W || info.height !== H || info.channels !== 3) throw new Error(`frame fit gave ${info.width}x${info.height}x${info.channels}, wanted ${W}x${H}x3`);
  return data;
}
