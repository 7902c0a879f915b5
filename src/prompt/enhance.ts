import { z } from 'zod';
import { withFeedback } from './feedback.js';
import type { Env } from '../config/env.js';
import { AGENT_BACKEND_NAMES, resolveBackend, type AgentBackendName } from '../config/backends.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { redactValue } from '../lib/secrets.js';
import type { RetryPolicy } from '../lib/retry.js';
import { CostLedger } from '../runs/ledger.js';
import { assessPrompt, DEFAULT_SKIP_THRESHOLD } from './assess.js';
import type { CreativeAgent, CriticAgent } from './loop.js';
import { createOfflineCinematographer, OFFLINE_CREATIVE_MODEL } from './offline-cinematographer.js';
import { createRubricCritic, OFFLINE_CRITIC_MODEL } from './rubric-critic.js';
import { assertLoopSettings, openAIAccess, PromptStageRun, summaryRoundsShape } from './stage.js';
import { TraceWriter } from './trace.js';
import { CritiqueSchema, ScoresSchema, type Brand, type Critique } from './types.js';
import { aspectRatioIn } from '../generation/metadata.js';

/**
 * The public entry of the image-prompt stage (Workflow 1): assess, then Cinematographer →
 * Prompt Engineer rounds, with every step written to the trace directory as it happens.
 *
 * Failure policy ("nothing half-written"): files already written stay; if an agent call fails,
 * prompt_trace_summary.json is still written, with stop_reason "error", the error, and
 * final_prompt null — and no *_final_enhanced_prompt.txt, so nothing pretends to have succeeded.
 */
export type AgentBackend = AgentBackendName;
export const AGENT_BACKENDS = AGENT_BACKEND_NAMES;

export const OFFLINE_BACKEND_NOTE = 'offline rule-based agents (no LLM): a deterministic cinematographer and a rubric critic';

/**
 * openai when a key is set, offline otherwise; asking for openai without its key is a CONFIG error
 * naming `flag` (the backend descriptors in src/config/backends.ts).
 */
export function resolveAgentBackend(requested: AgentBackend | undefined, env: Pick<Env, 'OPENAI_API_KEY'>, flag = '--backend'): AgentBackend {
  return resolveBackend('agent', requested, env, flag);
}

export interface EnhanceOptions {
  prompt: string;
  /** Exists already; trace files are written into it. */
  runDir: string;
  maxIterations: number; // 1–10
  threshold: number; // 0–100
  skipThreshold?: number; // default 75
  brand?: Brand | null;
  /** Aspect ratio the images will have (pipeline runs); the prompt's aspect hint follows it. */
  aspectRatio?: string;
  backend: AgentBackend;
  creativeModel: string;
  critiqueModel: string;
  seed?: number;
  logger?: Logger;
  ledger?: CostLedger;
  stage?: string; // default 'image_prompt'
  onProgress?: (e: { iteration: number; phase: 'assess' | 'agent1' | 'agent2' | 'done'; overall?: number }) => void;
  signal?: AbortSignal;
  /** Defaults to loadEnv(); the openai backend reads OPENAI_API_KEY and OPENAI_BASE_URL from it. */
  env?: Env;
  /** Remote retry policy and per-request timeout (tests shorten them). */
  retryPolicy?: RetryPolicy;
  requestTimeoutMs?: number;
  /** Replace the agents (tests; a later stage's own agents). */
  agents?: { creative: CreativeAgent<Critique>; critic: CriticAgent<Critique> };
  /** A review gate's feedback on the images `revising` made: the creative agent folds it in (feedback.ts). */
  feedback?: { text: string; revising: string };
}

export const PromptTraceSummarySchema = z.object({
  schema_version: z.literal(1),
  original_prompt: z.string(),
  final_prompt: z.string().nullable(),
  final_prompt_file: z.string().nullable(),
  backend: z.enum(AGENT_BACKENDS),
  backend_note: z.string(),
  models: z.object({ creative: z.string(), critique: z.string() }),
  /**
   * The images' aspect ratio the final prompt is framed for: the run's (or --aspect-ratio), else the
   * one the final prompt names; `generate-images <trace dir>` renders at it unless told otherwise.
   */
  aspect_ratio: z.string().nullable().default(null),
  seed: z.number().int(),
  brand: z.object({ brand: z.string().optional(), palette: z.array(z.string()), tone: z.array(z.string()), must_include: z.array(z.string()), avoid: z.array(z.string()) }).nullable(),
  brand_note: z.string(),
  settings: z.object({ max_iterations: z.number().int(), threshold: z.number(), skip_threshold: z.number() }),
  initial_assessment: CritiqueSchema.extend({ method: z.literal('rule-based') }),
  skipped_enhancement: z.boolean(),
  ...summaryRoundsShape(ScoresSchema, ['threshold_met', 'no_improvement', 'max_iterations', 'initial_score_above_skip_threshold', 'error']),
});
export type PromptTraceSummary = z.infer<typeof PromptTraceSummarySchema>;

