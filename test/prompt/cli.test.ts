import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PromptTraceSummarySchema } from '../../src/prompt/enhance.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { runCli } from '../helpers/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'loop-cli-enh-'));
const runs = (root: string) => (existsSync(root) ? readdirSync(root) : []);

describe('loop enhance-image-prompt', () => {
  it('reads stdin, writes the default run dir under LOOP_OUTPUT_DIR, prints the table and the trace path', async () => {
    const out = tmp();
    const r = await runCli(['enhance-image-prompt', '-', '--max-iterations', '5', '--threshold', '98'], { stdin: 'a cat on a windowsill\n', env: { LOOP_OUTPUT_DIR: out } });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const [run] = runs(join(out, 'image_prompt_traces'));
    expect(run).toMatch(/^\d{8}_\d{6}$/);
    const dir = join(out, 'image_prompt_traces', run!);
    expect(r.stdout).toContain('offline rule-based agents (no LLM)');
    expect(r.stdout).toMatch(/iter\s+complete\s+specific\s+profess\s+cinema\s+brand\s+overall/);
    expect(r.stdout).toMatch(/^1\s+\d+\.\d/m);
    expect(r.stdout).toContain(`Trace:     ${dir}`);
    expect(r.stdout).toMatch(/Stop:\s+threshold met/);
    expect(r.stdout).toMatch(/Cost:\s+\$0\.000000/);
    const summary = PromptTraceSummarySchema.parse(JSON.parse(readFileSync(join(dir, 'prompt_trace_summary.json'), 'utf8')));
    expect(summary.original_prompt).toBe('a cat on a windowsill');
    expect(r.stdout).toContain(summary.final_prompt!);
    expect(readdirSync(dir)).toContain(summary.final_prompt_file);
  });

  it('--aspect-ratio sets the framing hint to the images\' aspect ratio', async () => {
    const work = tmp();
    const r = await runCli(['enhance-image-prompt', '-', '--aspect-ratio', '9:16', '--json'], { cwd: work, stdin: 'a cat on a windowsill', env: { LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).final_prompt).toContain('Framed for a 9:16 aspect ratio.');
    expect(JSON.parse(r.stdout).aspect_ratio).toBe('9:16');
  });

  it('4:5, the ratio the enhancer writes for products, is accepted; the trace records the ratio and a stable final file', async () => {
    const work = tmp();
    const r = await runCli(['enhance-image-prompt', '-', '--aspect-ratio', '4:5', '--json'], { cwd: work, stdin: 'a bottle of perfume on black velvet', env: { LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code, r.stderr).toBe(0);
    const s = PromptTraceSummarySchema.parse(JSON.parse(r.stdout));
    expect(s.final_prompt).toContain('Framed for a 4:5 aspect ratio.');
    expect(s.aspect_ratio).toBe('4:5');
    expect(readFileSync(join(s.trace_dir, 'final_enhanced_prompt.txt'), 'utf8').trim()).toBe(s.final_prompt);
    expect(s.files).toContain('final_enhanced_prompt.txt');
    // no --aspect-ratio: the one the offline cinematographer chose, a ratio generation accepts
    const free = await runCli(['enhance-image-prompt', '-', '--json'], { cwd: work, stdin: 'a bottle of perfume on black velvet', env: { LOOP_OUTPUT_DIR: join(work, 'out') } });
    const f = PromptTraceSummarySchema.parse(JSON.parse(free.stdout));
    expect(f.aspect_ratio).not.toBeNull();
    expect(f.final_prompt).toContain(`Framed for a ${f.aspect_ratio}`);
  });

  it('reads a file, honours --output-dir and --brand, and --json prints only the summary', async () => {
    const work = tmp();
    writeFileSync(join(work, 'prompt.txt'), 'a cup of espresso on a wooden table\n');
    writeFileSync(join(work, 'brand.json'), JSON.stringify({ brand: 'Northwind', palette: ['copper'], tone: ['warm'], must_include: ['steam'], avoid: ['neon'] }));
    const r = await runCli(['enhance-image-prompt', 'prompt.txt', '--output-dir', 'my_traces', '--brand', 'brand.json', '--json', '--seed', '7'], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const summary = PromptTraceSummarySchema.parse(JSON.parse(r.stdout));
    expect(summary.trace_dir.startsWith(join(work, 'my_traces'))).toBe(true);
    expect(summary.brand?.brand).toBe('Northwind');
    expect(summary.final_scores!.brand_alignment).toBe(100);
    expect(summary.final_prompt).toMatch(/copper/);
    expect(summary.seed).toBe(7);
    expect(runs(join(work, 'output'))).toEqual([]);
  });

  const bad: Array<[string, string[], number, RegExp, { stdin?: string | Uint8Array; setup?: (d: string) => void; env?: Record<string, string> }?]> = [
    ['missing file', ['nope.txt'], 3, /not found: nope\.txt/],
    ['a directory', ['adir'], 3, /is a directory/, { setup: (d) => mkdirSync(join(d, 'adir')) }],
    ['empty stdin', ['-'], 3, /empty/, { stdin: '' }],
    ['whitespace file', ['ws.txt'], 3, /empty/, { setup: (d) => writeFileSync(join(d, 'ws.txt'), '  \n\t\n') }],
    ['binary file', ['bin.dat'], 3, /binary/, { setup: (d) => writeFileSync(join(d, 'bin.dat'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1, 2])) }],
    ['non-UTF-8 file', ['latin1.txt'], 3, /not valid UTF-8/, { setup: (d) => writeFileSync(join(d, 'latin1.txt'), Buffer.from('caf\xe9 au lait', 'latin1')) }],
    ['too long', ['-'], 3, /limit is 4000/, { stdin: 'a cat '.repeat(1000) }],
    ['threshold > 100', ['-', '--threshold', '101'], 2, /--threshold must be between 0 and 100/, { stdin: 'a cat' }],
    ['threshold < 0', ['-', '--threshold', '-5'], 2, /--threshold/, { stdin: 'a cat' }],
    ['iterations 0', ['-', '--max-iterations', '0'], 2, /--max-iterations must be between 1 and 10/, { stdin: 'a cat' }],
    ['iterations 11', ['-', '--max-iterations', '11'], 2, /--max-iterations must be between 1 and 10/, { stdin: 'a cat' }],
    ['iterations abc', ['-', '--max-iterations', 'abc'], 2, /--max-iterations must be a whole number/, { stdin: 'a cat' }],
    ['unknown flag', ['-', '--colour'], 2, /unknown option '--colour'/, { stdin: 'a cat' }],
    ['bad backend', ['-', '--backend', 'claude'], 2, /--backend must be one of offline, openai/, { stdin: 'a cat' }],
    ['openai without a key', ['-', '--backend', 'openai'], 4, /OPENAI_API_KEY.*--backend offline/, { stdin: 'a cat' }],
    ['bad brand file', ['-', '--brand', 'brand.json'], 3, /brand file brand\.json is not valid JSON/, { stdin: 'a cat', setup: (d) => writeFileSync(join(d, 'brand.json'), '{palette') }],
  ];
  for (const [name, args, code, msg, o] of bad)
    it(`bad input: ${name} → exit ${code}, one line, nothing written`, async () => {
      const work = tmp();
      o?.setup?.(work);
      const r = await runCli(['enhance-image-prompt', ...args], { cwd: work, stdin: o?.stdin, env: { LOOP_OUTPUT_DIR: join(work, 'out'), ...o?.env } });
      expect(r.code).toBe(code);
      expect(r.stderrLines).toHaveLength(1);
      expect(r.stderrLines[0]).toMatch(/^loop: error: /);
      expect(r.stderrLines[0]).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
      expect(existsSync(join(work, 'out'))).toBe(false);
    });
});

describe('loop enhance-image-prompt --backend openai (fake server)', () => {
  const KEY = 'sk-cli-SECRETVALUE-9931xyz';
  let fake: FakeOpenAIServer;
  beforeAll(async () => {
    fake = await startFakeOpenAI({
      responder: (r) =>
        r.body?.response_format
          ? { content: JSON.stringify({ scores: { completeness: 90, specificity: 88, professionalism: 92, cinematography: 91, brand_alignment: null }, feedback: ['fine'], flags: [] }) }
          : { content: `A cat on a windowsill, lit warmly. (key echo test: ${KEY})` },
    });
  });
  afterAll(() => fake.close());

  it('runs against OPENAI_BASE_URL, and the key appears in no file, no stdout, no stderr', async () => {
    const work = tmp();
    fake.enqueue({ status: 429, headers: { 'retry-after': '0' } });
    const r = await runCli(['enhance-image-prompt', '-', '--verbose', '--creative-model', 'gpt-4o-mini'], {
      cwd: work,
      stdin: 'a cat on a windowsill',
      env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseURL, LOOP_OUTPUT_DIR: join(work, 'out') },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[debug\] openai cinematographer: HTTP 429/);
    expect(r.stdout).toMatch(/Backend:\s+openai/);
    expect(r.stdout).toMatch(/input \/ \d+ output tokens/);
    expect(r.stdout + r.stderr).not.toContain(KEY);
    const root = join(work, 'out', 'image_prompt_traces');
    const dir = join(root, readdirSync(root)[0]!);
    const files = readdirSync(dir);
    expect(files).toContain('prompt_trace_summary.json');
    for (const f of files) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(KEY);
    expect(readFileSync(join(dir, '01_agent1_iteration_1.txt'), 'utf8')).toContain('[redacted]');
  });

  it('a remote failure: one line, REMOTE exit code, the partial trace kept', async () => {
    const work = tmp();
    fake.respond(() => ({ status: 400, body: { error: { message: 'model not found', type: 'invalid_request_error' } } }));
    const r = await runCli(['enhance-image-prompt', '-'], { cwd: work, stdin: 'a cat', env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseURL, LOOP_OUTPUT_DIR: join(work, 'out') } });
    expect(r.code).toBe(5);
    expect(r.stderrLines.filter((l) => l.startsWith('loop: error:'))).toHaveLength(1);
    expect(r.stderr).toMatch(/HTTP 400.*partial trace in/);
    const root = join(work, 'out', 'image_prompt_traces');
    const summary = JSON.parse(readFileSync(join(root, readdirSync(root)[0]!, 'prompt_trace_summary.json'), 'utf8'));
    expect(summary.stop_reason).toBe('error');
  });
});
