/**
 * Aspect ratio, one truth: the run's ratio (its flag or its default) is the one stage 1 writes into
 * the prompt and records in the trace, in every workflow, prompt-only included (its trace is what a
 * later `generate-images <trace dir>` renders from).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunOptionsSchema, type RunSpec } from '../../queues/payloads.js';
import { loadPromptSource } from '../../src/generation/generate.js';
import { silentLogger } from '../../src/lib/log.js';
import { imagePromptStage } from '../../workers/image-prompt.js';
import type { StageContext } from '../../workers/stage.js';

async function stageOne(workflow: RunSpec['workflow'], aspect?: string) {
  const runDir = mkdtempSync(join(tmpdir(), 'loop-aspect-'));
  const spec: RunSpec = {
    run_id: 'a-1',
    workflow,
    run_dir: runDir,
    prompt: 'a bottle of perfume on black velvet',
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ agent_backend: 'offline', max_iterations_image: 1, ...(aspect ? { aspect_ratio: aspect } : {}) }),
    created_at: new Date().toISOString(),
    round: 0,
    start_stage: null,
  };
  const stageDir = join(runDir, 'stage_1_image_prompt');
  const ctx = { spec, runDir, stageDir, previous: [], groups: {}, plan: undefined, signal: new AbortController().signal, progress: async () => {}, logger: silentLogger } as unknown as StageContext;
  const out = await imagePromptStage.run(ctx);
  const summary = JSON.parse(readFileSync(join(stageDir, 'prompt_trace_summary.json'), 'utf8'));
  return { prompt: out.outputs.final_prompt as string, summary, stageDir };
}

describe('the run\'s aspect ratio in stage 1', () => {
  for (const workflow of ['prompt-only', 'image-only'] as const)
    it(`${workflow}: the prompt is framed for the run's ratio and the trace records it`, async () => {
      const given = await stageOne(workflow, '4:5');
      expect(given.prompt).toContain('Framed for a 4:5 aspect ratio.');
      expect(given.summary.aspect_ratio).toBe('4:5');
      // the default when no flag was given: 16:9, not the subject's own choice
      const byDefault = await stageOne(workflow);
      expect(byDefault.prompt).toContain('Framed for a 16:9 aspect ratio.');
      expect(byDefault.summary.aspect_ratio).toBe('16:9');
      // and generate-images <trace dir> takes it from there
      expect((await loadPromptSource(given.stageDir)).aspectRatio).toBe('4:5');
    });
});
