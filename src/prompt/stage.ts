import { z } from 'zod';
import { loadEnv, type Env } from '../config/env.js';
import { requireBackendKey } from '../config/backends.js';
import { LoopError, errorLine, isLoopError } from '../errors.js';
import type { Logger } from '../lib/log.js';
import { CostLedger, type CostEntry, type StageTiming } from '../runs/ledger.js';
import { addCost, addUsage, runFeedbackLoop, type CreativeAgent, type CriticAgent, type LoopIteration, type StopReason, type Usage } from './loop.js';
import type { RubricCritique } from './rubric.js';
import { SUMMARY_FILE, type TraceWriter } from './trace.js';

/**
 * What the image and the video prompt stages (enhance.ts, src/video-prompt/enhance.ts) share around
 * the generic loop: the settings check, the openai backend's key, the trace summary's common fields,
 * and the traced rounds with the failure policy ("nothing half-written": when a round fails the
 * summary is still written, with stop_reason "error", the error and final_prompt null, and no final
 * prompt file). Each stage keeps its own agents, initial assessment and summary header.
 */

export function assertLoopSettings(maxIterations: number, threshold: number): void {
  if (!Number.isInteger(maxIterations) || maxIterations < 1 || maxIterations > 10)
    throw new LoopError('USAGE', `maxIterations must be 1–10, got ${maxIterations}`);
  if (!(threshold >= 0 && threshold <= 100)) throw new LoopError('USAGE', `threshold must be 0–100, got ${threshold}`);
}

/** The openai backend's key and endpoint; a missing key is a CONFIG error, raised before anything is written. */
export function openAIAccess(env: Env | undefined): { apiKey: string; baseURL: string | undefined; endpoint: string } {
  const e = env ?? loadEnv();
  const apiKey = requireBackendKey('agent', 'openai', e, '--backend');
  return { apiKey, baseURL: e.OPENAI_BASE_URL, endpoint: `OpenAI-compatible chat completions at ${e.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}` };
}

const UsageSchema = z.object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative(), calls: z.number().int().nonnegative() });

export const CostSummarySchema = z.object({
  total_cost_usd: z.number(),
  total_is_lower_bound: z.boolean(),
  by_stage: z.record(z.string(), z.number()),
  tokens: z.object({ input: z.number(), output: z.number() }),
  entries: z.array(z.record(z.string(), z.unknown())),
});

/** One round of the summary's `iterations`, for a rubric's scores. */
export function iterationRowSchema<S extends z.ZodType>(scores: S) {
  return z.object({
    iteration: z.number().int().positive(),
    agent1_file: z.string(),
    agent2_file: z.string(),
    prompt: z.string(),
    scores,
    feedback: z.array(z.string()),
    flags: z.array(z.string()),
    agent1_notes: z.array(z.string()),
    started_at: z.string(),
    ended_at: z.string(),
    duration_ms: z.number().nonnegative(),
    usage: UsageSchema,
    cost_usd: z.number().nullable(),
  });
}

export interface IterationRow<S> {
  iteration: number;
  agent1_file: string;
  agent2_file: string;
  prompt: string;
  scores: S;
  feedback: string[];
  flags: string[];
  agent1_notes: string[];
  started_at: string;
  ended_at: string;
  duration_ms: number;
  usage: Usage;
  cost_usd: number | null;
}

/**
 * The summary's fields from `iterations` to the end, in this order (zod writes keys in shape
 * order, so the JSON keeps it): spread last into a stage's summary schema.
 */
export function summaryRoundsShape<S extends z.ZodType, const R extends readonly [string, ...string[]]>(scores: S, stopReasons: R) {
  return {
    iterations: z.array(iterationRowSchema(scores)),
    best_iteration: z.number().int().nullable(),
    final_scores: scores.nullable(),
    stop_reason: z.enum(stopReasons),
    error: z.object({ kind: z.string(), message: z.string() }).nullable(),
    total_iterations: z.number().int().nonnegative(),
    cost: CostSummarySchema,
    timings: z.array(z.object({ stage: z.string(), started_at: z.string(), ended_at: z.string(), duration_ms: z.number() })),
    trace_dir: z.string(),
    files: z.array(z.string()),
    started_at: z.string(),
    ended_at: z.string(),
    duration_ms: z.number().nonnegative(),
  };
}

/** The summary fields the rounds decide (a stage adds its own, e.g. skipped_enhancement). */
export interface RoundsOutcome<S> {
  final_prompt: string | null;
  final_prompt_file: string | null;
  final_scores: S | null;
  stop_reason: StopReason | 'error';
  error: { kind: string; message: string } | null;
  best_iteration: number | null;
}

export interface RoundsOptions<C extends RubricCritique, T> {
  original: string;
  agents: { creative: CreativeAgent<C>; critic: CriticAgent<C> };
  maxIterations: number;
  threshold: number;
  signal?: AbortSignal;
  log: Logger;
  /** How the log names the two agents ("cinematographer", "prompt engineer"). */
  roles: { agent1: string; agent2: string };
  onProgress?: (e: { iteration: number; phase: 'agent1' | 'agent2' | 'done'; overall?: number }) => void;
  /** The stage's summary, from what the rounds decided; it is written to the trace and returned. */
  summary: (outcome: RoundsOutcome<C['scores']>) => T;
}

