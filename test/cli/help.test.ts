/**
 * Every help screen of the built CLI (`loop --help`, each command's and each sub-command's, found
 * by walking the "Commands:" lists): an "Examples" section that names only files the repository
 * ships, no line of 100 columns or more, one range style (1–10, never 1-10), and the same short
 * flag for the same long flag on every command. The README's command examples name shipped files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/cli.js';

/** The short flag each of these long flags has wherever it appears; -n is "how many per input". */
const SHORT: Record<string, string> = {
  '--output-dir': '-o',
  '--aspect-ratio': '-a',
  '--verbose': '-v',
  '--num-variations': '-n',
  '--num-attempts': '-n',
  '--num-clips': '-c',
  '--model': '-m',
};
const MAX_COLUMNS = 99;

interface Screen {
  path: string[];
  text: string;
}

const name = (s: Screen) => `loop ${s.path.join(' ')}`.trim();

/** The sub-commands a help screen lists (not `help`). */
function subcommands(text: string): string[] {
  const list = /\nCommands:\n([\s\S]*?)(?:\n\n|$)/.exec(text)?.[1] ?? '';
  return list
    .split('\n')
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== 'help');
}

async function helpScreens(): Promise<Screen[]> {
  const out: Screen[] = [];
  let level: string[][] = [[]];
  while (level.length) {
    const screens = await Promise.all(
      level.map(async (path) => {
        const r = await runCli([...path, '--help']);
        if (r.code !== 0) throw new Error(`loop ${path.join(' ')} --help exited ${r.code}: ${r.stderr}`);
        return { path, text: r.stdout };
      }),
    );
    out.push(...screens);
    level = screens.flatMap((s) => subcommands(s.text).map((c) => [...s.path, c]));
  }
  return out;
}

/** The lines of the Examples section, continuation lines (after a trailing `\`) joined. */
function examples(text: string): string[] {
  const m = /\nExamples?:\n((?: {2}.*(?:\n|$))+)/.exec(text);
  if (!m) return [];
  return m[1]!
    .replace(/\\\n\s+/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Option lines: `  -o, --output-dir <dir>  …` → { short: '-o', long: '--output-dir' }. */
function options(text: string): { short?: string; long: string }[] {
  const section = /\nOptions:\n([\s\S]*?)(?:\n\n|$)/.exec(text)?.[1] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}(?:(-[A-Za-z]), )?(--[\w-]+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ short: m[1], long: m[2]! }));
}

const screens = await helpScreens();

describe('help screens', () => {
  it('the walk reaches every command and sub-command', () => {
    const names = screens.map(name);
    for (const expected of ['loop', 'loop run', 'loop enqueue', 'loop generate-images', 'loop models list', 'loop models pull', 'loop cache prune', 'loop board'])
      expect(names).toContain(expected);
    expect(screens.length).toBeGreaterThanOrEqual(25);
  });

  it.each(screens.map((s) => [name(s), s] as const))('%s: has an example', (_, s) => {
    expect(examples(s.text), `${name(s)} --help has no "Examples:" section`).not.toEqual([]);
  });

  it.each(screens.map((s) => [name(s), s] as const))(`%s: no line wider than ${MAX_COLUMNS} columns`, (_, s) => {
    const wide = s.text.split('\n').filter((l) => [...l].length > MAX_COLUMNS);
    expect(wide, `${name(s)} --help`).toEqual([]);
  });

  it.each(screens.map((s) => [name(s), s] as const))('%s: ranges are written 1–10 (en dash)', (_, s) => {
    expect(s.text.split('\n').filter((l) => /\d-\d/.test(l)), `${name(s)} --help`).toEqual([]);
  });

  it.each(screens.map((s) => [name(s), s] as const))('%s: the same short flag for the same long flag', (_, s) => {
    const opts = options(s.text);
    for (const o of opts) {
      if (SHORT[o.long]) expect(o.short, `${name(s)} ${o.long}`).toBe(SHORT[o.long]);
      else if (o.short) expect(Object.values(SHORT), `${name(s)} ${o.short}, ${o.long}: ${o.short} means something else elsewhere`).not.toContain(o.short);
    }
    const shorts = opts.map((o) => o.short).filter(Boolean);
    expect(new Set(shorts).size, `${name(s)}: a short flag used twice`).toBe(shorts.length);
  });

  it.each(screens.map((s) => [name(s), s] as const))('%s: examples name only files the repository ships', (_, s) => {
    for (const line of examples(s.text))
      for (const file of line.match(/\bexamples\/[\w./-]+/g) ?? []) expect(existsSync(join(REPO_ROOT, file)), `${name(s)}: ${line}`).toBe(true);
  });

  it('the example section is found, so removing it fails the test above', () => {
    const run = screens.find((s) => name(s) === 'loop run')!;
    expect(examples(run.text).length).toBeGreaterThan(0);
    expect(examples(run.text.replace(/\nExamples?:\n[\s\S]*$/, '\n'))).toEqual([]);
  });
});

describe('README', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /## Commands\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';

  it('the Commands block names only files the repository ships', () => {
    expect(block).not.toBe('');
    const files = block.match(/\bexamples\/[\w./-]+/g) ?? [];
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(existsSync(join(REPO_ROOT, f)), f).toBe(true);
    // bare names from before the example files existed
    expect(block).not.toMatch(/(?<![\w/])(prompt|enhanced_prompt|p|clip|motion|start)\.txt\b|(?<![\w/])(best|a|b)\.png\b/);
  });

  it('the example images are small', () => {
    for (const f of ['examples/still.png', 'examples/still_end.png']) expect(readFileSync(join(REPO_ROOT, f)).length).toBeLessThan(50_000);
  });
});
