import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoopError } from '../../src/errors.js';
import type { Logger } from '../../src/lib/log.js';
import { CostLedger } from '../../src/runs/ledger.js';
import { checkPlanAnswer, planJsonSchema, planWithLlm, STORYBOARD_SYSTEM } from '../../src/storyboard/llm-planner.js';
import { planOffline } from '../../src/storyboard/offline-planner.js';
import { validatePlan, type StoryboardPlan } from '../../src/storyboard/plan.js';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';

// Not in process.env on purpose: the planner itself must keep it out of notes, problems and errors.
const KEY = 'sk-test-Storyboard9KEYNEVERSHOWN77';
const PROMPT = 'a lighthouse keeper climbs the stairs at dusk, lights the lamp, and watches a ship pass';
const N = 3;
const SEED = 42;

/** A sound 3-clip plan, written by hand (independent of either planner). */
function goodPlan(): StoryboardPlan {
  const shot = (o: Partial<StoryboardPlan['clips'][number]['shot']> & { movement: StoryboardPlan['clips'][number]['shot']['movement'] }) => ({
    size: 'WS' as const,
    angle: 'eye level' as const,
    lens_mm: 35,
    duration_s: 4,
    transition: 'cut' as const,
    ...o,
  });
  return {
    style: 'cool blue dusk, warm tungsten practicals, 35mm film grain',
    entities: [{ id: 'keeper', name: 'lighthouse keeper', description: 'an old man in a navy wool coat and grey beard', consistency_group: 'keeper' }],
    clips: [
      {
        clip: 1,
        description: 'The lighthouse on its rock at dusk, the keeper at the door',
        narrative_role: 'establish',
        background: 'a rocky headland at dusk',
        entities: ['keeper'],
        depends_on: [],
        shot: shot({ size: 'EWS', lens_mm: 24, movement: { type: 'dolly', direction: 'in', speed: 'slow', end_lens_mm: 24, description: 'slow push-in toward the door' } }),
      },
      {
        clip: 2,
        description: 'The keeper lights the lamp',
        narrative_role: 'climax',
        background: 'the lamp room',
        entities: ['keeper'],
        depends_on: [1],
        shot: shot({ size: 'MS', lens_mm: 50, movement: { type: 'zoom', direction: 'in', speed: 'medium', end_lens_mm: 85, description: 'a slow zoom in on his hands' } }),
      },
      {
        clip: 3,
        description: 'A ship passes under the beam',
        narrative_role: 'resolve',
        background: 'the sea at night',
        entities: ['keeper'],
        depends_on: [1, 2],
        shot: shot({ movement: { type: 'static', direction: 'none', speed: 'slow', end_lens_mm: 35, description: 'locked-off' } }),
      },
    ],
  };
}

/** Clip 2 is a zoom whose lens does not change. */
function zoomWithoutLensChange(): StoryboardPlan {
  const p = goodPlan();
  p.clips[1]!.shot.movement.end_lens_mm = p.clips[1]!.shot.lens_mm;
  return p;
}

/** Clip 1's description names a second move (a pan on top of the dolly). */
function twoMoves(): StoryboardPlan {
  const p = goodPlan();
  p.clips[0]!.shot.movement.description = 'slow push-in, then pan right to the sea';
  return p;
}

const json = (p: StoryboardPlan) => JSON.stringify(p);
const allMessages = (i: number) => JSON.stringify(fake.requests[i]!.body.messages);

let fake: FakeOpenAIServer;
let logged: string[];
let logger: Logger;
beforeEach(async () => {
  fake = await startFakeOpenAI();
  logged = [];
  logger = { info: (m) => void logged.push(m), warn: (m) => void logged.push(m), debug: (m) => void logged.push(m) };
});
afterEach(() => fake.close());

