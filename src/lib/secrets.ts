/**
 * Secrets never reach a trace, a log line or Redis. Every writer of text that leaves the process
 * (logger, JSON trace writer, job payloads) passes it through redact().
 */
const SECRET_ENV = ['OPENAI_API_KEY', 'REPLICATE_API_TOKEN', 'LOOP_VQA_API_KEY'] as const;

const extra = new Set<string>();

/** Register a secret value that did not come from the environment (e.g. a --api-key flag). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) extra.add(value);
}

function secrets(): string[] {
  const out = new Set(extra);
  for (const name of SECRET_ENV) {
    const v = process.env[name];
    if (v && v.length >= 6) out.add(v);
  }
  return [...out];
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets()) out = out.split(s).join('[redacted]');
  return out;
}

/** Deep-redact a JSON-able value (strings only). */
export function redactValue<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value))) as T;
}
