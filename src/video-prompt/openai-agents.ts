import type { Logger } from '../lib/log.js';
import type { RetryPolicy } from '../lib/retry.js';
import { critiqueJsonSchema, critiqueText, critiqueTurn, OpenAIChat, parseJsonAnswer, promptTurn } from '../prompt/openai-agents.js';
import type { AgentTurn, CreativeAgent, CriticAgent } from '../prompt/loop.js';
import { critiqueSchema } from '../prompt/rubric.js';
import type { CostLedger } from '../runs/ledger.js';
import { moveWords, MOVES, SHOT_SIZE_WORDS } from '../storyboard/plan.js';
import { hasArc, VIDEO_DIMENSIONS, VideoScoresSchema, withVideoOverall, type VideoClipContext, type VideoCritique } from './types.js';

/**
 * The LLM director and video critic, through OpenAIChat (src/prompt/openai-agents.ts: the official
 * SDK against api.openai.com or any OpenAI-compatible server, one retry policy, token costs in the
 * ledger, a 401/403 as a CONFIG error). The critic answers in JSON (json_schema, strict) and gets
 * one repair turn; its overall is computed here (withVideoOverall), not trusted from the model.
 */
export interface OpenAIVideoAgentOptions {
  apiKey: string;
  baseURL?: string;
  creativeModel: string;
  critiqueModel: string;
  clip?: VideoClipContext | null;
  ledger?: CostLedger;
  stage?: string;
  logger?: Logger;
  retryPolicy?: RetryPolicy;
  timeoutMs?: number;
}

export const DIRECTOR_SYSTEM = `You are a film director writing motion prompts for an image-to-video / text-to-video model.
Rewrite the user's motion idea as one clip, in natural sentences (not a tag list), covering:
- motion: what moves and how (action verbs, manner, pace);
- camera: exactly ONE primary camera move from this vocabulary: ${MOVES.join(', ')}, with its direction and speed
  (slow, medium, fast), plus the framing (shot size) and the lens in mm. Never name a second move;
- pacing: the duration in seconds and two or three beats placed in time (0-2 s ..., 2-4 s ...);
- temporal continuity: what stays constant (the subject's identity and wardrobe or shape, the light, the setting; one continuous shot, no cuts);
- physical plausibility: weight, momentum, easing in and out, secondary motion (hair, cloth, water, dust); nothing morphs or warps;
- when start and end frames are given: the arc, "starts on <start frame> ... ends on <end frame>".
Keep every content word of the user's idea except camera directions that conflict with the one move.
Stay within 60-200 words. When a critique is given, fix every issue it lists.
Answer with the prompt text only.`;

export const VIDEO_CRITIC_SYSTEM = `You review motion prompts for video generation models.
Score the prompt 0-100 on:
- motion_clarity: what moves, how and when (subject action, manner, duration, timed beats; vague words like "dynamic" lower it);
- camera_language: one primary camera move (${MOVES.join(', ')}) with direction and speed, framing and lens; two or more moves score low; a move other than the planned one (if given) scores low;
- temporal_consistency: subject identity, wardrobe/shape, light and setting stated as constant, one continuous shot; cuts, morphs and sudden changes lower it;
- physical_plausibility: weight, momentum, easing, secondary motion, no morphing; impossible motion lowers it;
- start_end_arc: does the prompt say what the clip starts on and ends on, matching the given start and end frames; null when no frames are given.
Give specific feedback, and flags as short machine-readable strings like "missing:beats",
"multiple_camera_moves:dolly+pan", "camera_mismatch:crane", "missing:continuity_light", "implausible:teleports", "missing:arc_end".`;

/** The critic's answer as the LLM gives it; overall is computed by us (withVideoOverall). */
export const LlmVideoCritiqueSchema = critiqueSchema(VideoScoresSchema.omit({ overall: true }));

export const VIDEO_CRITIQUE_JSON_SCHEMA = critiqueJsonSchema(VIDEO_DIMENSIONS, 'start_end_arc');

