/**
 * REDIS_URL and LOOP_PRICES_FILE are checked when the configuration loads: one line, exit 4,
 * never the password.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEnv, maskRedisUrl, redisUrlProblem } from '../../src/config/env.js';
import { ExitCode } from '../../src/errors.js';
import { redact } from '../../src/lib/secrets.js';
import { safeRedisUrl } from '../../queues/connection.js';
import { runCli } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'loop-env-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const envFail = (env: Record<string, string>) => {
  try {
    loadEnv({ env, cwd: work });
  } catch (e) {
    return e as Error & { kind?: string };
  }
  return undefined;
};

describe('REDIS_URL', () => {
  it.each([
    ['redis://127.0.0.1:6379'],
    ['redis://127.0.0.1'],
    ['rediss://user:pw@redis.example.com:6380/2'],
    ['redis://[::1]:6379/0'],
    ['redis://h:6379/'],
  ])('accepts %s', (url) => expect(redisUrlProblem(url)).toBeUndefined());

  it.each([
    ['redis://127.0.0.1:99999', /port must be 1–65535, got "99999"/],
    ['redis://127.0.0.1:0', /port must be 1–65535/],
    ['redis://127.0.0.1:abc', /port must be 1–65535/],
    ['redis://', /has no host/],
    ['redis://:pw@:6379', /has no host/],
    ['redis://127.0.0.1:6379/abc', /database number/],
    ['redis://127.0.0.1:6379/1/2', /database number/],
    ['http://127.0.0.1:6379', /must start with redis:\/\/ or rediss:\/\//],
    ['127.0.0.1:6379', /must start with redis:\/\//],
  ])('refuses %s', (url, msg) => expect(redisUrlProblem(url)).toMatch(msg));

  it('loadEnv: a bad REDIS_URL is a CONFIG error that never shows the password', () => {
    const e = envFail({ REDIS_URL: 'redis://admin:hunter2secret@127.0.0.1:99999/0' });
    expect(e?.kind).toBe('CONFIG');
    expect(e?.message).toMatch(/^invalid REDIS_URL: port must be 1–65535/);
    expect(e?.message).toContain('admin:***@127.0.0.1:99999');
    expect(e?.message).not.toContain('hunter2');
  });

  it('masks passwords and query strings, also in URLs that do not parse', () => {
    expect(maskRedisUrl('redis://:s3cr3t@h:99999')).toBe('redis://:***@h:99999');
    expect(maskRedisUrl('redis://s3cr3t@h')).toBe('redis://***@h');
    expect(maskRedisUrl('redis://h:6379/0?password=s3cr3t')).toBe('redis://h:6379/0?***');
    expect(safeRedisUrl('redis://u:s3cr3t@h:6379')).toBe('redis://u:***@h:6379');
    expect(safeRedisUrl('not a url at all s3cr3t')).toBe('REDIS_URL');
  });

  it('a REDIS_URL password is redacted from then on', () => {
    loadEnv({ env: { REDIS_URL: 'redis://:pw-Zq81xLmT@127.0.0.1:6379' }, cwd: work });
    expect(redact('NOAUTH pw-Zq81xLmT rejected')).toBe('NOAUTH [redacted] rejected');
  });

  it.each([['redis://127.0.0.1:99999'], ['redis://'], ['redis://127.0.0.1:6379/abc']])(
    'the CLI with REDIS_URL=%s: one line, exit 4',
    async (url) => {
      const r = await runCli(['models', 'path'], { env: { REDIS_URL: url } });
      expect(r.code).toBe(ExitCode.CONFIG);
      expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: invalid REDIS_URL: /)]);
    },
  );

  it('the CLI never prints a REDIS_URL password', async () => {
    const r = await runCli(['models', 'path'], { env: { REDIS_URL: 'redis://:Sup3rSecretPw@127.0.0.1:70000' } });
    expect(r.code).toBe(ExitCode.CONFIG);
    expect(r.stderr).not.toContain('Sup3rSecretPw');
  });
});

describe('LOOP_PRICES_FILE', () => {
  const table = (models: unknown) => JSON.stringify({ schema_version: 1, as_of: '2025-01-01', currency: 'USD', models });
  const good = join(work, 'good.json');
  writeFileSync(good, table({ 'acme/painter': { per_image: 0.02 } }));
  const notJson = join(work, 'not.json');
  writeFileSync(notJson, '{ "schema_version": 1,');
  const empty = join(work, 'empty.json');
  writeFileSync(empty, '');
  const badEntry = join(work, 'bad-entry.json');
  writeFileSync(badEntry, table({ 'acme/ok': { per_image: 0.01 }, 'acme/bad': { per_image: 'ten cents' } }));
  const unknownKey = join(work, 'unknown-key.json');
  writeFileSync(unknownKey, table({ 'acme/typo': { per_imag: 0.01 } }));
  const fifo = join(work, 'prices.fifo');
  execFileSync('mkfifo', [fifo]);

  it('a good file loads', () => expect(envFail({ LOOP_PRICES_FILE: good })).toBeUndefined());

  it.each([
    ['missing', join(work, 'nope.json'), /LOOP_PRICES_FILE .*nope\.json: file not found/],
    ['not JSON', notJson, /LOOP_PRICES_FILE .*not\.json: not valid JSON/],
    ['empty', empty, /LOOP_PRICES_FILE .*empty\.json: the file is empty/],
    ['a wrong entry', badEntry, /bad-entry\.json: invalid at models\["acme\/bad"\]\.per_image: .*number/],
    ['an unknown key', unknownKey, /invalid at models\["acme\/typo"\]: .*per_imag/],
    ['a directory', work, /is a directory/],
    ['a FIFO (would hang a read)', fifo, /is not a regular file/],
  ])('%s is a CONFIG error naming the file at load', (_name, path, msg) => {
    const e = envFail({ LOOP_PRICES_FILE: path });
    expect(e?.kind).toBe('CONFIG');
    expect(e?.message).toMatch(msg);
  });

  it('the CLI refuses a bad LOOP_PRICES_FILE at start: one line, exit 4, no run directory', async () => {
    const out = join(work, 'out-prices');
    const r = await runCli(['generate-images', '-', '-n', '1', '--backend', 'sketch', '-o', out], { stdin: 'a cat', env: { LOOP_PRICES_FILE: badEntry } });
    expect(r.code).toBe(ExitCode.CONFIG);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: LOOP_PRICES_FILE .*bad-entry\.json: invalid at models\["acme\/bad"\]/)]);
    expect(r.stdout).toBe('');
  });
});
