/**
 * Classical optical flow (pyramidal block matching with sub-pixel refinement), a substitute for
 * RAFT, and a flow-based frame interpolation (bilateral block matching), a substitute for AMT.
 * Both work on small frames (about 128 px wide): the video dimensions that use them only need
 * motion relative to the frame size, and in TypeScript a frame pair costs a few milliseconds.
 *
 * Planes are row-major, one value per pixel (grey) or three interleaved (RGB).
 */

export const FLOW_METHOD = 'classical optical flow (pyramidal block matching with sub-pixel refinement), a substitute for RAFT';
export const INTERPOLATION_METHOD = 'flow-based interpolation (bilateral block matching from the two even neighbours), a substitute for AMT';

export interface Plane {
  w: number;
  h: number;
  data: Float32Array;
}

/** A dense flow field: pixel (x, y) of `a` moves to (x + u, y + v) in `b`. */
export interface FlowField {
  w: number;
  h: number;
  u: Float32Array;
  v: Float32Array;
}

/** Luma (BT.709 weights) of an interleaved RGB buffer. */
export function toGrey(rgb: ArrayLike<number>, w: number, h: number): Float32Array {
  const n = w * h;
  const out = new Float32Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = 0.2126 * rgb[j]! + 0.7152 * rgb[j + 1]! + 0.0722 * rgb[j + 2]!;
  return out;
}

/** Source taps of an area (box) resampling along one axis: for each output cell, [index, weight]... */
function areaTaps(src: number, dst: number): { idx: Int32Array; wt: Float32Array; start: Int32Array } {
  const scale = src / dst;
  const idx: number[] = [];
  const wt: number[] = [];
  const start = new Int32Array(dst + 1);
  for (let o = 0; o < dst; o++) {
    start[o] = idx.length;
    const a = o * scale;
    const b = (o + 1) * scale;
    for (let s = Math.floor(a); s < Math.min(src, Math.ceil(b)); s++) {
      const cover = Math.min(b, s + 1) - Math.max(a, s);
      if (cover > 1e-9) (idx.push(s), wt.push(cover / scale));
    }
  }
  start[dst] = idx.length;
  return { idx: Int32Array.from(idx), wt: Float32Array.from(wt), start };
}

const tapCache = new Map<string, ReturnType<typeof areaTaps>>();
function taps(src: number, dst: number) {
  const k = `${src}>${dst}`;
  let t = tapCache.get(k);
  if (!t) {
    if (tapCache.size > 64) tapCache.clear();
    tapCache.set(k, (t = areaTaps(src, dst)));
  }
  return t;
}

/**
 * Area-average resampling (each output pixel is the mean of the source area it covers), for
 * `channels` interleaved values per pixel. Rounded to 8 bits when `out` is a Uint8Array.
 * Separable: a horizontal pass over every source row, then a vertical one.
 */
export function resizeArea<T extends Uint8Array | Float32Array>(src: Uint8Array | Float32Array, sw: number, sh: number, channels: number, dw: number, dh: number, out: T): T {
  if (sw % dw === 0 && sh % dh === 0) return boxDown(src, sw, channels, sw / dw, sh / dh, dw, dh, out);
  const tx = taps(sw, dw);
  const ty = taps(sh, dh);
  const rowLen = dw * channels;
  const horiz = new Float32Array(sh * rowLen);
  const txs = tx.start, txi = tx.idx, txw = tx.wt;
  for (let sy = 0; sy < sh; sy++) {
    const base = sy * sw * channels;
    const ob = sy * rowLen;
    for (let ox = 0; ox < dw; ox++) {
      const o = ob + ox * channels;
      for (let j = txs[ox]!; j < txs[ox + 1]!; j++) {
        const s0 = base + txi[j]! * channels;
        const wx = txw[j]!;
        for (let c = 0; c < channels; c++) horiz[o + c]! += wx * src[s0 + c]!;
      }
    }
  }
  const round = out instanceof Uint8Array;
  const acc = new Float32Array(rowLen);
  for (let oy = 0; oy < dh; oy++) {
    acc.fill(0);
    for (let k = ty.start[oy]!; k < ty.start[oy + 1]!; k++) {
      const r0 = ty.idx[k]! * rowLen;
      const wy = ty.wt[k]!;
      for (let i = 0; i < rowLen; i++) acc[i]! += wy * horiz[r0 + i]!;
    }
    const o = oy * rowLen;
    if (round) for (let i = 0; i < rowLen; i++) out[o + i] = Math.min(255, Math.max(0, Math.round(acc[i]!)));
    else out.set(acc, o);
  }
  return out;
}

