import { z } from 'zod';
import { LoopError } from '../errors.js';
import type { Env } from '../config/env.js';
import { AGENT_BACKEND_NAMES, defaultBackend, defaultBackendHelp, IMAGE_BACKEND_NAMES, resolveBackend } from '../config/backends.js';
import { DEFAULT_VARIATIONS, MAX_SEED, MAX_VARIATIONS } from '../generation/limits.js';
import { ASPECT_RATIOS } from '../generation/metadata.js';
import type { Stage } from './stages.js';

/** Storyboard limits (documented in the README): enough for a 60 s ad at 5 s a clip. */
export const MAX_CLIPS = 12;
export const MAX_FRAME_VARIATIONS = 8;
export const MAX_VIDEO_ATTEMPTS = 8;

/**
 * The options of a run, each declared once: its key in run_spec.json, its flag on `loop run` and
 * `loop enqueue`, its zod type, its default, its help and the stage that owns it. From this list
 * come RunOptionsSchema, the flags' schema (RunFlags in cli/queue-actions.ts), the mapping from
 * flags to options (runOptionsFromFlags), and the commander flags themselves (addRunFlags in
 * cli/commands/queue.ts, which derives each flag's parser from the type: a whole number in
 * [min, max] → intArg, any other number → floatArg, an enum → choiceArg, ModelIdSchema → modelArg,
 * an array → a repeatable flag). The single-stage commands take their shared flags from here too.
 *
 * Light on purpose: imported at start-up by the CLI (zod only, nothing heavy).
 */

/** Model ids go into API URLs: owner/name[:version] only (no paths, no query strings). */
export const REPLICATE_MODEL_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(:[0-9a-f]{16,64})?$/;
/** A Replicate model id; a flag of this type (or an array of it) is parsed with modelArg. */
export const ModelIdSchema = z.string().regex(REPLICATE_MODEL_ID, 'a Replicate model is owner/name or owner/name:version');

/** What a flag's `resolve` sees: the environment's keys, whether to enforce them, its own flag. */
export interface ResolveContext {
  env: Pick<Env, 'OPENAI_API_KEY' | 'REPLICATE_API_TOKEN'>;
  /** `run` checks that a requested backend has its key; `enqueue` leaves that to the workers. */
  checkKeys: boolean;
  /** The long flag, e.g. `--agent-backend`, for messages. */
  flag: string;
}

export interface RunOptionDecl<K extends string = string, F extends string = string, T extends z.ZodType = z.ZodType, D = unknown, FT extends z.ZodType | undefined = z.ZodType | undefined> {
  /** snake_case key in RunOptions (run_spec.json). */
  readonly key: K;
  /** The commander flag on run/enqueue, e.g. `--threshold-image <score>`; no `<arg>` = a switch. */
  readonly flags: string & F;
  /** The value's type, without default or optional: stored as is, and the flag's parser comes from it. */
  readonly type: T;
  /** undefined: optional (absent when not given); null: stored as null when not given. */
  readonly default?: D;
  readonly help: string;
  /** The stage that reads it (others may read it too: the seed also seeds the offline agents). */
  readonly stage: Stage;
  /** The flag's own type when the flag is not the stored value (brand: a file path). */
  readonly flagType?: FT;
  /** Turns the flag's value into the stored one (reads files, decides backends). */
  readonly resolve?: (value: unknown, ctx: ResolveContext) => unknown;
}

type AnyDecl = RunOptionDecl<string, string, z.ZodType, unknown, z.ZodType | undefined>;

/** Declare one option; keeps the literal key, flag and default types for the derived schemas. */
function option<const K extends string, const F extends string, T extends z.ZodType, const D extends z.output<T> | null | undefined = undefined, FT extends z.ZodType | undefined = undefined>(
  d: RunOptionDecl<K, F, T, D, FT>,
): RunOptionDecl<K, F, T, D, FT> {
  return d;
}

// Backends are decided at enqueue time, once, from the enqueuer's request and keys, and written into
// run_spec.json: a worker runs exactly these, and one lacking the key fails with a config error
// instead of switching someone's offline run to a paid provider (or the reverse).
const backendOf =
  (family: 'agent' | 'image') =>
  (value: unknown, ctx: ResolveContext): unknown =>
    ctx.checkKeys ? resolveBackend(family, value as never, ctx.env, ctx.flag) : (value ?? defaultBackend(family, ctx.env));

