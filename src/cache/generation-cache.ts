import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { GenerateRequest, GenerateResult, ImageBackend } from '../generation/backend.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { sha256Hex } from '../lib/hash.js';
import { type Logger, silentLogger } from '../lib/log.js';
import { redact } from '../lib/secrets.js';
import { writeFileAtomic, writeJsonAtomic } from '../runs/atomic.js';
import type { VideoBackend, VideoFrame, VideoRequest, VideoResult } from '../video/backend.js';
import type { ProviderCacheMark } from './cache-info.js';

/**
 * The content-addressed generation cache: a re-run, a resume or a regeneration pays nothing
 * twice for the same request.
 *
 * KEY. sha256 of the canonical JSON (src/lib/canonical-json.ts) of everything that decides the
 * output: the backend, its output-changing settings (the offline renderers: a hash of their own
 * code, and the animatic's fps/crf/preset/width/threads), the model and its version (a pinned
 * version where the backend pins one), the fallback chain, the prompt, the negative prompt, the
 * seed, the aspect ratio and size; for video the duration, the camera move and the attempt; and
 * the sha256 of every input image (init image, start and end frames; never their paths). What
 * only changes how a request travels (signal, deadline, the prediction to resume, the base URL)
 * is not in it, and neither is a token: a request never carries one.
 *
 * LAYOUT. `<LOOP_OUTPUT_DIR>/.cache/generations/<key[0..2]>/<key>.bin` (the bytes the backend
 * returned) and `<key>.json` (the record: the key's inputs, the bytes' size and sha256, the
 * original cost, and the backend's result without the bytes, provider record included). Both
 * are written temp + rename (src/runs/atomic.ts), the bytes first, so the record is the commit;
 * one writer per key at a time (an O_EXCL `<key>.lock`; a second writer of the same key skips
 * storing, its result is as good). A reader takes an entry only when the record parses, names
 * the key, and the bytes have the recorded size and sha256: anything else (a torn pair, a
 * corrupted file) is a miss, and the miss's generation rewrites the entry. A hit sets both files'
 * atime and mtime to now: `loop cache prune` evicts the least recently used.
 *
 * WRAPPERS. cachedImageBackend / cachedVideoBackend decorate a backend: look up, on a hit return
 * the stored bytes and the original result with cost 0 and `provider.cache = { status: 'hit',
 * hit: true, key, original_cost_usd, cached_at }`; on a miss call the backend and store. Given no
 * cache (--no-cache) they only mark the result `bypassed` with its key. Failures and aborts are
 * never stored; a cache that cannot be read or written is a warning, never a failed generation.
 */
export const CACHE_SUBDIR = join('.cache', 'generations');
/** Bump when the key's inputs change meaning: every older entry then misses. */
export const KEY_VERSION = 1;
const RECORD_VERSION = 1;
/** A lock, a temp file or half an entry older than this was left by a writer that died. */
const DEFAULT_STALE_MS = 10 * 60_000;

/** Where the cache of an output root lives. */
export const cacheDirOf = (outputRoot: string) => resolve(outputRoot, CACHE_SUBDIR);

const KEY_RE = /^[0-9a-f]{64}$/;

const RecordSchema = z.object({
  schema_version: z.literal(RECORD_VERSION),
  key: z.string().regex(KEY_RE),
  /** video-score: a video's scores (src/video-scoring/score-cache.ts), not generated media. */
  kind: z.enum(['image', 'video', 'video-score']),
  backend: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(KEY_RE),
  created_at: z.string(),
  original_cost_usd: z.number().nullable(),
  /** What the key was made of (images by their sha256). */
  inputs: z.record(z.string(), z.unknown()),
  /** The backend's result, without the bytes. */
  result: z.record(z.string(), z.unknown()),
});
export type CacheRecord = z.infer<typeof RecordSchema>;

export type CacheLookup =
  | { status: 'hit'; bytes: Buffer; record: CacheRecord }
  | { status: 'absent' }
  | { status: 'corrupt'; reason: string };

export interface CacheEntryInfo {
  key: string;
  /** Both files together. */
  bytes: number;
  /** ms epoch: the later of the two files' mtimes (a hit sets them). */
  lastUsedMs: number;
}

