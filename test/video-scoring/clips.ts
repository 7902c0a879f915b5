/**
 * Synthetic clips for the video-scoring tests: raw RGB frames made in code, fed to ffmpeg on
 * stdin and encoded losslessly (libx264rgb -qp 0: RGB in, the same RGB out), so a test can compute
 * the expected value from the very frames it fed in.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { clipDir, videoFile, videoMetaFile, type VideoMetadata } from '../../src/video/generate.js';
import { findFfmpeg } from '../../src/video/ffmpeg.js';

export interface ClipSpec {
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** Frame i as width·height·3 RGB bytes. */
  frame: (i: number) => Uint8Array;
  /** Extra output flags (default: lossless RGB H.264). */
  codec?: string[];
}

export const LOSSLESS = ['-c:v', 'libx264rgb', '-qp', '0', '-preset', 'ultrafast', '-pix_fmt', 'rgb24'];

export async function makeClip(path: string, s: ClipSpec): Promise<Uint8Array[]> {
  const ff = await findFfmpeg();
  mkdirSync(dirname(path), { recursive: true });
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${s.width}x${s.height}`, '-r', String(s.fps), '-i', 'pipe:0', ...(s.codec ?? LOSSLESS), path];
  const child = spawn(ff.path, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<void>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`ffmpeg exit ${code}: ${err}`))));
  });
  let exited = false;
  done.catch(() => {}).finally(() => (exited = true));
  child.stdin.on('error', () => {}); // ffmpeg gone: `done` says why
  const fed: Uint8Array[] = [];
  for (let i = 0; i < s.frames && !exited; i++) {
    const f = s.frame(i);
    if (f.length !== s.width * s.height * 3) throw new Error(`frame ${i} has ${f.length} bytes`);
    fed.push(f);
    if (!child.stdin.write(f)) await Promise.race([new Promise((r) => child.stdin.once('drain', r)), done.catch(() => {})]);
  }
  child.stdin.end();
  await done;
  return fed;
}

/** A deterministic texture (smooth blobs plus fine detail) sampled at (x + dx, y + dy): wraps around. */
export function texture(w: number, h: number, dx = 0, dy = 0, brightness = 0): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const X = x + dx, Y = y + dy;
      const v = 128 + 60 * Math.sin(X * 0.21) * Math.cos(Y * 0.17) + 40 * Math.sin((X + 2 * Y) * 0.07) + 20 * Math.sin(X * 0.9 + Y * 0.5);
      const i = (y * w + x) * 3;
      out[i] = clamp(v + brightness);
      out[i + 1] = clamp(255 - v + brightness);
      out[i + 2] = clamp(0.5 * v + 60 + brightness);
    }
  return out;
}

export function solid(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) out.set(rgb, i * 3);
  return out;
}

const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));

/** VBench's flickering computed directly from frames. */
export function flickerOf(frames: Uint8Array[]): number {
  let s = 0;
  for (let i = 0; i + 1 < frames.length; i++) {
    const a = frames[i]!, b = frames[i + 1]!;
    let d = 0;
    for (let k = 0; k < a.length; k++) d += Math.abs(a[k]! - b[k]!);
    s += d / a.length;
  }
  return (255 - s / (frames.length - 1)) / 255;
}

// ---------------------------------------------------------------------------------------------
// A video generation folder as src/video/generate.ts writes it


export interface GenClip {
  clip: number;
  prompt: string;
  /** One frame function per attempt (attempt 1 first). */
  attempts: ((i: number) => Uint8Array)[];
}

export const sha256Of = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** clip_NNN/video_NNN.mp4 + video_NNN_metadata.json per attempt, and a generation_trace.json. */
export async function writeVideoGeneration(dir: string, clips: GenClip[], o: { width?: number; height?: number; fps?: number; frames?: number } = {}) {
  const width = o.width ?? 128, height = o.height ?? 72, fps = o.fps ?? 24, frames = o.frames ?? 24;
  const videos: VideoMetadata[] = [];
  for (const c of clips) {
    const cd = join(dir, clipDir(c.clip));
    mkdirSync(cd, { recursive: true });
    for (const [k, frame] of c.attempts.entries()) {
      const attempt = k + 1;
      const p = join(cd, videoFile(attempt));
      await makeClip(p, { width, height, fps, frames, frame });
      const bytes = readFileSync(p);
      const m: VideoMetadata = {
        schema_version: 1,
        clip: c.clip,
        attempt,
        file: videoFile(attempt),
        rank: null,
        prompt: c.prompt,
        negative_prompt: null,
        backend: 'animatic',
        model: 'animatic',
        seed: 100 + attempt,
        start_frame: null,
        end_frame: null,
        frames_used: { start: false, end: false, fields: {}, note: null },
        duration_s: frames / fps,
        fps,
        width,
        height,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        cost_usd: 0,
        started_at: new Date().toISOString(),
        ended_at: new Date().toISOString(),
        duration_ms: 1,
        prediction_id: null,
        provider: {},
        scores: null,
      };
      writeFileSync(join(cd, videoMetaFile(attempt)), JSON.stringify(m, null, 2));
      videos.push(m);
    }
  }
  const trace = {
    schema_version: 1,
    backend: 'animatic',
    model: 'animatic',
    clips: clips.map((c) => ({ clip: c.clip, prompt: c.prompt, dir: clipDir(c.clip), videos: c.attempts.map((_, k) => `${clipDir(c.clip)}/${videoFile(k + 1)}`), failures: [] })),
    videos,
    ordering: 'generation',
  };
  writeFileSync(join(dir, 'generation_trace.json'), JSON.stringify(trace, null, 2));
  return { videos, trace };
}
