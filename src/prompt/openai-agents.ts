import OpenAI from 'openai';
import { z } from 'zod';
import { tokenCost } from '../config/prices.js';
import { LoopError } from '../errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import { defaultRetryPolicy, parseRetryAfter, withRetry, type RetryDecision, type RetryPolicy } from '../lib/retry.js';
import type { CostLedger } from '../runs/ledger.js';
import { addCost, addUsage, type AgentTurn, type CreativeAgent, type CriticAgent, type Usage } from './loop.js';
import { critiqueSchema, type RubricCritique } from './rubric.js';
import { DIMENSIONS, ScoresSchema, withOverall, type Brand, type Critique } from './types.js';
import { ASPECT_RATIOS } from '../generation/metadata.js';

/**
 * The LLM agents, through the official SDK against api.openai.com or any OpenAI-compatible
 * server (OPENAI_BASE_URL: Ollama, vLLM, llama.cpp). The SDK's own retries are off
 * (maxRetries: 0) so that src/lib/retry.ts is the one policy: backoff with jitter, retry-after
 * honoured, on 408/409/429/5xx, timeouts and dropped connections.
 */
export interface OpenAIAgentOptions {
  apiKey: string;
  baseURL?: string;
  creativeModel: string;
  critiqueModel: string;
  brand?: Brand | null;
  /** Target aspect ratio of the images; the prompt's aspect hint must match it. */
  aspectRatio?: string;
  ledger?: CostLedger;
  stage?: string;
  logger?: Logger;
  retryPolicy?: RetryPolicy;
  /** Per-request timeout (ms); a timed-out request is retried. Default 60 s. */
  timeoutMs?: number;
}

/** A server's retry-after is honoured, but never beyond this (a misconfigured proxy can say "3600"). */
const MAX_RETRY_AFTER_MS = 60_000;

export function classifyOpenAIError(e: unknown): RetryDecision {
  if (e instanceof OpenAI.APIUserAbortError) return { retry: false };
  if (e instanceof OpenAI.APIConnectionError) return { retry: true }; // includes APIConnectionTimeoutError
  if (e instanceof OpenAI.APIError && typeof e.status === 'number') {
    if (e.status === 408 || e.status === 409 || e.status === 429 || e.status >= 500) {
      const ms = e.headers?.get('retry-after-ms');
      const after = ms && Number.isFinite(Number(ms)) ? Number(ms) : parseRetryAfter(e.headers?.get('retry-after'));
      return { retry: true, afterMs: after === undefined ? undefined : Math.min(after, MAX_RETRY_AFTER_MS) };
    }
  }
  return { retry: false };
}

function describe(e: unknown): string {
  if (e instanceof OpenAI.APIConnectionTimeoutError) return 'request timed out';
  if (e instanceof OpenAI.APIConnectionError) return `connection failed (${(e.cause as Error | undefined)?.message ?? e.message})`;
  if (e instanceof OpenAI.APIError) return `HTTP ${e.status}: ${e.message.replace(/^\d{3}\s*/, '')}`;
  return (e as Error)?.message ?? String(e);
}

type ChatParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;

export class OpenAIChat {
  readonly client: OpenAI;
  constructor(private readonly o: OpenAIAgentOptions) {
    this.client = new OpenAI({ apiKey: o.apiKey, baseURL: o.baseURL, maxRetries: 0, timeout: o.timeoutMs ?? 60_000 });
  }

  /** One chat completion with retries; usage and cost go into the ledger. */
  async complete(role: string, params: ChatParams, signal?: AbortSignal): Promise<{ content: string; usage: Usage; cost: number | null }> {
    const log = this.o.logger ?? silentLogger;
    const policy = this.o.retryPolicy ?? defaultRetryPolicy;
    const t0 = performance.now();
    let res: OpenAI.Chat.Completions.ChatCompletion;
    try {
      res = await withRetry(
        (attempt) => {
          log.debug(`openai ${role}: POST chat.completions model=${params.model} attempt ${attempt + 1}`);
          return this.client.chat.completions.create(params, { signal });
        },
        classifyOpenAIError,
        { policy, signal, onRetry: (e, n, wait) => log.debug(`openai ${role}: ${describe(e)}; retry ${n}/${policy.retries} in ${wait} ms`) },
      );
    } catch (e) {
      if (signal?.aborted) throw e;
      const auth = e instanceof OpenAI.APIError && (e.status === 401 || e.status === 403);
      throw new LoopError(
        auth ? 'CONFIG' : 'REMOTE',
        auth
          ? `OpenAI rejected the API key for ${role} (${describe(e)}); check OPENAI_API_KEY or use --backend offline`
          : `OpenAI ${role} call to ${params.model} failed: ${describe(e)}${classifyOpenAIError(e).retry ? ` after ${policy.retries + 1} attempts` : ''}`,
        { cause: e },
      );
    }
    const input = res.usage?.prompt_tokens ?? 0;
    const output = res.usage?.completion_tokens ?? 0;
    const cost = tokenCost(params.model, input, output) ?? null;
    this.o.ledger?.record({
      stage: this.o.stage ?? 'image_prompt',
      provider: 'openai',
      model: params.model,
      kind: 'tokens',
      input_tokens: input,
      output_tokens: output,
      cost_usd: cost,
      ...(cost === null ? { note: `no price for ${params.model} in the price table` } : {}),
    });
    log.debug(`openai ${role}: ${input} in / ${output} out tokens, ${Math.round(performance.now() - t0)} ms`);
    return { content: res.choices[0]?.message?.content ?? '', usage: { input_tokens: input, output_tokens: output, calls: 1 }, cost };
  }
}

type ChatMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** The previous round's critique as a creative agent reads it (either rubric). */
export function critiqueText(c: RubricCritique): string {
  return `Critique of it (overall ${c.scores.overall}):\n${c.feedback.map((f) => `- ${f}`).join('\n')}\nFlags: ${c.flags.join(', ') || '(none)'}`;
}

/** A creative agent's turn: the reply is the prompt, unwrapped from code fences and quotes; empty is a REMOTE error. */
export async function promptTurn(chat: OpenAIChat, role: string, model: string, system: string, user: string, signal?: AbortSignal): Promise<AgentTurn<string>> {
  const r = await chat.complete(role, { model, messages: [{ role: 'system', content: system }, { role: 'user', content: user }], temperature: 0.7 }, signal);
  const text = r.content.trim().replace(/^```\w*\s*|\s*```$/g, '').replace(/^"(.*)"$/s, '$1').trim();
  if (!text) throw new LoopError('REMOTE', `the creative model ${model} returned an empty prompt`);
  return { output: text, model, usage: r.usage, cost_usd: r.cost };
}

/** The critic's answer format (strict json_schema) for a rubric's dimensions, in order; the `neutral` one may be null. */
export function critiqueJsonSchema(dims: readonly string[], neutral: string) {
  const num = { type: 'number', minimum: 0, maximum: 100 };
  return {
    type: 'object',
    additionalProperties: false,
    required: ['scores', 'feedback', 'flags'],
    properties: {
      scores: {
        type: 'object',
        additionalProperties: false,
        required: [...dims],
        properties: Object.fromEntries(dims.map((d) => [d, d === neutral ? { type: ['number', 'null'], minimum: 0, maximum: 100 } : num])),
      },
      feedback: { type: 'array', items: { type: 'string' } },
      flags: { type: 'array', items: { type: 'string' } },
    },
  };
}

/** The critic's JSON checked against `schema`; an error message instead of throwing, for the repair turn. */
export function parseJsonAnswer<T>(content: string, schema: z.ZodType<T>): T | string {
  let raw: unknown;
  try {
    raw = JSON.parse(content.trim().replace(/^```(?:json)?\s*|\s*```$/g, ''));
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    return `${i.path.join('.') || '(root)'}: ${i.message}`;
  }
  return r.data;
}

/** A critic's turn: strict JSON-schema answer at temperature 0, and one repair turn when it is invalid. */
export async function critiqueTurn<C>(
  chat: OpenAIChat,
  o: { role: string; model: string; schemaName: string; schema: Record<string, unknown>; messages: ChatMessage[]; parse: (content: string) => C | string; logger?: Logger; signal?: AbortSignal },
): Promise<AgentTurn<C>> {
  const params = (msgs: ChatMessage[]): ChatParams => ({
    model: o.model,
    messages: msgs,
    temperature: 0,
    response_format: { type: 'json_schema', json_schema: { name: o.schemaName, strict: true, schema: o.schema } },
  });
  const first = await chat.complete(o.role, params(o.messages), o.signal);
  let parsed = o.parse(first.content);
  let usage = first.usage;
  let cost = first.cost;
  if (typeof parsed === 'string') {
    // one repair turn: show the model its answer and what was wrong with it
    (o.logger ?? silentLogger).debug(`openai ${o.role}: invalid JSON (${parsed}); asking once for a repair`);
    const repair = await chat.complete(
      `${o.role} (repair)`,
      params([
        ...o.messages,
        { role: 'assistant', content: first.content },
        { role: 'user', content: `That answer is invalid: ${parsed}. Reply with only the JSON object matching the schema.` },
      ]),
      o.signal,
    );
    usage = addUsage(usage, repair.usage);
    cost = addCost(cost, repair.cost);
    parsed = o.parse(repair.content);
    if (typeof parsed === 'string')
      throw new LoopError('REMOTE', `the critique model ${o.model} returned invalid JSON twice (${parsed}); try another --critique-model`);
  }
  return { output: parsed, model: o.model, usage, cost_usd: cost };
}

