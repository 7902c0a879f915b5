/**
 * A fake Replicate HTTP API on 127.0.0.1, speaking the protocol the official client uses:
 *   POST /v1/models/{owner}/{name}/predictions   (create by model, official models only: `models`;
 *                                                  `Prefer: wait[=N]` holds the reply)
 *   POST /v1/predictions                         (create by version: `versions`; 422 for an unknown one)
 *   GET  /v1/predictions/{id}                    (poll; 404 for an unknown id)
 *   POST /v1/predictions/{id}/cancel
 *   GET  /files/{id}.png                         (the output it also serves: a PNG rendered by sharp)
 *   GET  /files/{id}.{ext}                       (or, for a model given in `outputs`, the bytes given
 *                                                  there, e.g. an MP4 as video/mp4, its URL as the
 *                                                  prediction's output string as video models answer)
 * Predictions go starting → processing → succeeded (or failed / canceled) over `latencyMs`; a
 * `processing` fault holds one in `processing` for N polls (or until canceled), and expire(id)
 * removes a finished prediction's output as the real API does after an hour. Faults are injected
 * by rules; every request is recorded with its time, body and the number of requests and
 * predictions in flight, so tests can measure concurrency, retry gaps and creations.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; body?: unknown }
  | { kind: 'drop' }
  | { kind: 'truncate' }
  | { kind: 'fail'; error?: string }
  | { kind: 'cancel' }
  /** Create only: the prediction reports `processing` for `polls` GETs (forever if omitted, until canceled), then settles. */
  | { kind: 'processing'; polls?: number };

export interface FaultRule {
  on: 'create' | 'get' | 'file';
  /** Which requests it hits; default all of `on`. */
  match?: (ctx: { model?: string; input?: Record<string, unknown>; n: number }) => boolean;
  /** How many times it fires; default forever. */
  times?: number;
  fault: Fault;
}

export interface FakeRequest {
  t: number; // ms since server start (performance.now based)
  method: string;
  path: string;
  kind: 'create' | 'get' | 'cancel' | 'file' | 'other';
  /** The model (for a create by version: the model the version belongs to, else `version:<id>`). */
  model?: string;
  version?: string;
  /** The prediction a create made (status 201), or the one a get/cancel/file asked for. */
  predictionId?: string;
  body?: Record<string, unknown>;
  prefer?: string;
  authorization?: string;
  /** HTTP requests in flight when this one arrived (itself included). */
  inFlight: number;
  /** Predictions running (created, not settled) when this one arrived, itself included for creates. */
  activePredictions: number;
  status?: number;
}

/**
 * What a model's predictions output instead of the rendered PNG (video models: an MP4). The URL
 * ends in `.${ext}` and serves `bytes` with `contentType`; `shape` 'string' (the default here,
 * as video models answer) makes the output the URL itself, 'array' a one-element list as image
 * models do. `bytes` may depend on the prediction's input.
 */
export interface FakeOutput {
  bytes: Buffer | ((input: Record<string, unknown>) => Buffer);
  contentType: string;
  ext: string;
  shape?: 'string' | 'array';
}

export interface FakeReplicateOptions {
  token?: string;
  latencyMs?: number;
  /** Official models, created by name. */
  models?: string[];
  /** Version id → model, created by version. */
  versions?: Record<string, string>;
  /** Cap on how long `Prefer: wait` holds a reply (the real API: 60 s). */
  waitCapMs?: number;
  faults?: FaultRule[];
  /** By model: serve these bytes as its output (see FakeOutput). Models not named get the PNG. */
  outputs?: Record<string, FakeOutput>;
}

interface Pred {
  id: string;
  model: string;
  version?: string;
  input: Record<string, unknown>;
  createdAt: number;
  settlesAt: number;
  end: 'succeeded' | 'failed' | 'canceled';
  error?: string;
  truncate?: boolean;
  /** GETs so far, and how many of them report `processing` regardless of time (Infinity: until canceled). */
  polls: number;
  holdPolls?: number;
  /** Output deleted (data_removed): no output URL, and the file is gone. */
  removed?: boolean;
}