export interface PruneResult {
  removed: { key: string; bytes: number; last_used: string; why: 'older-than' | 'max-size' }[];
  removed_bytes: number;
  /** Leftovers of writers that died (temp files, half entries, locks), removed. */
  leftovers_removed: number;
  kept_entries: number;
  kept_bytes: number;
  dry_run: boolean;
}

export interface CacheStats {
  dir: string;
  entries: number;
  bytes: number;
  images: number;
  videos: number;
  video_scores: number;
  /** Entries whose record does not parse (they miss; prune's max-size still counts them). */
  unreadable: number;
  /** Sum of what the entries originally cost (what re-making them all would cost again). */
  original_cost_usd: number;
  oldest_use: string | null;
  newest_use: string | null;
}

const errCode = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

export class GenerationCache {
  readonly dir: string;
  private readonly staleMs: number;

  constructor(dir: string, o: { staleMs?: number } = {}) {
    this.dir = resolve(dir);
    this.staleMs = o.staleMs ?? DEFAULT_STALE_MS;
  }

  /** The cache under an output root (LOOP_OUTPUT_DIR; a worker's PlainContext.outputRoot). */
  static at(outputRoot: string): GenerationCache {
    return new GenerationCache(cacheDirOf(outputRoot));
  }

  paths(key: string): { bin: string; json: string; lock: string } {
    if (!KEY_RE.test(key)) throw new Error(`not a cache key: ${key}`);
    const sub = join(this.dir, key.slice(0, 2));
    return { bin: join(sub, `${key}.bin`), json: join(sub, `${key}.json`), lock: join(sub, `${key}.lock`) };
  }

  /** An entry, verified (record parses and names the key; bytes of the recorded size and sha256). A hit is touched. */
  async get(key: string): Promise<CacheLookup> {
    const p = this.paths(key);
    let text: string;
    try {
      text = await readFile(p.json, 'utf8');
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return { status: 'absent' };
      throw e;
    }
    let record: CacheRecord;
    try {
      record = RecordSchema.parse(JSON.parse(text));
    } catch {
      return { status: 'corrupt', reason: 'the record does not parse' };
    }
    if (record.key !== key) return { status: 'corrupt', reason: `the record names key ${record.key}` };
    let bytes: Buffer;
    try {
      bytes = await readFile(p.bin);
    } catch (e) {
      if (errCode(e) === 'ENOENT') return { status: 'corrupt', reason: 'the bytes are missing' };
      throw e;
    }
    if (bytes.length !== record.bytes) return { status: 'corrupt', reason: `${bytes.length} bytes, the record says ${record.bytes}` };
    if (sha256Hex(bytes) !== record.sha256) return { status: 'corrupt', reason: 'the bytes do not match the recorded sha256' };
    const now = new Date();
    // least recently used = oldest mtime; atime too, for whoever looks with ls -lu
    await Promise.all([utimes(p.json, now, now), utimes(p.bin, now, now)]).catch(() => undefined);
    return { status: 'hit', bytes, record };
  }

  /**
   * Store an entry: bytes, then record (the commit), each temp + rename, under the key's lock.
   * 'busy': another writer holds the key right now (its entry is as good); nothing was written.
   */
  async put(key: string, bytes: Buffer, rec: Omit<CacheRecord, 'schema_version' | 'key' | 'bytes' | 'sha256' | 'created_at'>): Promise<'stored' | 'busy'> {
    const p = this.paths(key);
    const record: CacheRecord = RecordSchema.parse({
      schema_version: RECORD_VERSION,
      key,
      bytes: bytes.length,
      sha256: sha256Hex(bytes),
      created_at: new Date().toISOString(),
      ...rec,
    });
    const release = await this.lock(p.lock);
    if (!release) return 'busy';
    try {
      await writeFileAtomic(p.bin, bytes);
      await writeJsonAtomic(p.json, record);
    } finally {
      await release();
    }
    return 'stored';
  }

  /** O_EXCL lock file; a lock older than staleMs is a dead writer's and is taken over. null: busy. */
  private async lock(path: string): Promise<(() => Promise<void>) | null> {
    await mkdir(dirname(path), { recursive: true });
    for (let round = 0; round < 2; round++) {
      try {
        const fh = await open(path, 'wx');
        await fh.writeFile(`${process.pid}\n`).finally(() => fh.close());
        return () => unlink(path).catch(() => undefined);
      } catch (e) {
        if (errCode(e) !== 'EEXIST') throw e;
      }
      const st = await stat(path).catch(() => null);
      if (st && Date.now() - st.mtimeMs <= this.staleMs) return null;
      await unlink(path).catch(() => undefined);
    }
    return null;
  }

