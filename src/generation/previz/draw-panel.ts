import { chroma, darken, lighten, luminance, mixHex } from './colours.js';
import { type Box, type PanelLayout, type TextBox, baseline, intersects, labelNear, layoutPanel, panelFonts, textBox } from './layout.js';
import type { MoodPalette } from './read-palette.js';
import { type PanelReading, readPromptFull } from './read-prompt.js';
import { rng, seeded } from './rng.js';
import { type Placed, placeSubject } from './silhouettes.js';
import { ellipsize } from './text-measure.js';

/**
 * The previz panel as SVG: the reading drawn the way a storyboard artist would, with framing
 * guides, the subject's silhouette where the composition puts it, the key light's side and
 * quality, the palette, and the notes, in a layout whose text never overlaps.
 */
export interface SketchSpec {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  width: number;
  height: number;
  aspectRatio: string;
  /**
   * Colours taken from an init image (a storyboard frame keeps its source image's look): they
   * replace the prompt's palette, and the reading says so (palette_source 'init image').
   */
  palette?: string[];
}

export const PANEL_TITLE = 'PREVIZ SKETCH — not a generated image';
const FONT = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

interface Colours {
  sky: [string, string];
  ground: string;
  accent: string;
  light: string;
}

/** The drawing colours: a mood palette as it is; named colours arranged as sky, ground, accent and light. */
function drawingColours(reading: PanelReading, mood: MoodPalette | null): Colours {
  if (mood) return { sky: mood.sky, ground: mood.ground, accent: mood.accent, light: mood.light };
  const cs = reading.palette;
  const byLum = [...cs].sort((a, b) => luminance(b) - luminance(a));
  const lightest = byLum[0]!;
  const darkest = byLum[byLum.length - 1]!;
  const rest = cs.filter((c) => c !== lightest && c !== darkest);
  const accent = (rest.length ? rest : cs).reduce((a, b) => (chroma(b) > chroma(a) ? b : a));
  return {
    sky: [lighten(lightest, 0.25), mixHex(lightest, cs[0]!, 0.35)],
    ground: luminance(darkest) > 0.25 ? darken(darkest, 0.5) : darken(darkest, 0.1),
    accent,
    light: lighten(lightest, 0.6),
  };
}

const SHOT_LABEL = (r: PanelReading) =>
  `${r.shot_size.toUpperCase()}${r.angle === 'low angle' ? ' · LOW ANGLE' : r.angle === 'high angle' ? ' · HIGH ANGLE' : ''}${r.dutch ? ' · DUTCH' : ''}`;

/** The note lines, in words; values the seed chose say so. */
export function panelNotes(r: PanelReading, seed: number): string[] {
  const s = (f: PanelReading['from_seed'][number]) => (r.from_seed.includes(f) ? ' (seed)' : '');
  const subject = r.subject ? `${r.subject_class} "${r.subject}"` : `${r.subject_class} (none named)`;
  const camera = [r.camera, ...r.lens, r.angle].filter(Boolean).join(' · ');
  return [
    `SHOT: ${SHOT_LABEL(r)}${r.shot_phrase ? '' : ` (default for ${r.subject_class})`}`,
    `SUBJECT: ${subject} · ${r.placement.horizontal}${s('placement')}, ${r.placement.vertical}${r.placement.foreground ? ', foreground' : ''} · horizon ${r.horizon}${s('horizon')}`,
    `LIGHT: key from ${r.key_side}${s('key_side')}, ${r.key_quality}${s('key_quality')}${r.key_phrase ? ` — "${r.key_phrase}"` : ''}`,
    `PALETTE: ${r.palette_source} — ${r.palette_names.join(', ')}`,
    `CAMERA: ${camera || 'no lens notes in prompt'}`,
    `FILM: ${r.film ?? 'none named'}`,
    `SEED ${seed} CHOSE: ${r.from_seed.length ? r.from_seed.map((f) => f.replace(/_/g, ' ')).join(', ') : 'nothing (the prompt set every value)'}`,
  ];
}

export interface PanelPlan {
  seed: number;
  reading: PanelReading;
  layout: PanelLayout;
  colours: Colours;
  subject: Placed;
  horizonY: number;
  lamp: { x: number; y: number; r: number };
  tilt: number;
}

