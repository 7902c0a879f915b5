import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvSchema } from '../../src/config/env.js';
import { enhanceImagePrompt, PromptTraceSummarySchema, type EnhanceOptions } from '../../src/prompt/enhance.js';
import { CostLedger } from '../../src/runs/ledger.js';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { startFakeOpenAI, type FakeOpenAIServer, type RecordedRequest } from '../fakes/openai-server.js';

// Not in process.env on purpose: the redactor must not be what keeps it out of the files.
const KEY = 'sk-test-Zq8vKEYNEVERWRITTEN41';
const ENHANCED = 'A cat on a windowsill at dusk. A close-up from an eye-level angle, shot on an ARRI Alexa 35 with an 85mm lens at f/2.';
const critiqueJson = (o = 80) =>
  JSON.stringify({ scores: { completeness: o, specificity: o, professionalism: o, cinematography: o, brand_alignment: null }, feedback: ['add a film stock'], flags: ['missing:film_grade'] });
const isCritic = (r: RecordedRequest) => r.body?.response_format?.type === 'json_schema';

let fake: FakeOpenAIServer;
let dir: string;
beforeEach(async () => {
  fake = await startFakeOpenAI({ responder: (r) => ({ content: isCritic(r) ? critiqueJson() : ENHANCED, usage: { prompt_tokens: 1000, completion_tokens: 200 } }) });
  dir = mkdtempSync(join(tmpdir(), 'loop-openai-'));
});
afterEach(() => fake.close());

const opts = (extra: Partial<EnhanceOptions> = {}): EnhanceOptions => ({
  prompt: 'a cat on a windowsill',
  runDir: dir,
  maxIterations: 1,
  threshold: 50,
  backend: 'openai',
  creativeModel: 'gpt-4o',
  critiqueModel: 'gpt-4o-mini',
  env: EnvSchema.parse({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseURL }),
  retryPolicy: { retries: 3, baseMs: 5, maxMs: 20 },
  requestTimeoutMs: 400,
  ...extra,
});

function assertKeyAbsent() {
  for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8'), f).not.toContain(KEY);
}

