import { z } from 'zod';
import { applyMotionFeedback, withFeedback } from '../prompt/feedback.js';
import { loadEnv, type Env } from '../config/env.js';
import { AGENT_BACKEND_NAMES, requireBackendKey, type AgentBackendName } from '../config/backends.js';
import { LoopError, errorLine, isLoopError } from '../errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import type { RetryPolicy } from '../lib/retry.js';
import { redactValue } from '../lib/secrets.js';
import { runFeedbackLoop, type CreativeAgent, type CriticAgent, type LoopIteration } from '../prompt/loop.js';
import { FINAL_MOTION_PROMPT_FILE, SUMMARY_FILE, TraceWriter } from '../prompt/trace.js';
import { CostLedger, type CostEntry, type StageTiming } from '../runs/ledger.js';
import { createVideoRubricCritic, OFFLINE_VIDEO_CRITIC_MODEL, videoRubricCritique } from './critic.js';
import { createOfflineDirector, OFFLINE_DIRECTOR_MODEL } from './director.js';
import { hasArc, VideoClipContextSchema, VideoCritiqueSchema, VideoScoresSchema, type VideoClipContext, type VideoCritique } from './types.js';

/**
 * The public entry of the video-prompt stage (Story 9.1): Director → video critic rounds on a
 * motion prompt, reusing the generic loop (src/prompt/loop.ts), with every step written to the
 * trace directory as it happens. Same trace contract as the image prompt stage:
 * 00_original_prompt.txt, 01_agent1_iteration_1.txt (the director's prompt alone),
 * 02_agent2_iteration_1.txt (the critique), …, NN_final_enhanced_prompt.txt (and its copy
 * final_enhanced_motion_prompt.txt, a name scripts can rely on), and prompt_trace_summary.json.
 *
 * Failure policy ("nothing half-written"): every file is written atomically and files already
 * written stay; if an agent call fails, prompt_trace_summary.json is still written, with
 * stop_reason "error", the error, and final_prompt null — and no *_final_enhanced_prompt.txt.
 */
export const VIDEO_PROMPT_STAGE = 'video_prompt';

export const OFFLINE_VIDEO_BACKEND_NOTE =
  'offline rule-based agents (no LLM): a deterministic director and a rubric critic; the scores measure how the prompt states motion, one camera move, continuity, physics and the start → end arc, not how a model will render it';

export function formatVideoCritique(c: VideoCritique, model: string): string {
  const s = c.scores;
  return [
    `Video critic (${model})`,
    '',
    `motion_clarity:         ${s.motion_clarity}`,
    `camera_language:        ${s.camera_language}`,
    `temporal_consistency:   ${s.temporal_consistency}`,
    `physical_plausibility:  ${s.physical_plausibility}`,
    `start_end_arc:          ${s.start_end_arc ?? 'neutral (no start/end frames)'}`,
    `overall:                ${s.overall}`,
    '',
    'Feedback:',
    ...c.feedback.map((f) => `- ${f}`),
    '',
    `Flags: ${c.flags.length ? c.flags.join(', ') : '(none)'}`,
    '',
    'JSON:',
    JSON.stringify(c, null, 2),
    '',
  ].join('\n');
}

/** A ledger that also records into a parent: a clip's own costs, and the caller's running total. */
export class TeeLedger extends CostLedger {
  constructor(private readonly parent?: CostLedger) {
    super();
  }
  override record(entry: Omit<CostEntry, 'at'> & { at?: string }): CostEntry {
    const e = super.record(entry);
    this.parent?.record({ ...e });
    return e;
  }
}

export interface EnhanceVideoOptions {
  prompt: string;
  /** Exists already; trace files are written into it (it is created if missing). */
  runDir: string;
  maxIterations: number; // 1–10
  threshold: number; // 0–100
  backend: AgentBackendName;
  creativeModel: string;
  critiqueModel: string;
  seed?: number;
  /** The storyboard clip this prompt is for: planned move, frames, duration. */
  clip?: VideoClipContext;
  ledger?: CostLedger;
  logger?: Logger;
  signal?: AbortSignal;
  /** Defaults to loadEnv(); the openai backend reads OPENAI_API_KEY and OPENAI_BASE_URL from it. */
  env?: Env;
  stage?: string; // default 'video_prompt'
  onProgress?: (e: { iteration: number; phase: 'agent1' | 'agent2' | 'done'; overall?: number }) => void;
  retryPolicy?: RetryPolicy;
  requestTimeoutMs?: number;
  /** Replace the agents (tests). */
  agents?: { creative: CreativeAgent<VideoCritique>; critic: CriticAgent<VideoCritique> };
  /** A review gate's feedback on the videos `revising` made: the director folds it in (src/prompt/feedback.ts). */
  feedback?: { text: string; revising: string };
}

