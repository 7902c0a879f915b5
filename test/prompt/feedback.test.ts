import { describe, expect, it } from 'vitest';
import { applyFeedback, applyMotionFeedback, withFeedback } from '../../src/prompt/feedback.js';
import type { CreativeAgent } from '../../src/prompt/loop.js';
import type { Critique } from '../../src/prompt/types.js';

const P =
  'A cat on a windowsill. A medium shot from an eye-level angle. Lit by soft afternoon window light streaming in from camera left, neutral at about 4800K. The mood is serene. Framed for a 16:9 aspect ratio.';

describe('review feedback through the offline agent', () => {
  it('each clause with a rule changes the prompt where it belongs; the aspect sentence stays last', () => {
    const r = applyFeedback(P, 'warmer light, less clutter and closer');
    expect(r.prompt).toMatch(/warm at about 3200K/);
    expect(r.prompt).not.toMatch(/neutral at about 4800K/);
    expect(r.prompt).toMatch(/A medium close-up from/);
    expect(r.prompt).toMatch(/clean and uncluttered/);
    expect(r.prompt.endsWith('Framed for a 16:9 aspect ratio.')).toBe(true);
    expect(r.notes).toHaveLength(3);
  });

  it('a clause without a rule stays out of the prompt and is named in the notes', () => {
    const r = applyFeedback(P, 'more whimsy');
    expect(r.prompt).toBe(P);
    expect(r.notes[0]).toMatch(/no rule for it/);
  });

  it('motion feedback: a slower, steadier move through the storyboard vocabulary\'s speeds', () => {
    const m = 'The camera makes one medium dolly in (toward the subject), a single continuous move. Framed for a 16:9 aspect ratio.';
    const r = applyMotionFeedback(m, 'slower, smoother; more whimsy');
    expect(r.prompt).toMatch(/one slow dolly in/);
    expect(r.prompt).toMatch(/glides without shake/);
    expect(r.notes.at(-1)).toMatch(/"more whimsy".*no rule/);
    expect(applyMotionFeedback(m, 'faster').prompt).toMatch(/one fast dolly in/);
  });

  it('an LLM agent gets the feedback as the first critique line, and in round 1 the prompt it revises', async () => {
    const seen: Parameters<CreativeAgent<Critique>['create']>[0][] = [];
    const llm: CreativeAgent<Critique> = { name: 'llm', create: async (i) => (seen.push(i), { output: 'x', model: 'm', usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 }) };
    const a = withFeedback(llm, 'warmer light', { offline: false, revising: P });
    await a.create({ original: 'a cat', previous: null, critique: null, iteration: 1 });
    expect(seen[0]!.previous).toBe(P);
    expect(seen[0]!.critique!.feedback[0]).toMatch(/Reviewer feedback .*warmer light/);
  });
});