/** One run of a prompt stage: its clock, timings, trace and the rows of its rounds. */
export class PromptStageRun<C extends RubricCritique> {
  readonly started = new Date();
  private readonly t0 = performance.now();
  readonly timings: StageTiming[] = [];
  readonly rows: IterationRow<C['scores']>[] = [];

  constructor(readonly trace: TraceWriter<C>) {}

  /** `fn`, timed into the summary's timings as `stage`. */
  timed<T>(stage: string, fn: () => T): T {
    const start = new Date();
    const t = performance.now();
    const out = fn();
    this.timings.push({ stage, started_at: start.toISOString(), ended_at: new Date().toISOString(), duration_ms: Math.round(performance.now() - t) });
    return out;
  }

  /** The summary's closing fields: the rounds, the cost of `entries` in `stage`, timings, files, clock. */
  tail(entries: readonly CostEntry[], stage: string) {
    const own = new CostLedger();
    own.entries.push(...entries.filter((e) => e.stage === stage));
    return {
      iterations: this.rows,
      total_iterations: this.rows.length,
      cost: own.toJSON(),
      timings: this.timings,
      trace_dir: this.trace.dir,
      files: [...this.trace.files, SUMMARY_FILE],
      started_at: this.started.toISOString(),
      ended_at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - this.t0),
    };
  }

  /** Creative → critic rounds, each file written as it happens; the summary is written on success and on failure. */
  async rounds<T>(o: RoundsOptions<C, T>): Promise<T> {
    const { log, agents } = o;
    const trace = this.trace;
    const files = new Map<number, { agent1?: string; agent2?: string }>();
    const done: LoopIteration<C>[] = [];
    try {
      const result = await runFeedbackLoop<C>({
        original: o.original,
        creative: agents.creative,
        critic: agents.critic,
        overall: (c) => c.scores.overall,
        maxIterations: o.maxIterations,
        threshold: o.threshold,
        signal: o.signal,
        onPhase: (iteration, phase) => {
          log.debug(`iteration ${iteration}: ${o.roles[phase]} (${phase === 'agent1' ? agents.creative.name : agents.critic.name})`);
          o.onProgress?.({ iteration, phase });
        },
        onAgent1: async (i, turn) => {
          files.set(i, { agent1: await trace.agent1(i, turn.output) });
        },
        onAgent2: async (i, turn) => {
          files.get(i)!.agent2 = await trace.agent2(i, turn.output, turn.model);
        },
        onIteration: (it) => {
          done.push(it);
          this.pushRow(it, files.get(it.iteration) ?? {});
          log.debug(`iteration ${it.iteration}: overall ${it.overall}`);
          o.onProgress?.({ iteration: it.iteration, phase: 'agent2', overall: it.overall });
        },
      });
      const file = await trace.final(result.best.prompt);
      const s = o.summary({
        final_prompt: result.best.prompt,
        final_prompt_file: file,
        final_scores: result.best.critique.scores,
        stop_reason: result.stopReason,
        error: null,
        best_iteration: result.best.iteration,
      });
      await trace.summary(s);
      o.onProgress?.({ iteration: result.best.iteration, phase: 'done', overall: result.best.overall });
      return s;
    } catch (e) {
      const kind = isLoopError(e) ? e.kind : o.signal?.aborted ? 'INTERRUPTED' : 'INTERNAL';
      const best = done.reduce<LoopIteration<C> | null>((b, it) => (!b || it.overall > b.overall ? it : b), null);
      try {
        await trace.summary(
          o.summary({
            final_prompt: null,
            final_prompt_file: null,
            final_scores: best?.critique.scores ?? null,
            stop_reason: 'error',
            error: { kind, message: o.signal?.aborted ? 'interrupted' : errorLine(e) },
            best_iteration: best?.iteration ?? null,
          }),
        );
      } catch (writeErr) {
        log.warn(`could not write the error summary: ${errorLine(writeErr)}`);
      }
      if (o.signal?.aborted) throw new LoopError('INTERRUPTED', `interrupted (partial trace in ${trace.dir})`, { cause: e });
      if (isLoopError(e)) throw new LoopError(e.kind, `${e.message} (partial trace in ${trace.dir})`, { cause: e.cause ?? e });
      throw e;
    }
  }

  private pushRow(it: LoopIteration<C>, f: { agent1?: string; agent2?: string }): void {
    this.rows.push({
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
      usage: addUsage(it.agent1.usage, it.agent2.usage),
      cost_usd: addCost(it.agent1.cost_usd, it.agent2.cost_usd),
    });
    this.timings.push({ stage: `iteration_${it.iteration}`, started_at: it.started_at, ended_at: it.ended_at, duration_ms: it.duration_ms });
  }
}
