/**
 * The generic two-agent feedback loop: a creative agent writes, a critic scores, repeat until the
 * score reaches a threshold, stops improving, or the rounds run out. Nothing here knows about
 * images: the video-prompt stage reuses it with its own agents and critique type.
 */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  calls: number;
}

/** Two turns' (or calls') usage together. */
export const addUsage = (a: Usage, b: Usage): Usage => ({
  input_tokens: a.input_tokens + b.input_tokens,
  output_tokens: a.output_tokens + b.output_tokens,
  calls: a.calls + b.calls,
});
/** Two costs together, to the micro-dollar; unknown (null) if either is. */
export const addCost = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((a + b) * 1e6) / 1e6);

export interface AgentTurn<T> {
  output: T;
  /** Model id, or "offline-…" for rule-based agents. */
  model: string;
  usage: Usage;
  /** USD for this turn; null when a call could not be priced. */
  cost_usd: number | null;
  /** What the agent changed and why (creative agents), for the trace. */
  notes?: string[];
}

export interface CreativeInput<C> {
  original: string;
  /** The prompt of the previous round (null in round 1). */
  previous: string | null;
  /** The critique of the previous round (null in round 1). */
  critique: C | null;
  iteration: number;
  signal?: AbortSignal;
}

export interface CreativeAgent<C> {
  readonly name: string;
  create(input: CreativeInput<C>): Promise<AgentTurn<string>>;
}

export interface CriticAgent<C> {
  readonly name: string;
  critique(input: { prompt: string; original: string; iteration: number; signal?: AbortSignal }): Promise<AgentTurn<C>>;
}

export type StopReason = 'threshold_met' | 'no_improvement' | 'max_iterations';

export interface LoopIteration<C> {
  iteration: number;
  prompt: string;
  critique: C;
  overall: number;
  agent1: AgentTurn<string>;
  agent2: AgentTurn<C>;
  started_at: string;
  ended_at: string;
  duration_ms: number;
}

export interface LoopResult<C> {
  iterations: LoopIteration<C>[];
  /** The best-scoring round (earliest on ties): the one whose prompt is the result. */
  best: LoopIteration<C>;
  stopReason: StopReason;
}

export interface LoopOptions<C> {
  original: string;
  creative: CreativeAgent<C>;
  critic: CriticAgent<C>;
  overall: (c: C) => number;
  maxIterations: number;
  threshold: number;
  /** A round must beat the previous one by more than this to count as improvement (default 0). */
  minImprovement?: number;
  signal?: AbortSignal;
  onAgent1?: (iteration: number, turn: AgentTurn<string>) => Promise<void> | void;
  onAgent2?: (iteration: number, turn: AgentTurn<C>) => Promise<void> | void;
  onPhase?: (iteration: number, phase: 'agent1' | 'agent2', overall?: number) => void;
  /** Each finished round, so a caller still has the rounds so far if a later one throws. */
  onIteration?: (it: LoopIteration<C>) => void;
}

export async function runFeedbackLoop<C>(o: LoopOptions<C>): Promise<LoopResult<C>> {
  if (!Number.isInteger(o.maxIterations) || o.maxIterations < 1) throw new RangeError('maxIterations must be a positive integer');
  const its: LoopIteration<C>[] = [];
  let stopReason: StopReason = 'max_iterations';
  for (let i = 1; i <= o.maxIterations; i++) {
    o.signal?.throwIfAborted();
    const prev = its[its.length - 1];
    const start = new Date();
    const t0 = performance.now();
    o.onPhase?.(i, 'agent1');
    const agent1 = await o.creative.create({
      original: o.original,
      previous: prev?.prompt ?? null,
      critique: prev?.critique ?? null,
      iteration: i,
      signal: o.signal,
    });
    await o.onAgent1?.(i, agent1);
    o.onPhase?.(i, 'agent2');
    const agent2 = await o.critic.critique({ prompt: agent1.output, original: o.original, iteration: i, signal: o.signal });
    await o.onAgent2?.(i, agent2);
    const overall = o.overall(agent2.output);
    const it: LoopIteration<C> = {
      iteration: i,
      prompt: agent1.output,
      critique: agent2.output,
      overall,
      agent1,
      agent2,
      started_at: start.toISOString(),
      ended_at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - t0),
    };
    its.push(it);
    o.onIteration?.(it);
    if (overall >= o.threshold) {
      stopReason = 'threshold_met';
      break;
    }
    if (prev && !(overall > prev.overall + (o.minImprovement ?? 0))) {
      stopReason = 'no_improvement';
      break;
    }
  }
  const best = its.reduce((b, it) => (it.overall > b.overall ? it : b), its[0]!);
  return { iterations: its, best, stopReason };
}
