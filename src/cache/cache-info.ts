import { z } from 'zod';

/**
 * What the generation cache (generation-cache.ts) did for one image or video, as its metadata
 * records it. Light on purpose (zod only): src/generation/metadata.ts imports it, and the CLI
 * imports that at start-up.
 *
 *   hit       the bytes and the provider record came from the cache; nothing was paid this time
 *             (cost_usd 0), `original_cost_usd` is what the first run paid
 *   miss      the backend made it, and it was stored under `key`
 *   bypassed  --no-cache: the backend made it, the cache was neither read nor written
 */
export const CACHE_STATUSES = ['hit', 'miss', 'bypassed'] as const;
export type CacheStatus = (typeof CACHE_STATUSES)[number];

export const CacheInfoSchema = z.object({
  status: z.enum(CACHE_STATUSES),
  /** sha256 of the request's canonical JSON (generation-cache.ts imageCacheKey / videoCacheKey). */
  key: z.string().regex(/^[0-9a-f]{64}$/),
  /** A hit: what the run that made it paid (null: no price). */
  original_cost_usd: z.number().nullable().optional(),
  /** A hit: when it was stored. */
  cached_at: z.string().optional(),
});
export type CacheInfo = z.infer<typeof CacheInfoSchema>;

/** The marker the cache wrappers put in a result's provider record (`provider.cache`). */
export type ProviderCacheMark = CacheInfo & { hit: boolean };

/** The cache info a backend result's provider record carries, or undefined (an unwrapped backend). */
export function cacheInfoOf(provider: Record<string, unknown> | undefined): CacheInfo | undefined {
  const r = CacheInfoSchema.safeParse(provider?.cache);
  if (!r.success) return undefined;
  const { status, key, original_cost_usd, cached_at } = r.data;
  return status === 'hit' ? { status, key, original_cost_usd: original_cost_usd ?? null, ...(cached_at ? { cached_at } : {}) } : { status, key };
}

/** How many of these came from the cache (generation_trace.json `from_cache`). */
export const countFromCache = (items: readonly { cache?: CacheInfo | undefined }[]) => items.filter((m) => m.cache?.status === 'hit').length;
