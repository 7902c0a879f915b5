import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';

/** Cost before spending: --dry-run estimates per stage and spends nothing; --max-cost refuses to start. */
const START = join(REPO_ROOT, 'examples', 'start.txt');
let openai: FakeOpenAIServer;
let replicate: FakeReplicate;
beforeAll(async () => {
  openai = await startFakeOpenAI({ responder: () => ({ content: 'unused' }) });
  replicate = await startFakeReplicate({ token: 'r8_cost_test_token' });
});
afterAll(async () => {
  await openai.close();
  await replicate.close();
});
const paid = () => ({ OPENAI_API_KEY: 'sk-cost-test-123', OPENAI_BASE_URL: openai.baseURL, REPLICATE_API_TOKEN: 'r8_cost_test_token', REPLICATE_BASE_URL: replicate.baseUrl });

describe('cost before spending', () => {
  it('--dry-run prints the estimate per stage from the price table, makes no request and writes nothing', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-cost-'));
    const r = await runCli(['run', START, '--workflow', 'full', '--dry-run', '--json'], { cwd: work, env: { ...paid(), LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.stages.map((s: { stage: string }) => s.stage)).toEqual(['image-prompt', 'image-generation', 'image-scoring', 'storyboard', 'video-prompt', 'video-generation', 'video-scoring']);
    // with keys, the paid backends are the defaults: every paid stage has a price
    for (const s of e.stages) if (['image-prompt', 'image-generation', 'video-generation'].includes(s.stage)) expect(s.cost_usd, s.stage).toBeGreaterThan(0);
    expect(e.total_usd).toBeCloseTo(e.stages.reduce((a: number, s: { cost_usd: number }) => a + s.cost_usd, 0), 6);
    expect(openai.requests).toHaveLength(0);
    expect(replicate.requests).toHaveLength(0);
    expect(existsSync(join(work, 'out'))).toBe(false);
  });

  it('the offline defaults cost nothing, and say so', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-cost-'));
    const r = await runCli(['run', START, '--workflow', 'full', '--dry-run'], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/offline animatic/);
    expect(r.stdout).toMatch(/total \$0\.0000 · dry run: nothing was requested or written/);
  });

  it('--max-cost refuses a run whose estimate passes it, before anything is written or requested', async () => {
    const work = mkdtempSync(join(tmpdir(), 'loop-cost-'));
    const r = await runCli(['run', START, '--workflow', 'full', '--max-cost', '0.10'], { cwd: work, env: { ...paid(), LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code).toBe(2);
    expect(r.stderrLines).toEqual([expect.stringMatching(/would cost about \$\d+\.\d\d.*more than --max-cost \$0\.10; nothing was started/)]);
    expect(existsSync(join(work, 'out'))).toBe(false);
    expect(replicate.requests).toHaveLength(0);
  });
});
