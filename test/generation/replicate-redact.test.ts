/**
 * Redact before truncating: provider text that carries the API token, placed where a cut made
 * before redaction would split it, must not leave any recognisable piece of the token in what the
 * backend throws, logs or records.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GenerationFailed, type GenerateRequest } from '../../src/generation/backend.js';
import { ReplicateBackend } from '../../src/generation/replicate-backend.js';
import { clip, redact, redactValue, registerSecret } from '../../src/lib/secrets.js';
import type { Logger } from '../../src/lib/log.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';

const FAST = { retries: 1, baseMs: 5, maxMs: 10 };
const SCHNELL = 'black-forest-labs/flux-schnell';
let fake: FakeReplicate;
let token: string;

beforeAll(async () => {
  fake = await startFakeReplicate({ latencyMs: 20 });
  token = fake.token;
  registerSecret(token);
});
afterAll(async () => fake.close());
beforeEach(() => {
  fake.reset();
  fake.setFaults([]);
});

/** Every piece of the token of 6 or more characters that appears in `text` (prefixes, suffixes, middles). */
function pieces(text: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 6 <= token.length; i++) if (text.includes(token.slice(i, i + 6))) found.push(token.slice(i, i + 6));
  return found;
}

const lines: string[] = [];
const logger: Logger = { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), debug: (m) => void lines.push(m) };
const backend = () => new ReplicateBackend({ token, baseUrl: fake.baseUrl, policy: FAST, pollIntervalMs: 10, logger });
const request = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
  prompt: 'a paper boat on a puddle',
  negativePrompt: null,
  aspectRatio: '1:1',
  seed: 3,
  model: SCHNELL,
  fallbackModels: [],
  width: 1024,
  height: 1024,
  ...over,
});

describe('clip() and redact()', () => {
  it('clip redacts first, then cuts: a token straddling the cut leaves nothing', () => {
    const text = 'x'.repeat(295) + token + ' and more';
    // the old order (cut, then redact) leaks 5 characters here; with a cut at 300 + 6 it leaks 11
    expect(pieces(redact(text.slice(0, 306)))).toEqual([]); // redact() alone catches a trailing partial
    expect(pieces(clip(text, 306))).toEqual([]);
    expect(clip(text, 306).length).toBeLessThanOrEqual(306);
    expect(clip('short', 300)).toBe('short');
    expect(clip(`k=${token}`, 8)).toBe('k=[reda…');
  });

  it('redact catches a partial token at either edge of a string someone else cut', () => {
    expect(redact(`error: ${token.slice(0, 11)}`)).toBe('error: [redacted]');
    expect(redact(`error: ${token.slice(0, 11)}...`)).toBe('error: [redacted]...');
    expect(redact(`${token.slice(-9)} was rejected`)).toBe('[redacted] was rejected');
    expect(redact(`"${token.slice(0, 8)}…"`)).toBe('"[redacted]…"');
    // too short to mean anything, and not at an edge: left alone
    expect(redact(`a ${token.slice(0, 5)}`)).toBe(`a ${token.slice(0, 5)}`);
    expect(redactValue({ reason: `cut: ${token.slice(0, 12)}`, [token]: 1 })).toEqual({ reason: 'cut: [redacted]', '[redacted]': 1 });
  });
});

describe('provider text is redacted before it is cut', () => {
  it('a failed prediction whose error has the token where the 300-character cut falls', async () => {
    // "…prediction X failed: " + error.slice(0, 300) would have kept the first 10 characters
    // (two models, so that the first reason is followed by more text when they are joined)
    fake.setFaults([{ on: 'create', fault: { kind: 'fail', error: 'e'.repeat(290) + token + ' (while loading weights)' } }]);
    lines.length = 0;
    const err = await backend()
      .generate(request({ fallbackModels: ['black-forest-labs/flux-dev'] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    const msg = (err as Error).message;
    expect(msg).toMatch(/prediction fake\d+ failed: e{290}\[redacted…/);
    expect(pieces(msg)).toEqual([]);
    expect(lines.length).toBeGreaterThan(0);
    expect(pieces(lines.join('\n'))).toEqual([]);
  });

  it('an HTTP error body with the token where the 200-character detail cut falls', async () => {
    // a detail over 300 characters defeated the old JSON match, and the raw body was cut at 200:
    // `{"detail":"` + 180 × y puts the token across that cut
    fake.setFaults([{ on: 'create', fault: { kind: 'status', status: 422, body: { detail: 'y'.repeat(180) + token + 'z'.repeat(200) } } }]);
    lines.length = 0;
    const err = await backend()
      .generate(request({ fallbackModels: ['black-forest-labs/flux-dev'] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenerationFailed);
    const msg = (err as Error).message;
    expect(msg).toMatch(/HTTP 422 y{180}\[redacted\]z+…/);
    expect(pieces(msg)).toEqual([]);
    expect(pieces(lines.join('\n'))).toEqual([]);
  });

  it('the provider record of a successful fallback carries no piece of the token either', async () => {
    fake.setFaults([
      { on: 'create', match: (c) => c.model === SCHNELL, fault: { kind: 'fail', error: 'w'.repeat(295) + token } },
      { on: 'create', match: (c) => c.model === 'black-forest-labs/flux-dev', fault: { kind: 'status', status: 400, body: 'q'.repeat(190) + token } },
    ]);
    const r = await backend().generate(request({ fallbackModels: ['black-forest-labs/flux-dev', 'black-forest-labs/flux-1.1-pro'] }));
    expect(r.model).toBe('black-forest-labs/flux-1.1-pro');
    const record = JSON.stringify(r.provider);
    expect((r.provider.model_errors as unknown[]).length).toBe(2);
    expect(pieces(record)).toEqual([]);
  });
});
