import type { Box } from './layout.js';
import type { ShotSize } from './read-framing.js';
import type { Silhouette } from './read-subject.js';

/**
 * The subject's silhouette, by class: a figure (or a group), a quadruped or a bird, a cup, a
 * bottle or a box, a car, a boat or a two-wheeler, a skyline, a mountain ridge, a horizon or a
 * room, a plate or a bowl. Scaled by the shot size (a close-up crops a figure at the chest, a
 * wide shot shows it small and whole) and placed where the reading says.
 *
 * Object shapes are drawn in unit space (height 1, top at y = 0, centred on x = 0) and placed
 * with one transform; scenery (skyline, ridge, horizon, room) spans the frame.
 */
export interface Placed {
  /** SVG for the subject (shapes only; the caller sets fill and stroke on the group). */
  svg: string;
  /** The point of interest: the eyes, the cup's rim, the tallest roof. The key light aims here. */
  focus: { x: number; y: number };
  /** Where it meets the ground (for the cast shadow), and how wide it is there; null when out of frame. */
  contact: { x: number; y: number; w: number } | null;
  /** Approximate extent. */
  bounds: Box;
}

export interface PlaceSpec {
  silhouette: Silhouette;
  shot: ShotSize;
  /** Horizontal centre, in pixels. */
  cx: number;
  vertical: 'high' | 'middle' | 'low';
  foreground: boolean;
  horizonY: number;
  frame: Box;
  /** Face towards the frame's centre: +1 faces right, -1 left. */
  facing: 1 | -1;
  /** Seeded [0,1) stream for scenery detail (building heights, ridge line). */
  r: () => number;
  /** Stroke width in pixels for line-drawn parts (wheels, handles). */
  line: number;
  /** Outline stroke width in pixels (a rim light draws it wide). */
  outline: number;
}

/** Figure height (head to toe, 8 heads) over frame height. */
const FIGURE: Record<ShotSize, number> = {
  'extreme close-up': 6.5, 'close-up': 3.4, 'medium close-up': 2.4, medium: 1.7, 'medium wide': 1.15, wide: 0.55, 'extreme wide': 0.18,
};
/** Object height over frame height. */
const OBJECT: Record<ShotSize, number> = {
  'extreme close-up': 1.5, 'close-up': 0.8, 'medium close-up': 0.62, medium: 0.46, 'medium wide': 0.33, wide: 0.2, 'extreme wide': 0.09,
};
/** Tallest scenery over frame height. */
const SCENERY: Record<ShotSize, number> = {
  'extreme close-up': 1.0, 'close-up': 0.9, 'medium close-up': 0.8, medium: 0.66, 'medium wide': 0.56, wide: 0.44, 'extreme wide': 0.3,
};

const n = (v: number) => (Math.round(v * 1000) / 1000).toString();
const pts = (xs: Array<[number, number]>) => xs.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');