export async function enhanceImagePrompt(opts: EnhanceOptions): Promise<PromptTraceSummary> {
  assertLoopSettings(opts.maxIterations, opts.threshold);
  const skipThreshold = opts.skipThreshold ?? DEFAULT_SKIP_THRESHOLD;
  const stage = opts.stage ?? 'image_prompt';
  const log = opts.logger ?? silentLogger;
  const ledger = opts.ledger ?? new CostLedger();
  const firstEntry = ledger.entries.length;
  const seed = opts.seed ?? 0;
  const brand = opts.brand ?? null;
  const run = new PromptStageRun<Critique>(new TraceWriter(opts.runDir));
  const trace = run.trace;

  // agents first: a missing key fails before anything is written
  let agents = opts.agents;
  let models = { creative: opts.creativeModel, critique: opts.critiqueModel };
  let backendNote = OFFLINE_BACKEND_NOTE;
  if (!agents && opts.backend === 'openai') {
    const { apiKey, baseURL, endpoint } = openAIAccess(opts.env);
    const { createOpenAIAgents } = await import('./openai-agents.js');
    const a = createOpenAIAgents({
      apiKey,
      baseURL,
      creativeModel: opts.creativeModel,
      critiqueModel: opts.critiqueModel,
      brand,
      aspectRatio: opts.aspectRatio,
      ledger,
      stage,
      logger: log,
      retryPolicy: opts.retryPolicy,
      timeoutMs: opts.requestTimeoutMs,
    });
    agents = { creative: a.creative, critic: a.critic };
    backendNote = `LLM agents via ${endpoint}`;
  } else if (!agents) {
    agents = {
      creative: createOfflineCinematographer({ seed, brand, aspectRatio: opts.aspectRatio, ledger, stage }),
      critic: createRubricCritic({ brand, ledger, stage }),
    };
    models = { creative: OFFLINE_CREATIVE_MODEL, critique: OFFLINE_CRITIC_MODEL };
  } else backendNote = `custom agents: ${agents.creative.name} + ${agents.critic.name}`;
  if (opts.feedback) {
    agents = { ...agents, creative: withFeedback(agents.creative, opts.feedback.text, { offline: !opts.agents && opts.backend !== 'openai', revising: opts.feedback.revising }) };
    backendNote += '; revising with review feedback';
  }

  await trace.original(opts.prompt);

  opts.onProgress?.({ iteration: 0, phase: 'assess' });
  const initial = run.timed('initial_assessment', () => assessPrompt(opts.prompt, brand));
  log.debug(`initial assessment: overall ${initial.scores.overall} (skip threshold ${skipThreshold})`);

  const summary = (extra: Pick<PromptTraceSummary, 'final_prompt' | 'final_prompt_file' | 'final_scores' | 'stop_reason' | 'error' | 'best_iteration' | 'skipped_enhancement'>): PromptTraceSummary =>
    // redacted like the file on disk, so what callers print equals what was written
    PromptTraceSummarySchema.parse(redactValue({
      schema_version: 1,
      original_prompt: opts.prompt,
      backend: opts.backend,
      backend_note: backendNote,
      models,
      aspect_ratio: opts.aspectRatio ?? (extra.final_prompt ? aspectRatioIn(extra.final_prompt) : null),
      seed,
      brand,
      brand_note: brand
        ? `brand${brand.brand ? ` "${brand.brand}"` : ''} applied: palette, tone, must_include and avoid feed brand_alignment`
        : 'no brand given: brand_alignment is neutral (null) and left out of the overall score',
      settings: { max_iterations: opts.maxIterations, threshold: opts.threshold, skip_threshold: skipThreshold },
      initial_assessment: initial,
      ...run.tail(ledger.entries.slice(firstEntry), stage),
      ...extra,
    }));

  // a revision always runs the agents: the feedback is the point
  if (initial.scores.overall >= skipThreshold && !opts.feedback) {
    const file = await trace.final(opts.prompt);
    const s = summary({
      final_prompt: opts.prompt,
      final_prompt_file: file,
      final_scores: initial.scores,
      stop_reason: 'initial_score_above_skip_threshold',
      error: null,
      best_iteration: null,
      skipped_enhancement: true,
    });
    await trace.summary(s);
    opts.onProgress?.({ iteration: 0, phase: 'done', overall: initial.scores.overall });
    return s;
  }

  return run.rounds({
    original: opts.prompt,
    agents,
    maxIterations: opts.maxIterations,
    threshold: opts.threshold,
    signal: opts.signal,
    log,
    roles: { agent1: 'cinematographer', agent2: 'prompt engineer' },
    onProgress: opts.onProgress,
    summary: (outcome) => summary({ ...outcome, skipped_enhancement: false }),
  });
}