/** resizeArea for whole factors: the mean of each kx × ky box. */
function boxDown<T extends Uint8Array | Float32Array>(src: Uint8Array | Float32Array, sw: number, channels: number, kx: number, ky: number, dw: number, dh: number, out: T): T {
  const rowLen = dw * channels;
  const acc = new Float64Array(rowLen);
  const inv = 1 / (kx * ky);
  const round = out instanceof Uint8Array;
  for (let oy = 0; oy < dh; oy++) {
    acc.fill(0);
    for (let j = 0; j < ky; j++) {
      let s0 = (oy * ky + j) * sw * channels;
      for (let ox = 0; ox < dw; ox++) {
        const o = ox * channels;
        for (let i = 0; i < kx; i++, s0 += channels) for (let c = 0; c < channels; c++) acc[o + c]! += src[s0 + c]!;
      }
    }
    const o = oy * rowLen;
    if (round) for (let i = 0; i < rowLen; i++) out[o + i] = Math.min(255, Math.round(acc[i]! * inv));
    else for (let i = 0; i < rowLen; i++) out[o + i] = acc[i]! * inv;
  }
  return out;
}

function halve(p: Plane): Plane {
  const w = p.w >> 1, h = p.h >> 1;
  const d = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = 2 * y * p.w + 2 * x;
      d[y * w + x] = (p.data[i]! + p.data[i + 1]! + p.data[i + p.w]! + p.data[i + p.w + 1]!) / 4;
    }
  return { w, h, data: d };
}

function pyramid(p: Plane, levels: number): Plane[] {
  const out = [p];
  while (out.length < levels) {
    const top = out[out.length - 1]!;
    if (top.w >> 1 < 32 || top.h >> 1 < 16) break;
    out.push(halve(top));
  }
  return out;
}

export interface BlockFlowOptions {
  /** Cell size: one vector per cell (default 4). */
  step?: number;
  /** The block matched around each cell extends this far beyond it (default 2: 8×8 blocks). */
  margin?: number;
  /** Pyramid levels (default 3; a coarser level is made only while it stays at least 64×32). */
  levels?: number;
  /** Full search radius at the coarsest level (default 3; the finer levels search ±refine around no motion and the coarse predictions). */
  radius?: number;
  /** Refinement radius at the intermediate levels (default 2; 1 at the finest, where sub-pixel refinement follows). */
  refine?: number;
  /** Cost per pixel of the block per pixel of motion (default 0.02): flat areas prefer no motion. */
  lambda?: number;
}

interface Cells {
  cw: number;
  ch: number;
  step: number;
  u: Float32Array;
  v: Float32Array;
}

/**
 * `b` padded by `pad` pixels of edge replication on every side, and its integral image, so a
 * block's sum at any displacement within the padding is four look-ups (zero-mean matching).
 */
interface Padded {
  pw: number;
  ph: number;
  pad: number;
  data: Float32Array;
  /** (pw + 1) × (ph + 1) summed-area table. */
  sat: Float64Array;
}

function padPlane(p: Plane, pad: number): Padded {
  const pw = p.w + 2 * pad, ph = p.h + 2 * pad;
  const data = new Float32Array(pw * ph);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(p.h - 1, Math.max(0, y - pad));
    for (let x = 0; x < pw; x++) data[y * pw + x] = p.data[sy * p.w + Math.min(p.w - 1, Math.max(0, x - pad))]!;
  }
  const sat = new Float64Array((pw + 1) * (ph + 1));
  for (let y = 0; y < ph; y++) {
    let row = 0;
    for (let x = 0; x < pw; x++) {
      row += data[y * pw + x]!;
      sat[(y + 1) * (pw + 1) + x + 1] = sat[y * (pw + 1) + x + 1]! + row;
    }
  }
  return { pw, ph, pad, data, sat };
}