const run = (extra: Partial<Parameters<typeof planWithLlm>[0]> = {}) =>
  planWithLlm({
    prompt: PROMPT,
    numClips: N,
    seed: SEED,
    model: 'gpt-4o',
    apiKey: KEY,
    baseURL: fake.baseURL,
    logger,
    retryPolicy: { retries: 1, baseMs: 5, maxMs: 10 },
    timeoutMs: 5_000,
    ...extra,
  });

function assertNoKey(r: unknown) {
  expect(JSON.stringify(r)).not.toContain(KEY);
  for (const l of logged) expect(l).not.toContain(KEY);
}

describe('the JSON schema sent to the model', () => {
  it('is strict-compatible: every object closed with all keys required, no default/minLength/$schema', () => {
    const s = planJsonSchema(N);
    const walk = (n: unknown, path: string) => {
      if (!n || typeof n !== 'object') return;
      if (Array.isArray(n)) return n.forEach((c, i) => walk(c, `${path}[${i}]`));
      const o = n as Record<string, unknown>;
      for (const bad of ['default', 'minLength', 'maxLength', '$schema', 'format']) expect(o, `${path} has ${bad}`).not.toHaveProperty(bad);
      if (o.type === 'object') {
        expect(o.additionalProperties, path).toBe(false);
        expect([...(o.required as string[])].sort(), path).toEqual(Object.keys(o.properties as object).sort());
      }
      for (const [k, v] of Object.entries(o)) if (k !== 'enum') walk(v, `${path}.${k}`);
    };
    walk(s, '$');
    const clips = (s.properties as any).clips; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect([clips.minItems, clips.maxItems]).toEqual([N, N]);
    expect(clips.items.properties.clip).toMatchObject({ type: 'integer', minimum: 1, maximum: N });
    expect(clips.items.properties.shot.properties.movement.properties.type.enum).toContain('zoom');
  });

  it('the system prompt explains the vocabulary and the rules', () => {
    for (const w of ['dolly', 'zoom', 'orbit', 'pedestal', 'EWS', 'match cut', 'consistency_group', 'EARLIER', 'One primary move per clip'])
      expect(STORYBOARD_SYSTEM).toContain(w);
    expect(STORYBOARD_SYSTEM).toMatch(/zoom changes the focal length/);
    expect(STORYBOARD_SYSTEM).toMatch(/dolly moves the camera/);
  });

  it('checkPlanAnswer accepts a fenced plan and names what is wrong otherwise', () => {
    expect(checkPlanAnswer('```json\n' + json(goodPlan()) + '\n```', N)).toEqual({ plan: goodPlan() });
    expect(checkPlanAnswer('Here is the plan:\n' + json(goodPlan()), N)).toEqual({ plan: goodPlan() });
    expect(checkPlanAnswer(json(goodPlan()), 4)).toEqual({ problems: ['plan has 3 clips, 4 were asked for'] });
    const r = checkPlanAnswer(JSON.stringify({ style: 'x', entities: [], clips: [] }), N);
    expect('problems' in r && r.problems[0]).toMatch(/^clips: /);
  });
});

