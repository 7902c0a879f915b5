import { z } from 'zod';
import { withFeedback } from './feedback.js';
import { loadEnv, type Env } from '../config/env.js';
import { AGENT_BACKEND_NAMES, requireBackendKey, resolveBackend, type AgentBackendName } from '../config/backends.js';
import { LoopError, errorLine, isLoopError } from '../errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { redactValue } from '../lib/secrets.js';
import type { RetryPolicy } from '../lib/retry.js';
import { CostLedger, type StageTiming } from '../runs/ledger.js';
import { assessPrompt, DEFAULT_SKIP_THRESHOLD } from './assess.js';
import { runFeedbackLoop, type CreativeAgent, type CriticAgent, type LoopIteration } from './loop.js';
import { createOfflineCinematographer, OFFLINE_CREATIVE_MODEL } from './offline-cinematographer.js';
import { createRubricCritic, OFFLINE_CRITIC_MODEL } from './rubric-critic.js';
import { SUMMARY_FILE, TraceWriter } from './trace.js';
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

const UsageSchema = z.object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative(), calls: z.number().int().nonnegative() });

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
  iterations: z.array(
    z.object({
      iteration: z.number().int().positive(),
      agent1_file: z.string(),
      agent2_file: z.string(),
      prompt: z.string(),
      scores: ScoresSchema,
      feedback: z.array(z.string()),
      flags: z.array(z.string()),
      agent1_notes: z.array(z.string()),
      started_at: z.string(),
      ended_at: z.string(),
      duration_ms: z.number().nonnegative(),
      usage: UsageSchema,
      cost_usd: z.number().nullable(),
    }),
  ),
  best_iteration: z.number().int().nullable(),
  final_scores: ScoresSchema.nullable(),
  stop_reason: z.enum(['threshold_met', 'no_improvement', 'max_iterations', 'initial_score_above_skip_threshold', 'error']),
  error: z.object({ kind: z.string(), message: z.string() }).nullable(),
  total_iterations: z.number().int().nonnegative(),
  cost: z.object({
    total_cost_usd: z.number(),
    total_is_lower_bound: z.boolean(),
    by_stage: z.record(z.string(), z.number()),
    tokens: z.object({ input: z.number(), output: z.number() }),
    entries: z.array(z.record(z.string(), z.unknown())),
  }),
  timings: z.array(z.object({ stage: z.string(), started_at: z.string(), ended_at: z.string(), duration_ms: z.number() })),
  trace_dir: z.string(),
  files: z.array(z.string()),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
});
export type PromptTraceSummary = z.infer<typeof PromptTraceSummarySchema>;

