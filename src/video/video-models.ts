import type { AspectRatio } from '../generation/metadata.js';
import { moveWords } from '../storyboard/plan.js';
import type { VideoFrame, VideoRequest } from './backend.js';

/**
 * One adapter per Replicate video model: it maps a VideoRequest onto the model's own input
 * fields and enforces the model's rules (durations, resolutions, which frames it takes, which
 * frame shapes it accepts). The backend (replicate-video.ts) knows nothing model-specific.
 *
 * SOURCE OF TRUTH. Each adapter names the model's Replicate input schema (the API tab of its
 * model page, replicate.com/<owner>/<name>/api) as the authority, with what that schema said when
 * the adapter was written; where a field name or rule was not confirmed there, the adapter says so
 * ("UNVERIFIED"). Re-check a model's page when its adapter is touched: these schemas change.
 *
 * FRAMES GO AS DATA URIs (`data:image/png;base64,…`) in the prediction input, for every model.
 * Every schema here types its image fields as URI strings, and Replicate accepts a data URI
 * wherever a URI input is. The alternative for large frames is Replicate's files API
 * (POST /v1/files, then pass the file's URL): not used, because it adds an upload (with its own
 * retries) before every create, leaves the frames stored on the account until deleted, and has to
 * be redone by a resumed job whose upload expired; storyboard frames (PNG, ~1-3 MB at 1344x768)
 * fit data URIs comfortably. The price of data URIs: the API echoes the input on every poll, so
 * each GET carries the frames back (a few MB per poll at a 15 s poll gap). Frames above
 * MAX_FRAME_BYTES in total are refused with a line that says to downscale or re-encode them;
 * that is the point at which the files API would be needed.
 *
 * FALLBACKS THE OUTPUT NAMES. What a model cannot do is either adjusted with a note
 * (frames_used.note and provider.notes in the result) or refused with one user error line
 * (check()): an end frame a model cannot take is dropped with a note, or refused when the caller
 * demanded it (requireEndFrame); a duration between the model's steps is rounded up to the next
 * one (trim in the edit) and one past the longest is refused; a resolution the caller did not ask
 * for may be lowered to fit a duration (Hailuo-02 at 10 s), an asked-for one never is.
 *
 * PRICES. Cost is per second of output: src/config/prices.json `per_video_second`, keyed by the
 * adapter's priceKey: the model id for its default variant, `model@variant` where the price
 * depends on a mode or a resolution (`kwaivgi/kling-v2.1@pro`, `minimax/hailuo-02@1080p`,
 * `google/veo-3.1@no-audio`). See PRICE_NOTE for where the numbers come from.
 */

export const PRICE_NOTE =
  'Replicate video list prices as known on 2025-10-15, per second of output: kling-v2.1 standard $0.05, pro $0.09; hailuo-02 768p $0.045, 1080p $0.08; veo-3.1 $0.40 with audio, $0.20 without. ' +
  'Not priced (null cost): luma/ray, wan-video/wan-2.2-i2v-fast (priced per video, not per second), hailuo-02 at 512p. Check the model pages before relying on them; LOOP_PRICES_FILE overrides.';

/** Frames above this (all frames of one request together) are refused: see the top of this file. */
export const MAX_FRAME_BYTES = 7 * 1024 * 1024;

/** A frame's aspect ratio may differ from the clip's by this much (SDXL's 1344x768 is 1.75 for 16:9). */
const ASPECT_TOLERANCE = 0.05;

/** What an adapter needs of a request; the backend's request plus two choices the caller may make. */
export interface AdapterRequest
  extends Pick<VideoRequest, 'prompt' | 'negativePrompt' | 'startImage' | 'endImage' | 'durationS' | 'aspectRatio' | 'seed' | 'camera'> {
  /** Refuse (a user error) instead of dropping an end frame the model cannot take. */
  requireEndFrame?: boolean;
  /** An output resolution asked for ('720p', '1080p', …). Never adjusted: a combination the model refuses is an error. */
  resolution?: string;
}