describe('planWithLlm against a fake OpenAI server (real SDK)', () => {
  it('a valid plan: planner openai, 1 attempt, json_schema response_format and the model in the request, cost in the ledger', async () => {
    fake.enqueue({ content: json(goodPlan()), usage: { prompt_tokens: 1000, completion_tokens: 400 } });
    const ledger = new CostLedger();
    const r = await run({ ledger });
    expect(r.planner).toBe('openai');
    expect(r.attempts).toBe(1);
    expect(r.problems).toEqual([]);
    expect(r.plan).toEqual(goodPlan());
    expect(r.note).toBe('planned by gpt-4o');
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.body.model).toBe('gpt-4o');
    expect(req.body.seed).toBe(SEED);
    expect(req.body.response_format.type).toBe('json_schema');
    expect(req.body.response_format.json_schema).toMatchObject({ name: 'storyboard_plan', strict: true });
    expect(req.body.response_format.json_schema.schema).toEqual(planJsonSchema(N));
    expect(req.body.messages[0]).toMatchObject({ role: 'system' });
    expect(allMessages(0)).toContain(PROMPT);
    expect(allMessages(0)).toContain('exactly 3 clips');
    // gpt-4o: 1000 * 2.5 / 1e6 + 400 * 10 / 1e6
    expect(r.cost_usd).toBeCloseTo(0.0065, 9);
    expect(ledger.entries.map((e) => [e.stage, e.provider, e.model, e.input_tokens, e.output_tokens])).toEqual([['storyboard', 'openai', 'gpt-4o', 1000, 400]]);
    assertNoKey(r);
  });

  it('a zoom with an unchanged lens, then a valid plan after the repair turn: 2 attempts, the problems went back', async () => {
    const bad = json(zoomWithoutLensChange());
    fake.enqueue({ content: bad }, { content: json(goodPlan()) });
    const ledger = new CostLedger();
    const r = await run({ ledger });
    expect(r.planner).toBe('openai');
    expect(r.attempts).toBe(2);
    expect(r.plan).toEqual(goodPlan());
    expect(r.problems).toEqual(['attempt 1: clip 2: a zoom changes focal length: end_lens_mm must differ from lens_mm']);
    expect(r.note).toMatch(/after one repair \(fixed: clip 2: a zoom changes focal length/);
    expect(fake.requests).toHaveLength(2);
    const msgs = fake.requests[1]!.body.messages as Array<{ role: string; content: string }>;
    // the same conversation: system, user, the bad answer, the problems
    expect(msgs.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(msgs[2]!.content).toBe(bad);
    expect(msgs[3]!.content).toContain('clip 2: a zoom changes focal length: end_lens_mm must differ from lens_mm');
    expect(fake.requests[1]!.body.response_format.type).toBe('json_schema');
    expect(ledger.entries).toHaveLength(2);
    expect(r.cost_usd).toBeCloseTo(2 * (100 * 2.5 + 50 * 10) / 1e6, 9);
    assertNoKey(r);
  });

  it('two moves named in one description, then valid after the repair', async () => {
    fake.enqueue({ content: json(twoMoves()) }, { content: json(goodPlan()) });
    const r = await run();
    expect(r.planner).toBe('openai');
    expect(r.attempts).toBe(2);
    expect(r.problems).toEqual(["attempt 1: clip 1: one primary camera move per clip: the dolly's description also names pan"]);
    expect(allMessages(1)).toContain("the dolly's description also names pan");
  });

  it('invalid twice: falls back to the offline planner (same plan as planOffline for the seed), and says so', async () => {
    fake.enqueue({ content: json(zoomWithoutLensChange()) }, { content: json(twoMoves()) });
    const r = await run();
    expect(r.planner).toBe('offline');
    expect(r.attempts).toBe(2);
    expect(r.note).toBe("LLM plan invalid after one repair (clip 1: one primary camera move per clip: the dolly's description also names pan); used the offline planner");
    expect(r.problems).toEqual([
      'attempt 1: clip 2: a zoom changes focal length: end_lens_mm must differ from lens_mm',
      "attempt 2: clip 1: one primary camera move per clip: the dolly's description also names pan",
    ]);
    expect(r.plan).toEqual(planOffline({ prompt: PROMPT, numClips: N, seed: SEED }));
    expect(validatePlan(r.plan, N)).toEqual([]);
    expect(fake.requests).toHaveLength(2);
    expect(logged.some((l) => l.includes('used the offline planner'))).toBe(true);
    assertNoKey(r);
  });

  it('a reply that is not JSON (twice): falls back', async () => {
    fake.respond(() => ({ content: 'Sure! Clip 1 opens on the lighthouse, clip 2…' }));
    const r = await run();
    expect(r.planner).toBe('offline');
    expect(r.attempts).toBe(2);
    expect(r.note).toMatch(/^LLM plan invalid after one repair \(the reply is not JSON \(.+\)\); used the offline planner$/);
    expect(r.problems[0]).toMatch(/^attempt 1: the reply is not JSON/);
    expect(r.plan).toEqual(planOffline({ prompt: PROMPT, numClips: N, seed: SEED }));
    expect(allMessages(1)).toContain('the reply is not JSON');
  });

  it('a wrong shape (schema failure) gets the repair turn too', async () => {
    fake.enqueue({ content: JSON.stringify({ style: 'x', entities: [], clips: [{ clip: 1 }] }) }, { content: json(goodPlan()) });
    const r = await run();
    expect(r.planner).toBe('openai');
    expect(r.attempts).toBe(2);
    expect(r.problems[0]).toMatch(/^attempt 1: clips\.0\.description: /);
  });

  it('401: a CONFIG LoopError, not a fallback, and the key is not in the message', async () => {
    fake.enqueue({ status: 401, body: { error: { message: `Incorrect API key provided: ${KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } } });
    const err = await run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoopError);
    expect((err as LoopError).kind).toBe('CONFIG');
    expect((err as LoopError).message).toMatch(/rejected the API key/);
    expect((err as LoopError).message).not.toContain(KEY);
    expect(String((err as LoopError).stack)).not.toContain(KEY);
    expect(fake.requests).toHaveLength(1); // not retried
    for (const l of logged) expect(l).not.toContain(KEY);
  });

  it('403 on the repair turn is a CONFIG error too', async () => {
    fake.enqueue({ content: json(zoomWithoutLensChange()) }, { status: 403 });
    await expect(run()).rejects.toMatchObject({ kind: 'CONFIG' });
  });

  it('5xx after the retries: falls back with the reason, the key scrubbed from the provider text', async () => {
    fake.respond(() => ({ status: 500, body: { error: { message: `upstream exploded for key ${KEY}`, type: 'server_error' } } }));
    const r = await run();
    expect(r.planner).toBe('offline');
    expect(r.attempts).toBe(0);
    expect(r.cost_usd).toBe(0);
    expect(r.note).toMatch(/^LLM planner call failed \(.*HTTP 500.*\); used the offline planner$/);
    expect(r.note).toContain('[redacted]');
    expect(fake.requests).toHaveLength(2); // the first try and one retry
    expect(r.plan).toEqual(planOffline({ prompt: PROMPT, numClips: N, seed: SEED }));
    assertNoKey(r);
  });

  it('the key never appears in notes or problems, even when the model echoes it', async () => {
    const withKey = () => {
      const p = goodPlan();
      p.clips[0]!.shot.movement.direction = KEY; // validatePlan quotes the bad direction
      p.clips[2]!.entities = [KEY];
      return p;
    };
    fake.enqueue({ content: json(withKey()) }, { content: json(withKey()) });
    const r = await run();
    expect(r.planner).toBe('offline');
    expect(r.problems.length).toBeGreaterThanOrEqual(4);
    expect(r.problems.join('\n')).toContain('[redacted]');
    // and the repair message sent back did not carry it either
    expect(fake.requests[1]!.body.messages[3].content).not.toContain(KEY);
    assertNoKey(r);
  });

  it('an aborted signal rejects instead of falling back', async () => {
    fake.respond(() => ({ delayMs: 2_000, content: json(goodPlan()) }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user cancelled')), 100);
    await expect(run({ signal: ac.signal })).rejects.toThrow();
  });

  it('refuses a clip count outside 1..MAX_CLIPS before any request', async () => {
    await expect(run({ numClips: 0 })).rejects.toMatchObject({ kind: 'USAGE' });
    await expect(run({ numClips: 99 })).rejects.toMatchObject({ kind: 'USAGE' });
    expect(fake.requests).toHaveLength(0);
  });
});
