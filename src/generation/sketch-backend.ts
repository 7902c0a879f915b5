import type { GenerateRequest, GenerateResult, ImageBackend } from './backend.js';

/**
 * The offline backend: a previsualisation panel, not an image model. It reads the prompt for
 * shot size, camera angle, light, mood and lens notes and draws what a storyboard artist would:
 * framing guides, where the subject sits, the light direction and palette, the camera notes and
 * the prompt itself. Each seed moves the composition; the same seed gives the same bytes.
 */
export const SKETCH_NOTE = 'offline previz sketches (SVG panels rendered locally), not model output';
export const SKETCH_MODEL = 'sketch';

/** mulberry32: tiny, fast, deterministic per seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface ShotSize {
  label: string;
  /** Figure height (head to toe) relative to the frame height. */
  figure: number;
}

const SHOTS: [RegExp, ShotSize][] = [
  [/\bextreme close[- ]?up\b|\bECU\b|\bmacro\b/i, { label: 'EXTREME CLOSE-UP', figure: 6.5 }],
  [/\bmedium close[- ]?up\b|\bMCU\b/i, { label: 'MEDIUM CLOSE-UP', figure: 2.4 }],
  [/\bclose[- ]?up\b|\bCU\b|\bportrait\b/i, { label: 'CLOSE-UP', figure: 3.4 }],
  [/\bextreme wide\b|\bEWS\b|\bestablishing\b|\baerial\b|\blandscape\b/i, { label: 'EXTREME WIDE', figure: 0.18 }],
  [/\bmedium[- ]wide\b|\bcowboy\b|\bmedium long\b/i, { label: 'MEDIUM WIDE', figure: 1.15 }],
  [/\bfull[- ]body\b|\bfull shot\b|\bwide shot\b|\bwide angle\b|\bwide\b|\blong shot\b/i, { label: 'WIDE', figure: 0.55 }],
  [/\bmedium shot\b|\bmid[- ]shot\b|\bwaist[- ]up\b|\bmedium\b/i, { label: 'MEDIUM', figure: 1.7 }],
];

interface Palette {
  name: string;
  sky: [string, string];
  ground: string;
  accent: string;
  light: string;
}

// Lighting and mood words → palette; first match wins, order is most specific first.
const PALETTES: [RegExp, Palette][] = [
  [/\bneon\b|\bcyberpunk\b/i, { name: 'neon', sky: ['#1a0933', '#3b0d5c'], ground: '#120822', accent: '#ff2bd6', light: '#29e6ff' }],
  [/\bgolden hour\b|\bsunset\b|\bsunrise\b|\bwarm\b|\bdawn\b|\bcandle/i, { name: 'golden hour', sky: ['#f7b267', '#f4845f'], ground: '#6b3e26', accent: '#f25c54', light: '#ffd166' }],
  [/\bblue hour\b|\bnight\b|\bmoon/i, { name: 'night / blue hour', sky: ['#0b1d3a', '#27496d'], ground: '#0a1424', accent: '#7fb3d5', light: '#d6e6f2' }],
  [/\bnoir\b|\bchiaroscuro\b|\bhigh[- ]contrast\b|\bblack and white\b|\bmonochrome\b/i, { name: 'noir', sky: ['#111111', '#3a3a3a'], ground: '#000000', accent: '#bbbbbb', light: '#ffffff' }],
  [/\bovercast\b|\bfog|\bmist|\bsoft light\b|\bdiffuse/i, { name: 'soft overcast', sky: ['#c9d1d9', '#9aa5b1'], ground: '#5f6b76', accent: '#7b8a97', light: '#f0f3f5' }],
  [/\bmoody\b|\bdramatic\b|\bdark\b|\bsomber\b|\bmysterious\b/i, { name: 'moody', sky: ['#2d3142', '#4f5d75'], ground: '#1b1e2b', accent: '#ef8354', light: '#bfc0c0' }],
  [/\bbright\b|\bcheerful\b|\bsunny\b|\bdaylight\b|\bvibrant\b/i, { name: 'bright daylight', sky: ['#8ecae6', '#bde0fe'], ground: '#90be6d', accent: '#ffb703', light: '#fffbe6' }],
];
const DEFAULT_PALETTE: Palette = { name: 'neutral', sky: ['#d8d4cc', '#b8b2a7'], ground: '#8a8378', accent: '#5c6f7b', light: '#fff8e7' };

