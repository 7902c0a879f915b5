import { join } from 'node:path';
import { writeJsonAtomic, writeTextAtomic } from '../runs/atomic.js';
import type { RubricCritique } from './rubric.js';
import type { Critique } from './types.js';

/**
 * The trace directory contract (seed, "Image Prompt Trace Directory"): numbered files in the
 * order they were produced — 00_original_prompt.txt, 01_agent1_iteration_1.txt,
 * 02_agent2_iteration_1.txt, …, NN_final_enhanced_prompt.txt — and prompt_trace_summary.json.
 * Beside them the final prompt again under a name that does not depend on the number of rounds,
 * for scripts: final_enhanced_prompt.txt (final_enhanced_motion_prompt.txt for a video prompt).
 * Every file is written atomically, so a crash leaves whole files or none.
 */
export const SUMMARY_FILE = 'prompt_trace_summary.json';
/** The final image prompt under a stable name (a copy of NN_final_enhanced_prompt.txt). */
export const FINAL_PROMPT_FILE = 'final_enhanced_prompt.txt';
/** The final motion prompt of a video prompt trace, under a stable name. */
export const FINAL_MOTION_PROMPT_FILE = 'final_enhanced_motion_prompt.txt';

export class TraceWriter<C = Critique> {
  private n = 0;
  readonly files: string[] = [];
  /**
   * `format` writes the critic's file: the image rubric's by default, the video critic's for video
   * prompts; `finalName` is the stable name of the final prompt's copy.
   */
  constructor(
    readonly dir: string,
    private readonly format: (critique: C, model: string) => string = formatCritique as unknown as (critique: C, model: string) => string,
    readonly finalName: string = FINAL_PROMPT_FILE,
  ) {}

  private name(stem: string): string {
    return `${String(this.n++).padStart(2, '0')}_${stem}.txt`;
  }

  private async write(file: string, body: string): Promise<string> {
    await writeTextAtomic(join(this.dir, file), body.endsWith('\n') ? body : body + '\n');
    this.files.push(file);
    return file;
  }

  private text(stem: string, body: string): Promise<string> {
    return this.write(this.name(stem), body);
  }

  original(prompt: string): Promise<string> {
    return this.text('original_prompt', prompt);
  }

  /** The agent-1 file holds the prompt alone, so it can be fed straight to generate-images. */
  agent1(iteration: number, prompt: string): Promise<string> {
    return this.text(`agent1_iteration_${iteration}`, prompt);
  }

  agent2(iteration: number, critique: C, model: string): Promise<string> {
    return this.text(`agent2_iteration_${iteration}`, this.format(critique, model));
  }

  /** The numbered final file (returned: the trace's own order), then its copy under `finalName`. */
  async final(prompt: string): Promise<string> {
    const file = await this.text('final_enhanced_prompt', prompt);
    await this.write(this.finalName, prompt);
    return file;
  }

  summary(value: unknown): Promise<void> {
    return writeJsonAtomic(join(this.dir, SUMMARY_FILE), value);
  }
}

export function formatCritique(c: Critique, model: string): string {
  const s = c.scores;
  return formatCritiqueFile(`Prompt Engineer critique (${model})`, [
    `completeness:     ${s.completeness}`,
    `specificity:      ${s.specificity}`,
    `professionalism:  ${s.professionalism}`,
    `cinematography:   ${s.cinematography}`,
    `brand_alignment:  ${s.brand_alignment ?? 'neutral (no brand given)'}`,
    `overall:          ${s.overall}`,
  ], c);
}

/** A critic's trace file, either rubric: title, its score lines, feedback, flags, then the critique as JSON. */
export function formatCritiqueFile(title: string, scoreLines: string[], c: RubricCritique): string {
  return [
    title,
    '',
    ...scoreLines,
    '',
    'Feedback:',
    ...c.feedback.map((f) => `- ${f}`),
    '',
    `Flags: ${c.flags.length ? c.flags.join(', ') : '(none)'}`,
    '',
    'JSON:',
    JSON.stringify(c, null, 2),
    '',
  ].join('\n');
}