/** Everything the panel draws, before it is SVG. Pure: the same spec gives the same plan. */
export function planPanel(spec: SketchSpec): PanelPlan {
  const read = readPromptFull(spec.prompt, spec.seed);
  const fromImage = spec.palette && spec.palette.length > 0;
  const reading = fromImage ? { ...read.reading, palette: spec.palette!, palette_names: spec.palette!, palette_source: 'init image' as const } : read.reading;
  const mood = fromImage ? null : read.mood;
  const colours = drawingColours(reading, mood);
  const layout = layoutPanel(spec.width, spec.height, {
    title: PANEL_TITLE,
    meta: `seed ${spec.seed} · ${spec.aspectRatio} · ${spec.width}×${spec.height}`,
    notes: panelNotes(reading, spec.seed),
    prompt: `PROMPT: ${spec.prompt.replace(/\s+/g, ' ').trim()}`,
    avoid: spec.negativePrompt ? `AVOID: ${spec.negativePrompt.replace(/\s+/g, ' ').trim()}` : null,
    swatches: Math.min(5, reading.palette.length),
  });
  const { frame: f, u } = layout;

  // the horizon the reading says; a camera angle that agrees pushes it further (looking up: mostly sky)
  const horizonFrac =
    reading.horizon === 'low' ? (reading.angle === 'low angle' ? 0.8 : 0.67) : reading.angle === 'high angle' ? 0.22 : 0.33;
  const jitter = reading.from_seed.includes('horizon') ? (seeded(spec.seed, 'horizon-jitter') - 0.5) * 0.06 : 0;
  const horizonY = f.y + f.h * (horizonFrac + jitter);
  const xFrac = { 'left third': 1 / 3, centre: 1 / 2, 'right third': 2 / 3 }[reading.placement.horizontal];
  const cx = f.x + f.w * xFrac;
  const facing: 1 | -1 = reading.placement.horizontal === 'right third' ? -1 : 1;
  const subject = placeSubject({
    silhouette: reading.silhouette,
    shot: reading.shot_size,
    cx,
    vertical: reading.placement.vertical,
    foreground: reading.placement.foreground,
    horizonY,
    frame: f,
    facing,
    r: rng((spec.seed ^ 0x5eed) >>> 0),
    line: u * 0.35,
    outline: u * (reading.key_side === 'back' ? 0.7 : 0.25),
  });

  // The key lamp on the side the reading says; behind the subject for a back light, at the camera for a front light.
  const margin = 4 * u;
  const clampX = (x: number) => Math.min(f.x + f.w - margin, Math.max(f.x + margin, x));
  const clampY = (y: number) => Math.min(f.y + f.h - margin, Math.max(f.y + margin, y));
  const high = f.y + f.h * 0.2;
  const at = {
    left: { x: f.x + f.w * 0.07, y: high },
    right: { x: f.x + f.w * 0.93, y: high },
    top: { x: subject.focus.x, y: f.y + f.h * 0.08 },
    back: { x: subject.focus.x - facing * f.w * 0.09, y: Math.min(subject.focus.y, subject.bounds.y) - f.h * 0.06 },
    front: { x: subject.focus.x + f.w * 0.1, y: f.y + f.h * 0.9 },
  }[reading.key_side];
  const lamp = { x: clampX(at.x), y: clampY(at.y), r: 1.6 * u };
  const tilt = reading.dutch ? (seeded(spec.seed, 'dutch') < 0.5 ? -1 : 1) * 10 : 0;

  // Labels inside the frame: the shot label top-left, the KEY label by its lamp where it touches nothing.
  const { small, tiny } = panelFonts(u);
  const safe: Box = { x: f.x + f.w * 0.05, y: f.y + f.h * 0.05, w: f.w * 0.9, h: f.h * 0.9 };
  const shotText = ellipsize(SHOT_LABEL(reading), safe.w * 0.6, { size: small });
  const inFrame: TextBox[] = [];
  const shotBox = textBox('frame-shot', [shotText], small, false, 'start', safe.x + u, safe.y + u);
  if (shotText) inFrame.push(shotBox);
  // the lamp never covers the shot label: move it below the label
  const lampBox = { x: lamp.x - lamp.r * 1.7, y: lamp.y - lamp.r * 1.7, w: lamp.r * 3.4, h: lamp.r * 3.4 };
  if (shotText && intersects(lampBox, shotBox)) lamp.y = clampY(shotBox.y + shotBox.h + lamp.r * 1.8);
  const key = labelNear('frame-key', `KEY · ${reading.key_quality}`, tiny, lamp, { x: f.x + u, y: f.y + u, w: f.w - 2 * u, h: f.h - 2 * u }, inFrame);
  if (key) inFrame.push(key);
  layout.text.push(...inFrame.filter((b) => !layout.text.some((t) => intersects(t, b))));
  return { seed: spec.seed, reading, layout, colours, subject, horizonY, lamp, tilt };
}

/** The computed layout of a panel: the frame and every text box. For tests and tools. */
export function panelLayout(spec: SketchSpec): PanelLayout {
  return planPanel(spec).layout;
}