export const RUN_OPTIONS = [
  // image prompt stage (Story 8.1)
  option({
    key: 'max_iterations_image',
    flags: '--max-iterations-image <n>',
    type: z.number().int().min(1).max(10),
    default: 3,
    help: 'image prompt enhancement rounds (1–10)',
    stage: 'image-prompt',
  }),
  option({
    key: 'threshold_image',
    flags: '--threshold-image <score>',
    type: z.number().min(0).max(100),
    default: 85,
    help: 'image prompt score to stop at (0–100)',
    stage: 'image-prompt',
  }),
  option({
    key: 'skip_threshold',
    flags: '--skip-threshold <score>',
    type: z.number().min(0).max(101),
    default: 75,
    help: 'skip enhancement when the initial assessment reaches this (0–100; 101 = never skip)',
    stage: 'image-prompt',
  }),
  option({
    key: 'agent_backend',
    flags: '--agent-backend <name>',
    type: z.enum(AGENT_BACKEND_NAMES),
    help: `prompt agents: ${AGENT_BACKEND_NAMES.join('|')} (${defaultBackendHelp('agent')})`,
    stage: 'image-prompt',
    resolve: backendOf('agent'),
  }),
  option({
    key: 'creative_model',
    flags: '--creative-model <model>',
    type: z.string().min(1),
    default: 'gpt-4o',
    help: 'model for the cinematographer agent',
    stage: 'image-prompt',
  }),
  option({
    key: 'critique_model',
    flags: '--critique-model <model>',
    type: z.string().min(1),
    default: 'gpt-4o',
    help: 'model for the prompt-engineer critic',
    stage: 'image-prompt',
  }),
  option({
    key: 'brand',
    flags: '--brand <file>',
    type: z.record(z.string(), z.unknown()),
    default: null,
    help: 'brand guidelines JSON (palette, tone, must_include, avoid)',
    stage: 'image-prompt',
    flagType: z.string(),
    resolve: async (file) => (file ? (await import('../prompt/brand.js')).loadBrand(file as string) : null),
  }),
  option({
    key: 'seed',
    flags: '--seed <n>',
    type: z.number().int().min(0).max(MAX_SEED),
    help: `seed for agents and image variations, 0–${MAX_SEED} (variation i gets seed+i)`,
    stage: 'image-generation',
  }),
  // image generation + scoring stages (Story 8.2)
  option({
    key: 'num_image_variations',
    flags: '--num-image-variations <n>',
    type: z.number().int().min(1).max(MAX_VARIATIONS),
    default: DEFAULT_VARIATIONS,
    help: `images to generate (1–${MAX_VARIATIONS})`,
    stage: 'image-generation',
  }),
  option({
    key: 'aspect_ratio',
    flags: '-a, --aspect-ratio <ratio>',
    type: z.enum(ASPECT_RATIOS),
    default: '16:9',
    help: `image aspect ratio (${ASPECT_RATIOS.join(', ')})`,
    stage: 'image-generation',
  }),
  option({
    key: 'image_backend',
    flags: '--image-backend <name>',
    type: z.enum(IMAGE_BACKEND_NAMES),
    help: `image generation: ${IMAGE_BACKEND_NAMES.join('|')} (${defaultBackendHelp('image')})`,
    stage: 'image-generation',
    resolve: backendOf('image'),
  }),
  option({
    key: 'image_model',
    flags: '--image-model <model>',
    type: ModelIdSchema,
    help: 'Replicate model for images, owner/name[:version] (default stability-ai/sdxl, pinned version)',
    stage: 'image-generation',
  }),
  option({
    key: 'fallback_models',
    flags: '--fallback-model <model>',
    type: z.array(ModelIdSchema),
    help: 'tried in order when the image model fails permanently (repeatable)',
    stage: 'image-generation',
  }),
  option({
    key: 'negative_prompt',
    flags: '--negative-prompt <text>',
    type: z.string(),
    default: null,
    help: 'what the image should not show',
    stage: 'image-generation',
  }),
  option({
    key: 'skip_scoring',
    flags: '--skip-scoring',
    type: z.boolean(),
    default: false,
    help: 'keep generation order; do not score images',
    stage: 'image-scoring',
  }),
  // storyboard stage (Story 8.3)
  option({
    key: 'num_clips',
    flags: '-c, --num-clips <n>',
    type: z.number().int().min(1).max(MAX_CLIPS),
    default: 3,
    help: `clips the storyboard plans (1–${MAX_CLIPS})`,
    stage: 'storyboard',
  }),
  option({
    key: 'frame_variations',
    flags: '--frame-variations <k>',
    type: z.number().int().min(1).max(MAX_FRAME_VARIATIONS),
    default: 1,
    help: `candidates per storyboard frame; with more than 1 the scorer keeps the best (1–${MAX_FRAME_VARIATIONS})`,
    stage: 'storyboard',
  }),
  // video prompt and video generation stages (Stories 9.1, 9.2)
  option({
    key: 'max_iterations_video',
    flags: '--max-iterations-video <n>',
    type: z.number().int().min(1).max(10),
    default: 3,
    help: 'video prompt enhancement rounds per clip (1–10)',
    stage: 'video-prompt',
  }),
  option({
    key: 'threshold_video',
    flags: '--threshold-video <score>',
    type: z.number().min(0).max(100),
    default: 85,
    help: 'video prompt score to stop at (0–100)',
    stage: 'video-prompt',
  }),
  option({
    key: 'num_video_attempts',
    flags: '--num-video-attempts <n>',
    type: z.number().int().min(1).max(MAX_VIDEO_ATTEMPTS),
    default: 3,
    help: `videos generated per clip (1–${MAX_VIDEO_ATTEMPTS})`,
    stage: 'video-generation',
  }),
  option({
    key: 'video_backend',
    flags: '--video-backend <name>',
    type: z.enum(['animatic', 'replicate']),
    help: 'video generation: animatic (offline, not model output) or replicate (default: replicate when REPLICATE_API_TOKEN is set)',
    stage: 'video-generation',
    resolve: (value, ctx) => {
      if (value === 'replicate' && ctx.checkKeys && !ctx.env.REPLICATE_API_TOKEN)
        throw new LoopError('CONFIG', `${ctx.flag} replicate needs REPLICATE_API_TOKEN (in the environment or .env); or use ${ctx.flag} animatic`);
      return value ?? (ctx.env.REPLICATE_API_TOKEN ? 'replicate' : 'animatic');
    },
  }),
  option({
    key: 'video_model',
    flags: '--video-model <model>',
    type: ModelIdSchema,
    default: 'kwaivgi/kling-v2.1',
    help: 'Replicate video model, owner/name[:version] (start/end-frame models: Kling v2.1, Luma Ray, Hailuo-02, Veo 3.1, Wan 2.2 i2v)',
    stage: 'video-generation',
  }),
  // human review gates (workers/review.ts): the run waits after images and after videos
  option({
    key: 'review',
    flags: '--review',
    type: z.boolean(),
    default: false,
    help: 'pause after the images and after the videos until someone answers `loop review <run-id>` (from any terminal); --interactive asks here',
    stage: 'image-scoring',
  }),
  option({
    key: 'review_timeout_s',
    flags: '--review-timeout <s>',
    type: z.number().int().min(1).max(7 * 24 * 3600),
    default: null,
    help: 'a review gate left unanswered this many seconds continues on its own (default: waits)',
    stage: 'image-scoring',
  }),
  // every generation stage: images, storyboard frames and videos (src/cache/generation-cache.ts)
  option({
    key: 'no_cache',
    // Default: off (the cache is used). commander stores a `--no-x` switch as `x`, true unless
    // given; a declared default would become commander's default for `x` (and hide the switch), so
    // the default is "absent" and `resolve` stores true only when --no-cache was given.
    flags: '--no-cache',
    type: z.boolean(),
    help: 'do not read or write the generation cache (<LOOP_OUTPUT_DIR>/.cache/generations): make and pay for every image, frame and video again',
    stage: 'image-generation',
    resolve: (value) => (value === false ? true : undefined),
  }),
] as const;