const UsageSchema = z.object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative(), calls: z.number().int().nonnegative() });
export const CostSummarySchema = z.object({
  total_cost_usd: z.number(),
  total_is_lower_bound: z.boolean(),
  by_stage: z.record(z.string(), z.number()),
  tokens: z.object({ input: z.number(), output: z.number() }),
  entries: z.array(z.record(z.string(), z.unknown())),
});

export const VideoIterationRowSchema = z.object({
  iteration: z.number().int().positive(),
  agent1_file: z.string(),
  agent2_file: z.string(),
  prompt: z.string(),
  scores: VideoScoresSchema,
  feedback: z.array(z.string()),
  flags: z.array(z.string()),
  agent1_notes: z.array(z.string()),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
  usage: UsageSchema,
  cost_usd: z.number().nullable(),
});

export const VIDEO_STOP_REASONS = ['threshold_met', 'no_improvement', 'max_iterations', 'error'] as const;

export const VideoPromptSummarySchema = z.object({
  schema_version: z.literal(1),
  kind: z.literal('video_prompt'),
  original_prompt: z.string(),
  final_prompt: z.string().nullable(),
  final_prompt_file: z.string().nullable(),
  backend: z.enum(AGENT_BACKEND_NAMES),
  backend_note: z.string(),
  models: z.object({ creative: z.string(), critique: z.string() }),
  seed: z.number().int(),
  clip: VideoClipContextSchema.nullable(),
  arc_note: z.string(),
  settings: z.object({ max_iterations: z.number().int(), threshold: z.number() }),
  /** The rubric's scores of the original prompt (rule-based, for comparison; never a reason to skip). */
  initial_assessment: VideoCritiqueSchema.extend({ method: z.literal('rule-based') }),
  iterations: z.array(VideoIterationRowSchema),
  best_iteration: z.number().int().nullable(),
  final_scores: VideoScoresSchema.nullable(),
  stop_reason: z.enum(VIDEO_STOP_REASONS),
  error: z.object({ kind: z.string(), message: z.string() }).nullable(),
  total_iterations: z.number().int().nonnegative(),
  cost: CostSummarySchema,
  timings: z.array(z.object({ stage: z.string(), started_at: z.string(), ended_at: z.string(), duration_ms: z.number() })),
  trace_dir: z.string(),
  files: z.array(z.string()),
  started_at: z.string(),
  ended_at: z.string(),
  duration_ms: z.number().nonnegative(),
});
export type VideoPromptSummary = z.infer<typeof VideoPromptSummarySchema>;

/** Build the agents for a backend; a missing key fails here, before anything is written. */
export async function videoAgents(o: Pick<EnhanceVideoOptions, 'backend' | 'creativeModel' | 'critiqueModel' | 'seed' | 'clip' | 'env' | 'logger' | 'retryPolicy' | 'requestTimeoutMs' | 'agents'> & { ledger: CostLedger; stage: string }): Promise<{
  creative: CreativeAgent<VideoCritique>;
  critic: CriticAgent<VideoCritique>;
  models: { creative: string; critique: string };
  note: string;
}> {
  if (o.agents) return { ...o.agents, models: { creative: o.creativeModel, critique: o.critiqueModel }, note: `custom agents: ${o.agents.creative.name} + ${o.agents.critic.name}` };
  if (o.backend === 'openai') {
    const env = o.env ?? loadEnv();
    const apiKey = requireBackendKey('agent', 'openai', env, '--backend');
    const { createOpenAIVideoAgents } = await import('./openai-agents.js');
    const a = createOpenAIVideoAgents({
      apiKey,
      baseURL: env.OPENAI_BASE_URL,
      creativeModel: o.creativeModel,
      critiqueModel: o.critiqueModel,
      clip: o.clip,
      ledger: o.ledger,
      stage: o.stage,
      logger: o.logger,
      retryPolicy: o.retryPolicy,
      timeoutMs: o.requestTimeoutMs,
    });
    return {
      creative: a.creative,
      critic: a.critic,
      models: { creative: o.creativeModel, critique: o.critiqueModel },
      note: `LLM agents (director + video critic) via OpenAI-compatible chat completions at ${env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`,
    };
  }
  return {
    creative: createOfflineDirector({ seed: o.seed ?? 0, clip: o.clip, ledger: o.ledger, stage: o.stage }),
    critic: createVideoRubricCritic({ clip: o.clip, ledger: o.ledger, stage: o.stage }),
    models: { creative: OFFLINE_DIRECTOR_MODEL, critique: OFFLINE_VIDEO_CRITIC_MODEL },
    note: OFFLINE_VIDEO_BACKEND_NOTE,
  };
}

