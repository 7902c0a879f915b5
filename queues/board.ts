import { createServer, type Server } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import { LoopError } from '../src/errors.js';
import type { QueueContext } from './context.js';

/** Bull Board over every stage queue, served at `/` (its JSON API under /api). */
export function createBoardApp(ctx: QueueContext, opts: { readOnly: boolean }) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/');
  createBullBoard({
    queues: ctx.allQueues().map((q) => new BullMQAdapter(q, { readOnlyMode: opts.readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'loop' } },
  });
  const app = express();
  app.disable('x-powered-by');
  app.use('/', serverAdapter.getRouter());
  return app;
}

const LISTEN_PROBLEM: Record<string, (host: string, port: number) => string> = {
  EADDRINUSE: (h, p) => `port ${p} on ${h} is already in use; choose another with --port (0 picks a free one)`,
  EACCES: (h, p) => `no permission to listen on ${h}:${p}${p < 1024 ? ' (ports below 1024 need privileges; use --port 3000)' : ''}`,
  EPERM: (h, p) => `not permitted to listen on ${h}:${p}`,
  EADDRNOTAVAIL: (h) => `--host ${h} is not an address of this machine (use 127.0.0.1, or 0.0.0.0 for every interface)`,
  ENOTFOUND: (h) => `--host ${h} does not resolve to an address`,
  EAI_AGAIN: (h) => `--host ${h} could not be resolved (temporary DNS failure)`,
  EAFNOSUPPORT: (h) => `--host ${h}: address family not supported here`,
};

/** Why the board could not listen, as a LoopError (USAGE: it is always --port or --host). */
export function listenError(e: unknown, host: string, port: number): LoopError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const say = LISTEN_PROBLEM[code];
  return new LoopError('USAGE', say ? say(host, port) : `cannot listen on ${host}:${port}: ${code || (e as Error).message}`, { cause: e });
}

/**
 * Serve the board; resolves once it listens. Listening comes first, so a busy port, a port
 * without permission or a host that is not ours rejects with a one-line LoopError (USAGE, exit 2)
 * before any queue is opened. (express 5's app.listen hands a listen error to its callback, which
 * used to report success on a busy port.) On that failure ctx is closed too, so the caller's
 * process can end; closing it again is harmless.
 */
export async function serveBoard(ctx: QueueContext, opts: { port: number; host: string; readOnly: boolean }): Promise<Server> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      server.once('error', onError);
      server.listen(opts.port, opts.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (e) {
    server.close();
    await ctx.close().catch(() => {});
    throw listenError(e, opts.host, opts.port);
  }
  server.on('request', createBoardApp(ctx, opts));
  return server;
}
