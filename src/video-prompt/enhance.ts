import { z } from 'zod';
import { applyMotionFeedback, withFeedback } from '../prompt/feedback.js';
import type { Env } from '../config/env.js';
import { AGENT_BACKEND_NAMES, type AgentBackendName } from '../config/backends.js';
import { LoopError } from '../errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import type { RetryPolicy } from '../lib/retry.js';
import { redactValue } from '../lib/secrets.js';
import type { CreativeAgent, CriticAgent } from '../prompt/loop.js';
import { assertLoopSettings, iterationRowSchema, openAIAccess, PromptStageRun, summaryRoundsShape } from '../prompt/stage.js';
import { FINAL_MOTION_PROMPT_FILE, formatCritiqueFile, TraceWriter } from '../prompt/trace.js';
import { CostLedger, type CostEntry } from '../runs/ledger.js';
import { createVideoRubricCritic, OFFLINE_VIDEO_CRITIC_MODEL, videoRubricCritique } from './critic.js';
import { createOfflineDirector, OFFLINE_DIRECTOR_MODEL } from './director.js';
import { hasArc, VideoClipContextSchema, VideoCritiqueSchema, VideoScoresSchema, type VideoClipContext, type VideoCritique } from './types.js';

/**
 * The public entry of the video-prompt stage (Story 9.1): Director → video critic rounds on a
 * motion prompt, reusing the generic loop and its traced rounds (src/prompt/loop.ts, stage.ts),
 * with every step written to the trace directory as it happens. Same trace contract as the image
 * prompt stage:
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
  return formatCritiqueFile(`Video critic (${model})`, [
    `motion_clarity:         ${s.motion_clarity}`,
    `camera_language:        ${s.camera_language}`,
    `temporal_consistency:   ${s.temporal_consistency}`,
    `physical_plausibility:  ${s.physical_plausibility}`,
    `start_end_arc:          ${s.start_end_arc ?? 'neutral (no start/end frames)'}`,
    `overall:                ${s.overall}`,
  ], c);
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

/** Re-exported: the video summary's cost block was defined here first. */
export { CostSummarySchema } from '../prompt/stage.js';

export const VideoIterationRowSchema = iterationRowSchema(VideoScoresSchema);

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
  ...summaryRoundsShape(VideoScoresSchema, VIDEO_STOP_REASONS),
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
    const { apiKey, baseURL, endpoint } = openAIAccess(o.env);
    const { createOpenAIVideoAgents } = await import('./openai-agents.js');
    const a = createOpenAIVideoAgents({
      apiKey,
      baseURL,
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
      note: `LLM agents (director + video critic) via ${endpoint}`,
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
  assertLoopSettings(o.maxIterations, o.threshold);
  if (!o.prompt.trim()) throw new LoopError('INPUT', 'the motion prompt is empty');
  const clip = o.clip ? VideoClipContextSchema.parse(o.clip) : null;
  const stage = o.stage ?? VIDEO_PROMPT_STAGE;
  const log = o.logger ?? silentLogger;
  // this run's own entries (a storyboard runs clips concurrently on one parent ledger)
  const ledger = new TeeLedger(o.ledger);
  const seed = o.seed ?? 0;
  const run = new PromptStageRun<VideoCritique>(new TraceWriter<VideoCritique>(o.runDir, formatVideoCritique, FINAL_MOTION_PROMPT_FILE));
  const trace = run.trace;

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
  const initial = run.timed('initial_assessment', () => ({ ...videoRubricCritique(o.prompt, { clip }), method: 'rule-based' as const }));
  log.debug(`initial assessment (rule-based): overall ${initial.scores.overall}`);

  return run.rounds({
    original: o.prompt,
    agents,
    maxIterations: o.maxIterations,
    threshold: o.threshold,
    signal: o.signal,
    log,
    roles: { agent1: 'director', agent2: 'video critic' },
    onProgress: o.onProgress,
    summary: (outcome): VideoPromptSummary =>
      VideoPromptSummarySchema.parse(
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
          ...run.tail(ledger.entries, stage),
          ...outcome,
        }),
      ),
  });
}
