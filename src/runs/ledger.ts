/**
 * The cost ledger and stage timings every stage shares. A ledger is plain data so that it can be
 * written into any trace and merged across stages (a workflow sums its stages' ledgers).
 */
export type CostKind = 'tokens' | 'image' | 'video_seconds' | 'none';

export interface CostEntry {
  stage: string;
  provider: string; // openai | replicate | offline | sketch | …
  model: string;
  kind: CostKind;
  input_tokens?: number;
  output_tokens?: number;
  units?: number; // images or video seconds
  /** USD; null when the model has no price in the table (then `note` says so). */
  cost_usd: number | null;
  note?: string;
  at: string;
}

export interface StageTiming {
  stage: string;
  started_at: string;
  ended_at: string;
  duration_ms: number;
}

export class CostLedger {
  readonly entries: CostEntry[] = [];

  record(entry: Omit<CostEntry, 'at'> & { at?: string }): CostEntry {
    const e: CostEntry = { ...entry, at: entry.at ?? new Date().toISOString() };
    this.entries.push(e);
    return e;
  }

  total(): number {
    return round6(this.entries.reduce((s, e) => s + (e.cost_usd ?? 0), 0));
  }

  /** True when some entry could not be priced, so the total is a lower bound. */
  hasUnpriced(): boolean {
    return this.entries.some((e) => e.cost_usd === null);
  }

  byStage(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.entries) out[e.stage] = round6((out[e.stage] ?? 0) + (e.cost_usd ?? 0));
    return out;
  }

  tokens(): { input: number; output: number } {
    let input = 0;
    let output = 0;
    for (const e of this.entries) {
      input += e.input_tokens ?? 0;
      output += e.output_tokens ?? 0;
    }
    return { input, output };
  }

  toJSON() {
    return {
      total_cost_usd: this.total(),
      total_is_lower_bound: this.hasUnpriced(),
      by_stage: this.byStage(),
      tokens: this.tokens(),
      entries: this.entries,
    };
  }
}

export class StageTimer {
  readonly timings: StageTiming[] = [];

  async time<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const start = new Date();
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.timings.push({
        stage,
        started_at: start.toISOString(),
        ended_at: new Date().toISOString(),
        duration_ms: Math.round(performance.now() - t0),
      });
    }
  }

  total(): number {
    return this.timings.reduce((s, t) => s + t.duration_ms, 0);
  }
}

export const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
