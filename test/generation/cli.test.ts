import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { GenerationTraceSchema } from '../../src/generation/metadata.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { runCli } from '../helpers/cli.js';

let work: string;
let fake: FakeReplicate;
const PROMPT = 'A lone cyclist crossing a rain-soaked bridge at blue hour, medium wide shot, 35mm, f/2';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-gen-cli-'));
  await writeFile(join(work, 'p.txt'), PROMPT + '\n');
  fake = await startFakeReplicate({ latencyMs: 30 });
});
afterAll(async () => {
  await fake.close();
  await rm(work, { recursive: true, force: true });
});

const runDirs = async (root: string) => (await readdir(root).catch(() => [] as string[])).sort();
const sketch = (args: string[], out: string) => runCli(['generate-images', ...args, '--backend', 'sketch', '-o', out], { cwd: work });

describe('loop generate-images (sketch backend)', () => {
  it('generates, traces, and prints a table that says what the images are', async () => {
    const out = join(work, 'happy');
    const r = await sketch(['p.txt', '-n', '3', '--seed', '12345', '--aspect-ratio', '1:1', '--skip-scoring'], out);
    expect(r.code, r.stderr).toBe(0);
    const [run] = await runDirs(out);
    expect(run).toMatch(/^\d{8}_\d{6}$/);
    const files = await readdir(join(out, run!));
    expect(files.sort()).toEqual([
      'generation_trace.json',
      'image_001.png',
      'image_001_metadata.json',
      'image_002.png',
      'image_002_metadata.json',
      'image_003.png',
      'image_003_metadata.json',
    ]);
    const trace = GenerationTraceSchema.parse(JSON.parse(await readFile(join(out, run!, 'generation_trace.json'), 'utf8')));
    expect(trace.seeds).toEqual([12345, 12346, 12347]);
    expect(trace.seed_source).toBe('user');
    expect(trace.ordering).toBe('generation');
    expect(trace.scoring).toEqual({ status: 'skipped', reason: '--skip-scoring' });
    expect(trace.backend_note).toMatch(/not model output/);
    expect(r.stdout).toMatch(/backend: sketch — offline previz sketches/);
    expect(r.stdout).toMatch(/image_002\.png\s+12346\s+sketch\s+\$0\.0000/);
    expect(r.stdout).toMatch(/total cost: \$0\.0000 for 3 images \(offline previz sketches, not model output\)/);
    expect(r.stderr).not.toMatch(/\r/); // no progress bar when stderr is not a terminal
    expect(r.stderr).toMatch(/✓ generating done 3\/3 images in /);
  });

  it('--json prints the trace; without --skip-scoring an unavailable scorer is reported, not fatal', async () => {
    const out = join(work, 'json');
    const r = await sketch(['p.txt', '-n', '2', '--json'], out);
    expect(r.code, r.stderr).toBe(0);
    const trace = GenerationTraceSchema.parse(JSON.parse(r.stdout));
    expect(trace.seed_source).toBe('drawn');
    expect(trace.images).toHaveLength(2);
    if (trace.ordering === 'generation') {
      expect(trace.scoring).toMatchObject({ status: 'unavailable' });
      expect(r.stderr).toMatch(/scoring unavailable: /);
    }
  });

  it('takes a prompt trace directory and uses its final enhanced prompt', async () => {
    const traceDir = join(work, 'prompt_trace');
    await mkdir(traceDir, { recursive: true });
    await writeFile(join(traceDir, '01_original_prompt.txt'), 'a bridge');
    await writeFile(join(traceDir, '05_final_enhanced_prompt.txt'), PROMPT);
    const out = join(work, 'fromdir');
    const r = await sketch([traceDir, '-n', '1', '--skip-scoring', '--json'], out);
    expect(r.code, r.stderr).toBe(0);
    const trace = GenerationTraceSchema.parse(JSON.parse(r.stdout));
    expect(trace.prompt).toBe(PROMPT);
    expect(trace.prompt_source).toBe(join(traceDir, '05_final_enhanced_prompt.txt'));
  });

  it('renders at the prompt trace\'s aspect ratio unless --aspect-ratio says otherwise', async () => {
    const traceDir = join(work, 'prompt_trace_4x5');
    await mkdir(traceDir, { recursive: true });
    const framed = `${PROMPT}. Framed for a 4:5 vertical aspect ratio.`;
    await writeFile(join(traceDir, '03_final_enhanced_prompt.txt'), framed);
    await writeFile(join(traceDir, 'final_enhanced_prompt.txt'), framed);
    await writeFile(join(traceDir, 'prompt_trace_summary.json'), JSON.stringify({ final_prompt: framed, aspect_ratio: '4:5' }));
    const made = async (args: string[], name: string) => {
      const r = await sketch([...args, '-n', '1', '--skip-scoring', '--json'], join(work, name));
      expect(r.code, r.stderr).toBe(0);
      return { trace: GenerationTraceSchema.parse(JSON.parse(r.stdout)), stderr: r.stderr };
    };
    const { trace, stderr } = await made([traceDir], 'ratio-from-trace');
    expect(trace.aspect_ratio).toBe('4:5');
    expect(trace.images[0]).toMatchObject({ aspect_ratio: '4:5', width: 896, height: 1088 });
    expect(trace.prompt_source).toBe(join(traceDir, 'final_enhanced_prompt.txt')); // the stable name
    expect(stderr).toMatch(/aspect ratio 4:5, as the prompt trace records/);
    // the trace's final prompt file on its own is still that trace's prompt
    expect((await made([join(traceDir, 'final_enhanced_prompt.txt')], 'ratio-from-file')).trace.aspect_ratio).toBe('4:5');
    // a given --aspect-ratio wins, even when it is the default's value
    expect((await made([traceDir, '--aspect-ratio', '1:1'], 'ratio-flag')).trace.aspect_ratio).toBe('1:1');
    expect((await made([traceDir, '--aspect-ratio', '16:9'], 'ratio-flag-default')).trace.aspect_ratio).toBe('16:9');
    // a plain prompt file: the default
    expect((await made(['p.txt'], 'ratio-plain')).trace.aspect_ratio).toBe('16:9');
  });

  it('reads the prompt from stdin with "-"', async () => {
    const out = join(work, 'stdin');
    const r = await runCli(['generate-images', '-', '-n', '1', '--backend', 'sketch', '-o', out, '--skip-scoring', '--json'], { cwd: work, stdin: PROMPT });
    expect(r.code, r.stderr).toBe(0);
    expect(GenerationTraceSchema.parse(JSON.parse(r.stdout))).toMatchObject({ prompt: PROMPT, prompt_source: 'stdin' });
  });

  const bad: [string, string[], number, RegExp][] = [
    ['unsupported aspect ratio', ['p.txt', '--aspect-ratio', '2.39:1'], ExitCode.USAGE, /--aspect-ratio must be one of 1:1/],
    ['zero variations', ['p.txt', '-n', '0'], ExitCode.USAGE, /--num-variations must be between 1 and 32/],
    ['too many variations', ['p.txt', '-n', '33'], ExitCode.USAGE, /--num-variations must be between 1 and 32/],
    ['negative seed', ['p.txt', '--seed=-1'], ExitCode.USAGE, /--seed must be between 0/],
    ['missing prompt file', ['nope.txt'], ExitCode.INPUT, /prompt file not found: nope\.txt/],
  ];
  for (const [name, args, code, msg] of bad) {
    it(`rejects ${name} with one line and exit ${code}, creating nothing`, async () => {
      const out = join(work, `bad-${name.replace(/\W+/g, '-')}`);
      const r = await sketch(args, out);
      expect(r.code).toBe(code);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^loop: error: /);
      expect(lines[0]).toMatch(msg);
      expect(await runDirs(out)).toEqual([]);
    });
  }

  it('rejects an --output-dir that is a file', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'keep me');
    const r = await sketch(['p.txt', '-n', '1'], file);
    expect(r.code).toBe(ExitCode.INPUT);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/is a file, not a directory/);
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  it('--backend replicate without a token names --backend sketch (exit 4)', async () => {
    const out = join(work, 'notoken');
    const r = await runCli(['generate-images', 'p.txt', '--backend', 'replicate', '-o', out], { cwd: work });
    expect(r.code).toBe(ExitCode.CONFIG);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/REPLICATE_API_TOKEN.*--backend sketch/);
    expect(await runDirs(out)).toEqual([]);
  });
});

