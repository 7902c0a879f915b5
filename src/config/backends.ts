/**
 * The backends, one descriptor each: its name, the variable that holds its key (none for the
 * offline ones), a few words on what it is, and for image backends how to build one. Every
 * "needs KEY" message and every "default: X when KEY is set" help line is made here, from these.
 *
 * Light on purpose: cli/commands/* import it at start-up for their help, so the backends
 * themselves (openai, sharp, fetch clients) load only inside `create`.
 */
import type { Env } from './env.js';
import { configError } from '../errors.js';
import type { ImageBackend, ImageBackendName } from '../generation/backend.js';
import type { ReplicateBackendOptions } from '../generation/replicate-backend.js';
import type { Logger } from '../lib/log.js';

export type BackendKeyVar = 'OPENAI_API_KEY' | 'REPLICATE_API_TOKEN';
/** The keys a backend may need; the rest of the environment is not looked at. */
export type BackendKeys = Partial<Record<BackendKeyVar, string | undefined>>;

export interface BackendDescriptor<N extends string = string> {
  readonly name: N;
  /** The variable holding its key; null: it runs offline, anywhere, for free. */
  readonly key: BackendKeyVar | null;
  /** What it is, in a few words (help text, and the alternative a "needs KEY" message offers). */
  readonly note: string;
}

export interface ImageBackendDescriptor extends BackendDescriptor<ImageBackendName> {
  /** Build one; its module loads only now. A keyed backend without its key is a CONFIG error. */
  create(
    env: Pick<Env, 'REPLICATE_API_TOKEN' | 'REPLICATE_BASE_URL'>,
    extra?: { logger?: Logger; replicate?: Partial<ReplicateBackendOptions> },
    flag?: string,
  ): Promise<ImageBackend>;
}

/** Prompt agents (the image-prompt stage). Built by enhanceImagePrompt (src/prompt/enhance.ts). */
export const AGENT_BACKEND_NAMES = ['offline', 'openai'] as const;
export type AgentBackendName = (typeof AGENT_BACKEND_NAMES)[number];

/** Image generation (the image-generation stage). */
export const IMAGE_BACKEND_NAMES = ['sketch', 'replicate'] as const satisfies readonly ImageBackendName[];

export const AGENT_BACKENDS: { readonly [N in AgentBackendName]: BackendDescriptor<N> } = {
  offline: { name: 'offline', key: null, note: 'rule-based agents, no LLM' },
  openai: { name: 'openai', key: 'OPENAI_API_KEY', note: 'LLM agents over an OpenAI-compatible API' },
};

export const IMAGE_BACKENDS: { readonly [N in ImageBackendName]: ImageBackendDescriptor & { name: N } } = {
  sketch: {
    name: 'sketch',
    key: null,
    note: 'offline previz sketches, not model output',
    create: async () => new (await import('../generation/sketch-backend.js')).SketchBackend(),
  },
  replicate: {
    name: 'replicate',
    key: 'REPLICATE_API_TOKEN',
    note: 'Replicate text-to-image models',
    async create(env, extra = {}, flag = '--backend') {
      const token = requireBackendKey('image', 'replicate', env, flag);
      const { ReplicateBackend } = await import('../generation/replicate-backend.js');
      return new ReplicateBackend({ token, baseUrl: env.REPLICATE_BASE_URL, logger: extra.logger, ...extra.replicate });
    },
  },
};

export const BACKENDS = { agent: AGENT_BACKENDS, image: IMAGE_BACKENDS } as const;
export type BackendFamily = keyof typeof BACKENDS;
export type BackendName<F extends BackendFamily> = keyof (typeof BACKENDS)[F] & string;

const descriptors = (family: BackendFamily): BackendDescriptor[] => Object.values(BACKENDS[family]);

export function backendDescriptor<F extends BackendFamily>(family: F, name: BackendName<F>): BackendDescriptor<BackendName<F>> {
  const d = (BACKENDS[family] as Record<string, BackendDescriptor>)[name];
  if (!d) throw new Error(`unknown ${family} backend "${name}"`);
  return d as BackendDescriptor<BackendName<F>>;
}

/** The family's offline backend: what runs when no key is set. */
function offlineOf(family: BackendFamily): BackendDescriptor {
  const d = descriptors(family).find((x) => x.key === null);
  if (!d) throw new Error(`${family} backends have no offline backend`);
  return d;
}

/** The one place a "needs KEY" message is written. `flag` is the flag that chose the backend. */
export function missingKeyMessage<F extends BackendFamily>(family: F, name: BackendName<F>, flag: string): string {
  const d = backendDescriptor(family, name);
  const offline = offlineOf(family);
  return `${flag} ${d.name} needs ${d.key} (in the environment or .env); or use ${flag} ${offline.name} (${offline.note})`;
}

/** The backend's key, or a CONFIG error saying which variable to set and what runs without one. */
export function requireBackendKey<F extends BackendFamily>(family: F, name: BackendName<F>, env: BackendKeys, flag: string): string {
  const d = backendDescriptor(family, name);
  if (d.key === null) return '';
  const key = env[d.key];
  if (!key) throw configError(missingKeyMessage(family, name, flag));
  return key;
}

/** The first keyed backend whose key is set, else the offline one. */
export function defaultBackend<F extends BackendFamily>(family: F, env: BackendKeys): BackendName<F> {
  const keyed = descriptors(family).find((d) => d.key !== null && env[d.key]);
  return (keyed ?? offlineOf(family)).name as BackendName<F>;
}

/**
 * The backend a run uses: the requested one (a CONFIG error naming `flag` when its key is
 * missing), or the default for the keys that are set.
 */
export function resolveBackend<F extends BackendFamily>(family: F, requested: BackendName<F> | undefined, env: BackendKeys, flag: string): BackendName<F> {
  if (requested === undefined) return defaultBackend(family, env);
  requireBackendKey(family, requested, env, flag);
  return requested;
}

/** "default: openai when OPENAI_API_KEY is set": the help text's account of defaultBackend. */
export function defaultBackendHelp(family: BackendFamily): string {
  const keyed = descriptors(family).filter((d) => d.key !== null);
  return `default: ${keyed.map((d) => `${d.name} when ${d.key} is set`).join(', else ')}`;
}