function blockSum(b: Padded, x0: number, y0: number, x1: number, y1: number): number {
  const W = b.pw + 1;
  return b.sat[y1 * W + x1]! - b.sat[y0 * W + x1]! - b.sat[y1 * W + x0]! + b.sat[y0 * W + x0]!;
}

/**
 * Zero-mean SAD of the block [x0,x1)×[y0,y1) of `a` against `b` displaced by (dx, dy): each
 * block's own mean is removed, so a change of brightness alone is not taken for motion. Stops
 * early once above `limit`.
 */
function zsad(a: Plane, meanA: number, b: Padded, x0: number, y0: number, x1: number, y1: number, dx: number, dy: number, limit: number): number {
  const P = b.pad;
  const bx0 = x0 + dx + P, by0 = y0 + dy + P;
  const npx = (x1 - x0) * (y1 - y0);
  const off = meanA - blockSum(b, bx0, by0, bx0 + (x1 - x0), by0 + (y1 - y0)) / npx;
  const ad = a.data, bd = b.data, w = a.w, pw = b.pw;
  let s = 0;
  for (let y = y0; y < y1; y++) {
    const ar = y * w;
    const br = (y + dy + P) * pw + dx + P;
    for (let x = x0; x < x1; x++) {
      const diff = ad[ar + x]! - bd[br + x]! - off;
      s += diff < 0 ? -diff : diff;
    }
    if (s > limit) return s;
  }
  return s;
}

function bilinearCell(c: Cells, fx: number, fy: number): [number, number] {
  // cell centres are at (i + 0.5)·step
  const gx = Math.min(c.cw - 1, Math.max(0, fx / c.step - 0.5));
  const gy = Math.min(c.ch - 1, Math.max(0, fy / c.step - 0.5));
  const x0 = Math.floor(gx), y0 = Math.floor(gy);
  const x1 = Math.min(c.cw - 1, x0 + 1), y1 = Math.min(c.ch - 1, y0 + 1);
  const ax = gx - x0, ay = gy - y0;
  const at = (arr: Float32Array) =>
    (1 - ay) * ((1 - ax) * arr[y0 * c.cw + x0]! + ax * arr[y0 * c.cw + x1]!) + ay * ((1 - ax) * arr[y1 * c.cw + x0]! + ax * arr[y1 * c.cw + x1]!);
  return [at(c.u), at(c.v)];
}

