import type OpenAI from 'openai';
import { z } from 'zod';
import { LoopError } from '../errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import type { RetryPolicy } from '../lib/retry.js';
import { OpenAIChat } from '../prompt/openai-agents.js';
import type { AgentTurn, CreativeAgent, CriticAgent, Usage } from '../prompt/loop.js';
import type { CostLedger } from '../runs/ledger.js';
import { moveWords, MOVES, SHOT_SIZE_WORDS } from '../storyboard/plan.js';
import { hasArc, withVideoOverall, type VideoClipContext, type VideoCritique } from './types.js';

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

type ChatParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;

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
export const LlmVideoCritiqueSchema = z.object({
  scores: z.object({
    motion_clarity: z.number().min(0).max(100),
    camera_language: z.number().min(0).max(100),
    temporal_consistency: z.number().min(0).max(100),
    physical_plausibility: z.number().min(0).max(100),
    start_end_arc: z.number().min(0).max(100).nullable(),
  }),
  feedback: z.array(z.string()),
  flags: z.array(z.string()),
});

const num = { type: 'number', minimum: 0, maximum: 100 };
export const VIDEO_CRITIQUE_JSON_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['scores', 'feedback', 'flags'],
  properties: {
    scores: {
      type: 'object',
      additionalProperties: false,
      required: ['motion_clarity', 'camera_language', 'temporal_consistency', 'physical_plausibility', 'start_end_arc'],
      properties: {
        motion_clarity: num,
        camera_language: num,
        temporal_consistency: num,
        physical_plausibility: num,
        start_end_arc: { type: ['number', 'null'], minimum: 0, maximum: 100 },
      },
    },
    feedback: { type: 'array', items: { type: 'string' } },
    flags: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** Parse the critic's JSON; returns an error message instead of throwing, for the repair turn. */
export function parseVideoCritique(content: string, arcJudged: boolean): VideoCritique | string {
  let raw: unknown;
  try {
    raw = JSON.parse(content.trim().replace(/^```(?:json)?\s*|\s*```$/g, ''));
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  const r = LlmVideoCritiqueSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return `${i.path.join('.') || '(root)'}: ${i.message}`;
  }
  const s = r.data.scores;
  if (arcJudged && s.start_end_arc === null) return 'scores.start_end_arc: start and end frames were given, so it must be a number';
  return {
    scores: withVideoOverall({ ...s, start_end_arc: arcJudged ? s.start_end_arc : null }),
    feedback: r.data.feedback,
    flags: r.data.flags,
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

const addUsage = (a: Usage, b: Usage): Usage => ({ input_tokens: a.input_tokens + b.input_tokens, output_tokens: a.output_tokens + b.output_tokens, calls: a.calls + b.calls });
const addCost = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((a + b) * 1e6) / 1e6);

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
        input.critique
          ? `Critique of it (overall ${input.critique.scores.overall}):\n${input.critique.feedback.map((f) => `- ${f}`).join('\n')}\nFlags: ${input.critique.flags.join(', ') || '(none)'}`
          : '',
      ]
        .filter(Boolean)
        .join('\n\n');
      const r = await chat.complete(
        'director',
        { model: o.creativeModel, messages: [{ role: 'system', content: DIRECTOR_SYSTEM }, { role: 'user', content: user }], temperature: 0.7 },
        input.signal,
      );
      const text = r.content.trim().replace(/^```\w*\s*|\s*```$/g, '').replace(/^"(.*)"$/s, '$1').trim();
      if (!text) throw new LoopError('REMOTE', `the creative model ${o.creativeModel} returned an empty prompt`);
      return { output: text, model: o.creativeModel, usage: r.usage, cost_usd: r.cost };
    },
  };
  const critic: CriticAgent<VideoCritique> = {
    name: `openai:${o.critiqueModel}`,
    async critique(input): Promise<AgentTurn<VideoCritique>> {
      const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
        { role: 'system', content: VIDEO_CRITIC_SYSTEM },
        { role: 'user', content: `Original motion idea: ${input.original}\n\n${context}\n\nPrompt to review:\n${input.prompt}` },
      ];
      const params = (msgs: typeof messages): ChatParams => ({
        model: o.critiqueModel,
        messages: msgs,
        temperature: 0,
        response_format: { type: 'json_schema', json_schema: { name: 'video_prompt_critique', strict: true, schema: VIDEO_CRITIQUE_JSON_SCHEMA as unknown as Record<string, unknown> } },
      });
      const first = await chat.complete('video critic', params(messages), input.signal);
      let parsed = parseVideoCritique(first.content, arcJudged);
      let usage = first.usage;
      let cost = first.cost;
      if (typeof parsed === 'string') {
        (o.logger ?? silentLogger).debug(`openai video critic: invalid JSON (${parsed}); asking once for a repair`);
        const repair = await chat.complete(
          'video critic (repair)',
          params([
            ...messages,
            { role: 'assistant', content: first.content },
            { role: 'user', content: `That answer is invalid: ${parsed}. Reply with only the JSON object matching the schema.` },
          ]),
          input.signal,
        );
        usage = addUsage(usage, repair.usage);
        cost = addCost(cost, repair.cost);
        parsed = parseVideoCritique(repair.content, arcJudged);
        if (typeof parsed === 'string')
          throw new LoopError('REMOTE', `the critique model ${o.critiqueModel} returned invalid JSON twice (${parsed}); try another --critique-model`);
      }
      return { output: parsed, model: o.critiqueModel, usage, cost_usd: cost };
    },
  };
  return { creative, critic, chat };
}
