import { Redis, type RedisOptions } from 'ioredis';
import { maskRedisUrl } from '../src/config/env.js';
import { LoopError } from '../src/errors.js';

/**
 * REDIS_URL without its password (nor its query string, where ioredis also takes `password=`),
 * for messages. Never the raw value, even when it does not parse.
 */
export function safeRedisUrl(url: string): string {
  const masked = maskRedisUrl(url);
  return masked === '(unparseable)' ? 'REDIS_URL' : masked.replace(/\/$/, '');
}

/**
 * A connection for BullMQ. Workers and QueueEvents block on Redis, so they need
 * `maxRetriesPerRequest: null`; producers fail fast instead.
 */
export function createConnection(url: string, opts: { blocking?: boolean } = {}): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: opts.blocking ? null : 1,
    enableReadyCheck: true,
    lazyConnect: false,
    // keep reconnecting quietly; the first-connection check below reports an unreachable server
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
  const conn = new Redis(url, options);
  conn.on('error', () => {}); // errors surface through commands; avoid unhandled 'error' noise
  return conn;
}

/** Fail with one clear line naming REDIS_URL when Redis does not answer. */
export async function assertRedisReachable(url: string, timeoutMs = 3000): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new LoopError(
      'REDIS',
      `cannot reach Redis at REDIS_URL=${safeRedisUrl(url)} (${(e as Error).message.split('\n')[0]}); start one (redis-server, or docker compose up -d redis) or point REDIS_URL at yours`,
    );
  } finally {
    probe.disconnect();
  }
}