export type RunOptionDecls = readonly AnyDecl[];
type Decls = typeof RUN_OPTIONS;
type DeclKey = Decls[number]['key'];

/** Each declaration by its key: `RUN_OPTION.threshold_image.type`. */
export const RUN_OPTION = Object.fromEntries(RUN_OPTIONS.map((d) => [d.key, d])) as { readonly [K in DeclKey]: Extract<Decls[number], { key: K }> };

// ---- derived schemas -------------------------------------------------------------------------

type StoredSchema<X> =
  X extends RunOptionDecl<string, string, infer T, infer D, z.ZodType | undefined>
    ? [D] extends [undefined]
      ? z.ZodOptional<T>
      : [D] extends [null]
        ? z.ZodDefault<z.ZodNullable<T>>
        : z.ZodDefault<T>
    : never;

type FlagSchema<X> =
  X extends RunOptionDecl<string, string, infer T, infer D, infer FT>
    ? [FT] extends [z.ZodType]
      ? z.ZodOptional<FT>
      : [D] extends [undefined | null]
        ? z.ZodOptional<T>
        : z.ZodDefault<T>
    : never;

type Long<F extends string> = F extends `${string}--${infer N} ${string}` ? N : F extends `${string}--${infer N}` ? N : never;
/** commander stores `--no-x` under `x`. */
type LongName<F extends string> = Long<F> extends `no-${infer X}` ? X : Long<F>;
type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type FlagAttr<X> = X extends { flags: infer F extends string } ? Camel<LongName<F>> : never;

