/**
 * Prompt files that are not regular files are refused at once (a FIFO used to hang), and text
 * from outside loop (file names, file contents, provider text) reaches the terminal without its
 * control characters or escape sequences.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { readPromptInput } from '../../src/lib/input.js';
import { registerSecret } from '../../src/lib/secrets.js';
import { clipSafe, jsonForTerminal, termSafe } from '../../src/lib/terminal.js';
import { renderResults } from '../../cli/image-report.js';
import type { GenerationTrace } from '../../src/generation/metadata.js';
import { runCli } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'loop-input-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fifo = join(work, 'prompt.fifo');
execFileSync('mkfifo', [fifo]);
writeFileSync(join(work, 'p.txt'), 'a cat on a windowsill');

// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x08\x0B-\x1F\x7F-\x9F]/;

describe('prompt files that are not regular files', () => {
  it('a FIFO is refused without opening it for a blocking read', async () => {
    await expect(readPromptInput(fifo)).rejects.toMatchObject({ kind: 'INPUT', message: expect.stringMatching(/is a named pipe \(FIFO\), not a regular file.*"-"/) });
  });

  it('a character device is refused', async () => {
    await expect(readPromptInput('/dev/zero')).rejects.toMatchObject({ kind: 'INPUT', message: expect.stringMatching(/\/dev\/zero is a character device/) });
  });

  it('a socket is refused', async () => {
    const path = join(work, 's.sock');
    const srv = createServer().listen(path);
    await new Promise((r) => srv.once('listening', r));
    try {
      await expect(readPromptInput(path)).rejects.toMatchObject({ kind: 'INPUT', message: expect.stringMatching(/is a socket/) });
    } finally {
      srv.close();
    }
  });

  it.each([['enhance-image-prompt'], ['generate-images']])('%s with a FIFO: exit 3 at once, one line, nothing written', async (cmd) => {
    const out = join(work, `out-${cmd}`);
    const r = await runCli([cmd, fifo, '--output-dir', out], { cwd: work, timeoutMs: 15_000 });
    expect(r.signal, 'killed after hanging').toBeNull();
    expect(r.code).toBe(ExitCode.INPUT);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: prompt file .*prompt\.fifo is a named pipe \(FIFO\)/)]);
    expect(() => readdirSync(out)).toThrow();
  });

  it('/dev/stdin reads stdin as "-" does', async () => {
    const r = await runCli(['enhance-image-prompt', '/dev/stdin', '--json', '--output-dir', join(work, 'o-stdin')], { stdin: 'a dog on a sofa' });
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(JSON.parse(r.stdout).original_prompt).toBe('a dog on a sofa');
  });
});

describe('termSafe', () => {
  it('shows controls and escape sequences as text', () => {
    expect(termSafe('a\x1b[31mb.txt')).toBe('a\\x1b[31mb.txt');
    expect(termSafe('x\ry\nz\x07\x7f')).toBe('x\\ry\\nz\\x07\\x7f');
    expect(termSafe('\u009b31m \u202eevil')).toBe('\\x9b31m \\u202eevil');
    expect(termSafe('tabs\tstay, ünïcødé too ✓')).toBe('tabs\tstay, ünïcødé too ✓');
  });
  it('keeps line feeds when asked (multi-line prints), still not CR', () => {
    expect(termSafe('one\r\ntwo\n\x1b]0;title\x07', { multiline: true })).toBe('one\ntwo\n\\x1b]0;title\\x07');
  });
  it('is idempotent', () => {
    const once = termSafe('a\x1b[2Jb\u0085');
    expect(termSafe(once)).toBe(once);
  });
  it('clipSafe redacts before cutting, so no prefix of a secret survives', () => {
    const token = 'r8_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123';
    registerSecret(token);
    const clipped = clipSafe(`auth failed for ${token} at upstream`, 30);
    expect(clipped).not.toContain('r8_ABCDEFGHIJ');
    expect(clipped).toContain('[redacted]');
    expect(clipped.length).toBeLessThanOrEqual(30);
  });
  it('jsonForTerminal is the same JSON with C1 and bidi characters escaped', () => {
    const v = { s: 'a\u009b31mb\u202ec\x1bd\x7f' };
    const text = jsonForTerminal(v);
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).not.toContain('\u202e');
    expect(JSON.parse(text)).toEqual(v);
  });
});

describe('untrusted text reaching the terminal', () => {
  it('a prompt file NAME with an escape sequence is shown escaped in the error line', async () => {
    const r = await runCli(['enhance-image-prompt', 'nope\x1b[31mred\x1b]0;owned\x07.txt'], { cwd: work });
    expect(r.code).toBe(ExitCode.INPUT);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
    expect(r.stderr).toContain('nope\\x1b[31mred\\x1b]0;owned\\x07.txt');
  });

  it('a prompt file named with an escape, used by generate-images: the report shows it escaped', async () => {
    const name = 'a\x1b[31mb.txt';
    writeFileSync(join(work, name), 'a lighthouse at dusk');
    const r = await runCli(['generate-images', name, '-n', '1', '--backend', 'sketch', '--skip-scoring', '-o', join(work, 'g')], { cwd: work });
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(r.stdout).toContain('prompt:  a\\x1b[31mb.txt');
    expect(r.stdout + r.stderr).not.toMatch(RAW_CONTROL);
  });

  it('a brand file field with escapes is printed back escaped', async () => {
    writeFileSync(join(work, 'brand.json'), JSON.stringify({ brand: 'Acme\x1b[31mRED\x1b[0m', palette: ['red'] }));
    const r = await runCli(['enhance-image-prompt', 'p.txt', '--brand', 'brand.json', '--output-dir', join(work, 'b')], { cwd: work });
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(r.stdout).toContain('Brand:     Acme\\x1b[31mRED\\x1b[0m');
    expect(r.stdout).not.toMatch(RAW_CONTROL);
  });

  it('renderResults escapes metadata and provider text but keeps its own colours', () => {
    const trace = {
      backend: 'replicate',
      backend_note: 'note\x1b[2J',
      prompt_source: 'p\x1b[31m.txt',
      ordering: 'generation',
      ordering_note: undefined,
      images: [{ file: 'image_001.png', variation: 1, seed: 1, model: 'acme/m\x1b[5m', cost_usd: null, rank: null, scores: null }],
      failures: [{ variation: 2, seed: 2, attempts: 3, models_tried: ['x/y\x1b[1m'], reason: 'upstream said \x1b]8;;http://evil\x07click\r' }],
      num_variations: 2,
      cost: { total_cost_usd: 0 },
      best: null,
    } as unknown as GenerationTrace;
    const text = renderResults(trace, '/out\x1b[31m');
    expect(text).not.toMatch(RAW_CONTROL);
    for (const s of ['note\\x1b[2J', 'p\\x1b[31m.txt', 'acme/m\\x1b[5m', 'x/y\\x1b[1m', '\\x1b]8;;http://evil\\x07click\\r', '/out\\x1b[31m']) expect(text).toContain(s);
  });
});
