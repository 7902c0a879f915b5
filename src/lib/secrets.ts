/**
 * Secrets never reach a trace, a log line or Redis. Every writer of text that leaves the process
 * (logger, JSON trace writer, job payloads) passes it through redact().
 *
 * Order matters: redact first, cut second. A cut made first can split a token, and the half left
 * behind is no longer the token redact() looks for. So every length cap on text that may carry a
 * secret (provider error bodies, exception messages) goes through clip(), never a bare slice().
 *
 * redact() also removes a partial token at either edge of a string (at least MIN_PARTIAL
 * characters of a secret's start at the string's end, or of its end at the string's start): the
 * remains of a cut someone else made (a library, a log line limit) before the text reached us.
 * That costs a few endsWith() calls and is worth it, but it cannot help once more text has been
 * appended after the cut: a fragment in the middle of a message looks like any other text. Hence
 * clip() for every cut loop makes itself.
 */
const SECRET_ENV = ['OPENAI_API_KEY', 'REPLICATE_API_TOKEN', 'LOOP_VQA_API_KEY'] as const;

/** Shortest secret we track, and the shortest partial token removed at a string's edge. */
const MIN_SECRET = 6;
const MIN_PARTIAL = 6;
const PLACEHOLDER = '[redacted]';

const extra = new Set<string>();

/** Register a secret value that did not come from the environment (e.g. a --api-key flag). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= MIN_SECRET) extra.add(value);
}

function secrets(): string[] {
  const out = new Set(extra);
  for (const name of SECRET_ENV) {
    const v = process.env[name];
    if (v && v.length >= MIN_SECRET) out.add(v);
  }
  return [...out];
}

// What a truncating writer typically adds after its cut, or before a cut from the front.
const TAIL_NOISE = /[\s.…"'`)\]}>]*$/u;
const HEAD_NOISE = /^[\s.…"'`([{<]*/u;

/** Replace a partial secret at the end (its first k chars) or start (its last k chars) of text. */
function redactEdges(text: string, s: string): string {
  let out = text;
  const tail = TAIL_NOISE.exec(out)![0];
  const body = out.slice(0, out.length - tail.length);
  for (let k = Math.min(s.length - 1, body.length); k >= MIN_PARTIAL; k--) {
    if (body.endsWith(s.slice(0, k))) {
      out = body.slice(0, body.length - k) + PLACEHOLDER + tail;
      break;
    }
  }
  const head = HEAD_NOISE.exec(out)![0];
  const rest = out.slice(head.length);
  for (let k = Math.min(s.length - 1, rest.length); k >= MIN_PARTIAL; k--) {
    if (rest.startsWith(s.slice(s.length - k))) {
      out = head + PLACEHOLDER + rest.slice(k);
      break;
    }
  }
  return out;
}

export function redact(text: string): string {
  let out = text;
  const all = secrets();
  for (const s of all) out = out.split(s).join(PLACEHOLDER);
  for (const s of all) out = redactEdges(out, s);
  return out;
}

/**
 * Redact, then cut to at most `max` characters (the cut is marked with "…", counted in `max`).
 * Use for every length cap on text that came from outside: the token is gone before the cut can
 * split it.
 */
export function clip(text: string, max: number): string {
  const clean = redact(text);
  if (clean.length <= max) return clean;
  if (max <= 1) return clean.slice(0, Math.max(0, max));
  return `${clean.slice(0, max - 1)}…`;
}

/** Deep-redact a JSON-able value: keys and strings, and partial tokens at each string's edges. */
export function redactValue<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value)), (_k, v: unknown) => (typeof v === 'string' ? redact(v) : v)) as T;
}
