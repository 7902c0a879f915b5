/**
 * A fake OpenAI-compatible chat-completions server on 127.0.0.1 for tests driven by the real SDK.
 *
 *   const fake = await startFakeOpenAI();             // fake.baseURL → http://127.0.0.1:PORT/v1
 *   fake.enqueue({ status: 429, headers: { 'retry-after': '0.3' } }, { content: 'hello' });
 *   fake.respond((req) => ({ content: req.body.response_format ? '{…}' : 'text' })); // after the queue
 *   … fake.requests (method, path, headers, body, at) …
 *   await fake.close();
 *
 * Replies come from the queue in order; when it is empty, from the responder (default: a plain
 * "ok" completion). A reply can set the status, headers (retry-after), a delay before answering
 * (longer than the client timeout → a timeout), the message content, usage, logprobs (for
 * VQAScore-style P("Yes") readers), finish_reason, or a raw body that replaces the whole response.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeLogprob {
  token: string;
  logprob: number;
  top_logprobs?: Array<{ token: string; logprob: number }>;
}

export interface FakeReply {
  /** HTTP status (default 200). Non-2xx replies get an OpenAI-style error body unless `body` is set. */
  status?: number;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Assistant message content (default "ok"). */
  content?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
  /** choices[0].logprobs.content */
  logprobs?: FakeLogprob[] | null;
  finish_reason?: string;
  /** Replaces the whole JSON body (string bodies are sent as is, e.g. malformed JSON). */
  body?: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (or the raw string if it was not JSON). */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Date.now() when the request arrived. */
  at: number;
}

export type Responder = (req: RecordedRequest, index: number) => FakeReply;

export interface FakeOpenAIServer {
  /** Base URL with /v1, for OPENAI_BASE_URL or `new OpenAI({ baseURL })`. */
  baseURL: string;
  requests: RecordedRequest[];
  enqueue(...replies: FakeReply[]): void;
  respond(fn: Responder): void;
  close(): Promise<void>;
}

function completion(req: RecordedRequest, r: FakeReply, n: number) {
  const usage = r.usage ?? { prompt_tokens: 100, completion_tokens: 50 };
  return {
    id: `chatcmpl-fake-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof req.body?.model === 'string' ? req.body.model : 'fake-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: r.content ?? 'ok', refusal: null },
        logprobs: r.logprobs === undefined ? null : r.logprobs === null ? null : { content: r.logprobs },
        finish_reason: r.finish_reason ?? 'stop',
      },
    ],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

export async function startFakeOpenAI(opts: { responder?: Responder } = {}): Promise<FakeOpenAIServer> {
  const queue: FakeReply[] = [];
  const requests: RecordedRequest[] = [];
  let responder: Responder = opts.responder ?? (() => ({}));
  const timers = new Set<NodeJS.Timeout>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep the raw text */
    }
    const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now() };
    const index = requests.push(rec) - 1;
    if (!/\/chat\/completions$/.test(rec.path.split('?')[0]!)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `fake: no route ${rec.path}`, type: 'invalid_request_error' } }));
      return;
    }
    const reply = queue.shift() ?? responder(rec, index);
    if (reply.delayMs) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, reply.delayMs);
        timers.add(t);
      });
    }
    if (res.destroyed || req.socket.destroyed) return; // the client gave up (timeout)
    const status = reply.status ?? 200;
    let payload: string;
    if (reply.body !== undefined) payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    else if (status >= 400)
      payload = JSON.stringify({ error: { message: `fake error ${status}`, type: status === 429 ? 'rate_limit_exceeded' : 'server_error', code: null } });
    else payload = JSON.stringify(completion(rec, reply, index));
    res.writeHead(status, { 'content-type': 'application/json', ...reply.headers });
    res.end(payload);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...r) => void queue.push(...r),
    respond: (fn) => void (responder = fn),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