/** Unit shapes: [svg, focus x, focus y, width, ground contact y (1 = bottom)]. */
function unitShape(s: Silhouette, line: number): { svg: string; fx: number; fy: number; w: number } {
  const lw = n(line);
  switch (s) {
    case 'figure': {
      const h = 1 / 8;
      const body = `M ${n(-0.35 * h)} ${n(h)} L ${n(-1.1 * h)} ${n(1.25 * h)} L ${n(-1.0 * h)} ${n(4 * h)} L ${n(-0.62 * h)} ${n(8 * h)} L ${n(-0.12 * h)} ${n(8 * h)} L 0 ${n(4.7 * h)} L ${n(0.12 * h)} ${n(8 * h)} L ${n(0.62 * h)} ${n(8 * h)} L ${n(1.0 * h)} ${n(4 * h)} L ${n(1.1 * h)} ${n(1.25 * h)} L ${n(0.35 * h)} ${n(h)} Z`;
      return { svg: `<path d="${body}"/><circle cx="0" cy="${n(h / 2)}" r="${n(h / 2)}"/>`, fx: 0, fy: 0.45 * h, w: 2.2 * h };
    }
    case 'group': {
      const one = (dx: number, k: number) => {
        const h = k / 8;
        const top = 1 - k;
        return `<path d="M ${n(dx - 0.35 * h)} ${n(top + h)} L ${n(dx - 1.1 * h)} ${n(top + 1.25 * h)} L ${n(dx - 1.0 * h)} ${n(top + 4 * h)} L ${n(dx - 0.6 * h)} 1 L ${n(dx + 0.6 * h)} 1 L ${n(dx + 1.0 * h)} ${n(top + 4 * h)} L ${n(dx + 1.1 * h)} ${n(top + 1.25 * h)} L ${n(dx + 0.35 * h)} ${n(top + h)} Z"/><circle cx="${n(dx)}" cy="${n(top + h / 2)}" r="${n(h / 2)}"/>`;
      };
      return { svg: one(-0.3, 0.93) + one(0.3, 0.88) + one(0, 1), fx: 0, fy: 0.06, w: 0.9 };
    }
    case 'quadruped':
      return {
        svg:
          `<ellipse cx="-0.05" cy="0.5" rx="0.6" ry="0.22"/><circle cx="0.6" cy="0.3" r="0.17"/>` +
          `<polygon points="${pts([[0.47, 0.22], [0.5, 0.02], [0.6, 0.16]])}"/><polygon points="${pts([[0.62, 0.15], [0.72, 0.0], [0.76, 0.22]])}"/>` +
          `<rect x="-0.5" y="0.55" width="0.09" height="0.45"/><rect x="-0.33" y="0.55" width="0.09" height="0.45"/><rect x="0.24" y="0.55" width="0.09" height="0.45"/><rect x="0.4" y="0.55" width="0.09" height="0.45"/>` +
          `<path d="M -0.62 0.45 Q -0.95 0.4 -0.85 0.08" fill="none" stroke-width="${n(line * 2.5)}" stroke-linecap="round"/>`,
        fx: 0.66,
        fy: 0.27,
        w: 1.7,
      };
    case 'bird':
      return {
        svg:
          `<ellipse cx="0" cy="0.5" rx="0.42" ry="0.24"/><circle cx="0.38" cy="0.25" r="0.15"/>` +
          `<polygon points="${pts([[0.5, 0.2], [0.7, 0.27], [0.5, 0.31]])}"/><polygon points="${pts([[-0.35, 0.45], [-0.75, 0.3], [-0.6, 0.55]])}"/>` +
          `<path d="M -0.2 0.42 Q 0.05 0.05 0.25 0.4 Z"/><rect x="-0.06" y="0.7" width="0.04" height="0.3"/><rect x="0.06" y="0.7" width="0.04" height="0.3"/>`,
        fx: 0.42,
        fy: 0.23,
        w: 1.45,
      };
    case 'cup':
      return {
        svg:
          `<ellipse cx="0" cy="0.95" rx="0.62" ry="0.05"/>` +
          `<path d="M -0.4 0.22 L 0.4 0.22 L 0.32 0.82 Q 0.3 0.92 0.2 0.92 L -0.2 0.92 Q -0.3 0.92 -0.32 0.82 Z"/>` +
          `<ellipse cx="0.44" cy="0.48" rx="0.13" ry="0.16" fill="none" stroke-width="${n(line * 1.8)}"/>` +
          `<path d="M -0.12 0.16 q 0.06 -0.05 0 -0.1 q -0.06 -0.05 0 -0.06 M 0.1 0.16 q 0.06 -0.05 0 -0.1 q -0.06 -0.05 0 -0.06" fill="none" stroke-width="${lw}" stroke-linecap="round"/>`,
        fx: 0,
        fy: 0.24,
        w: 1.25,
      };
    case 'bottle':
      return {
        svg: `<path d="M -0.09 0 L 0.09 0 L 0.09 0.12 L 0.08 0.12 L 0.08 0.26 Q 0.24 0.3 0.24 0.42 L 0.24 0.96 Q 0.24 1 0.2 1 L -0.2 1 Q -0.24 1 -0.24 0.96 L -0.24 0.42 Q -0.24 0.3 -0.08 0.26 L -0.08 0.12 L -0.09 0.12 Z"/>`,
        fx: 0,
        fy: 0.45,
        w: 0.5,
      };
    case 'box':
      return {
        svg:
          `<polygon points="${pts([[-0.45, 0.28], [0.3, 0.28], [0.3, 1], [-0.45, 1]])}"/>` +
          `<polygon points="${pts([[-0.45, 0.28], [-0.28, 0.12], [0.47, 0.12], [0.3, 0.28]])}" fill-opacity="0.7"/>` +
          `<polygon points="${pts([[0.3, 0.28], [0.47, 0.12], [0.47, 0.84], [0.3, 1]])}" fill-opacity="0.8"/>`,
        fx: -0.05,
        fy: 0.5,
        w: 0.95,
      };
    case 'plate':
      return {
        svg: `<ellipse cx="0" cy="0.82" rx="0.85" ry="0.18"/><path d="M -0.5 0.8 Q -0.45 0.05 0 0.02 Q 0.45 0.05 0.5 0.8 Z"/>`,
        fx: 0,
        fy: 0.35,
        w: 1.7,
      };
    case 'bowl':
      return {
        svg:
          `<circle cx="-0.22" cy="0.36" r="0.13"/><circle cx="0.05" cy="0.3" r="0.15"/><circle cx="0.28" cy="0.37" r="0.12"/>` +
          `<path d="M -0.62 0.45 L 0.62 0.45 Q 0.58 0.95 0 0.95 Q -0.58 0.95 -0.62 0.45 Z"/><ellipse cx="0" cy="0.97" rx="0.25" ry="0.03"/>`,
        fx: 0,
        fy: 0.38,
        w: 1.25,
      };
    case 'car':
      return {
        svg:
          `<path d="M -1.2 0.82 L -1.2 0.52 Q -1.15 0.42 -0.9 0.4 L -0.55 0.38 L -0.35 0.08 L 0.4 0.08 L 0.7 0.38 L 1.1 0.44 Q 1.22 0.48 1.22 0.6 L 1.22 0.82 Z"/>` +
          `<circle cx="-0.72" cy="0.83" r="0.17"/><circle cx="0.74" cy="0.83" r="0.17"/>`,
        fx: 0,
        fy: 0.4,
        w: 2.45,
      };
    case 'boat':
      return {
        svg:
          `<path d="M -1.2 0.62 L 1.3 0.62 L 1.0 0.95 L -0.95 0.95 Z"/><rect x="-0.45" y="0.38" width="0.7" height="0.24"/>` +
          `<rect x="0.08" y="0" width="0.04" height="0.38"/><polygon points="${pts([[0.14, 0.02], [0.6, 0.36], [0.14, 0.36]])}" fill-opacity="0.75"/>`,
        fx: 0,
        fy: 0.45,
        w: 2.5,
      };
    case 'two-wheeler':
      return {
        svg:
          `<g fill="none" stroke-width="${n(line * 2.2)}"><circle cx="-0.6" cy="0.7" r="0.28"/><circle cx="0.6" cy="0.7" r="0.28"/>` +
          `<path d="M -0.6 0.7 L -0.2 0.35 L 0.35 0.35 L 0.6 0.7 M -0.2 0.35 L 0 0.7 L 0.35 0.35 M -0.28 0.26 L -0.1 0.26 M 0.35 0.35 L 0.3 0.16 L 0.45 0.12"/></g>`,
        fx: 0,
        fy: 0.35,
        w: 1.8,
      };
    default:
      return { svg: '', fx: 0, fy: 0.5, w: 1 };
  }
}