export async function enhanceImagePrompt(opts: EnhanceOptions): Promise<PromptTraceSummary> {
  if (!Number.isInteger(opts.maxIterations) || opts.maxIterations < 1 || opts.maxIterations > 10)
    throw new LoopError('USAGE', `maxIterations must be 1–10, got ${opts.maxIterations}`);
  if (!(opts.threshold >= 0 && opts.threshold <= 100)) throw new LoopError('USAGE', `threshold must be 0–100, got ${opts.threshold}`);
  const skipThreshold = opts.skipThreshold ?? DEFAULT_SKIP_THRESHOLD;
  const stage = opts.stage ?? 'image_prompt';
  const log = opts.logger ?? silentLogger;
  const ledger = opts.ledger ?? new CostLedger();
  const firstEntry = ledger.entries.length;
  const seed = opts.seed ?? 0;
  const brand = opts.brand ?? null;
  const started = new Date();
  const t0 = performance.now();
  const timings: StageTiming[] = [];
  const trace = new TraceWriter(opts.runDir);

  // agents first: a missing key fails before anything is written
  let agents = opts.agents;
  let models = { creative: opts.creativeModel, critique: opts.critiqueModel };
  let backendNote = OFFLINE_BACKEND_NOTE;
  if (!agents && opts.backend === 'openai') {
    const env = opts.env ?? loadEnv();
    const apiKey = requireBackendKey('agent', 'openai', env, '--backend');
    const { createOpenAIAgents } = await import('./openai-agents.js');
    const a = createOpenAIAgents({
      apiKey,
      baseURL: env.OPENAI_BASE_URL,
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
    backendNote = `LLM agents via OpenAI-compatible chat completions at ${env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`;
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
  const a0 = new Date();
  const ta = performance.now();
  const initial = assessPrompt(opts.prompt, brand);
  timings.push({ stage: 'initial_assessment', started_at: a0.toISOString(), ended_at: new Date().toISOString(), duration_ms: Math.round(performance.now() - ta) });
  log.debug(`initial assessment: overall ${initial.scores.overall} (skip threshold ${skipThreshold})`);

  const rows: PromptTraceSummary['iterations'] = [];
  const files = new Map<number, { agent1?: string; agent2?: string; notes?: string[] }>();
  const done: LoopIteration<Critique>[] = [];

  const summary = (extra: Pick<PromptTraceSummary, 'final_prompt' | 'final_prompt_file' | 'final_scores' | 'stop_reason' | 'error' | 'best_iteration' | 'skipped_enhancement'>): PromptTraceSummary => {
    const own = new CostLedger();
    own.entries.push(...ledger.entries.slice(firstEntry).filter((e) => e.stage === stage));
    // redacted like the file on disk, so what callers print equals what was written
    return PromptTraceSummarySchema.parse(redactValue({
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
      iterations: rows,
      total_iterations: rows.length,
      cost: own.toJSON(),
      timings,
      trace_dir: opts.runDir,
      files: [...trace.files, SUMMARY_FILE],
      started_at: started.toISOString(),
      ended_at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - t0),
      ...extra,
    }));
  };

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

  const pushRow = (it: LoopIteration<Critique>) => {
    const f = files.get(it.iteration) ?? {};
    const cost = it.agent1.cost_usd === null || it.agent2.cost_usd === null ? null : Math.round((it.agent1.cost_usd + it.agent2.cost_usd) * 1e6) / 1e6;
    rows.push({
      iteration: it.iteration,
      agent1_file: f.agent1!,
      agent2_file: f.agent2!,
      prompt: it.prompt,
      scores: it.critique.scores,
      feedback: it.critique.feedback,
      flags: it.critique.flags,
      agent1_notes: it.agent1.notes ?? [],
      started_at: it.started_at,
      ended_at: it.ended_at,
      duration_ms: it.duration_ms,
      usage: {
        input_tokens: it.agent1.usage.input_tokens + it.agent2.usage.input_tokens,
        output_tokens: it.agent1.usage.output_tokens + it.agent2.usage.output_tokens,
        calls: it.agent1.usage.calls + it.agent2.usage.calls,
      },
      cost_usd: cost,
    });
    timings.push({ stage: `iteration_${it.iteration}`, started_at: it.started_at, ended_at: it.ended_at, duration_ms: it.duration_ms });
  };

  try {
    const result = await runFeedbackLoop<Critique>({
      original: opts.prompt,
      creative: agents.creative,
      critic: agents.critic,
      overall: (c) => c.scores.overall,
      maxIterations: opts.maxIterations,
      threshold: opts.threshold,
      signal: opts.signal,
      onPhase: (iteration, phase) => {
        log.debug(`iteration ${iteration}: ${phase === 'agent1' ? 'cinematographer' : 'prompt engineer'} (${phase === 'agent1' ? agents.creative.name : agents.critic.name})`);
        opts.onProgress?.({ iteration, phase });
      },
      onAgent1: async (i, turn) => {
        files.set(i, { agent1: await trace.agent1(i, turn.output) });
      },
      onAgent2: async (i, turn) => {
        files.get(i)!.agent2 = await trace.agent2(i, turn.output, turn.model);
      },
      onIteration: (it) => {
        done.push(it);
        pushRow(it);
        log.debug(`iteration ${it.iteration}: overall ${it.overall}`);
        opts.onProgress?.({ iteration: it.iteration, phase: 'agent2', overall: it.overall });
      },
    });
    const file = await trace.final(result.best.prompt);
    const s = summary({
      final_prompt: result.best.prompt,
      final_prompt_file: file,
      final_scores: result.best.critique.scores,
      stop_reason: result.stopReason,
      error: null,
      best_iteration: result.best.iteration,
      skipped_enhancement: false,
    });
    await trace.summary(s);
    opts.onProgress?.({ iteration: result.best.iteration, phase: 'done', overall: result.best.overall });
    return s;
  } catch (e) {
    const kind = isLoopError(e) ? e.kind : opts.signal?.aborted ? 'INTERRUPTED' : 'INTERNAL';
    const best = done.reduce<LoopIteration<Critique> | null>((b, it) => (!b || it.overall > b.overall ? it : b), null);
    try {
      await trace.summary(
        summary({
          final_prompt: null,
          final_prompt_file: null,
          final_scores: best?.critique.scores ?? null,
          stop_reason: 'error',
          error: { kind, message: opts.signal?.aborted ? 'interrupted' : errorLine(e) },
          best_iteration: best?.iteration ?? null,
          skipped_enhancement: false,
        }),
      );
    } catch (writeErr) {
      log.warn(`could not write the error summary: ${errorLine(writeErr)}`);
    }
    if (opts.signal?.aborted) throw new LoopError('INTERRUPTED', `interrupted (partial trace in ${opts.runDir})`, { cause: e });
    if (isLoopError(e)) throw new LoopError(e.kind, `${e.message} (partial trace in ${opts.runDir})`, { cause: e.cause ?? e });
    throw e;
  }
}
