import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Box, contains, intersects } from '../../src/generation/previz/layout.js';
import { textWidth } from '../../src/generation/previz/text-measure.js';
import { type SheetClip, type SheetLayout, contactSheetLayout, parseAspectRatio, renderContactSheet } from '../../src/storyboard/contact-sheet.js';

type RGB = [number, number, number];
const COLOURS: RGB[] = [
  [30, 90, 220], // blue
  [20, 170, 80], // green
  [240, 190, 20], // yellow
  [140, 40, 190], // purple
  [20, 190, 200], // cyan
  [250, 120, 20], // orange
];
const hex = ([r, g, b]: RGB) => `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;

let dir = '';
const frame = (i: number) => join(dir, `frame-${i}.png`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contact-sheet-'));
  // frames at a slightly different size and shape than the thumbnails, as real ones would be
  await Promise.all(COLOURS.map((c, i) => sharp({ create: { width: 400, height: 230, channels: 3, background: hex(c) } }).png().toFile(frame(i))));
  writeFileSync(join(dir, 'broken.png'), 'this is not a png');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const CAPTION = ['Clip 1 · establish · WS, eye level, 24mm', 'slow dolly in · 4 s · cut → clip 2', 'A cat wakes on the windowsill'];
const LONG =
  'A very long description of what happens in this clip, with quotes "like these", <angle brackets>, ampersands & apostrophes it\'s, emoji 🐱🌅 and ' +
  'Supercalifragilisticexpialidocious-unbroken-token-wider-than-any-row-we-could-ever-draw '.repeat(4);
const RATIOS = ['16:9', '1:1', '9:16', '4:3', '3:4', '21:9', '3:2', '2:3'];

async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number): RGB => {
    const i = (Math.round(y) * info.width + Math.round(x)) * info.channels;
    return [data[i]!, data[i + 1]!, data[i + 2]!];
  };
  return { info, at };
}
const centre = (b: Box) => [b.x + b.w / 2, b.y + b.h / 2] as const;
const near = (a: RGB, b: RGB, tol = 12) => a.every((v, i) => Math.abs(v - b[i]!) <= tol);

/** Every box of the layout, named. */
function boxes(l: SheetLayout): Array<Box & { id: string }> {
  const out: Array<Box & { id: string }> = [];
  if (l.title.lines.length) out.push({ ...l.title, id: 'title' });
  for (const r of l.rows) {
    out.push({ ...r.start, id: `clip ${r.clip} start` }, { ...r.arrow, id: `clip ${r.clip} arrow` }, { ...r.end, id: `clip ${r.clip} end` });
    r.caption.forEach((c, i) => out.push({ ...c, id: `clip ${r.clip} caption ${i}` }));
  }
  return out;
}

describe('contact sheet layout', () => {
  const captions = {
    plain: (n: number) => CAPTION.map((l) => l.replace('Clip 1', `Clip ${n}`)),
    long: (n: number) => [`Clip ${n} · ${LONG}`, LONG, LONG, LONG],
    one: (n: number) => [`Clip ${n}`],
    none: () => [] as string[],
  };
  for (const n of [1, 3, 12])
    for (const ar of RATIOS)
      for (const [name, cap] of Object.entries(captions))
        for (const thumbWidth of [undefined, 96, 500])
          it(`${n} clips, ${ar}, ${name} captions, thumbWidth ${thumbWidth ?? 'default'}: no overlaps, all on the canvas`, () => {
            const clips = Array.from({ length: n }, (_, i) => ({ clip: i + 1, caption: cap(i + 1) }));
            const l = contactSheetLayout(clips, { aspectRatio: ar, thumbWidth, title: `Storyboard: ${LONG}` });
            const canvas: Box = { x: 0, y: 0, w: l.width, h: l.height };
            expect(l.rows.map((r) => r.clip)).toEqual(clips.map((c) => c.clip));
            const all = boxes(l);
            for (const b of all) {
              expect(contains(canvas, b), `${b.id} leaves the canvas`).toBe(true);
              expect(b.w, b.id).toBeGreaterThanOrEqual(0);
              expect(b.h, b.id).toBeGreaterThan(0);
            }
            for (let i = 0; i < all.length; i++)
              for (let j = i + 1; j < all.length; j++) expect(intersects(all[i]!, all[j]!), `${all[i]!.id} overlaps ${all[j]!.id}`).toBe(false);
            const [aw, ah] = parseAspectRatio(ar);
            for (const r of l.rows) {
              // thumbnails: whole pixels, the width asked for, the height from the aspect ratio, side by side
              expect(r.start.w).toBe(thumbWidth ?? 320);
              expect(Math.abs(r.start.h - (r.start.w * ah) / aw)).toBeLessThanOrEqual(0.5);
              expect(r.end).toMatchObject({ w: r.start.w, h: r.start.h, y: r.start.y });
              for (const b of [r.start, r.end]) for (const v of [b.x, b.y, b.w, b.h]) expect(Number.isInteger(v)).toBe(true);
              expect(r.start.x + r.start.w).toBeLessThanOrEqual(r.arrow.x);
              expect(r.arrow.x + r.arrow.w).toBeLessThanOrEqual(r.end.x);
              // captions: under the row, at most three lines, each fitting its box
              expect(r.caption.length).toBeLessThanOrEqual(3);
              for (const c of r.caption) {
                expect(c.y).toBeGreaterThanOrEqual(r.start.y + r.start.h);
                for (const line of c.lines) expect(textWidth(line, { size: c.size, bold: c.bold })).toBeLessThanOrEqual(c.w + 0.01);
              }
            }
            if (name === 'none') for (const r of l.rows) expect(r.caption).toEqual([]);
            if (name === 'long' && (thumbWidth ?? 320) >= 320) {
              // cut with an ellipsis, not dropped
              for (const r of l.rows) {
                expect(r.caption).toHaveLength(3);
                expect(r.caption[0]!.lines[0]!.startsWith(`Clip ${r.clip} · `)).toBe(true);
                for (const c of r.caption) expect(c.lines[0]!.endsWith('…')).toBe(true);
              }
              expect(l.title.lines[0]!.endsWith('…')).toBe(true);
            }
          });

  it('default thumbnails are 320 wide; rows are stacked top to bottom', () => {
    const l = contactSheetLayout(
      [1, 2, 3].map((clip) => ({ clip, caption: CAPTION })),
      { aspectRatio: '16:9', title: 'T' },
    );
    expect(l.rows[0]!.start).toMatchObject({ w: 320, h: 180 });
    for (let i = 1; i < l.rows.length; i++) expect(l.rows[i]!.start.y).toBeGreaterThan(l.rows[i - 1]!.caption.at(-1)!.y + l.rows[i - 1]!.caption.at(-1)!.h);
  });

  it('is pure: the same inputs give the same layout', () => {
    const clips = [1, 2].map((clip) => ({ clip, caption: [LONG] }));
    expect(contactSheetLayout(clips, { aspectRatio: '4:3', title: 'x' })).toEqual(contactSheetLayout(clips, { aspectRatio: '4:3', title: 'x' }));
  });

  it('refuses an aspect ratio that is not W:H, and a silly thumbnail width', () => {
    for (const ar of ['', 'wide', '16', '0:9', '16:0', '-16:9', '1:100']) expect(() => contactSheetLayout([], { aspectRatio: ar, title: 't' }), ar).toThrow(/aspect ratio/);
    for (const w of [0, -5, 1.5, 100_000]) expect(() => contactSheetLayout([], { aspectRatio: '1:1', thumbWidth: w, title: 't' })).toThrow(/thumbWidth/);
    expect(parseAspectRatio('21:9')).toEqual([21, 9]);
    expect(parseAspectRatio(' 2.39:1 ')).toEqual([2.39, 1]);
  });
});

describe('renderContactSheet', () => {
  const clips3 = (): SheetClip[] => [
    { clip: 1, start: frame(0), end: frame(1), caption: CAPTION },
    { clip: 2, start: frame(2), end: frame(3), caption: ['Clip 2 · develop · CU, low angle, 85mm', 'static · 3 s · dissolve → clip 3'] },
    { clip: 3, start: frame(4), end: frame(5), caption: ['Clip 3 · resolve', 'slow pan left · 5 s · cut (end)', 'The sun comes up'] },
  ];

  for (const ar of ['16:9', '9:16', '1:1'])
    it(`${ar}: the PNG is the layout's size and every thumbnail shows its own frame`, async () => {
      const clips = clips3();
      const o = { aspectRatio: ar, title: 'Storyboard — a cat at dawn' };
      const png = await renderContactSheet(clips, o);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      const l = contactSheetLayout(clips, o);
      const { info, at } = await pixels(png);
      expect([info.width, info.height]).toEqual([l.width, l.height]);
      l.rows.forEach((r, i) => {
        expect(near(at(...centre(r.start)), COLOURS[2 * i]!), `clip ${r.clip} start`).toBe(true);
        expect(near(at(...centre(r.end)), COLOURS[2 * i + 1]!), `clip ${r.clip} end`).toBe(true);
        // the frame fills its whole box (fit: cover): a pixel just inside each corner is the frame's colour too
        for (const [b, c] of [
          [r.start, COLOURS[2 * i]!],
          [r.end, COLOURS[2 * i + 1]!],
        ] as const) {
          expect(near(at(b.x + 3, b.y + 3), c)).toBe(true);
          expect(near(at(b.x + b.w - 4, b.y + b.h - 4), c)).toBe(true);
        }
        // the caption is drawn: dark ink inside the first caption line's box
        const cap = r.caption[0]!;
        let darkest = 255;
        for (let x = cap.x; x < cap.x + cap.w; x += 1) darkest = Math.min(darkest, ...at(x, cap.y + cap.h / 2));
        expect(darkest, `clip ${r.clip} caption ink`).toBeLessThan(110);
        // and the arrow between the frames
        expect(Math.max(...at(...centre(r.arrow)))).toBeLessThan(140);
      });
      // the gap between rows is the sheet's light background
      const gapY = (l.rows[0]!.caption.at(-1)!.y + l.rows[0]!.caption.at(-1)!.h + l.rows[1]!.start.y) / 2 - 3;
      expect(Math.min(...at(l.width / 2, gapY))).toBeGreaterThan(200);
    });

  it('a missing or unreadable frame becomes the "frame failed" placeholder, and the rest still render', async () => {
    const clips: SheetClip[] = [
      { clip: 1, start: null, end: frame(1), caption: CAPTION },
      { clip: 2, start: frame(2), end: join(dir, 'broken.png'), caption: ['Clip 2'] },
      { clip: 3, start: join(dir, 'does-not-exist.png'), end: null, caption: ['Clip 3'] },
    ];
    const o = { aspectRatio: '16:9', title: 'Failures' };
    const png = await renderContactSheet(clips, o);
    const l = contactSheetLayout(clips, o);
    const { info, at } = await pixels(png);
    expect([info.width, info.height]).toEqual([l.width, l.height]);
    const failed = [l.rows[0]!.start, l.rows[1]!.end, l.rows[2]!.start, l.rows[2]!.end];
    for (const b of failed) {
      const c = at(...centre(b));
      for (const fc of COLOURS) expect(near(c, fc, 40), `placeholder centre ${c} looks like frame colour ${fc}`).toBe(false);
      // the placeholder's body is a neutral grey, not the sheet's background and not a frame
      const body = at(b.x + b.w / 2, b.y + b.h * 0.2);
      expect(Math.max(...body) - Math.min(...body)).toBeLessThan(12);
      expect(body[0]).toBeGreaterThan(200);
      // marked: red dashes on its edge, a red cross through it
      let red = 0;
      for (let x = b.x; x < b.x + b.w; x++) {
        const [r, g, bl] = at(x, b.y + 1);
        if (r > 140 && g < 90 && bl < 90) red++;
      }
      expect(red, 'dashed red edge').toBeGreaterThan(b.w * 0.3);
      const onCross = at(b.x + b.w * 0.25, b.y + b.h * 0.25);
      expect(onCross[0] - onCross[1], 'red cross').toBeGreaterThan(40);
    }
    expect(near(at(...centre(l.rows[0]!.end)), COLOURS[1]!)).toBe(true);
    expect(near(at(...centre(l.rows[1]!.start)), COLOURS[2]!)).toBe(true);
  });

  it('captions and titles with markup characters, emoji and control characters render', async () => {
    const nasty = `<script>alert("x") & 'y'</script> ]]> <!-- 🐱‍👤 🌅 \u0000\u0007 \uD800 tab\there &amp; &#x41;`;
    const clips: SheetClip[] = [
      { clip: 1, start: frame(0), end: frame(1), caption: [nasty, `"quoted" <b>bold?</b> & ‘curly’`, LONG] },
      { clip: 2, start: null, end: null, caption: [`Clip 2 <&"'>`] },
    ];
    const o = { aspectRatio: '4:3', title: `Title ${nasty}` };
    const png = await renderContactSheet(clips, o);
    const l = contactSheetLayout(clips, o);
    const { info, at } = await pixels(png);
    expect([info.width, info.height]).toEqual([l.width, l.height]);
    expect(near(at(...centre(l.rows[0]!.start)), COLOURS[0]!)).toBe(true);
    for (const r of l.rows) for (const c of r.caption) for (const line of c.lines) expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(l.rows[0]!.caption[0]!.lines[0]!).toContain('<script>');
  });

  it('renders 12 clips and no clips; the same inputs give the same bytes', async () => {
    const twelve: SheetClip[] = Array.from({ length: 12 }, (_, i) => ({
      clip: i + 1,
      start: i % 5 === 4 ? null : frame(i % COLOURS.length),
      end: frame((i + 1) % COLOURS.length),
      caption: [`Clip ${i + 1} · develop`, LONG],
    }));
    const o = { aspectRatio: '21:9', thumbWidth: 200, title: 'Twelve' };
    const a = await renderContactSheet(twelve, o);
    const b = await renderContactSheet(twelve, o);
    expect(a.equals(b)).toBe(true);
    const l = contactSheetLayout(twelve, o);
    const { info, at } = await pixels(a);
    expect([info.width, info.height]).toEqual([l.width, l.height]);
    expect(near(at(...centre(l.rows[11]!.end)), COLOURS[0]!)).toBe(true);
    const empty = await renderContactSheet([], { aspectRatio: '16:9', title: 'Nothing yet' });
    const m = await sharp(empty).metadata();
    const le = contactSheetLayout([], { aspectRatio: '16:9', title: 'Nothing yet' });
    expect([m.width, m.height]).toEqual([le.width, le.height]);
  });
});
