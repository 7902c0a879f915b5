import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enhanceImagePrompt, PromptTraceSummarySchema, resolveAgentBackend } from '../../src/prompt/enhance.js';
import { runFeedbackLoop, type CreativeAgent, type CriticAgent } from '../../src/prompt/loop.js';
import { withOverall, type Critique } from '../../src/prompt/types.js';
import { LoopError } from '../../src/errors.js';

/** Fake agents: the critic returns a scripted overall per round. */
function scripted(overalls: number[]) {
  let round = 0;
  const calls: string[] = [];
  const creative: CreativeAgent<Critique> = {
    name: 'fake-creative',
    async create({ iteration, previous, critique }) {
      calls.push(`create ${iteration} prev=${previous !== null} crit=${critique?.scores.overall ?? '-'}`);
      return { output: `prompt v${iteration}`, model: 'fake', usage: { input_tokens: 10, output_tokens: 5, calls: 1 }, cost_usd: 0.001 };
    },
  };
  const critic: CriticAgent<Critique> = {
    name: 'fake-critic',
    async critique() {
      const o = overalls[round++]!;
      const scores = withOverall({ completeness: o, specificity: o, professionalism: o, cinematography: o, brand_alignment: null });
      return { output: { scores, feedback: [`round ${round}`], flags: [] }, model: 'fake', usage: { input_tokens: 20, output_tokens: 8, calls: 1 }, cost_usd: 0.002 };
    },
  };
  return { creative, critic, calls };
}

const run = (overalls: number[], max: number, threshold: number) => {
  const s = scripted(overalls);
  return runFeedbackLoop({ original: 'x', creative: s.creative, critic: s.critic, overall: (c) => c.scores.overall, maxIterations: max, threshold }).then((r) => ({ ...r, calls: s.calls }));
};

describe('feedback loop', () => {
  it('stops when the threshold is met', async () => {
    const r = await run([60, 86, 95], 5, 85);
    expect(r.stopReason).toBe('threshold_met');
    expect(r.iterations.map((i) => i.overall)).toEqual([60, 86]);
    expect(r.best.iteration).toBe(2);
    expect(r.calls[1]).toBe('create 2 prev=true crit=60');
  });

  it('stops when a round does not improve, and keeps the best round', async () => {
    const r = await run([60, 70, 65, 90], 5, 85);
    expect(r.stopReason).toBe('no_improvement');
    expect(r.iterations).toHaveLength(3);
    expect(r.best.iteration).toBe(2);
  });

  it('an equal score is no improvement', async () => {
    const r = await run([60, 60], 5, 85);
    expect(r.stopReason).toBe('no_improvement');
    expect(r.iterations).toHaveLength(2);
    expect(r.best.iteration).toBe(1);
  });

  it('stops at max iterations', async () => {
    const r = await run([10, 20, 30, 40], 3, 85);
    expect(r.stopReason).toBe('max_iterations');
    expect(r.iterations).toHaveLength(3);
    expect(r.best.iteration).toBe(3);
  });
});

const tmp = () => mkdtempSync(join(tmpdir(), 'loop-trace-'));

