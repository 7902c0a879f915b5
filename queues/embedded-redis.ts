import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { LoopError } from '../src/errors.js';

/**
 * `loop run` without REDIS_URL: a private redis-server on a free loopback port, no persistence,
 * stopped when the run ends.
 */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'redis-server');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedRedis(): Promise<EmbeddedRedis> {
  const bin = findRedisServer();
  if (!bin)
    throw new LoopError(
      'REDIS',
      'no Redis: set REDIS_URL, or install redis-server (apt-get install redis-server / brew install redis), or run `docker compose up -d redis` and set REDIS_URL=redis://127.0.0.1:6379',
    );
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, stop };
    } catch {
      probe.disconnect();
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new LoopError('REDIS', `the private redis-server (${bin}) did not start on port ${port}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