const LIGHTS: [RegExp, string, number][] = [
  [/\bbacklit\b|\bback[- ]?light|\brim light/i, 'backlight', 90],
  [/\b(light|lit|sun)\w*\s+from\s+(the\s+)?left\b|\bleft[- ]side light/i, 'from left', 180],
  [/\b(light|lit|sun)\w*\s+from\s+(the\s+)?right\b|\bright[- ]side light/i, 'from right', 0],
  [/\bside[- ]?light/i, 'side light', 180],
  [/\btop[- ]?light|\boverhead light|\bhigh noon\b/i, 'top light', 90],
];

function cameraNotes(prompt: string): string[] {
  const notes = new Set<string>();
  const patterns = [
    /\b\d{2,3}\s?mm\b(\s+(anamorphic|prime|lens|macro))?/gi,
    /\bf\/\s?\d+(\.\d+)?\b/gi,
    /\b(ARRI\s+\w+(\s+\w+)?|RED\s+\w+|Sony\s+\w+|Canon\s+\w+|Nikon\s+\w+|Hasselblad\s*\w*|Leica\s*\w*|IMAX)\b/g,
    /\b(Kodak\s+\w+(\s+\d+\w*)?|Fuji\w*\s+\w+|Portra\s*\d*|Ektachrome|CineStill\s*\w*|35mm film|16mm film)\b/gi,
    /\b(low[- ]angle|high[- ]angle|eye[- ]level|bird'?s[- ]eye|worm'?s[- ]eye|overhead|dutch (angle|tilt)|over[- ]the[- ]shoulder|POV)\b/gi,
    /\b(shallow depth of field|deep focus|bokeh|tilt[- ]shift|handheld|steadicam|dolly|crane)\b/gi,
  ];
  for (const re of patterns) for (const m of prompt.matchAll(re)) notes.add(m[0].replace(/\s+/g, ' ').trim());
  return [...notes].slice(0, 8);
}

/** Greedy word wrap by an estimated glyph width (DejaVu Sans ≈ 0.56 em). */
function wrap(text: string, maxChars: number, maxLines: number): string[] {
  const words = text.replace(/\s+/g, ' ').trim().split(' ');
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if ((cur + ' ' + w).trim().length > maxChars && cur) {
      lines.push(cur);
      cur = w;
    } else cur = (cur + ' ' + w).trim();
  }
  if (cur) lines.push(cur);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = kept[maxLines - 1]!.slice(0, Math.max(0, maxChars - 1)) + '…';
    return kept;
  }
  return lines;
}

export interface SketchSpec {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  width: number;
  height: number;
  aspectRatio: string;
}