  /** Every complete entry (both files), and the leftovers a dead writer may have left. */
  async scan(): Promise<{ entries: CacheEntryInfo[]; leftovers: { path: string; mtimeMs: number }[] }> {
    const entries: CacheEntryInfo[] = [];
    const leftovers: { path: string; mtimeMs: number }[] = [];
    const subs = await readdir(this.dir).catch((e: unknown) => {
      if (errCode(e) === 'ENOENT') return [] as string[];
      throw e;
    });
    for (const sub of subs.filter((s) => /^[0-9a-f]{2}$/.test(s)).sort()) {
      const dir = join(this.dir, sub);
      const names = await readdir(dir).catch(() => [] as string[]);
      const byKey = new Map<string, { bin?: { size: number; mtimeMs: number }; json?: { size: number; mtimeMs: number } }>();
      for (const name of names) {
        const st = await stat(join(dir, name)).catch(() => null);
        if (!st?.isFile()) continue;
        const m = /^([0-9a-f]{64})\.(bin|json)$/.exec(name);
        if (!m) {
          leftovers.push({ path: join(dir, name), mtimeMs: st.mtimeMs });
          continue;
        }
        const e = byKey.get(m[1]!) ?? {};
        e[m[2] as 'bin' | 'json'] = { size: st.size, mtimeMs: st.mtimeMs };
        byKey.set(m[1]!, e);
      }
      for (const [key, e] of byKey) {
        if (e.bin && e.json) entries.push({ key, bytes: e.bin.size + e.json.size, lastUsedMs: Math.max(e.bin.mtimeMs, e.json.mtimeMs) });
        else {
          const half = (e.bin ?? e.json)!;
          leftovers.push({ path: join(dir, `${key}.${e.bin ? 'bin' : 'json'}`), mtimeMs: half.mtimeMs });
        }
      }
    }
    return { entries, leftovers };
  }

  async stats(): Promise<CacheStats> {
    const { entries } = await this.scan();
    let images = 0;
    let videos = 0;
    let scores = 0;
    let unreadable = 0;
    let cost = 0;
    for (const e of entries) {
      const r = await readFile(this.paths(e.key).json, 'utf8').then(
        (t) => RecordSchema.safeParse(JSON.parse(t)),
        () => null,
      ).catch(() => null);
      if (!r?.success) {
        unreadable++;
        continue;
      }
      if (r.data.kind === 'image') images++;
      else if (r.data.kind === 'video') videos++;
      else scores++;
      cost += r.data.original_cost_usd ?? 0;
    }
    const uses = entries.map((e) => e.lastUsedMs).sort((a, b) => a - b);
    return {
      dir: this.dir,
      entries: entries.length,
      bytes: entries.reduce((s, e) => s + e.bytes, 0),
      images,
      videos,
      video_scores: scores,
      unreadable,
      original_cost_usd: Math.round(cost * 1e6) / 1e6,
      oldest_use: uses.length ? new Date(uses[0]!).toISOString() : null,
      newest_use: uses.length ? new Date(uses.at(-1)!).toISOString() : null,
    };
  }