function matchLevel(a: Plane, b: Plane, o: Required<BlockFlowOptions>, coarse: Cells | null, finest: boolean): Cells {
  const step = o.step;
  // coarser levels match larger blocks: fewer false matches on repetitive texture
  const margin = finest ? o.margin : o.margin + 4;
  const cw = Math.max(1, Math.ceil(a.w / step));
  const ch = Math.max(1, Math.ceil(a.h / step));
  const u = new Float32Array(cw * ch);
  const v = new Float32Array(cw * ch);
  // displacements stay within the padding: the full search, plus the coarse predictions (clamped)
  const maxD = coarse ? 2 * o.radius + 2 * o.refine + 4 : o.radius + 1;
  const pad = maxD + margin + 2;
  const B = padPlane(b, pad);
  const lim = maxD - 1;
  const clampD = (d: number) => Math.max(-lim, Math.min(lim, d));
  // per-cell caches over the displacement grid, reset by bumping a generation stamp
  const side = 2 * lim + 1;
  const seen = new Int32Array(side * side);
  const cached = new Int32Array(side * side);
  const cost = new Float64Array(side * side);
  let gen = 0;
  for (let cy = 0; cy < ch; cy++)
    for (let cx = 0; cx < cw; cx++) {
      const x0 = Math.max(0, cx * step - margin), x1 = Math.min(a.w, (cx + 1) * step + margin);
      const y0 = Math.max(0, cy * step - margin), y1 = Math.min(a.h, (cy + 1) * step + margin);
      const npx = (x1 - x0) * (y1 - y0);
      let sa = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sa += a.data[y * a.w + x]!;
      const meanA = sa / npx;
      const pen = o.lambda * npx;
      // candidates: a full search around no motion (wider at the coarsest level), and small
      // windows around the coarse prediction of this cell and of its four neighbours (motion boundaries)
      const r = finest ? 1 : o.refine;
      // this cell's own prediction first: a tight bound early makes the other candidates stop after a row or two
      const windows: [number, number, number][] = [];
      if (coarse) {
        const ccx = (cx + 0.5) * step, ccy = (cy + 0.5) * step;
        for (const [ox, oy] of [[0, 0], [-step, 0], [step, 0], [0, -step], [0, step]] as const) {
          const [pu, pv] = bilinearCell(coarse, (ccx + ox) / 2, (ccy + oy) / 2);
          const wx = clampD(Math.round(2 * pu)), wy = clampD(Math.round(2 * pv));
          if (!windows.some(([x, y]) => x === wx && y === wy)) windows.push([wx, wy, r]);
        }
        windows.splice(1, 0, [0, 0, r]);
      } else windows.push([0, 0, o.radius]);
      gen++;
      let best = Infinity, bu = 0, bv = 0;
      const evalAt = (dx: number, dy: number, limit: number) => {
        const k = (dy + lim) * side + dx + lim;
        if (cached[k] === gen) return cost[k]!;
        const c = zsad(a, meanA, B, x0, y0, x1, y1, dx, dy, limit);
        if (c <= limit) (cached[k] = gen), (cost[k] = c);
        return c;
      };
      for (const [px, py, r] of windows)
        for (let dy = Math.max(-lim, py - r); dy <= Math.min(lim, py + r); dy++)
          for (let dx = Math.max(-lim, px - r); dx <= Math.min(lim, px + r); dx++) {
            const k = (dy + lim) * side + dx + lim;
            if (seen[k] === gen) continue;
            seen[k] = gen;
            const p = pen * (Math.abs(dx) + Math.abs(dy));
            if (p >= best) continue;
            const c = evalAt(dx, dy, best - p) + p;
            if (c < best || (c === best && Math.abs(dx) + Math.abs(dy) < Math.abs(bu) + Math.abs(bv))) (best = c), (bu = dx), (bv = dy);
          }
      let fu = bu, fv = bv;
      if (finest && Math.abs(bu) < lim && Math.abs(bv) < lim) {
        // parabolic sub-pixel refinement on the matching cost (without the motion penalty)
        const c0 = evalAt(bu, bv, Infinity);
        const sub = (cm: number, cp: number) => {
          const den = cm - 2 * c0 + cp;
          return den > 1e-6 ? Math.max(-0.5, Math.min(0.5, (cm - cp) / (2 * den))) : 0;
        };
        fu += sub(evalAt(bu - 1, bv, Infinity), evalAt(bu + 1, bv, Infinity));
        fv += sub(evalAt(bu, bv - 1, Infinity), evalAt(bu, bv + 1, Infinity));
      }
      u[cy * cw + cx] = fu;
      v[cy * cw + cx] = fv;
    }
  return finest ? { cw, ch, step, u, v } : medianCells({ cw, ch, step, u, v });
}

/** 3×3 component-wise median of a coarse level's vectors (outliers do not propagate down). */
function medianCells(c: Cells): Cells {
  const u = new Float32Array(c.u.length), v = new Float32Array(c.v.length);
  const bu: number[] = [], bv: number[] = [];
  for (let y = 0; y < c.ch; y++)
    for (let x = 0; x < c.cw; x++) {
      bu.length = 0;
      bv.length = 0;
      for (let j = Math.max(0, y - 1); j <= Math.min(c.ch - 1, y + 1); j++)
        for (let i = Math.max(0, x - 1); i <= Math.min(c.cw - 1, x + 1); i++) (bu.push(c.u[j * c.cw + i]!), bv.push(c.v[j * c.cw + i]!));
      bu.sort((p, q) => p - q);
      bv.sort((p, q) => p - q);
      u[y * c.cw + x] = bu[bu.length >> 1]!;
      v[y * c.cw + x] = bv[bv.length >> 1]!;
    }
  return { ...c, u, v };
}