/** Parse the critic's JSON; returns an error message instead of throwing, for the repair turn. */
export function parseVideoCritique(content: string, arcJudged: boolean): VideoCritique | string {
  const r = parseJsonAnswer(content, LlmVideoCritiqueSchema);
  if (typeof r === 'string') return r;
  const s = r.scores;
  if (arcJudged && s.start_end_arc === null) return 'scores.start_end_arc: start and end frames were given, so it must be a number';
  return {
    scores: withVideoOverall({ ...s, start_end_arc: arcJudged ? s.start_end_arc : null }),
    feedback: r.feedback,
    flags: r.flags,
  };
}

/** The clip context as the agents read it. */
export function clipText(clip?: VideoClipContext | null): string {
  if (!clip) return 'No storyboard clip context: no planned camera move, no start/end frames (start_end_arc is null).';
  const lines = [`Storyboard clip${clip.clip ? ` ${clip.clip}` : ''}:`];
  if (clip.description) lines.push(`what happens: ${clip.description}`);
  if (clip.subject) lines.push(`subject: ${clip.subject}`);
  if (clip.background) lines.push(`setting: ${clip.background}`);
  if (clip.camera) lines.push(`planned camera move (the one move to use): ${moveWords(clip.camera)}${clip.camera.type === 'zoom' ? ` to ${clip.camera.end_lens_mm}mm` : ''}`);
  if (clip.shot?.size || clip.shot?.lens_mm) lines.push(`shot: ${clip.shot.size ? SHOT_SIZE_WORDS[clip.shot.size] : ''}${clip.shot.angle ? `, ${clip.shot.angle}` : ''}${clip.shot.lens_mm ? `, ${clip.shot.lens_mm}mm` : ''}`);
  if (clip.duration_s) lines.push(`duration: ${clip.duration_s} s`);
  if (clip.motion) lines.push(`storyboard motion: ${clip.motion}`);
  if (clip.start_frame) lines.push(`start frame: ${clip.start_frame.prompt}`);
  if (clip.end_frame) lines.push(`end frame: ${clip.end_frame.prompt}`);
  if (!hasArc(clip)) lines.push('No start/end frames: start_end_arc is null.');
  return lines.join('\n');
}

export function createOpenAIVideoAgents(o: OpenAIVideoAgentOptions): { creative: CreativeAgent<VideoCritique>; critic: CriticAgent<VideoCritique>; chat: OpenAIChat } {
  const chat = new OpenAIChat({ ...o, stage: o.stage ?? 'video_prompt' });
  const context = clipText(o.clip);
  const arcJudged = hasArc(o.clip);
  const creative: CreativeAgent<VideoCritique> = {
    name: `openai:${o.creativeModel}`,
    async create(input): Promise<AgentTurn<string>> {
      const user = [
        `Motion idea: ${input.original}`,
        context,
        input.previous ? `Your previous prompt:\n${input.previous}` : '',
        input.critique ? critiqueText(input.critique) : '',
      ]
        .filter(Boolean)
        .join('\n\n');
      return promptTurn(chat, 'director', o.creativeModel, DIRECTOR_SYSTEM, user, input.signal);
    },
  };
  const critic: CriticAgent<VideoCritique> = {
    name: `openai:${o.critiqueModel}`,
    async critique(input): Promise<AgentTurn<VideoCritique>> {
      return critiqueTurn(chat, {
        role: 'video critic',
        model: o.critiqueModel,
        schemaName: 'video_prompt_critique',
        schema: VIDEO_CRITIQUE_JSON_SCHEMA,
        messages: [
          { role: 'system', content: VIDEO_CRITIC_SYSTEM },
          { role: 'user', content: `Original motion idea: ${input.original}\n\n${context}\n\nPrompt to review:\n${input.prompt}` },
        ],
        parse: (content) => parseVideoCritique(content, arcJudged),
        logger: o.logger,
        signal: input.signal,
      });
    },
  };
  return { creative, critic, chat };
}
