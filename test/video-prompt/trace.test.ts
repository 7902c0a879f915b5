import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CreativeAgent, CriticAgent } from '../../src/prompt/loop.js';
import { CostLedger } from '../../src/runs/ledger.js';
import { videoRubricCritique } from '../../src/video-prompt/critic.js';
import { enhanceVideoPrompt, VideoPromptSummarySchema, type EnhanceVideoOptions } from '../../src/video-prompt/enhance.js';
import type { VideoCritique } from '../../src/video-prompt/types.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'loop-vp-trace-'));
const opts = (runDir: string, extra: Partial<EnhanceVideoOptions> = {}): EnhanceVideoOptions => ({
  prompt: 'a cyclist rides along a coastal road, epic',
  runDir,
  maxIterations: 3,
  threshold: 100,
  backend: 'offline',
  creativeModel: 'gpt-4o',
  critiqueModel: 'gpt-4o',
  ...extra,
});
const readSummary = (dir: string) => VideoPromptSummarySchema.parse(JSON.parse(readFileSync(join(dir, 'prompt_trace_summary.json'), 'utf8')));

describe('video prompt trace contract', () => {
  it('numbers the files in order, ends with the final prompt, and writes the summary', async () => {
    const dir = tmp();
    const ledger = new CostLedger();
    const s = await enhanceVideoPrompt(opts(dir, { ledger }));
    // the user's "epic" keeps it under 100: round 3 repeats round 2 → no improvement
    expect(s.stop_reason).toBe('no_improvement');
    expect(readdirSync(dir).sort()).toEqual([
      '00_original_prompt.txt',
      '01_agent1_iteration_1.txt',
      '02_agent2_iteration_1.txt',
      '03_agent1_iteration_2.txt',
      '04_agent2_iteration_2.txt',
      '05_agent1_iteration_3.txt',
      '06_agent2_iteration_3.txt',
      '07_final_enhanced_prompt.txt',
      'final_enhanced_motion_prompt.txt',
      'prompt_trace_summary.json',
    ]);
    expect(readFileSync(join(dir, 'final_enhanced_motion_prompt.txt'), 'utf8').trim()).toBe(s.final_prompt);
    expect(readFileSync(join(dir, '00_original_prompt.txt'), 'utf8')).toBe('a cyclist rides along a coastal road, epic\n');
    expect(readFileSync(join(dir, '01_agent1_iteration_1.txt'), 'utf8').trim()).toBe(s.iterations[0]!.prompt);
    expect(readFileSync(join(dir, '02_agent2_iteration_1.txt'), 'utf8')).toMatch(/camera_language:\s+\d+[\s\S]*start_end_arc:\s+neutral/);
    expect(readFileSync(join(dir, '07_final_enhanced_prompt.txt'), 'utf8').trim()).toBe(s.final_prompt);

    const disk = readSummary(dir);
    expect(disk).toEqual(s);
    expect(disk).toMatchObject({
      kind: 'video_prompt',
      original_prompt: 'a cyclist rides along a coastal road, epic',
      final_prompt_file: '07_final_enhanced_prompt.txt',
      backend: 'offline',
      models: { creative: 'offline-director', critique: 'offline-video-rubric-critic' },
      settings: { max_iterations: 3, threshold: 100 },
      total_iterations: 3,
      best_iteration: 2,
      error: null,
      clip: null,
      trace_dir: dir,
    });
    expect(disk.backend_note).toMatch(/rule-based.*no LLM/);
    expect(disk.arc_note).toMatch(/neutral/);
    expect(disk.iterations.map((i) => [i.agent1_file, i.agent2_file])).toEqual([
      ['01_agent1_iteration_1.txt', '02_agent2_iteration_1.txt'],
      ['03_agent1_iteration_2.txt', '04_agent2_iteration_2.txt'],
      ['05_agent1_iteration_3.txt', '06_agent2_iteration_3.txt'],
    ]);
    expect(disk.final_scores).toEqual(disk.iterations[1]!.scores);
    expect(disk.final_scores!.start_end_arc).toBeNull();
    expect(disk.initial_assessment).toMatchObject({ method: 'rule-based', scores: videoRubricCritique('a cyclist rides along a coastal road, epic').scores });
    expect(disk.files).toEqual([...readdirSync(dir).filter((f) => f.endsWith('.txt')).sort(), 'prompt_trace_summary.json']);
    // costs: one entry per agent call, all in the video_prompt stage, offline = 0
    expect(ledger.entries).toHaveLength(6);
    expect(new Set(ledger.entries.map((e) => e.stage))).toEqual(new Set(['video_prompt']));
    expect(disk.cost).toMatchObject({ total_cost_usd: 0, by_stage: { video_prompt: 0 } });
  });

  it('stops at the threshold, and at max iterations', async () => {
    const a = await enhanceVideoPrompt(opts(tmp(), { threshold: 85 }));
    expect(a.stop_reason).toBe('threshold_met');
    expect(a.final_scores!.overall).toBeGreaterThanOrEqual(85);
    const b = await enhanceVideoPrompt(opts(tmp(), { threshold: 100, maxIterations: 1 }));
    expect(b.stop_reason).toBe('max_iterations');
    expect(b.total_iterations).toBe(1);
  });

  it('a failed agent: files written stay, the summary says error, no final prompt file', async () => {
    const dir = tmp();
    let calls = 0;
    const creative: CreativeAgent<VideoCritique> = {
      name: 'flaky-director',
      async create() {
        if (++calls === 2) throw new Error('model went away');
        return { output: 'A dog runs slowly across a beach, over 5 seconds.', model: 'flaky', usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 };
      },
    };
    const critic: CriticAgent<VideoCritique> = {
      name: 'rubric',
      async critique({ prompt }) {
        return { output: videoRubricCritique(prompt), model: 'rubric', usage: { input_tokens: 0, output_tokens: 0, calls: 1 }, cost_usd: 0 };
      },
    };
    await expect(enhanceVideoPrompt(opts(dir, { agents: { creative, critic } }))).rejects.toThrow(/model went away/);
    expect(readdirSync(dir).sort()).toEqual(['00_original_prompt.txt', '01_agent1_iteration_1.txt', '02_agent2_iteration_1.txt', 'prompt_trace_summary.json']);
    const s = readSummary(dir);
    expect(s).toMatchObject({ stop_reason: 'error', final_prompt: null, final_prompt_file: null, best_iteration: 1, error: { kind: 'INTERNAL', message: 'model went away' } });
    expect(existsSync(join(dir, '03_final_enhanced_prompt.txt'))).toBe(false);
  });

  it('refuses out-of-range settings before writing anything', async () => {
    const dir = tmp();
    await expect(enhanceVideoPrompt(opts(dir, { maxIterations: 0 }))).rejects.toMatchObject({ kind: 'USAGE' });
    await expect(enhanceVideoPrompt(opts(dir, { threshold: 120 }))).rejects.toMatchObject({ kind: 'USAGE' });
    expect(readdirSync(dir)).toEqual([]);
  });
});