const defaults = (o: BlockFlowOptions): Required<BlockFlowOptions> => ({
  step: o.step ?? 4,
  margin: o.margin ?? 2,
  levels: o.levels ?? 3,
  radius: o.radius ?? 3,
  refine: o.refine ?? 2,
  lambda: o.lambda ?? 0.02,
});

/** One vector per cell (step × step), coarse to fine. */
function blockCells(a: Plane, b: Plane, opts: BlockFlowOptions = {}): Cells {
  if (a.w !== b.w || a.h !== b.h) throw new Error(`flow needs frames of one size, got ${a.w}x${a.h} and ${b.w}x${b.h}`);
  const o = defaults(opts);
  const pa = pyramid(a, o.levels);
  const pb = pyramid(b, pa.length);
  let cells: Cells | null = null;
  for (let l = pa.length - 1; l >= 0; l--) cells = matchLevel(pa[l]!, pb[l]!, o, cells, l === 0);
  return cells!;
}

/** Dense flow from `a` to `b` (the cells' vectors interpolated bilinearly between cell centres). */
export function blockFlow(a: Plane, b: Plane, opts: BlockFlowOptions = {}): FlowField {
  const c = blockCells(a, b, opts);
  const u = new Float32Array(a.w * a.h);
  const v = new Float32Array(a.w * a.h);
  for (let y = 0; y < a.h; y++)
    for (let x = 0; x < a.w; x++) {
      const [pu, pv] = bilinearCell(c, x + 0.5, y + 0.5);
      u[y * a.w + x] = pu;
      v[y * a.w + x] = pv;
    }
  return { w: a.w, h: a.h, u, v };
}

/**
 * VBench's per-pair motion score: the mean of the largest `fraction` (5%) of the per-pixel flow
 * magnitudes (`cut_index = int(h·w·0.05)`).
 */
export function topFractionMeanMagnitude(f: FlowField, fraction = 0.05): number {
  const n = f.w * f.h;
  const mags = new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.hypot(f.u[i]!, f.v[i]!);
  const cut = Math.floor(n * fraction);
  if (cut <= 0) return 0;
  mags.sort();
  let s = 0;
  for (let i = n - cut; i < n; i++) s += mags[i]!;
  return s / cut;
}

/**
 * Σ |a(x − d/2) − b(x + d/2)| over a block, bilinear sampling with edge clamping; the sub-pixel
 * weights are the same for every pixel of the block, so they are computed once.
 */
function bilateralCost(A: Plane, B: Plane, x0: number, y0: number, x1: number, y1: number, du: number, dv: number, limit: number): number {
  const { w, h } = A;
  const ax = -du / 2, ay = -dv / 2, bx = du / 2, by = dv / 2;
  const aix = Math.floor(ax), aiy = Math.floor(ay), afx = ax - aix, afy = ay - aiy;
  const bix = Math.floor(bx), biy = Math.floor(by), bfx = bx - bix, bfy = by - biy;
  const cx = (x: number) => (x < 0 ? 0 : x >= w ? w - 1 : x);
  const cy = (y: number) => (y < 0 ? 0 : y >= h ? h - 1 : y);
  const ad = A.data, bd = B.data;
  const a00 = (1 - afx) * (1 - afy), a10 = afx * (1 - afy), a01 = (1 - afx) * afy, a11 = afx * afy;
  const b00 = (1 - bfx) * (1 - bfy), b10 = bfx * (1 - bfy), b01 = (1 - bfx) * bfy, b11 = bfx * bfy;
  let s = 0;
  for (let y = y0; y < y1; y++) {
    const ra0 = cy(y + aiy) * w, ra1 = cy(y + aiy + 1) * w, rb0 = cy(y + biy) * w, rb1 = cy(y + biy + 1) * w;
    for (let x = x0; x < x1; x++) {
      const xa0 = cx(x + aix), xa1 = cx(x + aix + 1), xb0 = cx(x + bix), xb1 = cx(x + bix + 1);
      const va = a00 * ad[ra0 + xa0]! + a10 * ad[ra0 + xa1]! + a01 * ad[ra1 + xa0]! + a11 * ad[ra1 + xa1]!;
      const vb = b00 * bd[rb0 + xb0]! + b10 * bd[rb0 + xb1]! + b01 * bd[rb1 + xb0]! + b11 * bd[rb1 + xb1]!;
      const d = va - vb;
      s += d < 0 ? -d : d;
    }
    if (s > limit) return s;
  }
  return s;
}

