/**
 * Number and device flags: plain decimals only, one `loop: error:` line and exit 2 otherwise.
 */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { deviceArg, floatArg, intArg } from '../../cli/shared.js';
import { ExitCode } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';

describe('floatArg', () => {
  const p = floatArg('--threshold', 0, 100);
  it('takes plain decimals, with a fraction and a leading minus', () => {
    expect(p('85')).toBe(85);
    expect(p('72.5')).toBe(72.5);
    expect(p('.5')).toBe(0.5);
    expect(p(' 7 ')).toBe(7);
    expect(Object.is(p('-0'), 0)).toBe(true);
    expect(floatArg('--x', -10, 10)('-1.5')).toBe(-1.5);
  });
  for (const bad of ['0x10', '0X1f', '0b1', '0o7', '1e3', '1E-2', 'Infinity', '-Infinity', 'NaN', '', ' ', '5.', '+5', '1_000', '١٢'])
    it(`refuses ${JSON.stringify(bad)}`, () => expect(() => p(bad)).toThrow(InvalidArgumentError));
  it('still checks the range', () => expect(() => p('100.5')).toThrow(/between 0 and 100/));
});

describe('intArg', () => {
  const p = intArg('--seed', 0, 1000);
  it('takes plain whole numbers', () => {
    expect(p('12')).toBe(12);
    expect(p(' 3')).toBe(3);
  });
  for (const bad of ['0x10', '1e3', '1.0', 'Infinity', '', '+1'])
    it(`refuses ${JSON.stringify(bad)}`, () => expect(() => p(bad)).toThrow(InvalidArgumentError));
  it('checks the range, also for huge values', () => {
    expect(() => p('1001')).toThrow(/between 0 and 1000/);
    expect(() => p('9'.repeat(400))).toThrow(/between 0 and 1000/);
  });
});

describe('deviceArg', () => {
  const p = deviceArg('--device');
  it('takes cpu, cuda, cuda:N (0-15) and returns the canonical spelling', () => {
    expect(p('cpu')).toBe('cpu');
    expect(p('CUDA')).toBe('cuda:0');
    expect(p('cuda:15')).toBe('cuda:15');
  });
  for (const bad of ['cuda:16', 'cuda:100', 'cuda:01', 'cuda:', 'gpu', 'cuda:-1', 'cuda:1.0', ''])
    it(`refuses ${JSON.stringify(bad)}`, () => expect(() => p(bad)).toThrow(InvalidArgumentError));
  it('quotes a hostile value terminal-safe', () => {
    expect(() => p('\x1b[31mred')).toThrow(/got "\\x1b\[31mred"/);
  });
});

describe('number flags on the command line', () => {
  it.each([
    ['--threshold', '0x10'],
    ['--threshold', '1e1'],
    ['--skip-threshold', '0b1'],
    ['--max-iterations', '0x2'],
  ])('enhance-image-prompt %s %s: exit 2, one line', async (flag, value) => {
    const r = await runCli(['enhance-image-prompt', '-', flag, value], { stdin: 'a cat on a windowsill' });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^loop: error: .*(plain decimal|whole number)/);
  });

  it('generate-images --device cuda:100 is refused when the flag is parsed (exit 2), not at scoring', async () => {
    const r = await runCli(['generate-images', '-', '-n', '1', '--device', 'cuda:100'], { stdin: 'a cat' });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: .*--device CUDA index must be 0–15/)]);
  });

  it('score-images --device cuda:16 is a usage error', async () => {
    const r = await runCli(['score-images', '.', '--device', 'cuda:16']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderrLines).toHaveLength(1);
  });
});
