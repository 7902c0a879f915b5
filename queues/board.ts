import type { Server } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
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

export async function serveBoard(ctx: QueueContext, opts: { port: number; host: string; readOnly: boolean }): Promise<Server> {
  const app = createBoardApp(ctx, opts);
  return new Promise((resolve, reject) => {
    const server = app.listen(opts.port, opts.host, () => resolve(server));
    server.once('error', reject);
  });
}