const SIZES: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '4:3': [1152, 896], '3:4': [896, 1152], '16:9': [1344, 768],
  '9:16': [768, 1344], '3:2': [1216, 832], '2:3': [832, 1216], '21:9': [1536, 640],
};

/**
 * Official models answer on the by-name endpoint. stability-ai/sdxl is not one: as on the real
 * API it is reachable only by version, so a bare `stability-ai/sdxl` create gets 404 here too.
 */
export const DEFAULT_FAKE_MODELS = ['black-forest-labs/flux-schnell', 'black-forest-labs/flux-dev', 'black-forest-labs/flux-1.1-pro'];
export const SDXL_VERSION = '7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc';
export const DEFAULT_FAKE_VERSIONS: Record<string, string> = { [SDXL_VERSION]: 'stability-ai/sdxl' };

export async function startFakeReplicate(opts: FakeReplicateOptions = {}) {
  const token = opts.token ?? 'r8_fake_token_for_tests_0123456789';
  const models = new Set(opts.models ?? DEFAULT_FAKE_MODELS);
  const versions = opts.versions ?? DEFAULT_FAKE_VERSIONS;
  let faults: (FaultRule & { fired: number })[] = (opts.faults ?? []).map((f) => ({ ...f, fired: 0 }));
  let latencyMs = opts.latencyMs ?? 50;
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const requests: FakeRequest[] = [];
  const preds = new Map<string, Pred>();
  const files = new Map<string, Buffer>();
  const outputs = new Map<string, FakeOutput>(Object.entries(opts.outputs ?? {}));
  let inFlight = 0;
  let seq = 0;
  const counts = { create: 0, get: 0, file: 0 };

  const active = () => [...preds.values()].filter((p) => p.createdAt <= now() && now() < p.settlesAt).length;

  const fault = (on: FaultRule['on'], ctx: { model?: string; input?: Record<string, unknown>; n: number }): Fault | undefined => {
    for (const f of faults) {
      if (f.on !== on || (f.times !== undefined && f.fired >= f.times)) continue;
      if (f.match && !f.match(ctx)) continue;
      f.fired++;
      return f.fault;
    }
    return undefined;
  };

  const statusOf = (p: Pred) => {
    const t = now();
    if (p.holdPolls !== undefined && p.polls <= p.holdPolls) return 'processing';
    if (t >= p.settlesAt) return p.end;
    return t < p.createdAt + (p.settlesAt - p.createdAt) / 3 ? 'starting' : 'processing';
  };

  let origin = '';
  const outputOf = (p: Pred): string | string[] => {
    const o = outputs.get(p.model);
    const url = `${origin}/files/${p.id}.${o?.ext ?? 'png'}`;
    return o && (o.shape ?? 'string') === 'string' ? url : [url];
  };
  const view = (p: Pred) => {
    const status = statusOf(p);
    return {
      id: p.id,
      model: p.model,
      version: p.version ?? 'dp-fake',
      input: p.input,
      logs: '',
      output: status === 'succeeded' && !p.removed ? outputOf(p) : null,
      data_removed: Boolean(p.removed),
      error: status === 'failed' ? (p.error ?? 'CUDA out of memory') : null,
      status,
      created_at: new Date().toISOString(),
      started_at: status === 'starting' ? null : new Date().toISOString(),
      completed_at: ['succeeded', 'failed', 'canceled'].includes(status) ? new Date().toISOString() : null,
      urls: {
        get: `${origin}/v1/predictions/${p.id}`,
        cancel: `${origin}/v1/predictions/${p.id}/cancel`,
        web: `${origin}/p/${p.id}`,
      },
      metrics: status === 'succeeded' ? { predict_time: (p.settlesAt - p.createdAt) / 1000 } : {},
    };
  };

  const send = (res: ServerResponse, rec: FakeRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    rec.status = status;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const applyHttpFault = (f: Fault | undefined, res: ServerResponse, req: IncomingMessage, rec: FakeRequest): boolean => {
    if (!f) return false;
    if (f.kind === 'drop') {
      rec.status = 0;
      req.socket.destroy();
      return true;
    }
    if (f.kind === 'status') {
      send(res, rec, f.status, f.body ?? { detail: `injected ${f.status}`, status: f.status }, f.retryAfter ? { 'retry-after': f.retryAfter } : {});
      return true;
    }
    return false;
  };

  const render = async (p: Pred): Promise<Buffer> => {
    let w = Number(p.input.width) || 0;
    let h = Number(p.input.height) || 0;
    if (!w || !h) [w, h] = SIZES[String(p.input.aspect_ratio)] ?? [1024, 1024];
    const seed = Number(p.input.seed ?? 0);
    const png = await sharp({
      create: { width: w, height: h, channels: 3, background: { r: (seed * 37) % 256, g: (seed * 91) % 256, b: (seed * 151) % 256 } },
    })
      .png()
      .toBuffer();
    return png;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> | undefined;
    if (chunks.length) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
    }
    const byModel = /^\/v1\/models\/([^/]+)\/([^/]+)\/predictions$/.exec(url.pathname);
    const getPred = /^\/v1\/predictions\/([^/]+)$/.exec(url.pathname);
    const cancelPred = /^\/v1\/predictions\/([^/]+)\/cancel$/.exec(url.pathname);
    const file = /^\/files\/([^/.]+)\.([a-z0-9]+)$/.exec(url.pathname);
    const kind: FakeRequest['kind'] =
      req.method === 'POST' && (byModel || url.pathname === '/v1/predictions') ? 'create'
      : req.method === 'GET' && getPred ? 'get'
      : req.method === 'POST' && cancelPred ? 'cancel'
      : req.method === 'GET' && file ? 'file'
      : 'other';
    // the API takes a bare version id or "owner/name:version"
    const version = !byModel && body?.version ? String(body.version).split(':').at(-1)! : undefined;
    const model = byModel ? `${byModel[1]}/${byModel[2]}` : version ? (versions[version] ?? `version:${version}`) : undefined;
    const idInPath = getPred?.[1] ?? cancelPred?.[1] ?? file?.[1];
    const rec: FakeRequest = {
      t: now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      kind,
      model,
      version,
      predictionId: idInPath,
      body,
      prefer: req.headers.prefer as string | undefined,
      authorization: req.headers.authorization,
      inFlight,
      activePredictions: active() + (kind === 'create' ? 1 : 0),
    };
    requests.push(rec);

    if (kind === 'file') {
      counts.file++;
      const id = file![1]!;
      const p = preds.get(id);
      const out = p ? outputs.get(p.model) : undefined;
      if (!p || p.removed || file![2] !== (out?.ext ?? 'png')) return send(res, rec, 404, { detail: 'Not found.' });
      const f = fault('file', { model: p.model, input: p.input, n: counts.file });
      if (applyHttpFault(f, res, req, rec)) return;
      let bytes = files.get(id) ?? (out ? (typeof out.bytes === 'function' ? out.bytes(p.input) : out.bytes) : await render(p));
      files.set(id, bytes);
      if (f?.kind === 'truncate') bytes = bytes.subarray(0, Math.floor(bytes.length / 2));
      rec.status = 200;
      res.writeHead(200, { 'content-type': out?.contentType ?? 'image/png', 'content-length': String(bytes.length) });
      return res.end(bytes);
    }

    if (req.headers.authorization !== `Bearer ${token}`) return send(res, rec, 401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });

    if (kind === 'create') {
      counts.create++;
      const input = (body?.input ?? {}) as Record<string, unknown>;
      const f = fault('create', { model, input, n: counts.create });
      if (applyHttpFault(f, res, req, rec)) return;
      if (byModel && !models.has(model!)) return send(res, rec, 404, { title: 'Not found', detail: 'The requested resource could not be found.', status: 404 });
      if (version && !versions[version])
        return send(res, rec, 422, { title: 'Invalid version or not permitted', detail: 'The specified version does not exist (or perhaps you don\'t have permission to use it?)', status: 422 });
      if (typeof input.prompt !== 'string') return send(res, rec, 422, { title: 'Input validation failed', detail: '- input: prompt is required', status: 422 });
      const id = `fake${String(++seq).padStart(5, '0')}`;
      const p: Pred = {
        id,
        model: model!,
        version,
        input,
        createdAt: now(),
        settlesAt: f?.kind === 'processing' ? Infinity : now() + latencyMs,
        end: f?.kind === 'fail' ? 'failed' : f?.kind === 'cancel' ? 'canceled' : 'succeeded',
        error: f?.kind === 'fail' ? f.error : undefined,
        polls: 0,
        holdPolls: f?.kind === 'processing' ? (f.polls ?? Infinity) : undefined,
      };
      rec.predictionId = id;
      rec.activePredictions = active() + 1;
      preds.set(id, p);
      const prefer = String(req.headers.prefer ?? '');
      const m = /^wait(?:=(\d+))?$/.exec(prefer.trim());
      if (m) {
        const holdMs = Math.min(m[1] ? Number(m[1]) * 1000 : 60_000, opts.waitCapMs ?? Infinity);
        const until = Math.min(p.settlesAt, now() + holdMs);
        // timers round down; wait until the settle time has really passed
        while (now() < until) await new Promise((r) => setTimeout(r, Math.ceil(until - now()) + 1));
      }
      return send(res, rec, 201, view(p));
    }
    if (kind === 'get') {
      counts.get++;
      const p = preds.get(getPred![1]!);
      const f = fault('get', { model: p?.model, input: p?.input, n: counts.get });
      if (applyHttpFault(f, res, req, rec)) return;
      if (!p) return send(res, rec, 404, { detail: 'Not found.' });
      p.polls++;
      if (p.holdPolls !== undefined && p.polls > p.holdPolls) {
        p.holdPolls = undefined;
        p.settlesAt = Math.min(p.settlesAt, now());
      }
      return send(res, rec, 200, view(p));
    }
    if (kind === 'cancel') {
      const p = preds.get(cancelPred![1]!);
      if (!p) return send(res, rec, 404, { detail: 'Not found.' });
      if (statusOf(p) === 'starting' || statusOf(p) === 'processing') {
        p.end = 'canceled';
        p.settlesAt = now();
        p.holdPolls = undefined;
      }
      return send(res, rec, 200, view(p));
    }
    return send(res, rec, 404, { detail: 'Not found.' });
  };

  const server = createServer((req, res) => {
    inFlight++;
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        inFlight--;
      }
    };
    res.on('close', finish);
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: String(e) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    baseUrl: `${origin}/v1`,
    token,
    requests,
    predictions: preds,
    setFaults: (rules: FaultRule[]) => {
      faults = rules.map((f) => ({ ...f, fired: 0 }));
    },
    setLatency: (ms: number) => {
      latencyMs = ms;
    },
    /** Serve `out` as `model`'s output from now on (undefined: back to the rendered PNG). */
    setOutput: (model: string, out: FakeOutput | undefined) => {
      if (out) outputs.set(model, out);
      else outputs.delete(model);
    },
    creates: () => requests.filter((r) => r.kind === 'create'),
    /** Predictions created (and so paid for) since the last reset(). */
    created: () => requests.filter((r) => r.kind === 'create' && r.status === 201).length,
    cancels: () => requests.filter((r) => r.kind === 'cancel'),
    /** The status a GET would report now, without counting as a poll. */
    statusOf: (id: string) => {
      const p = preds.get(id);
      return p ? statusOf(p) : undefined;
    },
    /** Delete a prediction's output, as the API does an hour after it finished. */
    expire: (id: string) => {
      const p = preds.get(id);
      if (p) p.removed = true;
    },
    maxActivePredictions: () => Math.max(0, ...requests.filter((r) => r.kind === 'create' && r.status === 201).map((r) => r.activePredictions)),
    reset: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export type FakeReplicate = Awaited<ReturnType<typeof startFakeReplicate>>;
