import { createInterface } from 'node:readline/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Env } from '../src/config/env.js';
import { checkConfig } from '../src/config/check.js';
import { ExitCode, LoopError } from '../src/errors.js';
import { termSafe } from '../src/lib/terminal.js';
import { resolveRunDir } from '../src/workflow/run-paths.js';
import type { StageSummary } from '../src/workflow/types.js';
import { QueueContext } from '../queues/context.js';
import type { RunSpec } from '../queues/payloads.js';
import { answerGate, openGate, type OpenGate } from '../queues/review.js';
import { getRunSpec } from '../queues/runs.js';
import { assertRedisReachable } from '../queues/connection.js';
import { parseOptions } from './shared.js';

/**
 * `loop review <run-id>` answers a run's review gate from any terminal or machine that reaches its
 * Redis; `loop run --interactive` asks the same questions in its own terminal (askAtGates).
 */
const ReviewFlags = z.object({
  continue: z.boolean().default(false),
  regenerate: z.enum(['images', 'videos']).optional(),
  stop: z.boolean().default(false),
  feedback: z.string().trim().min(1).max(2000).optional(),
  json: z.boolean().default(false),
});

/** What the gate asks about, in a few lines: the best output and its score. */
function describe(g: OpenGate, spec: RunSpec, env: Pick<Env, 'LOOP_OUTPUT_DIR'>): string[] {
  const s = g.state.summary as StageSummary;
  const dir = resolveRunDir(spec.run_dir, env.LOOP_OUTPUT_DIR);
  const lines = [`run ${spec.run_id} waits at the ${g.gate} review${g.state.round ? ` (after regeneration ${g.state.round})` : ''}`];
  if (s?.stage === 'image-scoring') {
    const best = s.outputs.best_image;
    const score = (s.scores as { best_overall?: number }).best_overall;
    if (best) lines.push(`  best image: ${join(dir, best)}${typeof score === 'number' ? ` (overall ${score.toFixed(1)})` : ''}`);
    lines.push(`  all images: ${join(dir, s.outputs.generation_dir)}`);
  } else if (s?.stage === 'video-scoring') {
    for (const [clip, f] of Object.entries(s.outputs.best_per_clip)) lines.push(`  best video of ${clip}: ${f ? join(dir, f) : 'none scorable'}`);
  }
  lines.push(`  report: ${join(dir, 'report.html')}`);
  return lines.map((l) => termSafe(l));
}

export async function reviewCommand(runId: string, raw: Record<string, unknown>): Promise<number> {
  const f = parseOptions(ReviewFlags, raw);
  const chosen = [f.continue && 'continue', f.regenerate && 'regenerate', f.stop && 'stop'].filter(Boolean) as ('continue' | 'regenerate' | 'stop')[];
  if (chosen.length > 1) throw new LoopError('USAGE', 'give one of --continue, --regenerate images|videos, --stop');
  if (f.feedback && !f.regenerate && !f.stop) throw new LoopError('USAGE', '--feedback goes with --regenerate (or --stop, to say why)');
  const env = checkConfig();
  await assertRedisReachable(env.REDIS_URL);
  const ctx = new QueueContext(env.REDIS_URL, env.LOOP_QUEUE_PREFIX);
  try {
    const spec = await getRunSpec(ctx, runId);
    if (!chosen.length) {
      const g = await openGate(ctx, spec);
      if (f.json) process.stdout.write(JSON.stringify(g ? { run_id: spec.run_id, waiting: true, gate: g.gate, round: g.state.round, asked_at: g.state.asked_at } : { run_id: spec.run_id, waiting: false }) + '\n');
      else if (!g) process.stdout.write(`run ${spec.run_id} is not waiting at a review gate\n`);
      else process.stdout.write([...describe(g, spec, env), `answer: loop review ${spec.run_id} --continue | --regenerate ${g.gate} --feedback "…" | --stop`].join('\n') + '\n');
      return ExitCode.OK;
    }
    const action = chosen[0]!;
    const open = await openGate(ctx, spec);
    if (open && f.regenerate && f.regenerate !== open.gate) throw new LoopError('USAGE', `run ${spec.run_id} waits at the ${open.gate} review, not the ${f.regenerate} one`);
    const g = await answerGate(ctx, spec, { action, feedback: f.feedback ?? null, by: 'loop review' });
    if (f.json) process.stdout.write(JSON.stringify({ run_id: spec.run_id, gate: g.gate, round: g.state.round, answer: g.state.answer }) + '\n');
    else process.stdout.write(`run ${spec.run_id}: ${action} at the ${g.gate} review\n`);
    return ExitCode.OK;
  } finally {
    await ctx.close();
  }
}

/**
 * --interactive: while the run goes, ask at each gate in this terminal. `pause` silences the
 * progress lines while a question is open. Stops when `signal` aborts (the run ended).
 */
export async function askAtGates(ctx: QueueContext, spec: RunSpec, env: Pick<Env, 'LOOP_OUTPUT_DIR'>, o: { signal: AbortSignal; pause(on: boolean): void }): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const onAbort = () => rl.close();
  o.signal.addEventListener('abort', onAbort, { once: true });
  const asked = new Set<string>();
  try {
    while (!o.signal.aborted) {
      const g = await openGate(ctx, spec).catch(() => null);
      if (!g || asked.has(g.state.asked_at)) {
        await new Promise((r) => setTimeout(r, 300));
        continue;
      }
      asked.add(g.state.asked_at);
      o.pause(true);
      try {
        process.stderr.write(describe(g, spec, env).join('\n') + '\n');
        const yes = async (q: string) => /^y(es)?$/i.test((await rl.question(`${q} (y/n) `)).trim());
        let answer: { action: 'continue' | 'regenerate' | 'stop'; feedback: string | null };
        if (await yes('Continue to next stage?')) answer = { action: 'continue', feedback: null };
        else if (await yes(`Regenerate ${g.gate} with feedback?`)) {
          let fb = '';
          while (!fb) fb = (await rl.question('Feedback: ')).trim();
          answer = { action: 'regenerate', feedback: fb.slice(0, 2000) };
        } else answer = { action: 'stop', feedback: null };
        await answerGate(ctx, spec, { ...answer, by: 'terminal' });
      } finally {
        o.pause(false);
      }
    }
  } catch (e) {
    if (!o.signal.aborted) throw e;
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    rl.close();
  }
}