function brandText(brand?: Brand | null): string {
  if (!brand) return 'No brand guidelines were given.';
  return [
    `Brand${brand.brand ? ` "${brand.brand}"` : ''}:`,
    brand.palette.length ? `palette: ${brand.palette.join(', ')}` : '',
    brand.tone.length ? `tone: ${brand.tone.join(', ')}` : '',
    brand.must_include.length ? `must include: ${brand.must_include.join(', ')}` : '',
    brand.avoid.length ? `avoid: ${brand.avoid.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export const CINEMATOGRAPHER_SYSTEM = `You are a cinematographer and creative director writing prompts for a text-to-image model.
Rewrite the user's image idea as one scene, in natural sentences (not a tag list), in this order:
who/what -> action -> where/when -> style. Keep every content word of the user's idea.
Add: shot size and camera angle; camera body and lens (focal length, aperture); lighting (source,
direction, quality, colour temperature in Kelvin); composition; film stock or colour grade; mood;
an aspect-ratio hint. No quality-booster tags (8k, masterpiece, trending on artstation).
Stay within 35-130 words. When a critique is given, fix every issue it lists.
Answer with the prompt text only.`;

export const CRITIC_SYSTEM = `You are a prompt engineer who reviews text-to-image prompts.
Score the prompt 0-100 on: completeness (subject, action, setting, time, style cues all present),
specificity (concrete, checkable detail; vague praise and quality tags lower it), professionalism
(natural sentences, 35-130 words, no keyword stuffing, no contradictions), cinematography (shot size,
angle, camera, lens, light source/direction/quality/colour temperature, composition, film/grade),
brand_alignment (palette, tone, must-include present, nothing the brand avoids; null when no brand is given).
Give specific feedback, and flags as short machine-readable strings like "missing:lens",
"refine:atmosphere", "stuffing:8k", "contradiction:time_of_day", "too_long", "brand_avoid:neon".`;

/** The critic's answer as the LLM gives it; overall is computed by us (withOverall). */
export const LlmCritiqueSchema = critiqueSchema(ScoresSchema.omit({ overall: true }));

export const CRITIQUE_JSON_SCHEMA = critiqueJsonSchema(DIMENSIONS, 'brand_alignment');

/** Parse the critic's JSON; returns an error message instead of throwing, for the repair turn. */
export function parseCritique(content: string, hasBrand: boolean): Critique | string {
  const r = parseJsonAnswer(content, LlmCritiqueSchema);
  if (typeof r === 'string') return r;
  return {
    scores: withOverall({ ...r.scores, brand_alignment: hasBrand ? r.scores.brand_alignment : null }),
    feedback: r.feedback,
    flags: r.flags,
  };
}

export function createOpenAIAgents(o: OpenAIAgentOptions): { creative: CreativeAgent<Critique>; critic: CriticAgent<Critique>; chat: OpenAIChat } {
  const chat = new OpenAIChat(o);
  const creative: CreativeAgent<Critique> = {
    name: `openai:${o.creativeModel}`,
    async create(input): Promise<AgentTurn<string>> {
      const user = [
        `Image idea: ${input.original}`,
        input.previous ? `Your previous prompt:\n${input.previous}` : '',
        input.critique ? critiqueText(input.critique) : '',
        brandText(o.brand),
        o.aspectRatio
          ? `The image will be rendered at ${o.aspectRatio}; the aspect-ratio hint must say ${o.aspectRatio}.`
          : `The aspect-ratio hint must be one the image model renders: ${ASPECT_RATIOS.join(', ')}.`,
      ]
        .filter(Boolean)
        .join('\n\n');
      return promptTurn(chat, 'cinematographer', o.creativeModel, CINEMATOGRAPHER_SYSTEM, user, input.signal);
    },
  };
  const critic: CriticAgent<Critique> = {
    name: `openai:${o.critiqueModel}`,
    async critique(input): Promise<AgentTurn<Critique>> {
      return critiqueTurn(chat, {
        role: 'critic',
        model: o.critiqueModel,
        schemaName: 'prompt_critique',
        schema: CRITIQUE_JSON_SCHEMA,
        messages: [
          { role: 'system', content: CRITIC_SYSTEM },
          { role: 'user', content: `Original idea: ${input.original}\n\nPrompt to review:\n${input.prompt}\n\n${brandText(o.brand)}` },
        ],
        parse: (content) => parseCritique(content, !!o.brand),
        logger: o.logger,
        signal: input.signal,
      });
    },
  };
  return { creative, critic, chat };
}