describe('openai agents against a fake OpenAI server (real SDK)', () => {
  it('asks for the run\'s aspect ratio, or one generation accepts, and records it in the summary', async () => {
    const given = await enhanceImagePrompt(opts({ aspectRatio: '4:5' }));
    expect(JSON.stringify(fake.requests[0]!.body.messages)).toContain('the aspect-ratio hint must say 4:5');
    expect(given.aspect_ratio).toBe('4:5');
    const free = await enhanceImagePrompt(opts({ runDir: mkdtempSync(join(tmpdir(), 'loop-openai-')) }));
    expect(JSON.stringify(fake.requests[2]!.body.messages)).toContain(`one the image model renders: ${ASPECT_RATIOS.join(', ')}`);
    expect(free.aspect_ratio).toBeNull(); // ENHANCED names no ratio
  });

  it('runs both agents with the right requests, and records tokens and cost', async () => {
    const ledger = new CostLedger();
    const s = await enhanceImagePrompt(opts({ ledger }));
    expect(fake.requests).toHaveLength(2);
    const [a1, a2] = fake.requests;
    expect(a1!.path).toBe('/v1/chat/completions');
    expect(a1!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(a1!.body.model).toBe('gpt-4o');
    expect(JSON.stringify(a1!.body.messages)).toContain('a cat on a windowsill');
    expect(a2!.body.model).toBe('gpt-4o-mini');
    expect(a2!.body.response_format.json_schema.strict).toBe(true);
    expect(s.final_prompt).toBe(ENHANCED);
    expect(s.stop_reason).toBe('threshold_met');
    expect(s.iterations[0]!.scores).toMatchObject({ completeness: 80, brand_alignment: null, overall: 80 });
    expect(s.iterations[0]!.usage).toEqual({ input_tokens: 2000, output_tokens: 400, calls: 2 });
    // gpt-4o: 1000*2.5/1e6 + 200*10/1e6 = 0.0045; gpt-4o-mini: 1000*0.15/1e6 + 200*0.6/1e6 = 0.00027
    expect(s.iterations[0]!.cost_usd).toBeCloseTo(0.00477, 8);
    expect(s.cost.total_cost_usd).toBeCloseTo(0.00477, 8);
    expect(ledger.entries.map((e) => [e.provider, e.model, e.input_tokens, e.output_tokens])).toEqual([
      ['openai', 'gpt-4o', 1000, 200],
      ['openai', 'gpt-4o-mini', 1000, 200],
    ]);
    expect(s.backend_note).toContain(fake.baseURL);
    assertKeyAbsent();
  });

  it('429 then success: honours retry-after', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '0.4' } });
    const s = await enhanceImagePrompt(opts());
    expect(s.final_prompt).toBe(ENHANCED);
    expect(fake.requests).toHaveLength(3);
    // backoff alone would be ≤ 20 ms with this policy
    expect(fake.requests[1]!.at - fake.requests[0]!.at).toBeGreaterThanOrEqual(380);
    assertKeyAbsent();
  });

  it('500s are retried, and give up with one clear REMOTE error and an error summary', async () => {
    fake.enqueue({ status: 500 }, { status: 503 });
    expect((await enhanceImagePrompt(opts())).final_prompt).toBe(ENHANCED);
    expect(fake.requests).toHaveLength(4);

    const dir2 = mkdtempSync(join(tmpdir(), 'loop-openai-'));
    fake.respond(() => ({ status: 500 }));
    await expect(enhanceImagePrompt(opts({ runDir: dir2 }))).rejects.toMatchObject({
      kind: 'REMOTE',
      message: expect.stringMatching(/cinematographer call to gpt-4o failed: HTTP 500.*after 4 attempts/),
    });
    const summary = PromptTraceSummarySchema.parse(JSON.parse(readFileSync(join(dir2, 'prompt_trace_summary.json'), 'utf8')));
    expect(summary.stop_reason).toBe('error');
    expect(summary.final_prompt).toBeNull();
    expect(readdirSync(dir2).sort()).toEqual(['00_original_prompt.txt', 'prompt_trace_summary.json']);
  });

  it('a timed-out request is retried', async () => {
    fake.enqueue({ delayMs: 3000 });
    const s = await enhanceImagePrompt(opts());
    expect(s.final_prompt).toBe(ENHANCED);
    expect(fake.requests).toHaveLength(3);
  });

  it('malformed critic JSON gets one repair turn', async () => {
    let criticCalls = 0;
    fake.respond((r) => {
      if (!isCritic(r)) return { content: ENHANCED };
      return { content: criticCalls++ === 0 ? '{"scores": {"completeness": "high"' : critiqueJson(90) };
    });
    const s = await enhanceImagePrompt(opts());
    expect(s.iterations[0]!.scores.overall).toBe(90);
    expect(s.iterations[0]!.usage.calls).toBe(3);
    const repair = fake.requests[2]!;
    expect(repair.body.messages.at(-2).role).toBe('assistant');
    expect(repair.body.messages.at(-1).content).toMatch(/invalid/);
  });

  it('critic JSON that is wrong twice fails clearly', async () => {
    fake.respond((r) => ({ content: isCritic(r) ? JSON.stringify({ scores: { completeness: 500 }, feedback: [], flags: [] }) : ENHANCED }));
    await expect(enhanceImagePrompt(opts())).rejects.toMatchObject({ kind: 'REMOTE', message: expect.stringMatching(/invalid JSON twice.*--critique-model/) });
    expect(fake.requests).toHaveLength(3);
    const summary = JSON.parse(readFileSync(join(dir, 'prompt_trace_summary.json'), 'utf8'));
    expect(summary.stop_reason).toBe('error');
    assertKeyAbsent();
  });

  it('a rejected key is a CONFIG error, not retried', async () => {
    fake.respond(() => ({ status: 401 }));
    await expect(enhanceImagePrompt(opts())).rejects.toMatchObject({ kind: 'CONFIG', message: expect.stringMatching(/OPENAI_API_KEY/) });
    expect(fake.requests).toHaveLength(1);
  });
});