/** The panel as SVG text (exported for tests and for anyone who wants the vector version). */
export function sketchSvg(spec: SketchSpec): string {
  const { width: W, height: H, prompt } = spec;
  const r = rng(spec.seed);
  const u = Math.min(W, H) / 100; // one "unit": 1% of the short side
  const font = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`;
  const shot = SHOTS.find(([re]) => re.test(prompt))?.[1] ?? { label: 'MEDIUM (default)', figure: 1.7 };
  const palette = PALETTES.find(([re]) => re.test(prompt))?.[1] ?? DEFAULT_PALETTE;
  const light = LIGHTS.find(([re]) => re.test(prompt));
  const notes = cameraNotes(prompt);
  const low = /\blow[- ]angle|\bworm'?s[- ]eye/i.test(prompt);
  const high = /\bhigh[- ]angle|\bbird'?s[- ]eye|\boverhead\b/i.test(prompt);
  const dutch = /\bdutch (angle|tilt)\b/i.test(prompt);

  // Layout: title band, picture frame, notes band.
  const titleH = Math.round(7 * u);
  const notesH = Math.round(H * 0.26);
  const fx = Math.round(2 * u);
  const fy = titleH;
  const fw = W - 2 * fx;
  const fh = H - titleH - notesH;

  // Composition by seed: subject on a third or centre, horizon high or low, light side.
  const thirds = [1 / 3, 1 / 2, 2 / 3];
  const sx = fx + fw * (thirds[Math.floor(r() * 3)]! + (r() - 0.5) * 0.08);
  const horizonFrac = low ? 0.78 + r() * 0.1 : high ? 0.12 + r() * 0.12 : [1 / 3, 2 / 3][Math.floor(r() * 2)]! + (r() - 0.5) * 0.06;
  const horizonY = fy + fh * horizonFrac;
  const lightDeg = light ? light[2] : [20, 45, 135, 160][Math.floor(r() * 4)]!;
  const lightLabel = light ? light[1] : `from ${lightDeg < 90 ? 'right' : 'left'} (seed)`;
  const tilt = dutch ? (r() < 0.5 ? -1 : 1) * (8 + r() * 6) : 0;

  // Subject: an 8-heads-tall figure; head top sits below a headroom margin.
  const figH = fh * shot.figure;
  const head = figH / 8;
  const headTop = fy + fh * (shot.figure > 2 ? 0.05 : 0.1 + r() * 0.08);
  const headCy = headTop + head / 2;
  const shoulderY = headTop + head * 1.25;
  const body = `M ${sx - head * 0.35} ${headTop + head}
    L ${sx - head * 1.1} ${shoulderY} L ${sx - head * 1.0} ${headTop + head * 4}
    L ${sx - head * 0.6} ${headTop + figH} L ${sx + head * 0.6} ${headTop + figH}
    L ${sx + head * 1.0} ${headTop + head * 4} L ${sx + head * 1.1} ${shoulderY}
    L ${sx + head * 0.35} ${headTop + head} Z`;

  // Background blocks (set pieces) shift with the seed.
  const blocks: string[] = [];
  const nBlocks = 2 + Math.floor(r() * 4);
  for (let i = 0; i < nBlocks; i++) {
    const bw = fw * (0.06 + r() * 0.18);
    const bh = fh * (0.1 + r() * 0.35);
    const bx = fx + r() * (fw - bw);
    blocks.push(
      `<rect x="${bx.toFixed(1)}" y="${(horizonY - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="${palette.accent}" fill-opacity="${(0.25 + r() * 0.3).toFixed(2)}"/>`,
    );
  }

  // Key light: a lamp symbol on the frame edge, an arrow towards the subject.
  const rad = (lightDeg * Math.PI) / 180;
  const lx = Math.min(fx + fw - 4 * u, Math.max(fx + 4 * u, sx + Math.cos(rad) * fw * 0.42));
  const ly = Math.max(fy + 4 * u, fy + fh * 0.18 - Math.sin(rad) * fh * 0.05);
  const eyeY = headTop + head * 0.45;

  const guides = [
    // rule of thirds
    ...[1, 2].map((k) => `<line x1="${fx + (fw * k) / 3}" y1="${fy}" x2="${fx + (fw * k) / 3}" y2="${fy + fh}"/>`),
    ...[1, 2].map((k) => `<line x1="${fx}" y1="${fy + (fh * k) / 3}" x2="${fx + fw}" y2="${fy + (fh * k) / 3}"/>`),
  ].join('');
  const safe = `<rect x="${fx + fw * 0.05}" y="${fy + fh * 0.05}" width="${fw * 0.9}" height="${fh * 0.9}" fill="none" stroke="#ffffff" stroke-opacity="0.7" stroke-dasharray="${u * 1.5} ${u}" stroke-width="${u * 0.25}"/>`;

  const small = Math.max(10, Math.round(2.2 * u));
  const tiny = Math.max(9, Math.round(1.8 * u));
  const promptLines = wrap(prompt, Math.floor((W * 0.62) / (tiny * 0.56)), Math.max(2, Math.floor((notesH - 4 * u) / (tiny * 1.3)) - 1));
  const noteLines = [
    `SHOT: ${shot.label}${low ? ' · LOW ANGLE' : high ? ' · HIGH ANGLE' : ''}${dutch ? ' · DUTCH' : ''}`,
    `SUBJECT: ${sx < fx + fw * 0.42 ? 'left third' : sx > fx + fw * 0.58 ? 'right third' : 'centre'}, horizon ${horizonFrac < 0.5 ? 'high' : 'low'}`,
    `LIGHT: ${palette.name}, key ${lightLabel}`,
    `CAMERA: ${notes.length ? notes.join(' · ') : 'no lens notes in prompt'}`,
  ];
  const nx = fx;
  const ny = fy + fh + 3 * u;
  const px = Math.round(W * 0.36);
  const swatches = [palette.sky[0], palette.sky[1], palette.ground, palette.accent, palette.light]
    .map((c, i) => `<rect x="${nx + i * 4.2 * u}" y="${ny + noteLines.length * small * 1.35}" width="${3.6 * u}" height="${3.6 * u}" fill="${c}" stroke="#333" stroke-width="1"/>`)
    .join('');

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">
<defs>
  <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${palette.sky[0]}"/><stop offset="1" stop-color="${palette.sky[1]}"/></linearGradient>
  <radialGradient id="glow" cx="0.5" cy="0.5" r="0.5"><stop offset="0" stop-color="${palette.light}" stop-opacity="0.9"/><stop offset="1" stop-color="${palette.light}" stop-opacity="0"/></radialGradient>
  <clipPath id="frame"><rect x="${fx}" y="${fy}" width="${fw}" height="${fh}"/></clipPath>