/** What an adapter decided for one request, before any input is built. */
export interface ModelPlan {
  /** Seconds asked of the model (what it bills for). */
  duration: number;
  resolution: string;
  /** The price table key: the model id, or `model@variant`. */
  priceKey: string;
  useStart: boolean;
  useEnd: boolean;
  /** What the output should be if the MP4 itself cannot say (the MP4's own values win). */
  fps: number;
  width: number;
  height: number;
  /** About the frames (frames_used.note). */
  frameNotes: string[];
  /** Every other adjustment (durations, resolution, dropped fields). */
  notes: string[];
}

export interface AdapterInput {
  input: Record<string, unknown>;
  /** Which of the model's fields carried which frame: { start: 'start_image', end: 'end_image' }. */
  fields: Record<string, string>;
  notes: string[];
}

export interface VideoModelAdapter {
  id: string;
  /** Where its fields and rules come from. */
  source: string;
  /** start/end: which frames it can take; text: whether it runs with no frame at all. */
  takes: { start: boolean; end: boolean; text: boolean };
  durations: readonly number[];
  resolutions: readonly string[];
  defaultResolution: string;
  /** Frame shapes (width / height) the model accepts, inclusive. */
  frameAspect: { min: number; max: number };
  /** Clip aspect ratios it can make (when it has an aspect_ratio field, or is text-only-landscape). */
  aspectRatios: readonly AspectRatio[] | 'any';
  plan(req: AdapterRequest): ModelPlan;
  input(req: AdapterRequest): AdapterInput;
  /** One user error line, or null when the request can run. */
  check(req: AdapterRequest): string | null;
}

// ---------------------------------------------------------------------------------------------
// frames: MIME type and size from the bytes (no decoder: check() is synchronous and cheap)

export type FrameMime = 'image/png' | 'image/jpeg' | 'image/webp';