export type OptionsShape<D extends RunOptionDecls> = { [X in D[number] as X['key']]: StoredSchema<X> };
export type FlagsShape<D extends RunOptionDecls> = { [X in D[number] as FlagAttr<X>]: FlagSchema<X> };

/** `--fallback-model <model>` → `--fallback-model`. */
export function longFlag(flags: string): string {
  const m = /(?:^|[\s,|])(--[A-Za-z0-9][\w-]*)/.exec(flags);
  if (!m) throw new Error(`flag "${flags}" has no --long name`);
  return m[1]!;
}

/** The property commander stores a flag under: `--fallback-model` → `fallbackModel`, `--no-cache` → `cache`. */
export function flagAttribute(flags: string): string {
  return longFlag(flags)
    .slice(2)
    .replace(/^no-/, '')
    .replace(/-([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function storedSchema(d: AnyDecl): z.ZodType {
  if (d.default === undefined) return d.type.optional();
  if (d.default === null) return d.type.nullable().default(null);
  return d.type.default(d.default as never);
}

function flagSchema(d: AnyDecl): z.ZodType {
  if (d.flagType) return d.flagType.optional();
  if (d.default === undefined || d.default === null) return d.type.optional();
  return d.type.default(d.default as never);
}

/** The zod shape of a run's options (run_spec.json `options`), in declaration order. */
export function runOptionsShape<const D extends RunOptionDecls>(decls: D): OptionsShape<D> {
  return Object.fromEntries(decls.map((d) => [d.key, storedSchema(d)])) as OptionsShape<D>;
}

/** The zod shape of the declared flags, as commander hands them over (camelCase). */
export function runFlagsShape<const D extends RunOptionDecls>(decls: D): FlagsShape<D> {
  return Object.fromEntries(decls.map((d) => [flagAttribute(d.flags), flagSchema(d)])) as FlagsShape<D>;
}

/** A run's specification: what the user asked for. Small JSON; never a secret. */
export const RunOptionsSchema = z.object(runOptionsShape(RUN_OPTIONS));
export type RunOptions = z.infer<typeof RunOptionsSchema>;

/**
 * The options of a run from its parsed flags: each declared option under its key, through its
 * `resolve` where it has one (in declaration order), then validated by `schema`.
 */
export async function runOptionsFromFlags<S extends z.ZodType = typeof RunOptionsSchema>(
  flags: Record<string, unknown>,
  ctx: Omit<ResolveContext, 'flag'>,
  decls: RunOptionDecls = RUN_OPTIONS,
  schema: S = RunOptionsSchema as unknown as S,
): Promise<z.output<S>> {
  const out: Record<string, unknown> = {};
  for (const d of decls) {
    const value = flags[flagAttribute(d.flags)];
    out[d.key] = d.resolve ? await d.resolve(value, { ...ctx, flag: longFlag(d.flags) }) : value;
  }
  // an offline run uses no LLM: it records the offline agents it does use, not a model it never called
  if (out.agent_backend === 'offline' && 'creative_model' in out) Object.assign(out, OFFLINE_AGENT_MODELS);
  return schema.parse(out);
}

/**
 * What run_spec.json records as the models of an offline run: the rule-based image prompt agents
 * (src/prompt/offline-cinematographer.ts OFFLINE_CREATIVE_MODEL, src/prompt/rubric-critic.ts
 * OFFLINE_CRITIC_MODEL; not imported, this file stays light). The offline planner and video agents
 * name themselves in their own traces.
 */
export const OFFLINE_AGENT_MODELS = { creative_model: 'offline-cinematographer', critique_model: 'offline-rubric-critic' } as const;
