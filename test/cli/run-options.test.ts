/**
 * Run options are declared once (src/workflow/run-options.ts); these check that what is derived
 * from the declarations stays derived: the flags of `loop run` / `loop enqueue` (and the shared
 * flags of the single-stage commands), the flags' schema and mapping in prepareRun, and
 * RunOptionsSchema. Everything goes through the real functions; a new declaration must reach all
 * of them. The backend descriptors (src/config/backends.ts) write every "needs KEY" message.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, type Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { addRunFlags, register as registerQueue } from '../../cli/commands/queue.js';
import { register as registerEnhance } from '../../cli/commands/enhance-image-prompt.js';
import { register as registerGenerate } from '../../cli/commands/generate-images.js';
import { prepareRun } from '../../cli/queue-actions.js';
import { missingKeyMessage } from '../../src/config/backends.js';
import { EnvSchema } from '../../src/config/env.js';
import { ExitCode } from '../../src/errors.js';
import { createBackend, resolveImageBackend } from '../../src/generation/generate.js';
import { resolveAgentBackend } from '../../src/prompt/enhance.js';
import {
  flagAttribute,
  longFlag,
  RUN_OPTION,
  RUN_OPTIONS,
  runFlagsShape,
  runOptionsFromFlags,
  runOptionsShape,
  OFFLINE_AGENT_MODELS,
  type RunOptionDecl,
} from '../../src/workflow/run-options.js';
import { OFFLINE_CREATIVE_MODEL } from '../../src/prompt/offline-cinematographer.js';
import { OFFLINE_CRITIC_MODEL } from '../../src/prompt/rubric-critic.js';
import { STAGES } from '../../src/workflow/stages.js';
import { RunOptionsSchema as PayloadRunOptionsSchema } from '../../queues/payloads.js';
import { RunOptionsSchema } from '../../src/workflow/types.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'loop-runopts-'));
const promptFile = join(work, 'p.txt');
writeFileSync(promptFile, 'a cat asleep on a sunlit windowsill');
const BRAND = join(REPO_ROOT, 'examples', 'brand.json');
const noKeys = EnvSchema.parse({});
const withKeys = EnvSchema.parse({ OPENAI_API_KEY: 'sk-test-123456', REPLICATE_API_TOKEN: 'r8_test_123456' });

/** A stand-alone command with the run flags whose action hands back what commander parsed. */
async function parseRunFlags(args: string[], decls = RUN_OPTIONS as readonly RunOptionDecl[]): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> | undefined;
  const cmd = addRunFlags(new Command('run'), true, decls)
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .action((_input: string, opts: Record<string, unknown>) => {
      got = opts;
    });
  await cmd.parseAsync([promptFile, ...args], { from: 'user' });
  return got!;
}

async function rejects(args: string[], decls?: readonly RunOptionDecl[]): Promise<CommanderError> {
  const e = await parseRunFlags(args, decls).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CommanderError);
  return e as CommanderError;
}

function program(): Command {
  const p = new Command('loop').exitOverride();
  registerQueue(p);
  registerEnhance(p);
  registerGenerate(p);
  return p;
}
const sub = (p: Command, name: string) => p.commands.find((c) => c.name() === name)!;
const flag = (c: Command, long: string): Option | undefined => c.options.find((o) => o.long === long);

describe('the declarations', () => {
  it('have unique keys and flags, and each names a real owning stage', () => {
    expect(new Set(RUN_OPTIONS.map((d) => d.key)).size).toBe(RUN_OPTIONS.length);
    expect(new Set(RUN_OPTIONS.map((d) => longFlag(d.flags))).size).toBe(RUN_OPTIONS.length);
    for (const d of RUN_OPTIONS) expect(STAGES, d.key).toContain(d.stage);
  });

  it('are what RunOptionsSchema is made of, wherever it is imported from', () => {
    expect(PayloadRunOptionsSchema).toBe(RunOptionsSchema);
    expect(Object.keys(RunOptionsSchema.shape)).toEqual(RUN_OPTIONS.map((d) => d.key));
    const defaults = RunOptionsSchema.parse({});
    for (const d of RUN_OPTIONS) expect(defaults[d.key as keyof typeof defaults], d.key).toEqual(d.default);
  });
});