export function frameMime(b: Buffer): FrameMime | null {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** Width and height from a PNG, JPEG or WebP header; null when the header cannot be read. */
export function frameSize(b: Buffer): { width: number; height: number } | null {
  const mime = frameMime(b);
  try {
    if (mime === 'image/png') {
      if (b.toString('latin1', 12, 16) !== 'IHDR') return null;
      return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
    }
    if (mime === 'image/jpeg') {
      let i = 2;
      while (i + 9 < b.length) {
        if (b[i] !== 0xff) return null;
        const marker = b[i + 1]!;
        if (marker === 0xff) {
          i++;
          continue;
        }
        const len = b.readUInt16BE(i + 2);
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
        if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
          return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
        i += 2 + len;
      }
      return null;
    }
    if (mime === 'image/webp') {
      const chunk = b.toString('latin1', 12, 16);
      if (chunk === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
      if (chunk === 'VP8L') {
        const bits = b.readUInt32LE(21);
        return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
      }
      if (chunk === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
    }
  } catch {
    return null;
  }
  return null;
}

/** The frame as a data URI (see the top of this file for why not the files API). */
export function dataUri(frame: VideoFrame): string {
  return `data:${frameMime(frame.bytes) ?? 'application/octet-stream'};base64,${frame.bytes.toString('base64')}`;
}

const ratioOf = (ar: AspectRatio) => {
  const [w, h] = ar.split(':').map(Number) as [number, number];
  return w / h;
};

/** Output size for a resolution ("720p": short side 720) at an aspect ratio, even numbers. */
function sizeAt(resolution: string, aspect: number): { width: number; height: number } {
  const short = Number.parseInt(resolution, 10) || 720;
  const long = Math.round((short * Math.max(aspect, 1 / aspect)) / 2) * 2;
  return aspect >= 1 ? { width: long, height: short } : { width: short, height: long };
}

/** The frame problems every model shares: unreadable, too large together, not the clip's shape. */
function frameProblems(a: VideoModelAdapter, req: AdapterRequest): string | null {
  const frames = [
    ['start', req.startImage],
    ['end', req.endImage],
  ] as const;
  let total = 0;
  for (const [role, f] of frames) {
    if (!f) continue;
    total += f.bytes.length;
    if (!frameMime(f.bytes)) return `${role} frame ${f.path} is not a PNG, JPEG or WebP image`;
    const size = frameSize(f.bytes);
    if (!size || !size.width || !size.height) return `${role} frame ${f.path}: cannot read its width and height`;
    const r = size.width / size.height;
    if (r < a.frameAspect.min - 1e-9 || r > a.frameAspect.max + 1e-9)
      return `${a.id} takes frames between ${shape(a.frameAspect.min)} and ${shape(a.frameAspect.max)} (width:height); ${role} frame ${f.path} is ${size.width}x${size.height} (${shape(r)})`;
    const want = ratioOf(req.aspectRatio);
    if (Math.abs(r / want - 1) > ASPECT_TOLERANCE)
      return `${role} frame ${f.path} is ${size.width}x${size.height} (${shape(r)}) but the clip is ${req.aspectRatio}: ${a.id} would make the clip in the frame's shape; make the frame at ${req.aspectRatio}`;
  }
  if (total > MAX_FRAME_BYTES)
    return `frames are ${(total / 1048576).toFixed(1)} MB together; data URIs are limited to ${MAX_FRAME_BYTES / 1048576} MB of image per clip: downscale the frames or save them as JPEG`;
  if (req.endImage && !req.startImage) return `an end frame (${req.endImage.path}) without a start frame: ${a.id} needs the start frame too`;
  return null;
}

/** "2.5:1", "1:2.5" */
function shape(r: number): string {
  const f = (x: number) => String(Math.round(x * 100) / 100);
  return r >= 1 ? `${f(r)}:1` : `1:${f(1 / r)}`;
}

/** The smallest allowed duration at or above the one asked (trim in the edit); null past the longest. */
function stepDuration(asked: number, allowed: readonly number[]): number | null {
  const sorted = [...allowed].sort((x, y) => x - y);
  return sorted.find((d) => d >= asked - 1e-6) ?? null;
}

function durationProblem(a: VideoModelAdapter, req: AdapterRequest): string | null {
  if (!(req.durationS > 0)) return `clip duration ${req.durationS} s: give a positive number of seconds`;
  if (stepDuration(req.durationS, a.durations) === null)
    return `${a.id} makes clips of ${a.durations.join(' or ')} s; ${req.durationS} s is longer than its longest: shorten the shot or split it in two`;
  return null;
}

function durationOf(a: VideoModelAdapter, req: AdapterRequest, notes: string[]): number {
  const d = stepDuration(req.durationS, a.durations) ?? Math.max(...a.durations);
  if (Math.abs(d - req.durationS) > 1e-6) notes.push(`${req.durationS} s asked; ${a.id} makes ${a.durations.join(' or ')} s clips: ${d} s (trim in the edit)`);
  return d;
}

/** The prompt the model gets: the clip's prompt, and the planned camera move in words. */
export function promptWithCamera(req: Pick<AdapterRequest, 'prompt' | 'camera'>): string {
  const p = req.prompt.trim();
  if (!req.camera) return p;
  const move = `Camera: ${moveWords(req.camera)}.`;
  return p.toLowerCase().includes(move.toLowerCase()) ? p : `${p}${/[.!?]$/.test(p) ? '' : '.'} ${move}`;
}

function resolutionProblem(a: VideoModelAdapter, req: AdapterRequest): string | null {
  if (req.resolution !== undefined && !a.resolutions.includes(req.resolution))
    return `${a.id} makes ${a.resolutions.join(', ')}; resolution ${req.resolution} is not one of them`;
  return null;
}

function aspectProblem(a: VideoModelAdapter, req: AdapterRequest): string | null {
  if (a.aspectRatios !== 'any' && !a.aspectRatios.includes(req.aspectRatio))
    return `${a.id} makes ${a.aspectRatios.join(', ')} clips; the clip is ${req.aspectRatio}`;
  return null;
}

/** The end frame: used, dropped with a note, or (requireEndFrame) a refusal from check(). */
function endFrameDecision(a: VideoModelAdapter, req: AdapterRequest, canHere: boolean, why: string, frameNotes: string[]): boolean {
  if (!req.endImage) return false;
  if (a.takes.end && canHere) return true;
  frameNotes.push(`end frame ${req.endImage.path} not used: ${why}; the clip ends where the model takes it`);
  return false;
}

function generic(a: VideoModelAdapter, req: AdapterRequest): string | null {
  return durationProblem(a, req) ?? resolutionProblem(a, req) ?? frameProblems(a, req) ?? (!req.startImage && !a.takes.text ? `${a.id} needs a start frame (it is image-to-video only)` : null);
}

// ---------------------------------------------------------------------------------------------
// Kling v2.1

/**
 * kwaivgi/kling-v2.1. Source: replicate.com/kwaivgi/kling-v2.1/api (input schema): `prompt`,
 * `start_image` ("You must use a start image with kling-v2.1"), `end_image` ("pro mode is
 * required when this parameter is set"), `mode` standard (720p) | pro (1080p), both 24 fps,
 * `duration` 5 | 10, `negative_prompt`. No aspect_ratio field: the clip takes the start image's
 * shape. No seed field: attempts differ by the provider's randomness only.
 * Rules here: an end frame switches mode to pro (1080p, about twice the price) and says so; with
 * an asked-for 720p the end frame is dropped with a note (refused with requireEndFrame); frames between 1:2.5 and 2.5:1 (Kling's own API
 * image limits; the Replicate page does not state them: UNVERIFIED there).
 */
const kling: VideoModelAdapter = {
  id: 'kwaivgi/kling-v2.1',
  source: 'replicate.com/kwaivgi/kling-v2.1/api',
  takes: { start: true, end: true, text: false },
  durations: [5, 10],
  resolutions: ['720p', '1080p'],
  defaultResolution: '720p',
  frameAspect: { min: 1 / 2.5, max: 2.5 },
  aspectRatios: 'any',
  plan(req) {
    const notes: string[] = [];
    const frameNotes: string[] = [];
    const duration = durationOf(this, req, notes);
    let resolution = req.resolution ?? this.defaultResolution;
    const useEnd = endFrameDecision(this, req, resolution === '1080p' || req.resolution === undefined, 'kling-v2.1 takes an end frame only in pro mode (1080p) and 720p was asked', frameNotes);
    if (useEnd && resolution !== '1080p') {
      resolution = '1080p';
      frameNotes.push('end frame given: mode set to pro (1080p), which kling-v2.1 requires for end_image; pro costs more per second');
    }
    const pro = resolution === '1080p';
    notes.push('kling-v2.1 has no seed field: attempts differ by the provider only');
    return {
      duration,
      resolution,
      priceKey: pro ? `${this.id}@pro` : this.id,
      useStart: Boolean(req.startImage),
      useEnd,
      fps: 24,
      ...sizeAt(resolution, ratioOf(req.aspectRatio)),
      frameNotes,
      notes,
    };
  },
  input(req) {
    const p = this.plan(req);
    const input: Record<string, unknown> = { prompt: promptWithCamera(req), mode: p.resolution === '1080p' ? 'pro' : 'standard', duration: p.duration };
    const fields: Record<string, string> = {};
    if (p.useStart && req.startImage) (input.start_image = dataUri(req.startImage)), (fields.start = 'start_image');
    if (p.useEnd && req.endImage) (input.end_image = dataUri(req.endImage)), (fields.end = 'end_image');
    if (req.negativePrompt) input.negative_prompt = req.negativePrompt;
    return { input, fields, notes: [...p.frameNotes, ...p.notes] };
  },
  check(req) {
    const g = generic(this, req);
    if (g) return g;
    if (req.endImage && req.requireEndFrame && req.resolution === '720p')
      return `kwaivgi/kling-v2.1 takes an end frame only in pro mode (1080p); 720p was asked and the end frame is required: ask 1080p, or leave the resolution to the model`;
    return null;
  },
};

// ---------------------------------------------------------------------------------------------
// Luma Ray

/**
 * luma/ray (Dream Machine, Ray). Source: replicate.com/luma/ray/api. Fields used: `prompt`,
 * `aspect_ratio` (1:1, 3:4, 4:3, 9:16, 16:9, 9:21, 21:9), `loop` (false), `start_image`,
 * `end_image` (both optional, either alone is allowed by the model).
 * The frame field names are checked against luma/ray's input schema (version ace5984f…), where
 * `start_image_url` / `end_image_url` survive as deprecated aliases; `aspect_ratio` is ignored
 * there when a frame is given, and `loop` when an end frame is. No duration field: Ray makes 5 s
 * clips (about 720p, 24 fps; UNVERIFIED); no seed, no negative prompt (dropped with a note). 3:2
 * and 2:3 clips are refused.
 */
const lumaRay: VideoModelAdapter = {
  id: 'luma/ray',
  source: 'the Replicate input schema of luma/ray (start_image, end_image)',
  takes: { start: true, end: true, text: true },
  durations: [5],
  resolutions: ['720p'],
  defaultResolution: '720p',
  frameAspect: { min: 9 / 21 - 0.02, max: 21 / 9 + 0.02 },
  aspectRatios: ['1:1', '3:4', '4:3', '9:16', '16:9', '21:9'],
  plan(req) {
    const notes: string[] = [];
    const duration = durationOf(this, req, notes);
    if (req.negativePrompt) notes.push('luma/ray has no negative prompt field: dropped');
    notes.push('luma/ray has no seed field: attempts differ by the provider only');
    const frameNotes: string[] = [];
    const useEnd = endFrameDecision(this, req, true, '', frameNotes);
    return {
      duration,
      resolution: '720p',
      priceKey: this.id,
      useStart: Boolean(req.startImage),
      useEnd,
      fps: 24,
      ...sizeAt('720p', ratioOf(req.aspectRatio)),
      frameNotes,
      notes,
    };
  },
  input(req) {
    const p = this.plan(req);
    const input: Record<string, unknown> = { prompt: promptWithCamera(req), aspect_ratio: req.aspectRatio, loop: false };
    const fields: Record<string, string> = {};
    if (p.useStart && req.startImage) (input.start_image = dataUri(req.startImage)), (fields.start = 'start_image');
    if (p.useEnd && req.endImage) (input.end_image = dataUri(req.endImage)), (fields.end = 'end_image');
    return { input, fields, notes: [...p.frameNotes, ...p.notes] };
  },
  check(req) {
    return generic(this, req) ?? aspectProblem(this, req);
  },
};

// ---------------------------------------------------------------------------------------------
// Hailuo-02

/**
 * minimax/hailuo-02. Source: replicate.com/minimax/hailuo-02/api (input schema): `prompt`,
 * `first_frame_image` ("the output video will have the same aspect ratio as this image"),
 * `last_frame_image`, `duration` 6 | 10 ("10 seconds is only available for 768p resolution"),
 * `resolution` 512p | 768p | 1080p (default 1080p), `prompt_optimizer` (sent false: the prompt is
 * already written for the shot, and the optimizer would rewrite the camera move away).
 * Rules here: 10 s at 1080p: when no resolution was asked, 768p is used and said; an asked-for
 * 1080p (or 512p) at 10 s is refused. The last frame is not taken at 512p (MiniMax's first/last
 * frame mode is 768p and 1080p only): dropped with a note. Frames between 2:5 and 5:2 (MiniMax's
 * API image limits; not on the Replicate page: UNVERIFIED there). Text-to-video (no frame) makes
 * 16:9 only (MiniMax's text-to-video sizes, 1366x768 and 1920x1080); other shapes are refused.
 * No seed field, no negative prompt (dropped with a note).
 */
const hailuo: VideoModelAdapter = {
  id: 'minimax/hailuo-02',
  source: 'replicate.com/minimax/hailuo-02/api',
  takes: { start: true, end: true, text: true },
  durations: [6, 10],
  resolutions: ['512p', '768p', '1080p'],
  defaultResolution: '1080p',
  frameAspect: { min: 2 / 5, max: 5 / 2 },
  aspectRatios: 'any',
  plan(req) {
    const notes: string[] = [];
    const frameNotes: string[] = [];
    const duration = durationOf(this, req, notes);
    let resolution = req.resolution ?? this.defaultResolution;
    if (duration === 10 && resolution !== '768p' && req.resolution === undefined) {
      notes.push(`10 s clips: hailuo-02 makes 10 s only at 768p, so 768p instead of its default ${resolution}`);
      resolution = '768p';
    }
    const useEnd = endFrameDecision(this, req, resolution !== '512p', 'hailuo-02 takes a last frame only at 768p and 1080p', frameNotes);
    if (req.negativePrompt) notes.push('hailuo-02 has no negative prompt field: dropped');
    notes.push('hailuo-02 has no seed field: attempts differ by the provider only');
    return {
      duration,
      resolution,
      priceKey: `${this.id}@${resolution}`,
      useStart: Boolean(req.startImage),
      useEnd,
      fps: 24,
      ...sizeAt(resolution, req.startImage ? ratioOf(req.aspectRatio) : 16 / 9),
      frameNotes,
      notes,
    };
  },
  input(req) {
    const p = this.plan(req);
    const input: Record<string, unknown> = { prompt: promptWithCamera(req), duration: p.duration, resolution: p.resolution, prompt_optimizer: false };
    const fields: Record<string, string> = {};
    if (p.useStart && req.startImage) (input.first_frame_image = dataUri(req.startImage)), (fields.start = 'first_frame_image');
    if (p.useEnd && req.endImage) (input.last_frame_image = dataUri(req.endImage)), (fields.end = 'last_frame_image');
    return { input, fields, notes: [...p.frameNotes, ...p.notes] };
  },
  check(req) {
    const g = generic(this, req);
    if (g) return g;
    const d = stepDuration(req.durationS, this.durations);
    if (d === 10 && req.resolution !== undefined && req.resolution !== '768p')
      return `minimax/hailuo-02 makes 10 s clips only at 768p; ${req.resolution} was asked for a ${req.durationS} s clip: ask 768p, or 6 s`;
    if (req.endImage && req.requireEndFrame && req.resolution === '512p')
      return `minimax/hailuo-02 takes a last frame only at 768p and 1080p; 512p was asked and the end frame is required`;
    if (!req.startImage && req.aspectRatio !== '16:9')
      return `minimax/hailuo-02 makes 16:9 clips from text; the clip is ${req.aspectRatio}: give a start frame, or use google/veo-3.1 (9:16) or luma/ray`;
    return null;
  },
};

// ---------------------------------------------------------------------------------------------
// Veo 3.1

/**
 * google/veo-3.1. Source: replicate.com/google/veo-3.1/api (input schema): `prompt`, `image`
 * (start; "ideal images are 16:9 or 9:16 and 1280x720 or 720x1280"), `last_frame` ("when
 * provided with an input image, creates a transition between the two images"), `aspect_ratio`
 * 16:9 | 9:16, `duration` 4 | 6 | 8, `resolution` 720p | 1080p (default 1080p), `generate_audio`
 * (default true; sent false: the ad's sound is laid in the edit, and audio doubles the price),
 * `negative_prompt`, `seed`. 24 fps. Clips other than 16:9 and 9:16 are refused.
 */
const veo: VideoModelAdapter = {
  id: 'google/veo-3.1',
  source: 'replicate.com/google/veo-3.1/api',
  takes: { start: true, end: true, text: true },
  durations: [4, 6, 8],
  resolutions: ['720p', '1080p'],
  defaultResolution: '1080p',
  frameAspect: { min: 9 / 16 - 0.03, max: 16 / 9 + 0.03 },
  aspectRatios: ['16:9', '9:16'],
  plan(req) {
    const notes: string[] = [];
    const frameNotes: string[] = [];
    const duration = durationOf(this, req, notes);
    const resolution = req.resolution ?? this.defaultResolution;
    const useEnd = endFrameDecision(this, req, true, '', frameNotes);
    notes.push('generate_audio false: a silent clip (the model would add its own sound at twice the price)');
    return {
      duration,
      resolution,
      priceKey: `${this.id}@no-audio`,
      useStart: Boolean(req.startImage),
      useEnd,
      fps: 24,
      ...sizeAt(resolution, ratioOf(req.aspectRatio)),
      frameNotes,
      notes,
    };
  },
  input(req) {
    const p = this.plan(req);
    const input: Record<string, unknown> = {
      prompt: promptWithCamera(req),
      aspect_ratio: req.aspectRatio,
      duration: p.duration,
      resolution: p.resolution,
      generate_audio: false,
      seed: req.seed,
    };
    const fields: Record<string, string> = {};
    if (p.useStart && req.startImage) (input.image = dataUri(req.startImage)), (fields.start = 'image');
    if (p.useEnd && req.endImage) (input.last_frame = dataUri(req.endImage)), (fields.end = 'last_frame');
    if (req.negativePrompt) input.negative_prompt = req.negativePrompt;
    return { input, fields, notes: [...p.frameNotes, ...p.notes] };
  },
  check(req) {
    return aspectProblem(this, req) ?? generic(this, req);
  },
};

// ---------------------------------------------------------------------------------------------
// Wan 2.2 image-to-video (fast)

const WAN_FPS = 16;

/**
 * wan-video/wan-2.2-i2v-fast. Source: its Replicate input schema (version 4eaf2b01…): `image`
 * (required), `last_image` ("optional last image to condition the video generation"), `prompt`,
 * `num_frames` (81-121), `frames_per_second` (5-30, 16 here), `resolution` 480p | 720p, `seed`,
 * `go_fast`; no negative prompt field (dropped with a note). The clip takes the image's shape.
 * Durations: num_frames = 16 x seconds + 1, so 5, 6 or 7 s (81, 97, 113 frames). Priced per video
 * on Replicate, not per second: unpriced here (cost null).
 */
const wan: VideoModelAdapter = {
  id: 'wan-video/wan-2.2-i2v-fast',
  source: 'the Replicate input schema of wan-video/wan-2.2-i2v-fast (image, last_image)',
  takes: { start: true, end: true, text: false },
  durations: [5, 6, 7],
  resolutions: ['480p', '720p'],
  defaultResolution: '720p',
  frameAspect: { min: 1 / 2.5, max: 2.5 },
  aspectRatios: 'any',
  plan(req) {
    const notes: string[] = [];
    const frameNotes: string[] = [];
    const duration = durationOf(this, req, notes);
    const resolution = req.resolution ?? this.defaultResolution;
    const useEnd = endFrameDecision(this, req, true, '', frameNotes);
    if (req.negativePrompt) notes.push('wan-2.2-i2v-fast: no negative prompt sent (dropped)');
    return {
      duration,
      resolution,
      priceKey: this.id,
      useStart: Boolean(req.startImage),
      useEnd,
      fps: WAN_FPS,
      ...sizeAt(resolution, ratioOf(req.aspectRatio)),
      frameNotes,
      notes,
    };
  },
  input(req) {
    const p = this.plan(req);
    const input: Record<string, unknown> = {
      prompt: promptWithCamera(req),
      num_frames: p.duration * WAN_FPS + 1,
      frames_per_second: WAN_FPS,
      resolution: p.resolution,
      seed: req.seed,
    };
    const fields: Record<string, string> = {};
    if (p.useStart && req.startImage) (input.image = dataUri(req.startImage)), (fields.start = 'image');
    if (p.useEnd && req.endImage) (input.last_image = dataUri(req.endImage)), (fields.end = 'last_image');
    return { input, fields, notes: [...p.frameNotes, ...p.notes] };
  },
  check(req) {
    return generic(this, req);
  },
};

// ---------------------------------------------------------------------------------------------

export const VIDEO_MODELS: Readonly<Record<string, VideoModelAdapter>> = Object.fromEntries(
  [kling, lumaRay, hailuo, veo, wan].map((a) => [a.id, a]),
);

/** Image-to-video by default: start and end frames, priced, 5 or 10 s. */
export const DEFAULT_VIDEO_MODEL = 'kwaivgi/kling-v2.1';

/**
 * The model a clip without frames goes to when its model needs a start frame (Kling, Wan):
 * minimax/hailuo-02 runs from text alone, is priced, and makes 6 or 10 s. Its text-to-video is
 * 16:9 only; a 9:16 clip without frames is refused with a line naming veo-3.1 and luma/ray.
 */
export const TEXT_TO_VIDEO_DEFAULT = 'minimax/hailuo-02';

/** The adapter for a model string (`owner/name` or `owner/name:version`), or undefined. */
export function videoAdapter(model: string): VideoModelAdapter | undefined {
  return VIDEO_MODELS[model.split(':')[0]!];
}

/**
 * Which model really runs a request: its own, or the text-to-video default when there is no frame
 * and its own needs one. `note` says why it changed.
 */
export function routeVideoModel(model: string, req: Pick<AdapterRequest, 'startImage' | 'endImage'>, textToVideo = TEXT_TO_VIDEO_DEFAULT): { model: string; note: string | null } {
  const a = videoAdapter(model);
  if (a && !a.takes.text && !req.startImage && !req.endImage && videoAdapter(textToVideo))
    return { model: textToVideo, note: `no frames: ${a.id} is image-to-video only, so text-to-video with ${textToVideo}` };
  return { model, note: null };
}

export function unknownModelLine(model: string): string {
  return `no Replicate video adapter for ${model}; known: ${Object.keys(VIDEO_MODELS).join(', ')}`;
}
