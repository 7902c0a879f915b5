import type { Redis } from 'ioredis';
import { Queue, type QueueOptions } from 'bullmq';
import { createConnection } from './connection.js';
import { QUEUE_NAMES, type QueueName } from './names.js';

/**
 * Everything that talks to one Redis under one BullMQ prefix: a shared producer connection and
 * lazily created Queue objects. Tests give each file its own prefix.
 */
export class QueueContext {
  readonly connection: Redis;
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    readonly redisUrl: string,
    readonly prefix: string,
  ) {
    this.connection = createConnection(redisUrl);
  }

  queue(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      const opts: QueueOptions = { connection: this.connection, prefix: this.prefix };
      q = new Queue(name, opts);
      q.on('error', () => {}); // surfaced by the calls that fail
      this.queues.set(name, q);
    }
    return q;
  }

  allQueues(): Queue[] {
    return QUEUE_NAMES.map((n) => this.queue(n));
  }

  /** Key for loop's own records (runs), beside BullMQ's `<prefix>:<queue>:…` keys. */
  key(...parts: string[]): string {
    return [this.prefix, 'loop', ...parts].join(':');
  }

  /** Close the queues; with Redis gone a graceful close never finishes, so it is bounded. */
  async close(timeoutMs = 2000): Promise<void> {
    const graceful = Promise.all([...this.queues.values()].map((q) => q.close())).then(() => undefined);
    await Promise.race([graceful.catch(() => undefined), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
    this.connection.disconnect();
  }
}