describe('loop run / loop enqueue flags', () => {
  it('every declared option is a flag on both, with its default, help and attribute name', () => {
    const p = program();
    for (const name of ['run', 'enqueue']) {
      const cmd = sub(p, name);
      for (const d of RUN_OPTIONS) {
        const o = flag(cmd, longFlag(d.flags));
        expect(o, `${name} ${d.flags}`).toBeDefined();
        expect(o!.flags).toBe(d.flags);
        expect(o!.description).toBe(d.help);
        expect(o!.defaultValue, `${name} ${d.flags}`).toEqual(d.default ?? undefined);
        expect(o!.attributeName()).toBe(flagAttribute(d.flags));
      }
    }
  });

  it('number flags take plain decimals only, in the declared range', async () => {
    expect((await rejects(['--threshold-image', '0x10'])).message).toMatch(/--threshold-image must be a plain decimal number/);
    expect((await rejects(['--threshold-image', '100.5'])).message).toMatch(/--threshold-image must be between 0 and 100/);
    expect((await rejects(['--max-iterations-image', '1e1'])).message).toMatch(/--max-iterations-image must be a whole number/);
    expect((await rejects(['--num-image-variations', '33'])).message).toMatch(/--num-image-variations must be between 1 and 32/);
    expect((await rejects(['--skip-threshold', '0b1'])).code).toBe('commander.invalidArgument');
  });

  it('choices and model ids are checked when parsed', async () => {
    expect((await rejects(['--aspect-ratio', '2.39:1'])).message).toMatch(/--aspect-ratio must be one of 1:1, /);
    expect((await rejects(['--agent-backend', 'claude'])).message).toMatch(/--agent-backend must be one of offline, openai/);
    expect((await rejects(['--image-backend', 'dalle'])).message).toMatch(/--image-backend must be one of sketch, replicate/);
    expect((await rejects(['--image-model', 'https://x/y'])).message).toMatch(/--image-model must be a Replicate model owner\/name/);
    expect((await rejects(['--fallback-model', 'a/b', '--fallback-model', '../etc'])).message).toMatch(/--fallback-model must be a Replicate model/);
  });

  it('`loop enqueue --threshold-image 0x10` exits 2 with one line, before Redis', async () => {
    const r = await runCli(['enqueue', promptFile, '--threshold-image', '0x10'], { env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderrLines).toEqual([expect.stringMatching(/^loop: error: .*--threshold-image must be a plain decimal number/)]);
  });
});

describe('prepareRun: flags to options', () => {
  it('the default flags give RunOptionsSchema defaults, and the options round-trip', async () => {
    const { f, prompt, options } = await prepareRun(promptFile, await parseRunFlags([]), noKeys, false);
    expect(prompt).toMatch(/a cat/);
    expect(f.workflow).toBe('full'); // Story 9.3: the whole loop by default
    // no keys: the offline backends, decided here and written into the spec, with the offline agents as the models
    expect(options).toEqual(
      RunOptionsSchema.parse({ agent_backend: 'offline', image_backend: 'sketch', video_backend: 'animatic', creative_model: 'offline-cinematographer', critique_model: 'offline-rubric-critic' }),
    );
    expect(RunOptionsSchema.parse(JSON.parse(JSON.stringify(options)))).toEqual(options);
    const keyed = await prepareRun(promptFile, await parseRunFlags([]), withKeys, true);
    expect([keyed.options.agent_backend, keyed.options.image_backend, keyed.options.video_backend]).toEqual(['openai', 'replicate', 'replicate']);
  });

  it('every declared option reaches the options under its key (add a sample here for a new one)', async () => {
    const argv = [
      ...['--max-iterations-image', '5', '--threshold-image', '72.5', '--skip-threshold', '101'],
      ...['--agent-backend', 'openai', '--creative-model', 'gpt-x', '--critique-model', 'gpt-y', '--brand', BRAND, '--seed', '42'],
      ...['--num-image-variations', '3', '--aspect-ratio', '1:1', '--image-backend', 'sketch', '--image-model', 'owner/model'],
      ...['--fallback-model', 'a/b', '--fallback-model', 'c/d', '--negative-prompt', 'no text', '--skip-scoring'],
      ...['--num-clips', '5', '--frame-variations', '2'],
      ...['--max-iterations-video', '2', '--threshold-video', '70', '--num-video-attempts', '2', '--video-backend', 'animatic', '--video-model', 'luma/ray'],
      '--no-cache',
      ...['--review', '--review-timeout', '30'],
    ];
    // the offline backends are the defaults without keys: ask with keys set, so they are not
    const { f, options } = await prepareRun(promptFile, await parseRunFlags(argv), withKeys, true);
    const defaults = RunOptionsSchema.parse({});
    for (const d of RUN_OPTIONS) {
      expect(f[flagAttribute(d.flags) as keyof typeof f], d.flags).toBeDefined();
      expect(options[d.key as keyof typeof options], d.key).toBeDefined();
      expect(options[d.key as keyof typeof options], `${d.key} was not set from ${longFlag(d.flags)}`).not.toEqual(defaults[d.key as keyof typeof defaults]);
    }
    expect(options).toMatchObject({ threshold_image: 72.5, fallback_models: ['a/b', 'c/d'], negative_prompt: 'no text', skip_scoring: true, seed: 42, creative_model: 'gpt-x', critique_model: 'gpt-y' });
    expect(options.brand).toMatchObject({ palette: expect.anything() });
    expect(RunOptionsSchema.parse(options)).toEqual(options);
  });

  it('an offline run records the offline agents as its models, never an LLM it did not call', async () => {
    // the ids the offline agents write into their own trace (prompt_trace_summary.json "models")
    expect(OFFLINE_AGENT_MODELS).toEqual({ creative_model: OFFLINE_CREATIVE_MODEL, critique_model: OFFLINE_CRITIC_MODEL });
    const cases: [string[], typeof noKeys][] = [
      [[], noKeys],
      [['--agent-backend', 'offline'], withKeys],
      [['--agent-backend', 'offline', '--creative-model', 'gpt-x'], withKeys],
    ];
    for (const [argv, env] of cases) {
      const { options } = await prepareRun(promptFile, await parseRunFlags(argv), env, true);
      expect(options, argv.join(' ') || 'no keys').toMatchObject({ agent_backend: 'offline', ...OFFLINE_AGENT_MODELS });
    }
    // with a key the LLM agents run: the default model, or the one asked for
    expect((await prepareRun(promptFile, await parseRunFlags([]), withKeys, true)).options).toMatchObject({ agent_backend: 'openai', creative_model: 'gpt-4o', critique_model: 'gpt-4o' });
    const asked = await prepareRun(promptFile, await parseRunFlags(['--creative-model', 'gpt-x']), withKeys, true);
    expect(asked.options).toMatchObject({ agent_backend: 'openai', creative_model: 'gpt-x' });
  });

  it('a requested backend without its key: the descriptor\'s message, naming the run flag', async () => {
    await expect(prepareRun(promptFile, await parseRunFlags(['--agent-backend', 'openai']), noKeys, true)).rejects.toMatchObject({
      kind: 'CONFIG',
      message: missingKeyMessage('agent', 'openai', '--agent-backend'),
    });
    await expect(prepareRun(promptFile, await parseRunFlags(['--image-backend', 'replicate']), noKeys, true)).rejects.toMatchObject({
      kind: 'CONFIG',
      message: missingKeyMessage('image', 'replicate', '--image-backend'),
    });
    expect(missingKeyMessage('agent', 'openai', '--agent-backend')).toMatch(/^--agent-backend openai needs OPENAI_API_KEY.*--agent-backend offline/);
    // enqueue leaves the keys to the workers: the request is written as asked
    const { options } = await prepareRun(promptFile, await parseRunFlags(['--agent-backend', 'openai']), noKeys, false);
    expect(options.agent_backend).toBe('openai');
  });
});

describe('a newly declared option', () => {
  const extra = {
    key: 'guidance_scale',
    flags: '--guidance-scale <g>',
    type: z.number().min(0).max(20),
    default: 7.5,
    help: 'classifier-free guidance (0-20)',
    stage: 'image-generation',
  } as const satisfies RunOptionDecl;
  const decls = [...RUN_OPTIONS, extra] as readonly RunOptionDecl[];

  it('reaches the flags of run and enqueue, the flags\' schema, the options schema and the options', async () => {
    for (const embeds of [true, false]) {
      const cmd = addRunFlags(new Command('x'), embeds, decls);
      expect(flag(cmd, '--guidance-scale')?.defaultValue).toBe(7.5);
      expect(flag(cmd, '--guidance-scale')?.description).toBe(extra.help);
    }
    expect((await rejects(['--guidance-scale', '0x10'], decls)).message).toMatch(/--guidance-scale must be a plain decimal number/);
    expect((await rejects(['--guidance-scale', '21'], decls)).message).toMatch(/--guidance-scale must be between 0 and 20/);

    const raw = await parseRunFlags(['--guidance-scale', '12.5'], decls);
    const flags = z.object(runFlagsShape(decls)).parse(raw);
    expect(flags).toMatchObject({ guidanceScale: 12.5, thresholdImage: 85 });

    const schema = z.object(runOptionsShape(decls));
    expect(schema.parse({}).guidance_scale).toBe(7.5);
    const options = await runOptionsFromFlags(flags, { env: noKeys, checkKeys: false }, decls, schema);
    expect(options).toMatchObject({ guidance_scale: 12.5, threshold_image: 85, agent_backend: 'offline' });
    expect(Object.keys(options)).toEqual(decls.map((d) => d.key));
  });
});

describe('single-stage commands share the declarations', () => {
  it('under their own names, with the declared defaults and parsers', () => {
    const p = program();
    const enhance = sub(p, 'enhance-image-prompt');
    const generate = sub(p, 'generate-images');
    const same: Array<[Command, string, keyof typeof RUN_OPTION]> = [
      [enhance, '--max-iterations', 'max_iterations_image'],
      [enhance, '--threshold', 'threshold_image'],
      [enhance, '--skip-threshold', 'skip_threshold'],
      [enhance, '--creative-model', 'creative_model'],
      [enhance, '--critique-model', 'critique_model'],
      [generate, '--num-variations', 'num_image_variations'],
      [generate, '--aspect-ratio', 'aspect_ratio'],
    ];
    for (const [cmd, long, key] of same) expect(flag(cmd, long)?.defaultValue, `${cmd.name()} ${long}`).toEqual(RUN_OPTION[key].default);
    // no default where the command has none of its own
    expect(flag(enhance, '--aspect-ratio')?.defaultValue).toBeUndefined();
    expect(flag(generate, '--skip-scoring')?.defaultValue).toBeUndefined();
    expect(flag(enhance, '--backend')?.description).toBe('agents: offline (rule-based, no LLM) or openai (default: openai when OPENAI_API_KEY is set)');
    // the parser comes with the declaration, under the command's flag name
    expect(() => flag(enhance, '--threshold')!.parseArg!('0x10', undefined)).toThrow(/--threshold must be a plain decimal number/);
    expect(() => flag(enhance, '--max-iterations')!.parseArg!('11', undefined)).toThrow(/--max-iterations must be between 1 and 10/);
    expect(() => flag(generate, '--num-variations')!.parseArg!('0', undefined)).toThrow(/--num-variations must be between 1 and 32/);
    expect(() => flag(generate, '--seed')!.parseArg!('2147483648', undefined)).toThrow(/--seed must be between 0 and 2147483647/);
  });

  it('their "needs KEY" messages are the descriptors\' too', async () => {
    expect(() => resolveAgentBackend('openai', { OPENAI_API_KEY: undefined })).toThrow(missingKeyMessage('agent', 'openai', '--backend'));
    expect(() => resolveImageBackend('replicate', { REPLICATE_API_TOKEN: undefined })).toThrow(missingKeyMessage('image', 'replicate', '--backend'));
    await expect(createBackend('replicate', { REPLICATE_API_TOKEN: undefined, REPLICATE_BASE_URL: undefined })).rejects.toThrow(missingKeyMessage('image', 'replicate', '--backend'));
    expect(missingKeyMessage('agent', 'openai', '--backend')).toMatch(/OPENAI_API_KEY.*--backend offline/);
    expect(missingKeyMessage('image', 'replicate', '--backend')).toMatch(/REPLICATE_API_TOKEN.*--backend sketch/);
    expect(resolveImageBackend(undefined, { REPLICATE_API_TOKEN: 'r8_x' })).toBe('replicate');
    expect(resolveAgentBackend(undefined, { OPENAI_API_KEY: undefined })).toBe('offline');
  });
});
