/**
 * serveBoard on a port it cannot have rejects with one USAGE line (it used to resolve: express 5
 * hands the listen error to app.listen's callback) and closes the queue context so the process
 * can end.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serveBoard } from '../../queues/board.js';
import { QueueContext } from '../../queues/context.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('board');
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(async () => {
  busy.close();
  await cleanPrefix(prefix);
});

describe('serveBoard', () => {
  it('a busy port is a USAGE LoopError naming the port, and the context is closed', async () => {
    const ctx = new QueueContext(REDIS_URL, prefix);
    await expect(serveBoard(ctx, { port: busyPort, host: '127.0.0.1', readOnly: true })).rejects.toMatchObject({
      name: 'LoopError',
      kind: 'USAGE',
      exitCode: 2,
      message: expect.stringMatching(new RegExp(`^port ${busyPort} on 127\\.0\\.0\\.1 is already in use; choose another with --port`)),
    });
    await vi.waitFor(() => expect(ctx.connection.status).toBe('end'), { timeout: 3000 });
  });

  it('a host that is not this machine is a USAGE LoopError', async () => {
    const ctx = new QueueContext(REDIS_URL, prefix);
    await expect(serveBoard(ctx, { port: 0, host: '192.0.2.1', readOnly: true })).rejects.toMatchObject({ kind: 'USAGE', message: expect.stringMatching(/--host 192\.0\.2\.1/) });
  });

  it('a free port serves the board', async () => {
    const ctx = new QueueContext(REDIS_URL, prefix);
    const server = await serveBoard(ctx, { port: 0, host: '127.0.0.1', readOnly: true });
    try {
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/api/queues`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { queues: { name: string }[] };
      expect(body.queues.length).toBeGreaterThan(0);
    } finally {
      await new Promise((r) => server.close(r));
      await ctx.close();
    }
  });
});
