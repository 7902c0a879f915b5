import type OpenAI from 'openai';
import { z } from 'zod';
import { LoopError, usageError } from '../errors.js';
import { silentLogger, type Logger } from '../lib/log.js';
import type { RetryPolicy } from '../lib/retry.js';
import { clip, redact, registerSecret } from '../lib/secrets.js';
import { OpenAIChat } from '../prompt/openai-agents.js';
import type { CostLedger } from '../runs/ledger.js';
import { planOffline } from './offline-planner.js';
import {
  ANGLES,
  MAX_CLIPS,
  MOVE_DIRECTIONS,
  MOVES,
  NARRATIVE_ROLES,
  SHOT_SIZES,
  SHOT_SIZE_WORDS,
  SPEEDS,
  StoryboardPlanSchema,
  TRANSITIONS,
  validatePlan,
  type StoryboardPlan,
} from './plan.js';

/**
 * The LLM storyboard planner (OpenAI or any OpenAI-compatible server): one chat completion asks for
 * the plan as JSON under a strict JSON schema, the answer is checked with StoryboardPlanSchema and
 * validatePlan, and when it is unsound the problems go back in the same conversation for ONE
 * repair. A plan still unsound after that, a reply that is not JSON twice, or an API failure after
 * the retries (src/lib/retry.ts, through OpenAIChat) falls back to the offline planner, and the
 * note says why. A rejected key (401/403) is a configuration error and is thrown (CONFIG): a
 * fallback would hide it. The API key never reaches a note, a log line or an error.
 */
export interface LlmPlanResult {
  plan: StoryboardPlan;
  planner: 'openai' | 'offline';
  /** One line for the trace and the user: who planned, and why the offline planner if it did. */
  note: string;
  /** LLM answers checked (0 when the first request failed, 1, or 2 with the repair turn). */
  attempts: number;
  /** Problems found in the LLM's answers, "attempt N: …", in order (empty when the first was sound). */
  problems: string[];
  /** Token cost of the calls that completed; null when the model has no price in the table. */
  cost_usd: number | null;
}

export interface LlmPlanOptions {
  prompt: string;
  numClips: number;
  seed: number;
  model: string;
  apiKey: string;
  baseURL?: string;
  signal?: AbortSignal;
  ledger?: CostLedger;
  logger?: Logger;
  /** Per-request timeout (ms); a timed-out request is retried. Default 120 s (a 12-clip plan is long). */
  timeoutMs?: number;
  /** Retry policy for the API calls (default: src/lib/retry.ts's). */
  retryPolicy?: RetryPolicy;
}

const STAGE = 'storyboard';
const SCHEMA_NAME = 'storyboard_plan';
/** Longest provider/problem text kept in a note or a problem line (redacted first, then clipped). */
const MAX_TEXT = 300;
const MAX_PROBLEMS_PER_ANSWER = 20;

// ---------------------------------------------------------------------------------------------
// JSON schema for response_format, derived from the zod schema

/** Keywords OpenAI's strict structured outputs accept; anything else (default, minLength, $schema) is dropped. */
const STRICT_KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'anyOf',
  'description',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
]);

type JsonSchema = { [k: string]: unknown };

function strictify(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictify);
  if (!node || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node as JsonSchema)) {
    if (!STRICT_KEYWORDS.has(k)) continue;
    // z.int() says maximum: MAX_SAFE_INTEGER; it says nothing, and a strict grammar need not carry it
    if (k === 'maximum' && v === Number.MAX_SAFE_INTEGER) continue;
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as JsonSchema).map(([p, s]) => [p, strictify(s)]));
    else out[k] = strictify(v);
  }
  return out;
}