  /**
   * Bound the cache: entries last used before now − olderThanMs go, then the least recently used
   * until the total is at most maxBytes. Leftovers older than the stale age go too.
   */
  async prune(o: { maxBytes?: number; olderThanMs?: number; now?: number; dryRun?: boolean } = {}): Promise<PruneResult> {
    const now = o.now ?? Date.now();
    const { entries, leftovers } = await this.scan();
    const byAge = [...entries].sort((a, b) => a.lastUsedMs - b.lastUsedMs || a.key.localeCompare(b.key));
    const removed: PruneResult['removed'] = [];
    let total = entries.reduce((s, e) => s + e.bytes, 0);
    const keep: CacheEntryInfo[] = [];
    for (const e of byAge) {
      if (o.olderThanMs !== undefined && e.lastUsedMs < now - o.olderThanMs) {
        removed.push({ key: e.key, bytes: e.bytes, last_used: new Date(e.lastUsedMs).toISOString(), why: 'older-than' });
        total -= e.bytes;
      } else keep.push(e);
    }
    if (o.maxBytes !== undefined)
      while (total > o.maxBytes && keep.length) {
        const e = keep.shift()!;
        removed.push({ key: e.key, bytes: e.bytes, last_used: new Date(e.lastUsedMs).toISOString(), why: 'max-size' });
        total -= e.bytes;
      }
    const stale = leftovers.filter((l) => now - l.mtimeMs > this.staleMs);
    if (!o.dryRun) {
      for (const r of removed) {
        const p = this.paths(r.key);
        // the record first: from then on a reader sees no entry, never a record without its bytes
        await rm(p.json, { force: true });
        await rm(p.bin, { force: true });
      }
      for (const l of stale) await rm(l.path, { force: true });
      const subs = await readdir(this.dir).catch(() => [] as string[]);
      for (const s of subs.filter((x) => /^[0-9a-f]{2}$/.test(x))) await rmdir(join(this.dir, s)).catch(() => undefined); // only empty ones go
    }
    return {
      removed,
      removed_bytes: removed.reduce((s, r) => s + r.bytes, 0),
      leftovers_removed: stale.length,
      kept_entries: keep.length,
      kept_bytes: keep.reduce((s, e) => s + e.bytes, 0),
      dry_run: o.dryRun === true,
    };
  }
}

/**
 * The cache a job of this run uses: none when the run was asked for --no-cache (its run_spec.json
 * says `no_cache: true`), else the output root's. A run directory without a readable spec (a job
 * run by hand, a test) uses the cache.
 */
export async function cacheForRun(runDir: string, outputRoot: string): Promise<GenerationCache | null> {
  const spec = await readFile(join(runDir, 'run_spec.json'), 'utf8').then(
    (t) => JSON.parse(t) as { options?: { no_cache?: unknown } },
    () => null,
  ).catch(() => null);
  return spec?.options?.no_cache === true ? null : GenerationCache.at(outputRoot);
}

// ---- keys -----------------------------------------------------------------------------------

const fingerprints = new Map<string, Promise<string>>();

/**
 * A hash of an offline renderer's own code: the "model version" of the sketch and the animatic
 * (and of the video scorer's dimensions), so a change to how they draw, encode or measure misses
 * instead of serving yesterday's result.
 * Resolved next to this module (src/ under vitest, dist/src/ when built).
 */
const FINGERPRINT_PARTS = {
  sketch: ['generation/sketch-backend', 'generation/previz/'],
  animatic: ['video/animatic', 'video/ffmpeg'],
  // what turns a video's frames into its dimensions (the score cache's "model version")
  'video-scoring': ['video-scoring/', 'scoring/metrics/', 'scoring/clip', 'scoring/preprocess', 'scoring/anchors', 'video/ffmpeg'],
} as const;

export function rendererFingerprint(name: keyof typeof FINGERPRINT_PARTS): Promise<string> {
  let p = fingerprints.get(name);
  if (!p) {
    p = (async () => {
      const self = fileURLToPath(import.meta.url);
      const ext = extname(self);
      const src = resolve(dirname(self), '..');
      const parts = FINGERPRINT_PARTS[name];
      const files: string[] = [];
      for (const part of parts) {
        if (part.endsWith('/')) {
          const names = await readdir(join(src, part)).catch(() => [] as string[]);
          files.push(...names.filter((n) => n.endsWith(ext)).sort().map((n) => join(part, n)));
        } else files.push(`${part}${ext}`);
      }
      const h = createHash('sha256');
      let found = 0;
      for (const f of files) {
        const text = await readFile(join(src, f)).catch(() => null);
        if (!text) continue;
        found++;
        h.update(f.replace(/\.(js|ts)$/, '')).update('\0').update(text).update('\0');
      }
      return found ? h.digest('hex').slice(0, 16) : 'unknown';
    })();
    fingerprints.set(name, p);
  }
  return p;
}

/** Settings of a backend that change its output (none for Replicate: the model and version are in the request). */
export async function backendIdentity(backend: { name: string }): Promise<Record<string, unknown>> {
  if (backend.name === 'sketch') return { renderer: await rendererFingerprint('sketch') };
  if (backend.name === 'animatic') {
    const b = backend as unknown as Record<string, unknown>;
    const settings = Object.fromEntries(['fps', 'crf', 'preset', 'maxWidth', 'threads'].filter((k) => ['number', 'string'].includes(typeof b[k])).map((k) => [k, b[k]]));
    return { renderer: await rendererFingerprint('animatic'), ...settings };
  }
  return {};
}