const SCENERY_SHAPES = new Set<Silhouette>(['skyline', 'ridge', 'horizon', 'interior']);

export function placeSubject(p: PlaceSpec): Placed {
  const { frame: f } = p;
  if (SCENERY_SHAPES.has(p.silhouette)) return placeScenery(p);
  const person = p.silhouette === 'figure' || p.silhouette === 'group';
  let h = f.h * (person ? FIGURE[p.shot] : OBJECT[p.shot]);
  if (p.foreground) h *= 1.3;
  const shape = unitShape(p.silhouette, p.line / Math.max(1, h));
  // wide shapes (a car, a quadruped) keep inside the frame's width
  const maxW = f.w * 0.9;
  if (!person && shape.w * h > maxW && p.shot !== 'extreme close-up') h = maxW / shape.w;
  const ground = f.y + f.h * Math.min(0.97, { high: 0.6, middle: 0.8, low: 0.93 }[p.vertical] + (p.foreground ? 0.05 : 0));
  let top = ground - h;
  const headroom = f.y + f.h * { high: 0.03, middle: 0.07, low: 0.18 }[p.vertical];
  if (top < headroom) top = headroom; // too tall to stand whole: crop at the bottom, keep the top in frame
  const sx = p.facing;
  const cx = p.cx;
  // stroke widths inside the scaled group are in unit space
  const svg = `<g transform="translate(${n(cx)} ${n(top)}) scale(${n(sx * h)} ${n(h)})" stroke-width="${n(p.outline / h)}">${shape.svg}</g>`;
  const bottom = top + h;
  const w = shape.w * h;
  return {
    svg,
    focus: { x: cx + sx * shape.fx * h, y: top + shape.fy * h },
    contact: bottom <= f.y + f.h ? { x: cx, y: bottom, w } : null,
    bounds: { x: cx - w / 2, y: top, w, h },
  };
}

function placeScenery(p: PlaceSpec): Placed {
  const placed = placeSceneryShapes(p);
  return { ...placed, svg: `<g stroke-width="${n(p.outline)}">${placed.svg}</g>` };
}