/** Strict mode's rules: every object closed, every property required. Throws on a schema that breaks them (a bug). */
function assertStrict(node: unknown, path = '$'): void {
  if (!node || typeof node !== 'object') return;
  const s = node as JsonSchema;
  if (s.type === 'object') {
    const props = Object.keys((s.properties as JsonSchema | undefined) ?? {});
    const req = new Set((s.required as string[] | undefined) ?? []);
    if (s.additionalProperties !== false) throw new Error(`storyboard JSON schema: ${path} must set additionalProperties: false`);
    const missing = props.filter((p) => !req.has(p));
    if (missing.length) throw new Error(`storyboard JSON schema: ${path} must require ${missing.join(', ')} (strict mode)`);
  }
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties') for (const [p, c] of Object.entries(v as JsonSchema)) assertStrict(c, `${path}.${p}`);
    else if (k === 'items') assertStrict(v, `${path}[]`);
    else if (k === 'anyOf' && Array.isArray(v)) v.forEach((c, i) => assertStrict(c, `${path}|${i}`));
  }
}

const ALL_DIRECTIONS = [...new Set(Object.values(MOVE_DIRECTIONS).flat())];

/** The base schema, checked once at load: z.toJSONSchema's output with the keywords strict mode refuses removed. */
const BASE_SCHEMA: JsonSchema = (() => {
  const s = strictify(z.toJSONSchema(StoryboardPlanSchema, { io: 'output', unrepresentable: 'throw' })) as JsonSchema;
  assertStrict(s);
  return s;
})();

const at = (s: JsonSchema, ...path: string[]): JsonSchema => {
  let n: unknown = s;
  for (const p of path) n = (n as JsonSchema)[p];
  if (!n || typeof n !== 'object') throw new Error(`storyboard JSON schema: no ${path.join('.')}`);
  return n as JsonSchema;
};

/**
 * The schema for one request: the base schema tightened where the grammar can say more than zod
 * does: exactly numClips clips numbered 1..numClips, directions from the vocabulary's union (each
 * move's own set is a rule validatePlan checks), descriptions on the fields a model gets wrong.
 */