/** `owner/name[:version]` with the version the backend pins for a bare community model. */
async function modelWithVersion(backend: string, model: string): Promise<string> {
  if (backend !== 'replicate' || model.includes(':')) return model;
  const { PINNED_VERSIONS } = await import('../generation/replicate-backend.js');
  const pinned = PINNED_VERSIONS[model];
  return pinned ? `${model}:${pinned}` : model;
}

const frameId = (f: VideoFrame | null) => (f ? { sha256: sha256Hex(f.bytes), bytes: f.bytes.length } : null);

export interface CacheKey {
  key: string;
  inputs: Record<string, unknown>;
}

const keyOf = (inputs: Record<string, unknown>): CacheKey => ({ key: sha256Hex(canonicalJson(inputs)), inputs });

export async function imageCacheKey(backend: Pick<ImageBackend, 'name'>, req: GenerateRequest, identity?: Record<string, unknown>): Promise<CacheKey> {
  return keyOf({
    v: KEY_VERSION,
    kind: 'image',
    backend: backend.name,
    identity: identity ?? (await backendIdentity(backend)),
    model: await modelWithVersion(backend.name, req.model),
    fallback_models: await Promise.all(req.fallbackModels.filter((m) => m !== req.model).map((m) => modelWithVersion(backend.name, m))),
    prompt: req.prompt,
    negative_prompt: req.negativePrompt,
    seed: req.seed,
    aspect_ratio: req.aspectRatio,
    width: req.width,
    height: req.height,
    init_image: req.initImage ? { sha256: sha256Hex(req.initImage.bytes), mime: req.initImage.mime, strength: req.initImage.strength } : null,
  });
}

export async function videoCacheKey(backend: Pick<VideoBackend, 'name'>, req: VideoRequest, identity?: Record<string, unknown>): Promise<CacheKey> {
  return keyOf({
    v: KEY_VERSION,
    kind: 'video',
    backend: backend.name,
    identity: identity ?? (await backendIdentity(backend)),
    model: req.model,
    prompt: req.prompt,
    negative_prompt: req.negativePrompt,
    start_image: frameId(req.startImage),
    end_image: frameId(req.endImage),
    duration_s: req.durationS,
    aspect_ratio: req.aspectRatio,
    seed: req.seed,
    camera: req.camera,
    attempt: req.attempt,
  });
}

// ---- wrappers -------------------------------------------------------------------------------

export interface CacheWrapOptions {
  /** Output-changing settings of the backend; default backendIdentity(backend). */
  identity?: Record<string, unknown>;
  logger?: Logger;
}

const INNER = Symbol('loop.cache.inner');
type Wrapped<B> = B & { [INNER]?: B };
const innerOf = <B extends object>(b: B): B => (b as Wrapped<B>)[INNER] ?? b;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** A lookup that cannot read the cache (permissions, I/O) is a miss with a warning. */
async function lookup(cache: GenerationCache, key: string, log: Logger): Promise<CacheLookup> {
  try {
    const r = await cache.get(key);
    if (r.status === 'corrupt') log.warn(`generation cache entry ${key.slice(0, 12)}… is unusable (${r.reason}); making it again`);
    return r;
  } catch (e) {
    log.warn(`cannot read the generation cache at ${cache.dir} (${redact((e as Error).message)}); going on without it`);
    return { status: 'absent' };
  }
}

async function store(cache: GenerationCache, key: string, bytes: Buffer, rec: Parameters<GenerationCache['put']>[2], log: Logger): Promise<void> {
  try {
    const r = await cache.put(key, bytes, rec);
    if (r === 'busy') log.debug(`generation cache entry ${key.slice(0, 12)}… is being written by another process; not storing it twice`);
  } catch (e) {
    // what was made (and paid for) is the caller's either way: a full disk fails only the cache
    log.warn(`cannot write the generation cache at ${cache.dir} (${redact((e as Error).message)}); the result is kept, not cached`);
  }
}

const hitMark = (key: string, record: CacheRecord): ProviderCacheMark => ({ status: 'hit', hit: true, key, original_cost_usd: record.original_cost_usd, cached_at: record.created_at });

const ImageResultSchema = z.object({
  model: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  provider: z.record(z.string(), z.unknown()),
});

