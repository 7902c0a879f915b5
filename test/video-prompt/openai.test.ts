/**
 * The LLM director and video critic against the fake OpenAI-compatible server (real SDK), and the
 * CLI's config and usage errors.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvSchema } from '../../src/config/env.js';
import { CostLedger } from '../../src/runs/ledger.js';
import { enhanceVideoPrompt, VideoPromptSummarySchema, type EnhanceVideoOptions } from '../../src/video-prompt/enhance.js';
import type { VideoClipContext } from '../../src/video-prompt/types.js';
import { startFakeOpenAI, type FakeOpenAIServer, type RecordedRequest } from '../fakes/openai-server.js';
import { runCli } from '../helpers/cli.js';

const KEY = 'sk-test-VIDEOq8vKEYNEVERWRITTEN77';
const ENHANCED = 'A fox trots slowly across the frozen lake. From a medium shot at 50mm, the camera makes one slow dolly in. Over 5 seconds the fox slows and settles.';
const critique = (o: number, arc: number | null = null) =>
  JSON.stringify({
    scores: { motion_clarity: o, camera_language: o, temporal_consistency: o, physical_plausibility: o, start_end_arc: arc },
    feedback: ['say what stays constant'],
    flags: ['missing:continuity'],
  });
const isCritic = (r: RecordedRequest) => r.body?.response_format?.type === 'json_schema';
const tmp = () => mkdtempSync(join(tmpdir(), 'loop-vp-openai-'));

const CLIP: VideoClipContext = {
  clip: 1,
  description: 'A fox crosses the frozen lake',
  camera: { type: 'dolly', direction: 'in', speed: 'slow', end_lens_mm: 50, description: '' },
  duration_s: 5,
  start_frame: { file: 'clip_001_start.png', prompt: 'A fox on the frozen lake (start of the clip), medium shot.', size: 'MS' },
  end_frame: { file: 'clip_001_end.png', prompt: 'A fox on the frozen lake (end of the clip), medium close-up.', size: 'MCU' },
};

let fake: FakeOpenAIServer;
beforeEach(async () => {
  fake = await startFakeOpenAI({ responder: (r) => ({ content: isCritic(r) ? critique(80) : ENHANCED, usage: { prompt_tokens: 1000, completion_tokens: 200 } }) });
});
afterEach(() => fake.close());

const opts = (runDir: string, extra: Partial<EnhanceVideoOptions> = {}): EnhanceVideoOptions => ({
  prompt: 'a fox crosses a frozen lake',
  runDir,
  maxIterations: 1,
  threshold: 50,
  backend: 'openai',
  creativeModel: 'gpt-4o',
  critiqueModel: 'gpt-4o-mini',
  env: EnvSchema.parse({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseURL }),
  retryPolicy: { retries: 1, baseMs: 5, maxMs: 20 },
  requestTimeoutMs: 2000,
  ...extra,
});

describe('openai video agents (fake server, real SDK)', () => {
  it('a round trip: director then JSON-schema critic, tokens and cost in the video_prompt stage', async () => {
    const dir = tmp();
    const ledger = new CostLedger();
    const s = await enhanceVideoPrompt(opts(dir, { ledger }));
    expect(fake.requests).toHaveLength(2);
    const [a1, a2] = fake.requests;
    expect(a1!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(a1!.body.model).toBe('gpt-4o');
    expect(a1!.body.messages[0].content).toMatch(/ONE primary camera move/);
    expect(JSON.stringify(a1!.body.messages)).toContain('a fox crosses a frozen lake');
    expect(a2!.body.model).toBe('gpt-4o-mini');
    expect(a2!.body.response_format.json_schema).toMatchObject({ name: 'video_prompt_critique', strict: true });
    expect(a2!.body.response_format.json_schema.schema.properties.scores.required).toEqual(['motion_clarity', 'camera_language', 'temporal_consistency', 'physical_plausibility', 'start_end_arc']);
    expect(s.final_prompt).toBe(ENHANCED);
    expect(s.stop_reason).toBe('threshold_met');
    expect(s.iterations[0]!.scores).toEqual({ motion_clarity: 80, camera_language: 80, temporal_consistency: 80, physical_plausibility: 80, start_end_arc: null, overall: 80 });
    expect(s.iterations[0]!.usage).toEqual({ input_tokens: 2000, output_tokens: 400, calls: 2 });
    expect(s.cost.total_cost_usd).toBeCloseTo(0.00477, 8);
    expect(ledger.entries.map((e) => [e.stage, e.provider, e.model])).toEqual([
      ['video_prompt', 'openai', 'gpt-4o'],
      ['video_prompt', 'openai', 'gpt-4o-mini'],
    ]);
    expect(s.backend_note).toContain(fake.baseURL);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8'), f).not.toContain(KEY);
  });

  it('with a clip context the agents get the planned move and frames, and the arc is scored', async () => {
    fake.respond((r) => ({ content: isCritic(r) ? critique(80, 40) : ENHANCED }));
    const s = await enhanceVideoPrompt(opts(tmp(), { clip: CLIP }));
    expect(JSON.stringify(fake.requests[0]!.body.messages)).toMatch(/planned camera move \(the one move to use\): slow dolly in/);
    expect(JSON.stringify(fake.requests[1]!.body.messages)).toMatch(/end frame: A fox on the frozen lake \(end of the clip\)/);
    expect(s.final_scores).toMatchObject({ start_end_arc: 40, overall: 72 });
  });

  it('critic JSON that is wrong gets one repair turn', async () => {
    let n = 0;
    fake.respond((r) => ({ content: isCritic(r) ? (n++ === 0 ? '{"scores": {"motion_clarity": "high"' : critique(90)) : ENHANCED }));
    const s = await enhanceVideoPrompt(opts(tmp()));
    expect(s.iterations[0]!.scores.overall).toBe(90);
    expect(s.iterations[0]!.usage.calls).toBe(3);
    expect(fake.requests[2]!.body.messages.at(-1).content).toMatch(/invalid/);
  });

  it('a 401 is a CONFIG error; the summary records it, nothing carries the key', async () => {
    fake.respond(() => ({ status: 401 }));
    const dir = tmp();
    await expect(enhanceVideoPrompt(opts(dir))).rejects.toMatchObject({ kind: 'CONFIG', message: expect.stringMatching(/rejected the API key for director/) });
    const s = VideoPromptSummarySchema.parse(JSON.parse(readFileSync(join(dir, 'prompt_trace_summary.json'), 'utf8')));
    expect(s).toMatchObject({ stop_reason: 'error', final_prompt: null, error: { kind: 'CONFIG' } });
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(KEY);
  });
});

describe('loop enhance-video-prompt (CLI)', () => {
  it('openai backend against the fake server: prints the prompt, scores and trace path', async () => {
    const work = tmp();
    const r = await runCli(['enhance-video-prompt', '-', '--backend', 'openai', '--critique-model', 'gpt-4o-mini'], {
      cwd: work,
      stdin: 'a fox crosses a frozen lake\n',
      env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseURL, LOOP_OUTPUT_DIR: join(work, 'out') },
    });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(ENHANCED);
    expect(r.stdout).toMatch(/iter\s+motion\s+camera\s+temporal\s+physics\s+arc\s+overall/);
    const [run] = readdirSync(join(work, 'out', 'video_prompt_traces'));
    expect(r.stdout).toContain(`Trace:     ${join(work, 'out', 'video_prompt_traces', run!)}`);
    expect(r.stdout + r.stderr).not.toContain(KEY);
  });

  it('a 401 → exit 4, one line, without the key', async () => {
    fake.respond(() => ({ status: 401 }));
    const work = tmp();
    const r = await runCli(['enhance-video-prompt', '-', '--backend', 'openai'], {
      cwd: work,
      stdin: 'a fox crosses a frozen lake',
      env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseURL, LOOP_OUTPUT_DIR: join(work, 'out') },
    });
    expect(r.code).toBe(4);
    // progress lines come first (stderr); the error is one line, the last
    const errors = r.stderrLines.filter((l) => l.startsWith('loop:'));
    expect(errors).toHaveLength(1);
    expect(r.stderrLines.at(-1)).toBe(errors[0]);
    expect(errors[0]).toMatch(/^loop: error: OpenAI rejected the API key for director .*--backend offline/);
    expect(r.stdout + r.stderr).not.toContain(KEY);
  });

  it('reads a prompt file offline and --json prints the summary', async () => {
    const work = tmp();
    writeFileSync(join(work, 'motion.txt'), 'a paper boat drifts down a rain gutter\n');
    const r = await runCli(['enhance-video-prompt', 'motion.txt', '--backend', 'offline', '--json', '--seed', '4', '--output-dir', 'traces'], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const s = VideoPromptSummarySchema.parse(JSON.parse(r.stdout));
    expect(s).toMatchObject({ backend: 'offline', seed: 4, original_prompt: 'a paper boat drifts down a rain gutter' });
    expect(s.trace_dir.startsWith(join(work, 'traces'))).toBe(true);
  });

  const bad: Array<[string, string[], number, RegExp, string?]> = [
    ['--max-iterations 0', ['-', '--max-iterations', '0'], 2, /--max-iterations must be between 1 and 10/, 'a fox'],
    ['--max-iterations 11', ['-', '--max-iterations', '11'], 2, /--max-iterations must be between 1 and 10/, 'a fox'],
    ['--threshold 101', ['-', '--threshold', '101'], 2, /--threshold must be between 0 and 100/, 'a fox'],
    ['bad backend', ['-', '--backend', 'claude'], 2, /--backend must be one of offline, openai/, 'a fox'],
    ['openai without a key', ['-', '--backend', 'openai'], 4, /OPENAI_API_KEY.*--backend offline/, 'a fox'],
    ['missing prompt file', ['nope.txt'], 3, /not found: nope\.txt/],
    ['empty stdin', ['-'], 3, /empty/, ''],
  ];
  for (const [name, args, code, msg, stdin] of bad)
    it(`bad input: ${name} → exit ${code}, one line, nothing written`, async () => {
      const work = tmp();
      const r = await runCli(['enhance-video-prompt', ...args], { cwd: work, stdin, env: { LOOP_OUTPUT_DIR: join(work, 'out') } });
      expect(r.code).toBe(code);
      expect(r.stderrLines).toHaveLength(1);
      expect(r.stderrLines[0]).toMatch(msg);
      expect(existsSync(join(work, 'out'))).toBe(false);
    });
});
