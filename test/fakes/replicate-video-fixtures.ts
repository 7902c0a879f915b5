/**
 * Small real MP4s for the fake Replicate video models: H.264 test patterns made by ffmpeg
 * (FFMPEG_PATH, else `ffmpeg` on PATH, else the binary of the @ffmpeg-installer/ffmpeg package),
 * cached per size/duration/fps in memory and in the OS temp folder. Without any ffmpeg, a
 * hand-built MP4 container (ftyp, moov with one video track, mdat) stands in: structurally valid
 * and measurable (size, duration, frame count), but its samples are not decodable video.
 * `fixtureSource()` says which one the tests got; LOOP_TEST_FFMPEG=none forces the stand-in.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Mp4Spec {
  width: number;
  height: number;
  seconds: number;
  fps: number;
}

let ffmpegPath: string | null | undefined;

/** The ffmpeg binary to use, or null when there is none. */
export function findFfmpeg(): string | null {
  if (ffmpegPath !== undefined) return ffmpegPath;
  if (process.env.LOOP_TEST_FFMPEG === 'none') return (ffmpegPath = null);
  const candidates: string[] = [];
  if (process.env.FFMPEG_PATH) candidates.push(process.env.FFMPEG_PATH);
  candidates.push('ffmpeg');
  try {
    const req = createRequire(import.meta.url);
    const p = (req('@ffmpeg-installer/ffmpeg') as { path?: string }).path;
    if (p) candidates.push(p);
  } catch {
    /* not installed */
  }
  ffmpegPath = null;
  for (const c of candidates) {
    const r = spawnSync(c, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) {
      ffmpegPath = c;
      break;
    }
  }
  return ffmpegPath;
}

export function fixtureSource(): 'ffmpeg' | 'handmade' {
  return findFfmpeg() ? 'ffmpeg' : 'handmade';
}

const cache = new Map<string, Buffer>();

/** An MP4 of the given size, length and frame rate (ffmpeg's, or the hand-built stand-in). */
export function mp4Fixture(spec: Mp4Spec): Buffer {
  const key = `${spec.width}x${spec.height}_${spec.seconds}s_${spec.fps}fps`;
  const hit = cache.get(key);
  if (hit) return hit;
  const ff = findFfmpeg();
  const bytes = ff ? ffmpegMp4(ff, spec, key) : handmadeMp4(spec);
  cache.set(key, bytes);
  return bytes;
}

function ffmpegMp4(ff: string, s: Mp4Spec, key: string): Buffer {
  const dir = join(tmpdir(), 'loop-test-mp4');
  const file = join(dir, `${key}.mp4`);
  if (existsSync(file)) return readFileSync(file);
  mkdirSync(dir, { recursive: true });
  const part = `${file}.${process.pid}.part.mp4`;
  execFileSync(
    ff,
    [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc=size=${s.width}x${s.height}:rate=${s.fps}:duration=${s.seconds}`,
      '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart',
      part,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
  );
  renameSync(part, file);
  return readFileSync(file);
}

// --- the hand-built stand-in -------------------------------------------------------------------

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
}
const full = (type: string, version: number, ...parts: Buffer[]) => box(type, Buffer.from([version, 0, 0, 0]), ...parts);
const MATRIX = Buffer.concat([u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000)]);

/** A minimal, measurable MP4: one video track of `fps` x `seconds` one-byte samples. */
export function handmadeMp4(s: Mp4Spec): Buffer {
  const timescale = s.fps * 1000;
  const frames = Math.round(s.seconds * s.fps);
  const duration = frames * 1000;
  const mvhd = full('mvhd', 0, u32(0), u32(0), u32(1000), u32(Math.round(s.seconds * 1000)), u32(0x00010000), u16(0x0100), Buffer.alloc(10), MATRIX, Buffer.alloc(24), u32(2));
  const tkhd = full('tkhd', 0, u32(0), u32(0), u32(1), u32(0), u32(Math.round(s.seconds * 1000)), Buffer.alloc(8), u16(0), u16(0), u16(0), u16(0), MATRIX, u32(s.width * 65536), u32(s.height * 65536));
  const mdhd = full('mdhd', 0, u32(0), u32(0), u32(timescale), u32(duration), u16(0x55c4), u16(0));
  const hdlr = full('hdlr', 0, u32(0), Buffer.from('vide', 'latin1'), Buffer.alloc(12), Buffer.from('VideoHandler\0', 'latin1'));
  const stts = full('stts', 0, u32(1), u32(frames), u32(1000));
  const stsz = full('stsz', 0, u32(1), u32(frames));
  const stsc = full('stsc', 0, u32(1), u32(1), u32(frames), u32(1));
  const mdatBody = Buffer.alloc(frames, 0x42);
  const ftyp = box('ftyp', Buffer.from('isom', 'latin1'), u32(0x200), Buffer.from('isomiso2mp41', 'latin1'));
  // stco points at mdat's payload, which follows ftyp and moov: build moov twice to know its size
  const build = (offset: number) => {
    const stco = full('stco', 0, u32(1), u32(offset));
    const stbl = box('stbl', stts, stsc, stsz, stco);
    const minf = box('minf', full('vmhd', 0, Buffer.alloc(8)), stbl);
    return box('moov', mvhd, box('trak', tkhd, box('mdia', mdhd, hdlr, minf)));
  };
  const moovSize = build(0).length;
  const moov = build(ftyp.length + moovSize + 8);
  return Buffer.concat([ftyp, moov, box('mdat', mdatBody)]);
}