/** `backend` behind the generation cache; `cache` null: bypassed (--no-cache), results only marked. */
export function cachedImageBackend(backend: ImageBackend, cache: GenerationCache | null, o: CacheWrapOptions = {}): ImageBackend {
  const inner = innerOf(backend);
  const log = o.logger ?? silentLogger;
  const wrapped: Wrapped<ImageBackend> = {
    name: inner.name,
    note: inner.note,
    provider: inner.provider,
    [INNER]: inner,
    async generate(req: GenerateRequest): Promise<GenerateResult> {
      if (req.signal?.aborted) throw abortReason(req.signal);
      const { key, inputs } = await imageCacheKey(inner, req, o.identity);
      if (cache) {
        const found = await lookup(cache, key, log);
        if (found.status === 'hit' && found.record.kind === 'image') {
          const res = ImageResultSchema.safeParse(found.record.result);
          if (res.success) {
            if (req.signal?.aborted) throw abortReason(req.signal);
            const { cache: _drop, ...provider } = res.data.provider;
            return {
              bytes: found.bytes,
              model: res.data.model,
              width: res.data.width,
              height: res.data.height,
              costUsd: 0,
              attempts: 0,
              modelsTried: [],
              provider: { ...provider, cache: hitMark(key, found.record) },
            };
          }
          log.warn(`generation cache entry ${key.slice(0, 12)}… has an unusable result; making it again`);
        }
      }
      const r = await inner.generate(req);
      if (!cache) return { ...r, provider: { ...r.provider, cache: { status: 'bypassed', hit: false, key } satisfies ProviderCacheMark } };
      await store(
        cache,
        key,
        r.bytes,
        {
          kind: 'image',
          backend: inner.name,
          original_cost_usd: r.costUsd,
          inputs,
          result: { model: r.model, width: r.width, height: r.height, cost_usd: r.costUsd, attempts: r.attempts, models_tried: r.modelsTried, provider: r.provider },
        },
        log,
      );
      return { ...r, provider: { ...r.provider, cache: { status: 'miss', hit: false, key } satisfies ProviderCacheMark } };
    },
  };
  return wrapped;
}

const VideoResultSchema = z.object({
  model: z.string(),
  duration_s: z.number(),
  fps: z.number(),
  width: z.number().int(),
  height: z.number().int(),
  frames_used: z.object({ start: z.boolean(), end: z.boolean(), fields: z.record(z.string(), z.string()), note: z.string().nullable() }),
  provider: z.record(z.string(), z.unknown()),
});

/** `backend` behind the generation cache; `cache` null: bypassed (--no-cache), results only marked. */
export function cachedVideoBackend(backend: VideoBackend, cache: GenerationCache | null, o: CacheWrapOptions = {}): VideoBackend {
  const inner = innerOf(backend);
  const log = o.logger ?? silentLogger;
  const wrapped: Wrapped<VideoBackend> = {
    name: inner.name,
    note: inner.note,
    [INNER]: inner,
    estimateCost: (req) => inner.estimateCost(req),
    async generate(req: VideoRequest): Promise<VideoResult> {
      if (req.signal?.aborted) throw abortReason(req.signal);
      const { key, inputs } = await videoCacheKey(inner, req, o.identity);
      if (cache) {
        const found = await lookup(cache, key, log);
        if (found.status === 'hit' && found.record.kind === 'video') {
          const res = VideoResultSchema.safeParse(found.record.result);
          if (res.success) {
            if (req.signal?.aborted) throw abortReason(req.signal);
            const { cache: _drop, ...provider } = res.data.provider;
            return { ...res.data, bytes: found.bytes, cost_usd: 0, provider: { ...provider, cache: hitMark(key, found.record) } };
          }
          log.warn(`generation cache entry ${key.slice(0, 12)}… has an unusable result; making it again`);
        }
      }
      const r = await inner.generate(req);
      if (!cache) return { ...r, provider: { ...r.provider, cache: { status: 'bypassed', hit: false, key } satisfies ProviderCacheMark } };
      const { bytes, ...rest } = r;
      await store(cache, key, bytes, { kind: 'video', backend: inner.name, original_cost_usd: r.cost_usd, inputs, result: rest as unknown as Record<string, unknown> }, log);
      return { ...r, provider: { ...r.provider, cache: { status: 'miss', hit: false, key } satisfies ProviderCacheMark } };
    },
  };
  return wrapped;
}