function placeSceneryShapes(p: PlaceSpec): Placed {
  const f = p.frame;
  const r = p.r;
  const base = p.horizonY;
  // as tall as the shot size says, but never taller than the sky above the horizon
  const tall = Math.min(f.h * SCENERY[p.shot] * (p.foreground ? 1.2 : 1), (base - f.y) * 0.92);
  if (p.silhouette === 'skyline') {
    // buildings across the frame, the tallest near the subject's third
    const parts: string[] = [];
    let x = f.x - f.w * 0.02;
    let peak = { x: p.cx, y: base };
    const count = p.shot === 'extreme wide' ? 16 : p.shot === 'wide' ? 12 : 8;
    const unit = (f.w * 1.04) / count;
    while (x < f.x + f.w) {
      const bw = unit * (0.6 + r() * 0.8);
      const near = 1 - Math.min(1, Math.abs(x + bw / 2 - p.cx) / (f.w * 0.45));
      const bh = Math.min(base - f.y - 2, tall * (0.25 + 0.45 * near + 0.3 * r()));
      parts.push(`<rect x="${n(x)}" y="${n(base - bh)}" width="${n(bw + 0.5)}" height="${n(bh + 1)}"/>`);
      if (base - bh < peak.y) peak = { x: x + bw / 2, y: base - bh };
      if (r() < 0.35) parts.push(`<rect x="${n(x + bw * 0.45)}" y="${n(base - bh - bh * 0.12)}" width="${n(bw * 0.08)}" height="${n(bh * 0.12)}"/>`);
      x += bw;
    }
    return { svg: parts.join(''), focus: peak, contact: null, bounds: { x: f.x, y: base - tall, w: f.w, h: tall } };
  }
  if (p.silhouette === 'ridge') {
    const steps = 9;
    const line: Array<[number, number]> = [[f.x - 2, base]];
    let peak = { x: p.cx, y: base - tall };
    for (let i = 0; i <= steps; i++) {
      const x = f.x + (f.w * i) / steps;
      const near = 1 - Math.min(1, Math.abs(x - p.cx) / (f.w * 0.5));
      const y = base - tall * (0.2 + 0.2 * r() + 0.6 * near * near);
      line.push([x, Math.max(f.y + 2, y)]);
    }
    line.splice(1 + Math.round(((p.cx - f.x) / f.w) * steps), 0, [p.cx, base - tall]);
    line.sort((a, b) => a[0] - b[0]);
    line.push([f.x + f.w + 2, base]);
    peak = { x: p.cx, y: Math.max(f.y + 2, base - tall) };
    return { svg: `<polygon points="${pts(line)}"/>`, focus: peak, contact: null, bounds: { x: f.x, y: base - tall, w: f.w, h: tall } };
  }
  if (p.silhouette === 'interior') {
    // one-point perspective: the back wall around the subject's third, walls and floor lines to the corners
    const k = 0.25 + 0.55 * (SCENERY[p.shot] - 0.3) / 0.7;
    const bw = f.w * k;
    const bh = f.h * k * 0.9;
    const bx = Math.min(f.x + f.w - bw, Math.max(f.x, p.cx - bw / 2));
    const by = Math.min(base - bh * 0.25, Math.max(f.y + 2, base - bh * 0.7));
    const lines = [
      [bx, by, f.x, f.y], [bx + bw, by, f.x + f.w, f.y], [bx, by + bh, f.x, f.y + f.h], [bx + bw, by + bh, f.x + f.w, f.y + f.h],
    ]
      .map(([a, b, c, d]) => `M ${n(a!)} ${n(b!)} L ${n(c!)} ${n(d!)}`)
      .join(' ');
    const win = `<rect x="${n(bx + bw * 0.3)}" y="${n(by + bh * 0.15)}" width="${n(bw * 0.4)}" height="${n(bh * 0.45)}" fill-opacity="0.25"/>`;
    return {
      svg: `<rect x="${n(bx)}" y="${n(by)}" width="${n(bw)}" height="${n(bh)}" fill-opacity="0.55"/>${win}<path d="${lines}" fill="none" stroke-width="${n(p.line * 1.5)}"/>`,
      focus: { x: bx + bw / 2, y: by + bh * 0.4 },
      contact: null,
      bounds: { x: bx, y: by, w: bw, h: bh },
    };
  }
  // horizon: a low island or headland at the subject's third and bands of water or field toward camera
  const hw = f.w * (0.12 + 0.2 * (SCENERY[p.shot] - 0.3));
  const hh = tall * 0.25;
  const bands = Array.from({ length: 5 }, (_, i) => {
    const y = base + (f.y + f.h - base) * ((i + 1) / 6) ** 1.6;
    return `<rect x="${n(f.x)}" y="${n(y)}" width="${n(f.w)}" height="${n(Math.max(1, p.line))}" fill-opacity="0.35"/>`;
  }).join('');
  return {
    svg: `<path d="M ${n(p.cx - hw)} ${n(base + 1)} Q ${n(p.cx - hw * 0.3)} ${n(base - hh)} ${n(p.cx)} ${n(base - hh)} Q ${n(p.cx + hw * 0.4)} ${n(base - hh * 0.9)} ${n(p.cx + hw)} ${n(base + 1)} Z"/>${bands}`,
    focus: { x: p.cx, y: base - hh },
    contact: null,
    bounds: { x: p.cx - hw, y: base - hh, w: hw * 2, h: hh },
  };
}
