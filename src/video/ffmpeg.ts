import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopError } from '../errors.js';

/**
 * The local H.264 encoder/decoder (Story 9.2): the system `ffmpeg` on PATH when it has libx264,
 * else the static build shipped by `@ffmpeg-installer/ffmpeg` (loaded lazily, so a process that
 * never touches video never resolves it). The animatic encodes through it; video scoring decodes
 * and probes through it. The installer package ships no ffprobe, so probing parses ffmpeg's own
 * report.
 */

export type FfmpegSource = 'system' | '@ffmpeg-installer/ffmpeg';

export interface FfmpegInfo {
  /** What to spawn: `ffmpeg` (resolved on PATH) or an absolute path. */
  path: string;
  source: FfmpegSource;
  /** The version string from `ffmpeg -version` (e.g. `6.1.1-3ubuntu5`, `N-47683-g0e8eb07980-static`). */
  version: string;
  /** Whether `-encoders` lists libx264. */
  libx264: boolean;
}

export const NO_ENCODER_MESSAGE =
  'no H.264 encoder found: install ffmpeg with libx264 (apt-get install ffmpeg) or reinstall @ffmpeg-installer/ffmpeg';

interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a short ffmpeg command to completion; rejects only when it cannot be spawned. */
function capture(cmd: string, args: string[], opts: { timeoutMs?: number; maxStdout?: number } = {}): Promise<Captured> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      reject(e);
      return;
    }
    const out: Buffer[] = [];
    let outLen = 0;
    let stderr = '';
    const max = opts.maxStdout ?? 8 << 20;
    child.stdout!.on('data', (d: Buffer) => {
      if (outLen < max) out.push(d);
      outLen += d.length;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 1 << 20) stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** `-version` and `-encoders` of one candidate; null when it does not run. */
async function inspect(path: string, source: FfmpegSource): Promise<FfmpegInfo | null> {
  try {
    const v = await capture(path, ['-hide_banner', '-version'], { timeoutMs: 15_000 });
    if (v.code !== 0) return null;
    const text = v.stdout.toString('utf8');
    const version = /ffmpeg version (\S+)/.exec(text)?.[1];
    if (!version) return null;
    const e = await capture(path, ['-hide_banner', '-encoders'], { timeoutMs: 15_000 });
    const libx264 = e.code === 0 && /^\s*V\S*\s+libx264\s/m.test(e.stdout.toString('utf8'));
    return { path, source, version, libx264 };
  } catch {
    return null;
  }
}

/** The installer package's binary path, or null when the package (or its platform binary) is missing. */
async function installerPath(): Promise<string | null> {
  try {
    const m = (await import('@ffmpeg-installer/ffmpeg')) as { default?: { path?: string }; path?: string };
    return m.default?.path ?? m.path ?? null;
  } catch {
    // the package throws a string when its platform binary is absent
    return null;
  }
}

export interface DetectOptions {
  /** The system command to try (default `ffmpeg`, resolved on PATH). */
  systemCommand?: string | null;
  /** Where the installer package's binary is (default: import it). */
  packagePath?: () => Promise<string | null>;
}

/**
 * Looks for an encoder, uncached: the system one with libx264, else the package's with libx264,
 * else whichever runs at all (libx264 false), else null.
 */
export async function detectFfmpeg(opts: DetectOptions = {}): Promise<FfmpegInfo | null> {
  const systemCommand = opts.systemCommand === undefined ? 'ffmpeg' : opts.systemCommand;
  const system = systemCommand ? await inspect(systemCommand, 'system') : null;
  if (system?.libx264) return system;
  const pkgPath = await (opts.packagePath ?? installerPath)();
  const pkg = pkgPath ? await inspect(pkgPath, '@ffmpeg-installer/ffmpeg') : null;
  if (pkg?.libx264) return pkg;
  return system ?? pkg;
}

let cached: Promise<FfmpegInfo> | null = null;

/**
 * The encoder this process uses (detected once; a failed detection is retried on the next call).
 * Rejects with a CONFIG error when no ffmpeg runs at all; `libx264` says whether it can encode H.264.
 */
export function findFfmpeg(): Promise<FfmpegInfo> {
  if (!cached) {
    cached = detectFfmpeg().then((f) => {
      if (!f) throw new LoopError('CONFIG', NO_ENCODER_MESSAGE);
      return f;
    });
    cached.catch(() => (cached = null));
  }
  return cached;
}

/** Throws the one-line CONFIG error unless `info` can encode H.264. */
export function assertEncoder(info: FfmpegInfo | null): FfmpegInfo {
  if (!info || !info.libx264) throw new LoopError('CONFIG', NO_ENCODER_MESSAGE);
  return info;
}

/** The encoder, or the CONFIG error: no ffmpeg, or none with libx264. */
export async function requireFfmpeg(): Promise<FfmpegInfo> {
  let info: FfmpegInfo | null;
  try {
    info = await findFfmpeg();
  } catch {
    info = null;
  }
  return assertEncoder(info);
}

/** Runs `fn` on a path: the given one, or a private temp file holding the bytes (removed after). */
async function withInputFile<T>(input: string | Buffer, fn: (path: string) => Promise<T>): Promise<T> {
  if (typeof input === 'string') return fn(input);
  const dir = await mkdtemp(join(tmpdir(), 'loop-ffmpeg-'));
  try {
    const p = join(dir, 'input.mp4');
    await writeFile(p, input);
    return await fn(p);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface VideoProbe {
  width: number;
  height: number;
  fps: number;
  /** Video packets in the stream (one per frame). */
  frames: number;
  duration_s: number;
  /** ffmpeg's codec name, e.g. `h264`. */
  codec: string;
  /** e.g. `yuv420p`. */
  pix_fmt: string;
}

/** Splits at commas outside parentheses: `h264 (High), yuv420p(tv, bt709), 320x180` → 3 parts. */
function topLevelParts(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

/** Parses `ffmpeg -i X -map 0:v:0 -c copy -f null -` stderr (exported for tests). */
export function parseProbe(stderr: string): VideoProbe {
  const line = /Stream #\d+:\d+[^\n]*?: Video: ([^\n]*)/.exec(stderr)?.[1];
  if (!line) throw new LoopError('INPUT', `not a video: ${stderr.trim().split('\n').pop() ?? 'no video stream'}`);
  const parts = topLevelParts(line);
  const codec = /^(\S+)/.exec(parts[0] ?? '')?.[1] ?? 'unknown';
  const pix_fmt = /^([a-z0-9_]+)/i.exec(parts[1] ?? '')?.[1] ?? 'unknown';
  const size = parts.map((p) => /(?:^|\s)(\d{1,5})x(\d{1,5})(?:\s|$)/.exec(p)).find((m) => m);
  const num = (re: RegExp) => {
    for (const p of parts) {
      const m = re.exec(p);
      if (m) return m[1]!.endsWith('k') ? parseFloat(m[1]!) * 1000 : parseFloat(m[1]!);
    }
    return NaN;
  };
  let fps = num(/^([\d.]+k?) fps$/);
  if (!Number.isFinite(fps)) fps = num(/^([\d.]+k?) tbr$/);
  const d = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
  const duration_s = d ? +d[1]! * 3600 + +d[2]! * 60 + parseFloat(d[3]!) : NaN;
  const frameMatches = [...stderr.matchAll(/frame=\s*(\d+)/g)];
  const frames = frameMatches.length ? +frameMatches[frameMatches.length - 1]![1]! : Math.round(duration_s * fps);
  return { width: size ? +size[1]! : 0, height: size ? +size[2]! : 0, fps, frames, duration_s, codec, pix_fmt };
}

/** Codec, size, frame rate, frame count and duration of a video's first video stream. */
export async function probeVideo(input: string | Buffer): Promise<VideoProbe> {
  const ff = await findFfmpeg();
  return withInputFile(input, async (p) => {
    const r = await capture(ff.path, ['-hide_banner', '-nostdin', '-stats', '-i', p, '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-'], {
      timeoutMs: 120_000,
    });
    if (r.code !== 0 && !/Video:/.test(r.stderr)) {
      throw new LoopError('INPUT', `ffmpeg cannot read the video: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
    }
    return parseProbe(r.stderr);
  });
}

export interface DecodeOptions {
  width: number;
  height: number;
  /** Resample to this frame rate (default: every frame as stored). */
  fps?: number;
  signal?: AbortSignal;
}

/**
 * The video's frames as raw RGB24 buffers of width*height*3 bytes, scaled to width x height,
 * streamed through one ffmpeg pipe: memory stays at a few frames whatever the length. Stopping
 * the iteration early (break) kills ffmpeg. A Buffer input goes through a private temp file (an
 * MP4 whose index is at the end cannot be read from a pipe).
 */
export async function* decodeFrames(input: string | Buffer, opts: DecodeOptions): AsyncGenerator<Buffer> {
  const { width, height } = opts;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new LoopError('USAGE', `decodeFrames needs a positive integer size, got ${width}x${height}`);
  }
  const ff = await findFfmpeg();
  const dir = typeof input === 'string' ? null : await mkdtemp(join(tmpdir(), 'loop-ffmpeg-'));
  let path: string;
  if (dir) {
    path = join(dir, 'input.mp4');
    await writeFile(path, input as Buffer);
  } else path = input as string;
  const filters = [...(opts.fps ? [`fps=${opts.fps}`] : []), `scale=${width}:${height}:flags=bicubic`];
  const child = spawn(
    ff.path,
    ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', path, '-map', '0:v:0', '-an', '-vf', filters.join(','), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 64 << 10) stderr += d;
  });
  const closed = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  const onAbort = () => child.kill('SIGKILL');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const frameBytes = width * height * 3;
  let done = false;
  try {
    let pending: Buffer[] = [];
    let pendingLen = 0;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < frameBytes) continue;
      let all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen);
      let off = 0;
      while (pendingLen - off >= frameBytes) {
        yield Buffer.from(all.subarray(off, off + frameBytes));
        off += frameBytes;
      }
      all = all.subarray(off);
      pending = all.length ? [all] : [];
      pendingLen = all.length;
    }
    const r = await closed;
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (r.error) throw r.error;
    if (r.code !== 0) throw new LoopError('INPUT', `ffmpeg could not decode the video: ${stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
    done = true;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!done && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
    await closed;
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