describe('loop generate-images (Replicate backend, fake API)', () => {
  const env = () => ({ REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl });

  it('exits 7 when some variations fail, keeps the rest, and never writes the token anywhere', async () => {
    fake.setFaults([{ on: 'create', match: (c) => c.input?.seed === 501, fault: { kind: 'fail', error: 'model crashed' } }]);
    const out = join(work, 'partial');
    const r = await runCli(['generate-images', 'p.txt', '-n', '3', '--seed', '500', '-o', out, '--skip-scoring', '--verbose'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(ExitCode.PARTIAL);
    expect(r.stderr).toMatch(/1 of 3 variations failed; the other 2 were saved/);
    expect(r.stdout).toMatch(/variation 2 \(seed 501.*model crashed/);
    expect(r.stdout).toMatch(/backend: replicate/);
    expect(r.stdout).toMatch(/total cost: \$0\.0096 for 2 images/);
    const [run] = await runDirs(out);
    const files = await readdir(join(out, run!));
    expect(files).toContain('image_001.png');
    expect(files).toContain('image_003.png');
    expect(files).not.toContain('image_002.png');
    // the token was sent (the fake checks it) but appears in nothing we wrote or printed
    expect(fake.requests.some((q) => q.authorization === `Bearer ${fake.token}`)).toBe(true);
    for (const f of files) expect((await readFile(join(out, run!, f))).includes(Buffer.from(fake.token)), f).toBe(false);
    expect(r.stdout).not.toContain(fake.token);
    expect(r.stderr).not.toContain(fake.token);
    for (const q of fake.creates()) expect(JSON.stringify(q.body)).not.toContain(fake.token);
  });

  it('exits 5 when every variation fails', async () => {
    fake.setFaults([{ on: 'create', fault: { kind: 'fail', error: 'down for maintenance' } }]);
    const out = join(work, 'allfail');
    const r = await runCli(['generate-images', 'p.txt', '-n', '2', '-o', out], { cwd: work, env: env() });
    fake.setFaults([]);
    expect(r.code).toBe(ExitCode.REMOTE);
    const [run] = await runDirs(out);
    const trace = GenerationTraceSchema.parse(JSON.parse(await readFile(join(out, run!, 'generation_trace.json'), 'utf8')));
    expect(trace.images).toEqual([]);
    expect(trace.failures).toHaveLength(2);
  });
});