export async function enhanceVideoPrompt(o: EnhanceVideoOptions): Promise<VideoPromptSummary> {
  if (!Number.isInteger(o.maxIterations) || o.maxIterations < 1 || o.maxIterations > 10)
    throw new LoopError('USAGE', `maxIterations must be 1–10, got ${o.maxIterations}`);
  if (!(o.threshold >= 0 && o.threshold <= 100)) throw new LoopError('USAGE', `threshold must be 0–100, got ${o.threshold}`);
  if (!o.prompt.trim()) throw new LoopError('INPUT', 'the motion prompt is empty');
  const clip = o.clip ? VideoClipContextSchema.parse(o.clip) : null;
  const stage = o.stage ?? VIDEO_PROMPT_STAGE;
  const log = o.logger ?? silentLogger;
  // this run's own entries (a storyboard runs clips concurrently on one parent ledger)
  const ledger = new TeeLedger(o.ledger);
  const seed = o.seed ?? 0;
  const started = new Date();
  const t0 = performance.now();
  const timings: StageTiming[] = [];
  const trace = new TraceWriter<VideoCritique>(o.runDir, formatVideoCritique, FINAL_MOTION_PROMPT_FILE);

  const built = await videoAgents({ ...o, clip: clip ?? undefined, seed, ledger, stage });
  const agents = o.feedback
    ? {
        ...built,
        creative: withFeedback<VideoCritique>(built.creative, o.feedback.text, {
          offline: !o.agents && o.backend !== 'openai',
          revising: o.feedback.revising,
          what: 'videos',
          apply: applyMotionFeedback,
          feedbackOnly: (line) => ({ scores: { motion_clarity: 0, camera_language: 0, temporal_consistency: 0, physical_plausibility: 0, start_end_arc: null, overall: 0 }, feedback: [line], flags: [] }),
        }),
        note: `${built.note}; revising with review feedback`,
      }
    : built;

  await trace.original(o.prompt);
  const a0 = new Date();
  const ta = performance.now();
  const initial = { ...videoRubricCritique(o.prompt, { clip }), method: 'rule-based' as const };
  timings.push({ stage: 'initial_assessment', started_at: a0.toISOString(), ended_at: new Date().toISOString(), duration_ms: Math.round(performance.now() - ta) });
  log.debug(`initial assessment (rule-based): overall ${initial.scores.overall}`);

  const rows: VideoPromptSummary['iterations'] = [];
  const files = new Map<number, { agent1?: string; agent2?: string }>();
  const done: LoopIteration<VideoCritique>[] = [];

  const summary = (extra: Pick<VideoPromptSummary, 'final_prompt' | 'final_prompt_file' | 'final_scores' | 'stop_reason' | 'error' | 'best_iteration'>): VideoPromptSummary => {
    const own = new CostLedger();
    own.entries.push(...ledger.entries.filter((e) => e.stage === stage));
    return VideoPromptSummarySchema.parse(
      redactValue({
        schema_version: 1,
        kind: 'video_prompt',
        original_prompt: o.prompt,
        backend: o.backend,
        backend_note: agents.note,
        models: agents.models,
        seed,
        clip,
        arc_note: hasArc(clip)
          ? 'start and end frames given: start_end_arc is scored and counts in the overall'
          : 'no clip context with start/end frames: start_end_arc is neutral (null) and left out of the overall',
        settings: { max_iterations: o.maxIterations, threshold: o.threshold },
        initial_assessment: initial,
        iterations: rows,
        total_iterations: rows.length,
        cost: own.toJSON(),
        timings,
        trace_dir: o.runDir,
        files: [...trace.files, SUMMARY_FILE],
        started_at: started.toISOString(),
        ended_at: new Date().toISOString(),
        duration_ms: Math.round(performance.now() - t0),
        ...extra,
      }),
    );
  };

  const pushRow = (it: LoopIteration<VideoCritique>) => {
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
    const result = await runFeedbackLoop<VideoCritique>({
      original: o.prompt,
      creative: agents.creative,
      critic: agents.critic,
      overall: (c) => c.scores.overall,
      maxIterations: o.maxIterations,
      threshold: o.threshold,
      signal: o.signal,
      onPhase: (iteration, phase) => {
        log.debug(`iteration ${iteration}: ${phase === 'agent1' ? `director (${agents.creative.name})` : `video critic (${agents.critic.name})`}`);
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
        pushRow(it);
        log.debug(`iteration ${it.iteration}: overall ${it.overall}`);
        o.onProgress?.({ iteration: it.iteration, phase: 'agent2', overall: it.overall });
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
    });
    await trace.summary(s);
    o.onProgress?.({ iteration: result.best.iteration, phase: 'done', overall: result.best.overall });
    return s;
  } catch (e) {
    const kind = isLoopError(e) ? e.kind : o.signal?.aborted ? 'INTERRUPTED' : 'INTERNAL';
    const best = done.reduce<LoopIteration<VideoCritique> | null>((b, it) => (!b || it.overall > b.overall ? it : b), null);
    try {
      await trace.summary(
        summary({
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
    if (o.signal?.aborted) throw new LoopError('INTERRUPTED', `interrupted (partial trace in ${o.runDir})`, { cause: e });
    if (isLoopError(e)) throw new LoopError(e.kind, `${e.message} (partial trace in ${o.runDir})`, { cause: e.cause ?? e });
    throw e;
  }
}