describe('enhanceImagePrompt trace', () => {
  it('writes the seed\'s numbered files and a summary that matches the schema', async () => {
    const dir = tmp();
    const s = scripted([50, 60, 70]);
    const summary = await enhanceImagePrompt({
      prompt: 'a cat on a windowsill', runDir: dir, maxIterations: 3, threshold: 99, backend: 'offline',
      creativeModel: 'gpt-4o', critiqueModel: 'gpt-4o', agents: { creative: s.creative, critic: s.critic },
    });
    expect(readdirSync(dir).sort()).toEqual([
      '00_original_prompt.txt', '01_agent1_iteration_1.txt', '02_agent2_iteration_1.txt', '03_agent1_iteration_2.txt',
      '04_agent2_iteration_2.txt', '05_agent1_iteration_3.txt', '06_agent2_iteration_3.txt', '07_final_enhanced_prompt.txt',
      'final_enhanced_prompt.txt', 'prompt_trace_summary.json',
    ]);
    // the same final prompt under a name that does not depend on the number of rounds
    expect(readFileSync(join(dir, 'final_enhanced_prompt.txt'), 'utf8')).toBe('prompt v3\n');
    expect(summary.files.slice(-3)).toEqual(['07_final_enhanced_prompt.txt', 'final_enhanced_prompt.txt', 'prompt_trace_summary.json']);
    const onDisk = PromptTraceSummarySchema.parse(JSON.parse(readFileSync(join(dir, 'prompt_trace_summary.json'), 'utf8')));
    expect(onDisk).toEqual(summary);
    expect(summary.stop_reason).toBe('max_iterations');
    expect(summary.final_prompt).toBe('prompt v3');
    expect(summary.final_prompt_file).toBe('07_final_enhanced_prompt.txt');
    expect(readFileSync(join(dir, '07_final_enhanced_prompt.txt'), 'utf8')).toBe('prompt v3\n');
    expect(readFileSync(join(dir, '00_original_prompt.txt'), 'utf8')).toBe('a cat on a windowsill\n');
    expect(summary.iterations.map((i) => [i.agent1_file, i.agent2_file, i.scores.overall, i.cost_usd])).toEqual([
      ['01_agent1_iteration_1.txt', '02_agent2_iteration_1.txt', 50, 0.003],
      ['03_agent1_iteration_2.txt', '04_agent2_iteration_2.txt', 60, 0.003],
      ['05_agent1_iteration_3.txt', '06_agent2_iteration_3.txt', 70, 0.003],
    ]);
    expect(summary.iterations[0]!.usage).toEqual({ input_tokens: 30, output_tokens: 13, calls: 2 });
    expect(summary.brand).toBeNull();
    expect(summary.brand_note).toMatch(/neutral/);
    expect(readFileSync(join(dir, '02_agent2_iteration_1.txt'), 'utf8')).toMatch(/overall:\s+50/);
  });

  it('offline: says it is rule-based, improves the prompt, and records its choice of stop', async () => {
    const dir = tmp();
    const summary = await enhanceImagePrompt({ prompt: 'a lighthouse keeper climbing spiral stairs', runDir: dir, maxIterations: 5, threshold: 100, backend: 'offline', creativeModel: 'gpt-4o', critiqueModel: 'gpt-4o' });
    expect(summary.backend_note).toMatch(/rule-based.*no LLM/);
    expect(summary.models).toEqual({ creative: 'offline-cinematographer', critique: 'offline-rubric-critic' });
    expect(summary.stop_reason).toBe('no_improvement');
    expect(summary.final_scores!.overall).toBeGreaterThan(summary.initial_assessment.scores.overall + 40);
    expect(summary.iterations[1]!.scores.overall).toBeGreaterThan(summary.iterations[0]!.scores.overall);
    expect(summary.cost.total_cost_usd).toBe(0);
    expect(summary.final_prompt).toMatch(/^A lighthouse keeper climbing spiral stairs/);
  });

  it('skips enhancement when the initial assessment reaches the skip threshold', async () => {
    const dir = tmp();
    const good =
      'A ginger cat dozing on a sunlit windowsill in the late afternoon. A medium close-up from an eye-level angle, composed on the rule of thirds. Shot on a Canon EOS R5 with an 85mm portrait lens at f/2. Lit by soft afternoon window light from camera left, warm at about 4500K. Kodak Portra 400 film look with a warm, natural grade. The mood is calm and cozy. Framed for a 4:5 vertical aspect ratio.';
    const summary = await enhanceImagePrompt({ prompt: good, runDir: dir, maxIterations: 3, threshold: 85, backend: 'offline', creativeModel: 'm', critiqueModel: 'm' });
    expect(summary.skipped_enhancement).toBe(true);
    expect(summary.stop_reason).toBe('initial_score_above_skip_threshold');
    expect(summary.iterations).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['00_original_prompt.txt', '01_final_enhanced_prompt.txt', 'final_enhanced_prompt.txt', 'prompt_trace_summary.json']);
    expect(readFileSync(join(dir, 'final_enhanced_prompt.txt'), 'utf8')).toBe(`${good}\n`);
    // no --aspect-ratio: the ratio the prompt names is recorded (generate-images <trace dir> renders at it)
    expect(summary.aspect_ratio).toBe('4:5');
    const notSkipped = await enhanceImagePrompt({ prompt: good, runDir: tmp(), maxIterations: 1, threshold: 85, skipThreshold: 101, backend: 'offline', creativeModel: 'm', critiqueModel: 'm' });
    expect(notSkipped.skipped_enhancement).toBe(false);
    expect(notSkipped.total_iterations).toBe(1);
  });

  it('an agent failure leaves the rounds so far and an error summary, but no final file', async () => {
    const dir = tmp();
    const s = scripted([50]);
    const failing: CriticAgent<Critique> = {
      name: 'flaky',
      async critique(i) {
        if (i.iteration === 2) throw new LoopError('REMOTE', 'critic down');
        return s.critic.critique(i);
      },
    };
    await expect(
      enhanceImagePrompt({ prompt: 'a cat', runDir: dir, maxIterations: 3, threshold: 99, backend: 'offline', creativeModel: 'm', critiqueModel: 'm', agents: { creative: s.creative, critic: failing } }),
    ).rejects.toMatchObject({ kind: 'REMOTE', message: expect.stringContaining('critic down') });
    expect(readdirSync(dir).sort()).toEqual(['00_original_prompt.txt', '01_agent1_iteration_1.txt', '02_agent2_iteration_1.txt', '03_agent1_iteration_2.txt', 'prompt_trace_summary.json']);
    const summary = PromptTraceSummarySchema.parse(JSON.parse(readFileSync(join(dir, 'prompt_trace_summary.json'), 'utf8')));
    expect(summary.stop_reason).toBe('error');
    expect(summary.error).toEqual({ kind: 'REMOTE', message: 'critic down' });
    expect(summary.final_prompt).toBeNull();
    expect(summary.iterations).toHaveLength(1);
    expect(existsSync(join(dir, '04_final_enhanced_prompt.txt'))).toBe(false);
    expect(existsSync(join(dir, 'final_enhanced_prompt.txt'))).toBe(false);
  });
});

describe('resolveAgentBackend', () => {
  it('picks openai with a key, offline without, and refuses openai without a key', () => {
    expect(resolveAgentBackend(undefined, { OPENAI_API_KEY: 'sk-x' })).toBe('openai');
    expect(resolveAgentBackend(undefined, { OPENAI_API_KEY: undefined })).toBe('offline');
    expect(resolveAgentBackend('offline', { OPENAI_API_KEY: 'sk-x' })).toBe('offline');
    expect(() => resolveAgentBackend('openai', { OPENAI_API_KEY: undefined })).toThrow(/--backend offline/);
    try {
      resolveAgentBackend('openai', { OPENAI_API_KEY: undefined });
    } catch (e) {
      expect((e as LoopError).kind).toBe('CONFIG');
    }
  });
});