export function planJsonSchema(numClips: number): JsonSchema {
  const s = structuredClone(BASE_SCHEMA);
  const clips = at(s, 'properties', 'clips');
  clips.minItems = numClips;
  clips.maxItems = numClips;
  const c = at(clips, 'items', 'properties');
  Object.assign(at(c, 'clip'), { minimum: 1, maximum: numClips, description: 'position in the plan: 1, 2, … N in order' });
  delete at(c, 'clip').exclusiveMinimum;
  Object.assign(at(c, 'depends_on'), { description: 'numbers of EARLIER clips this one follows from' });
  Object.assign(at(c, 'entities'), { description: 'ids from the top-level entities list' });
  const mv = at(c, 'shot', 'properties', 'movement', 'properties');
  Object.assign(at(mv, 'direction'), { enum: ALL_DIRECTIONS, description: 'one of the directions allowed for this move type' });
  Object.assign(at(mv, 'end_lens_mm'), { description: 'focal length at the end: equal to shot.lens_mm unless the move is a zoom' });
  Object.assign(at(mv, 'description'), { description: "the move in a director's words, naming no other camera move" });
  assertStrict(s);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Prompts

const list = (xs: readonly string[]) => xs.join(', ');

export const STORYBOARD_SYSTEM = `You are a film director and cinematographer planning a short video as a storyboard.
Answer with ONE JSON object matching the given schema, and nothing else.

The plan:
- style: one shared style block (look, light, colour grade) that every frame prompt will carry.
- entities: every recurring subject (character, animal, object, vehicle), each with an id
  (lowercase letters, digits, _ or -), a name, a visual description detailed enough to draw it
  the same way every time, and a consistency_group (lowercase id). Entities that must look
  identical in every frame share a group; usually each subject is its own group.
- clips: numbered 1..N in order, exactly as many as asked. Each clip has a description of what
  happens, a narrative_role (${list(NARRATIVE_ROLES)}; begin with establish, end with resolve), a
  background, the entity ids in it (only ids from the entities list), depends_on (numbers of
  EARLIER clips only, never itself or a later one; [] for none), and one shot.

Shot vocabulary (use these words exactly):
- size: ${SHOT_SIZES.map((s) => `${s} (${SHOT_SIZE_WORDS[s]})`).join(', ')}
- angle: ${list(ANGLES)}
- lens_mm: focal length in mm at the start of the clip; duration_s: seconds (a few, at most 60)
- transition (how this clip hands over to the next; the last clip's is how the piece ends): ${list(TRANSITIONS)}
- movement.speed: ${list(SPEEDS)}
- movement.type, ONE primary camera move per clip, with its allowed directions:
${MOVES.map((m) => `  - ${m}: ${MOVE_DIRECTIONS[m].join(' | ')}`).join('\n')}

Camera rules:
- One primary move per clip. movement.description says that move in a director's words and names
  no other camera move (no "pan then tilt", no "dolly in with a zoom"). Want two moves? Use two clips.
- A zoom changes the focal length with the camera fixed: end_lens_mm differs from lens_mm, longer
  for a zoom in, shorter for a zoom out.
- A dolly moves the camera toward (in) or away from (out) the subject with the focal length fixed.
  Every move that is not a zoom keeps end_lens_mm equal to lens_mm.
- pan and tilt turn the camera in place; truck moves it sideways and pedestal up or down; crane
  lifts or lowers it on an arm; orbit circles the subject; static is locked off (direction none);
  handheld is none or follow.`;

function userMessage(prompt: string, numClips: number): string {
  return `Plan exactly ${numClips} clip${numClips === 1 ? '' : 's'} (numbered 1..${numClips}) for this idea:\n\n${prompt}`;
}

function repairMessage(problems: string[], numClips: number): string {
  return [
    'That plan cannot be used. Problems:',
    ...problems.map((p) => `- ${p}`),
    '',
    `Reply with the whole corrected plan (exactly ${numClips} clips) as one JSON object matching the schema, and nothing else. Keep what was sound; fix every problem listed.`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Checking an answer

/** The JSON in a reply: the text itself, inside a ``` fence, or the outermost {...} when a model adds prose. */
function extractJson(content: string): unknown {
  const text = content.trim().replace(/^```(?:json)?\s*|\s*```$/g, '');
  try {
    return JSON.parse(text);
  } catch (e) {
    const i = text.indexOf('{');
    const j = text.lastIndexOf('}');
    if (i >= 0 && j > i) {
      try {
        return JSON.parse(text.slice(i, j + 1));
      } catch {
        /* report the first error */
      }
    }
    throw e;
  }
}

/** The plan, or the problems with the answer (never empty). */
export function checkPlanAnswer(content: string, numClips: number): { plan: StoryboardPlan } | { problems: string[] } {
  if (!content.trim()) return { problems: ['the reply was empty, not a JSON plan'] };
  let raw: unknown;
  try {
    raw = extractJson(content);
  } catch (e) {
    return { problems: [`the reply is not JSON (${(e as Error).message})`] };
  }
  const r = StoryboardPlanSchema.safeParse(raw);
  if (!r.success)
    return {
      problems: r.error.issues.slice(0, MAX_PROBLEMS_PER_ANSWER).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`),
    };
  const problems = validatePlan(r.data, numClips);
  return problems.length ? { problems: problems.slice(0, MAX_PROBLEMS_PER_ANSWER) } : { plan: r.data };
}

// ---------------------------------------------------------------------------------------------

const addCost = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((a + b) * 1e6) / 1e6);

export async function planWithLlm(o: LlmPlanOptions): Promise<LlmPlanResult> {
  if (!Number.isInteger(o.numClips) || o.numClips < 1 || o.numClips > MAX_CLIPS)
    throw usageError(`a storyboard has 1 to ${MAX_CLIPS} clips, not ${o.numClips}`);
  registerSecret(o.apiKey); // every redact() from here on knows it, even when it did not come from the env
  const unkeyed = (text: string) => (o.apiKey ? redact(text).split(o.apiKey).join('[redacted]') : redact(text));
  // provider text and our own: redacted first, then clipped, and never the key even if redact() missed it
  const scrub = (text: string, max = MAX_TEXT) => clip(unkeyed(text), max);
  // OpenAIChat logs provider error text; whatever logger the caller gave, no line carries the key
  const base = o.logger ?? silentLogger;
  const log: Logger = { info: (m) => base.info(unkeyed(m)), warn: (m) => base.warn(unkeyed(m)), debug: (m) => base.debug(unkeyed(m)) };

  const chat = new OpenAIChat({
    apiKey: o.apiKey,
    baseURL: o.baseURL,
    creativeModel: o.model,
    critiqueModel: o.model,
    ledger: o.ledger,
    stage: STAGE,
    logger: log,
    retryPolicy: o.retryPolicy,
    timeoutMs: o.timeoutMs ?? 120_000,
  });
  const schema = planJsonSchema(o.numClips);
  const params = (messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[]) => ({
    model: o.model,
    messages,
    temperature: 0.5,
    seed: o.seed,
    response_format: { type: 'json_schema' as const, json_schema: { name: SCHEMA_NAME, strict: true, schema } },
  });

  let attempts = 0;
  let calls = 0;
  let cost: number | null = 0;
  const problems: string[] = [];

  const fallback = (why: string): LlmPlanResult => {
    const note = scrub(`${why}; used the offline planner`, MAX_TEXT * 2);
    log.warn(`storyboard: ${note}`);
    return {
      plan: planOffline({ prompt: o.prompt, numClips: o.numClips, seed: o.seed }),
      planner: 'offline',
      note,
      attempts,
      problems,
      cost_usd: cost,
    };
  };

  /** One call; an API failure after the retries becomes a fallback reason (a string), a rejected key is thrown. */
  const call = async (role: string, messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[]): Promise<string | { error: string }> => {
    try {
      const r = await chat.complete(role, params(messages), o.signal);
      calls++;
      cost = addCost(cost, r.cost);
      return r.content;
    } catch (e) {
      if (o.signal?.aborted) throw e;
      if (e instanceof LoopError && e.kind === 'CONFIG') throw new LoopError('CONFIG', scrub(e.message, MAX_TEXT * 2));
      if (e instanceof LoopError) return { error: e.message };
      throw e;
    }
  };

  const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
    { role: 'system', content: STORYBOARD_SYSTEM },
    { role: 'user', content: userMessage(o.prompt, o.numClips) },
  ];
  log.debug(`storyboard: planning ${o.numClips} clips with ${o.model}`);
  const first = await call('storyboard planner', messages);
  if (typeof first !== 'string') return fallback(`LLM planner call failed (${first.error})`);
  attempts = 1;
  const c1 = checkPlanAnswer(first, o.numClips);
  if ('plan' in c1) return { plan: c1.plan, planner: 'openai', note: `planned by ${o.model}`, attempts, problems, cost_usd: cost };

  const p1 = c1.problems.map((p) => scrub(p));
  problems.push(...p1.map((p) => `attempt 1: ${p}`));
  log.debug(`storyboard: the plan from ${o.model} has ${p1.length} problem(s) (${p1[0]}); asking once for a repair`);
  const second = await call('storyboard planner (repair)', [
    ...messages,
    { role: 'assistant', content: first },
    { role: 'user', content: repairMessage(p1, o.numClips) },
  ]);
  if (typeof second !== 'string') return fallback(`LLM plan invalid (${p1[0]}) and the repair call failed (${second.error})`);
  attempts = 2;
  const c2 = checkPlanAnswer(second, o.numClips);
  if ('plan' in c2)
    return { plan: c2.plan, planner: 'openai', note: `planned by ${o.model} after one repair (fixed: ${p1[0]})`, attempts, problems, cost_usd: cost };
  const p2 = c2.problems.map((p) => scrub(p));
  problems.push(...p2.map((p) => `attempt 2: ${p}`));
  return fallback(`LLM plan invalid after one repair (${p2[0]})`);
}
