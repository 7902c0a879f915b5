import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvSchema } from '../../src/config/env.js';
import { vqaConfigFromEnv, vqaQuestion } from '../../src/scoring/metrics/vqa-score.js';
import { scoreGenerationDir } from '../../src/scoring/rank.js';
import { createImageScorer } from '../../src/scoring/scorer.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { writeTinyModels } from '../helpers/tiny-models.js';
import { writeGenerationDir } from './gen-dir.js';

const KEY = 'sk-vqa-test-secret-0123456789';
let fake: FakeOpenAIServer;
let root: string;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  root = mkdtempSync(join(tmpdir(), 'loop-vqa-'));
  process.env.LOOP_VQA_API_KEY = KEY; // so the redactor knows it
});
afterAll(async () => {
  await fake.close();
  rmSync(root, { recursive: true, force: true });
  delete process.env.LOOP_VQA_API_KEY;
});

describe('VQAScore', () => {
  it('reads P("Yes") from the first token top logprobs of a fake OpenAI-compatible server', async () => {
    // the answer depends on the image: a greener image gets a higher P(yes)
    const pYesByCall: number[] = [];
    fake.respond((req) => {
      const content = req.body.messages[0].content as { type: string; image_url?: { url: string }; text?: string }[];
      const url = content.find((c) => c.type === 'image_url')!.image_url!.url;
      const p = (url.length % 7) / 10 + 0.2; // deterministic per image
      pYesByCall.push(p);
      return {
        content: 'Yes',
        logprobs: [
          {
            token: 'Yes',
            logprob: Math.log(p * 0.75),
            top_logprobs: [
              { token: 'Yes', logprob: Math.log(p * 0.75) },
              { token: ' yes', logprob: Math.log(p * 0.25) },
              { token: 'No', logprob: Math.log(1 - p) },
            ],
          },
        ],
      };
    });
    const dir = join(root, 'gen');
    await writeGenerationDir(dir, 'a red square', [
      { rgb: [200, 30, 30], seed: 1 },
      { rgb: [20, 180, 60], seed: 2, noise: 30 },
      { rgb: [40, 40, 220], seed: 3, noise: 5 },
    ]);
    writeTinyModels(join(root, 'models'));
    const scorer = createImageScorer({
      modelsDir: join(root, 'models'),
      vqa: { model: 'gpt-4o-mini', baseURL: fake.baseURL, apiKey: KEY, concurrency: 2, timeoutMs: 10_000, maxRetries: 0 },
    });
    const r = await scoreGenerationDir(dir, { scorer });
    await scorer.close();
    expect(fake.requests.length).toBe(3);
    for (const req of fake.requests) {
      expect(req.body.model).toBe('gpt-4o-mini');
      expect(req.body.logprobs).toBe(true);
      expect(req.body.top_logprobs).toBeGreaterThan(0);
      expect(req.body.max_tokens).toBe(1);
      const text = req.body.messages[0].content.find((c: { type: string }) => c.type === 'text').text;
      expect(text).toBe(vqaQuestion('a red square'));
      expect(text).toBe('Does this figure show "a red square"? Please answer yes or no.');
      expect(req.body.messages[0].content.find((c: { type: string }) => c.type === 'image_url').image_url.url).toMatch(/^data:image\/png;base64,/);
      expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    }
    // each image's vqa_score is exactly the P(yes) the fake answered for it
    const got = r.images.map((i) => i.metrics.vqa_score!).sort();
    const want = pYesByCall.map((p) => Math.round(p * 100 * 1e6) / 1e6).sort();
    expect(got).toEqual(want);
    expect(r.metrics_available).toContain('vqa_score');
    expect(r.weights_used.vqa_score).toBeCloseTo(15 / 100, 10);
    // each call is costed from the price table: 100 input + 50 output tokens at gpt-4o-mini's prices
    expect(r.cost_usd).toBeCloseTo(3 * (100 * 0.15 + 50 * 0.6) / 1e6, 12);
    // the key never reaches a file
    for (const f of readdirSync(dir)) if (f.endsWith('.json')) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(KEY);
  });

  it('is unavailable with a reason when a request fails, and drops out of every overall in the set', async () => {
    fake.respond(() => ({ status: 400, content: 'bad' }));
    const dir = join(root, 'gen-fail');
    await writeGenerationDir(dir, 'a red square', [{ rgb: [200, 30, 30], seed: 1 }, { rgb: [20, 180, 60], seed: 2 }]);
    const scorer = createImageScorer({
      modelsDir: join(root, 'models'),
      vqa: { model: 'fake-vlm', baseURL: fake.baseURL, apiKey: KEY, concurrency: 2, timeoutMs: 10_000, maxRetries: 0 },
    });
    const r = await scoreGenerationDir(dir, { scorer });
    await scorer.close();
    expect(r.metrics_unavailable.vqa_score).toMatch(/HTTP 400/);
    expect(r.weights_used.vqa_score).toBeUndefined();
  });

  it('is unavailable when not configured', () => {
    const env = EnvSchema.parse({});
    expect(vqaConfigFromEnv(env)).toEqual({ unavailable: expect.stringMatching(/LOOP_VQA_MODEL is not set/) });
    const cfg = vqaConfigFromEnv(EnvSchema.parse({ LOOP_VQA_MODEL: 'gpt-4o', OPENAI_API_KEY: 'sk-abcdefgh' }));
    expect(cfg).toMatchObject({ model: 'gpt-4o', apiKey: 'sk-abcdefgh' });
  });
});