</defs>
<rect width="${W}" height="${H}" fill="#f4f1ea"/>
<text x="${fx}" y="${titleH * 0.68}" ${font} font-size="${Math.round(titleH * 0.5)}" font-weight="bold" fill="#b00020">PREVIZ SKETCH — not a generated image</text>
<text x="${W - fx}" y="${titleH * 0.68}" ${font} font-size="${small}" fill="#333" text-anchor="end">seed ${spec.seed} · ${esc(spec.aspectRatio)} · ${W}×${H}</text>
<g clip-path="url(#frame)">
  <g transform="rotate(${tilt.toFixed(2)} ${fx + fw / 2} ${fy + fh / 2})">
    <rect x="${fx - fw}" y="${fy - fh}" width="${fw * 3}" height="${horizonY - fy + fh}" fill="url(#sky)"/>
    <rect x="${fx - fw}" y="${horizonY}" width="${fw * 3}" height="${fh * 2}" fill="${palette.ground}"/>
    ${blocks.join('\n    ')}
    <circle cx="${lx}" cy="${ly}" r="${fh * 0.22}" fill="url(#glow)"/>
    <path d="${body}" fill="#2b2b2b" fill-opacity="0.85"/>
    <circle cx="${sx}" cy="${headCy}" r="${head / 2}" fill="#2b2b2b" fill-opacity="0.9"/>
  </g>
  <g stroke="#ffffff" stroke-opacity="0.55" stroke-width="${u * 0.2}" stroke-dasharray="${u} ${u}">${guides}</g>
  ${safe}
  <line x1="${lx}" y1="${ly}" x2="${sx}" y2="${eyeY}" stroke="${palette.light}" stroke-width="${u * 0.4}" stroke-dasharray="${u * 2} ${u}"/>
  <circle cx="${lx}" cy="${ly}" r="${u * 1.6}" fill="${palette.light}" stroke="#222" stroke-width="${u * 0.2}"/>
  <g stroke="#ff3b30" stroke-width="${u * 0.3}"><line x1="${sx - 3 * u}" y1="${eyeY}" x2="${sx + 3 * u}" y2="${eyeY}"/><line x1="${sx}" y1="${eyeY - 3 * u}" x2="${sx}" y2="${eyeY + 3 * u}"/></g>
  <text x="${fx + fw * 0.06}" y="${fy + fh * 0.05 + small * 1.3}" ${font} font-size="${small}" fill="#ffffff" stroke="#000" stroke-width="${u * 0.08}">${shot.label}</text>
  <text x="${lx}" y="${ly + 4.5 * u}" ${font} font-size="${tiny}" fill="#ffffff" text-anchor="middle" stroke="#000" stroke-width="${u * 0.06}">KEY</text>
</g>
<rect x="${fx}" y="${fy}" width="${fw}" height="${fh}" fill="none" stroke="#222" stroke-width="${u * 0.35}"/>
${noteLines.map((l, i) => `<text x="${nx}" y="${ny + i * small * 1.35}" ${font} font-size="${small}" fill="#222">${esc(l)}</text>`).join('\n')}
${swatches}
${promptLines.map((l, i) => `<text x="${px}" y="${ny + i * tiny * 1.3}" ${font} font-size="${tiny}" fill="#444">${esc(i === 0 ? 'PROMPT: ' + l : l)}</text>`).join('\n')}
${spec.negativePrompt ? `<text x="${px}" y="${H - 1.5 * u}" ${font} font-size="${tiny}" fill="#888">${esc('AVOID: ' + spec.negativePrompt.slice(0, 120))}</text>` : ''}
</svg>`;
}

export class SketchBackend implements ImageBackend {
  readonly name = 'sketch' as const;
  readonly note = SKETCH_NOTE;
  readonly provider = 'sketch';

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const t0 = performance.now();
    const sharp = (await import('sharp')).default;
    const svg = sketchSvg({ ...req, width: req.width, height: req.height });
    const bytes = await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
    return {
      bytes,
      model: SKETCH_MODEL,
      width: req.width,
      height: req.height,
      costUsd: 0,
      attempts: 1,
      modelsTried: [SKETCH_MODEL],
      provider: { kind: 'previz_sketch', render_ms: Math.round(performance.now() - t0), note: SKETCH_NOTE },
    };
  }
}