function sampleBilinear(d: ArrayLike<number>, w: number, h: number, channels: number, c: number, x: number, y: number): number {
  x = x < 0 ? 0 : x > w - 1 ? w - 1 : x;
  y = y < 0 ? 0 : y > h - 1 ? h - 1 : y;
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
  const ax = x - x0, ay = y - y0;
  const at = (xx: number, yy: number) => d[(yy * w + xx) * channels + c]!;
  return (1 - ay) * ((1 - ax) * at(x0, y0) + ax * at(x1, y0)) + ay * ((1 - ax) * at(x0, y1) + ax * at(x1, y1));
}

/**
 * The frame halfway between `a` and `b` (interleaved RGB, w × h), rounded to 8 bits: the forward
 * flow a→b from the block matcher, refined per cell by bilateral matching (the motion d that best
 * matches a(x − d/2) with b(x + d/2) around the cell in the middle frame), then
 * mid(x) = (a(x − d/2) + b(x + d/2)) / 2 with bilinear sampling.
 */
export function interpolateMidpoint(a: Uint8Array, b: Uint8Array, w: number, h: number, ga?: Float32Array, gb?: Float32Array, opts: BlockFlowOptions = {}): Uint8Array {
  const A: Plane = { w, h, data: ga ?? toGrey(a, w, h) };
  const B: Plane = { w, h, data: gb ?? toGrey(b, w, h) };
  const o = defaults(opts);
  const cells = blockCells(A, B, opts);
  const step = cells.step;
  const ru = new Float32Array(cells.u.length);
  const rv = new Float32Array(cells.v.length);
  for (let cy = 0; cy < cells.ch; cy++)
    for (let cx = 0; cx < cells.cw; cx++) {
      const x0 = Math.max(0, cx * step - o.margin), x1 = Math.min(w, (cx + 1) * step + o.margin);
      const y0 = Math.max(0, cy * step - o.margin), y1 = Math.min(h, (cy + 1) * step + o.margin);
      const npx = (x1 - x0) * (y1 - y0);
      const k = cy * cells.cw + cx;
      const cu = cells.u[k]!, cv = cells.v[k]!;
      let best = Infinity, bu = cu, bv = cv;
      for (const [du, dv] of [[0, 0], [cu, cv], [cu - 1, cv], [cu + 1, cv], [cu, cv - 1], [cu, cv + 1]] as const) {
        const s = o.lambda * npx * (Math.abs(du) + Math.abs(dv));
        if (s >= best) continue;
        const c = s + bilateralCost(A, B, x0, y0, x1, y1, du, dv, best - s);
        if (c < best) (best = c), (bu = du), (bv = dv);
      }
      ru[k] = bu;
      rv[k] = bv;
    }
  const refined: Cells = { ...cells, u: ru, v: rv };
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const [du, dv] = bilinearCell(refined, x + 0.5, y + 0.5);
      for (let c = 0; c < 3; c++) {
        const m = (sampleBilinear(a, w, h, 3, c, x - du / 2, y - dv / 2) + sampleBilinear(b, w, h, 3, c, x + du / 2, y + dv / 2)) / 2;
        out[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(m)));
      }
    }
  return out;
}

/** Mean absolute difference over all pixels and channels of two equal-length 8-bit buffers. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  const n = a.length;
  if (n !== b.length) throw new Error(`meanAbsDiff: lengths differ (${n} vs ${b.length})`);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.abs(a[i]! - b[i]!);
  return n ? s / n : 0;
}
