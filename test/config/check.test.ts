/**
 * Folders named by the environment or by flags: LOOP_OUTPUT_DIR / LOOP_MODELS_DIR that are files
 * are configuration (exit 4), --output-dir / --models-dir that are files are input (exit 3), a
 * folder that cannot be created fails fast, and `models verify` with nothing installed is exit 10.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { directoryProblem } from '../../src/config/check.js';
import { ExitCode } from '../../src/errors.js';
import { createRunDir, ensureDir, resolveRunsRoot } from '../../src/runs/run-dir.js';
import { runCli } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'loop-check-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const aFile = join(work, 'a-file');
writeFileSync(aFile, 'keep me');

const hasProcSys = existsSync('/proc/sys') && process.platform === 'linux';

describe('output directories', () => {
  it('directoryProblem names a file in the way', () => {
    expect(directoryProblem(work)).toBeUndefined();
    expect(directoryProblem(join(work, 'new', 'deeper'))).toBeUndefined();
    expect(directoryProblem(aFile)).toBe('is a file, not a directory');
    expect(directoryProblem(join(aFile, 'sub'))).toBe(`${aFile} is a file, not a directory`);
  });

  it('createRunDir reports a root by its origin: LOOP_OUTPUT_DIR → CONFIG, --output-dir → INPUT', async () => {
    await expect(createRunDir(resolveRunsRoot(undefined, aFile, 'image_generations'))).rejects.toMatchObject({ kind: 'CONFIG', message: expect.stringMatching(/^LOOP_OUTPUT_DIR .*a-file is a file/) });
    await expect(createRunDir(resolveRunsRoot(aFile, work, 'image_generations'))).rejects.toMatchObject({ kind: 'INPUT', message: expect.stringMatching(/^--output-dir .* is a file, not a directory/) });
  });

  it.runIf(hasProcSys)('ensureDir fails fast where mkdir -p would spin (/proc/sys/x)', async () => {
    const t0 = Date.now();
    await expect(ensureDir('/proc/sys/loop-test-x/y')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(createRunDir({ path: '/proc/sys/loop-test-x', origin: '--output-dir' })).rejects.toMatchObject({
      kind: 'INPUT',
      message: expect.stringMatching(/cannot create --output-dir \/proc\/sys\/loop-test-x: .*ENOENT/),
    });
  });

  it('LOOP_OUTPUT_DIR naming a file: exit 4, one line, the file untouched', async () => {
    for (const cmd of [['enhance-image-prompt', '-'], ['generate-images', '-', '-n', '1', '--backend', 'sketch', '--skip-scoring']]) {
      const r = await runCli(cmd, { stdin: 'a cat', env: { LOOP_OUTPUT_DIR: aFile } });
      expect(r.code, r.stderr).toBe(ExitCode.CONFIG);
      expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: LOOP_OUTPUT_DIR .*a-file is a file, not a directory/)]);
    }
    expect(readFileSync(aFile, 'utf8')).toBe('keep me');
  });

  it('--output-dir naming a file, or under one: exit 3, one line', async () => {
    for (const dir of [aFile, join(aFile, 'sub')]) {
      const r = await runCli(['enhance-image-prompt', '-', '--output-dir', dir], { stdin: 'a cat', env: { LOOP_OUTPUT_DIR: join(work, 'out') } });
      expect(r.code).toBe(ExitCode.INPUT);
      expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: --output-dir .*a-file.* is a file, not a directory/)]);
    }
  });

  it.runIf(hasProcSys)('--output-dir /proc/sys/x fails at once with one line (it used to spin at 100% CPU)', async () => {
    for (const cmd of [['enhance-image-prompt', '-'], ['generate-images', '-', '-n', '1', '--backend', 'sketch', '--skip-scoring']]) {
      const r = await runCli([...cmd, '--output-dir', '/proc/sys/loop-test-x'], { stdin: 'a cat', timeoutMs: 15_000 });
      expect(r.signal, 'killed: it hung').toBeNull();
      expect(r.code).toBe(ExitCode.INPUT);
      expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: cannot create --output-dir \/proc\/sys\/loop-test-x/)]);
    }
    const env = await runCli(['enhance-image-prompt', '-'], { stdin: 'a cat', env: { LOOP_OUTPUT_DIR: '/proc/sys/loop-test-x' }, timeoutMs: 15_000 });
    expect(env.code).toBe(ExitCode.CONFIG);
    expect(env.stderrLines).toHaveLength(1);
  });
});

describe('models folder', () => {
  it.each([['models', 'list'], ['models', 'verify'], ['models', 'path'], ['models', 'pull', 'clip-vit-base-patch32'], ['score-images', '.']])(
    'LOOP_MODELS_DIR naming a file: %s %s → exit 4, one line',
    async (...args) => {
      const r = await runCli(args, { env: { LOOP_MODELS_DIR: aFile } });
      expect(r.code, r.stderr).toBe(ExitCode.CONFIG);
      expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: LOOP_MODELS_DIR .*a-file is a file, not a directory/)]);
    },
  );

  it('generate-images checks it only when it will score', async () => {
    const base = ['generate-images', '-', '-n', '1', '--backend', 'sketch', '-o', join(work, 'gen')];
    const scored = await runCli(base, { stdin: 'a cat', env: { LOOP_MODELS_DIR: aFile } });
    expect(scored.code).toBe(ExitCode.CONFIG);
    expect(scored.stderrLines).toHaveLength(1);
    const skipped = await runCli([...base, '--skip-scoring'], { stdin: 'a cat', env: { LOOP_MODELS_DIR: aFile } });
    expect(skipped.code, skipped.stderr).toBe(ExitCode.OK);
  });

  it('--models-dir naming a file is input: exit 3', async () => {
    const r = await runCli(['models', 'list', '--models-dir', aFile]);
    expect(r.code).toBe(ExitCode.INPUT);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: --models-dir .* is a file, not a directory/)]);
  });

  it.runIf(hasProcSys)('models pull into a folder that cannot be created fails fast with one line', async () => {
    const r = await runCli(['models', 'pull', 'clip-vit-base-patch32'], { env: { LOOP_MODELS_DIR: '/proc/sys/loop-test-m' }, timeoutMs: 15_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(ExitCode.CONFIG);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: cannot create LOOP_MODELS_DIR/)]);
  });
});

describe('loop models verify', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const models = join(work, 'models');
  const manifest = join(work, 'manifest.json');
  const body = Buffer.from('tiny head');
  mkdirSync(join(models, 'head'), { recursive: true });
  writeFileSync(
    manifest,
    JSON.stringify({
      schema_version: 1,
      models: [{ id: 'head', role: 'test', metrics: ['aesthetic'], obtain: 'build', source: 's', license: 'l', files: [{ path: 'head.onnx', url: null, sha256: sha(body), size: body.length }] }],
    }),
  );

  it('with nothing installed: exit 10, one line that says so and points at `loop models list`', async () => {
    const empty = join(work, 'no-models');
    const r = await runCli(['models', 'verify', '--manifest', manifest, '--models-dir', empty]);
    expect(r.code).toBe(ExitCode.MODEL);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: no scoring models are installed in .*no-models.*loop models list/)]);
    expect(existsSync(empty)).toBe(false);
    const j = await runCli(['models', 'verify', '--manifest', manifest, '--models-dir', empty, '--json']);
    expect(j.code).toBe(ExitCode.MODEL);
    expect(JSON.parse(j.stdout).ok).toBe(false);
  });

  it('with every model present and valid: exit 0', async () => {
    writeFileSync(join(models, 'head', 'head.onnx'), body);
    const r = await runCli(['models', 'verify', '--manifest', manifest, '--models-dir', models]);
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(r.stdout).toMatch(/head: ok/);
    expect(readdirSync(join(models, 'head'))).toEqual(['head.onnx']);
  });
});