function renderText(b: TextBox, fill: string, extra = ''): string {
  return b.lines
    .map(
      (l, i) =>
        `<text x="${f1(b.ax)}" y="${f1(baseline(b, i))}" ${FONT} font-size="${b.size}"${b.bold ? ' font-weight="bold"' : ''}${b.anchor !== 'start' ? ` text-anchor="${b.anchor}"` : ''} fill="${fill}"${extra}>${esc(l)}</text>`,
    )
    .join('\n');
}

export function renderPanel(plan: PanelPlan): string {
  const { seed, reading: rd, layout, colours: c, subject, horizonY, lamp, tilt } = plan;
  const { width: W, height: H, frame: f, u } = layout;
  const r = rng((seed ^ 0xb10c) >>> 0);
  const soft = rd.key_quality === 'soft';

  // set pieces behind the subject (not for scenery, which is its own background)
  const blocks: string[] = [];
  if (!['skyline', 'ridge', 'horizon', 'interior'].includes(rd.silhouette)) {
    const count = 2 + Math.floor(r() * 3);
    for (let i = 0; i < count; i++) {
      const bw = f.w * (0.06 + r() * 0.16);
      const bh = f.h * (0.08 + r() * 0.28);
      const bx = f.x + r() * (f.w - bw);
      blocks.push(`<rect x="${f1(bx)}" y="${f1(horizonY - bh)}" width="${f1(bw)}" height="${f1(bh)}" fill="${c.accent}" fill-opacity="${(0.2 + r() * 0.25).toFixed(2)}"/>`);
    }
  }

  // cast shadow, away from the key: hard light a crisp dark shape, soft light a faint wide one
  let shadow = '';
  if (subject.contact && rd.key_side !== 'front') {
    const dir = rd.key_side === 'left' ? 1 : rd.key_side === 'right' ? -1 : 0;
    const { x, y, w } = subject.contact;
    const len = rd.key_side === 'top' ? 0.55 : rd.key_side === 'back' ? 0.9 : 1.1;
    const sx = x + dir * w * 0.55;
    const sy = rd.key_side === 'back' ? y + u * 1.5 : y;
    shadow = `<ellipse cx="${f1(sx)}" cy="${f1(sy)}" rx="${f1(w * len * 0.6)}" ry="${f1(Math.max(u, w * 0.08))}" fill="${soft ? 'url(#softshadow)' : '#000000'}" fill-opacity="${soft ? 1 : 0.45}"/>`;
  }

  const rim = rd.key_side === 'back';
  const ink = `fill="#262626" fill-opacity="0.88" stroke="${rim ? c.light : '#ffffff'}" stroke-opacity="${rim ? 0.95 : 0.35}" stroke-linejoin="round"`;
  const glowR = f.h * (soft ? 0.26 : 0.16);
  const lampShape = soft
    ? `<rect x="${f1(lamp.x - lamp.r * 1.4)}" y="${f1(lamp.y - lamp.r)}" width="${f1(lamp.r * 2.8)}" height="${f1(lamp.r * 2)}" rx="${f1(u * 0.4)}" fill="${c.light}" stroke="#222" stroke-width="${f1(u * 0.2)}"/>`
    : `<circle cx="${f1(lamp.x)}" cy="${f1(lamp.y)}" r="${f1(lamp.r * 0.8)}" fill="${c.light}" stroke="#222" stroke-width="${f1(u * 0.2)}"/>` +
      `<g stroke="${c.light}" stroke-width="${f1(u * 0.3)}">${Array.from({ length: 8 }, (_, i) => {
        const a = (i * Math.PI) / 4;
        return `<line x1="${f1(lamp.x + Math.cos(a) * lamp.r * 1.1)}" y1="${f1(lamp.y + Math.sin(a) * lamp.r * 1.1)}" x2="${f1(lamp.x + Math.cos(a) * lamp.r * 1.6)}" y2="${f1(lamp.y + Math.sin(a) * lamp.r * 1.6)}"/>`;
      }).join('')}</g>`;
  const beam = soft
    ? `<line x1="${f1(lamp.x)}" y1="${f1(lamp.y)}" x2="${f1(subject.focus.x)}" y2="${f1(subject.focus.y)}" stroke="${c.light}" stroke-opacity="0.8" stroke-width="${f1(u * 0.9)}" stroke-dasharray="${f1(u * 2)} ${f1(u * 1.2)}"/>`
    : `<line x1="${f1(lamp.x)}" y1="${f1(lamp.y)}" x2="${f1(subject.focus.x)}" y2="${f1(subject.focus.y)}" stroke="${c.light}" stroke-width="${f1(u * 0.35)}"/>`;

  const guides = [
    ...[1, 2].map((k) => `<line x1="${f1(f.x + (f.w * k) / 3)}" y1="${f1(f.y)}" x2="${f1(f.x + (f.w * k) / 3)}" y2="${f1(f.y + f.h)}"/>`),
    ...[1, 2].map((k) => `<line x1="${f1(f.x)}" y1="${f1(f.y + (f.h * k) / 3)}" x2="${f1(f.x + f.w)}" y2="${f1(f.y + (f.h * k) / 3)}"/>`),
  ].join('');
  const safe = `<rect x="${f1(f.x + f.w * 0.05)}" y="${f1(f.y + f.h * 0.05)}" width="${f1(f.w * 0.9)}" height="${f1(f.h * 0.9)}" fill="none" stroke="#ffffff" stroke-opacity="0.7" stroke-dasharray="${f1(u * 1.5)} ${f1(u)}" stroke-width="${f1(u * 0.25)}"/>`;
  const cross = `<g stroke="#ff3b30" stroke-width="${f1(u * 0.3)}"><line x1="${f1(subject.focus.x - 3 * u)}" y1="${f1(subject.focus.y)}" x2="${f1(subject.focus.x + 3 * u)}" y2="${f1(subject.focus.y)}"/><line x1="${f1(subject.focus.x)}" y1="${f1(subject.focus.y - 3 * u)}" x2="${f1(subject.focus.x)}" y2="${f1(subject.focus.y + 3 * u)}"/></g>`;

  const inFrame = layout.text.filter((b) => b.id.startsWith('frame-'));
  const outside = layout.text.filter((b) => !b.id.startsWith('frame-'));
  const halo = ` stroke="#000000" stroke-opacity="0.7" stroke-width="${f1(u * 0.35)}" stroke-linejoin="round" paint-order="stroke"`;
  const textSvg = outside
    .map((b) => renderText(b, b.id === 'title' ? '#b00020' : b.id === 'prompt' ? '#444444' : b.id === 'avoid' ? '#888888' : b.id === 'meta' ? '#333333' : '#222222'))
    .join('\n');
  const swatches = layout.swatches
    .map((s, i) => `<rect x="${f1(s.x)}" y="${f1(s.y)}" width="${f1(s.w)}" height="${f1(s.h)}" fill="${rd.palette[i]}" stroke="#333" stroke-width="1"/>`)
    .join('');

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">
<defs>
  <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${c.sky[0]}"/><stop offset="1" stop-color="${c.sky[1]}"/></linearGradient>
  <radialGradient id="glow" cx="0.5" cy="0.5" r="0.5"><stop offset="0" stop-color="${c.light}" stop-opacity="${soft ? 0.75 : 0.95}"/><stop offset="${soft ? 1 : 0.6}" stop-color="${c.light}" stop-opacity="0"/></radialGradient>
  <radialGradient id="softshadow" cx="0.5" cy="0.5" r="0.5"><stop offset="0" stop-color="#000000" stop-opacity="0.35"/><stop offset="1" stop-color="#000000" stop-opacity="0"/></radialGradient>
  <clipPath id="frame"><rect x="${f1(f.x)}" y="${f1(f.y)}" width="${f1(f.w)}" height="${f1(f.h)}"/></clipPath>
</defs>
<rect width="${W}" height="${H}" fill="#f4f1ea"/>
<g clip-path="url(#frame)">
  <g transform="rotate(${tilt} ${f1(f.x + f.w / 2)} ${f1(f.y + f.h / 2)})">
    <rect x="${f1(f.x - f.w)}" y="${f1(f.y - f.h)}" width="${f1(f.w * 3)}" height="${f1(horizonY - f.y + f.h)}" fill="url(#sky)"/>
    <rect x="${f1(f.x - f.w)}" y="${f1(horizonY)}" width="${f1(f.w * 3)}" height="${f1(f.h * 2)}" fill="${c.ground}"/>
    ${blocks.join('\n    ')}
    <circle cx="${f1(lamp.x)}" cy="${f1(lamp.y)}" r="${f1(glowR)}" fill="url(#glow)"/>
    ${shadow}
    <g ${ink}>${subject.svg}</g>
  </g>
  <g stroke="#ffffff" stroke-opacity="0.55" stroke-width="${f1(u * 0.2)}" stroke-dasharray="${f1(u)} ${f1(u)}">${guides}</g>
  ${safe}
  ${beam}
  ${lampShape}
  ${cross}
  ${inFrame.map((b) => renderText(b, '#ffffff', halo)).join('\n  ')}
</g>
<rect x="${f1(f.x)}" y="${f1(f.y)}" width="${f1(f.w)}" height="${f1(f.h)}" fill="none" stroke="#222" stroke-width="${f1(u * 0.35)}"/>
${textSvg}
${swatches}
</svg>`;
}

/** The panel as SVG text. */
export function sketchSvg(spec: SketchSpec): string {
  return renderPanel(planPanel(spec));
}
