import { type Command, Option } from 'commander';
import { z } from 'zod';
import { AGENT_BACKENDS, defaultBackendHelp } from '../../src/config/backends.js';
import { MAX_CONCURRENCY } from '../../src/generation/limits.js';
import { redact } from '../../src/lib/secrets.js';
import { jsonForTerminal, termSafe } from '../../src/lib/terminal.js';
import { RUN_OPTION as O } from '../../src/workflow/run-options.js';
import { table } from '../format.js';
import { action, intArg, parseOptions } from '../shared.js';
import { runOptionFlag } from './queue.js';

/**
 * `loop enhance-video-prompt` (Story 9.1): a motion prompt (file or "-") through the director and
 * the video critic, or — given a storyboard folder — every clip of it (storyboard mode, writing
 * storyboard_enhanced_motion_prompts.json). Flags, printing and exit codes only; the stage is
 * src/video-prompt/, imported lazily so `loop --help` stays fast. Every flag and the input are
 * checked before the run directory is created.
 */
const OptionsSchema = z.object({
  maxIterations: O.max_iterations_video.type,
  threshold: O.threshold_video.type,
  outputDir: z.string().min(1).optional(),
  backend: O.agent_backend.type.optional(),
  creativeModel: z.string().trim().min(1),
  critiqueModel: z.string().trim().min(1),
  seed: O.seed.type.optional(),
  concurrency: z.number().int().min(1).max(MAX_CONCURRENCY),
  json: z.boolean().default(false),
  verbose: z.boolean().default(false),
});
type Options = z.infer<typeof OptionsSchema>;

export function register(program: Command): void {
  program
    .command('enhance-video-prompt')
    .summary('enhance a motion prompt, or every clip of a storyboard')
    .description('enhance a video/motion prompt with two agents (director + video critic), or every clip of a storyboard, and write the trace')
    .argument('<input>', 'motion prompt file, "-" for stdin, or a storyboard folder (storyboard mode)')
    .addOption(runOptionFlag(O.max_iterations_video, { flags: '--max-iterations <n>', help: 'maximum rounds (per clip), 1–10' }))
    .addOption(runOptionFlag(O.threshold_video, { flags: '--threshold <f>', help: 'stop when the overall score reaches this, 0–100' }))
    .addOption(
      runOptionFlag(O.agent_backend, {
        flags: '--backend <name>',
        help: `agents: ${AGENT_BACKENDS.offline.name} (rule-based, no LLM) or ${AGENT_BACKENDS.openai.name} (${defaultBackendHelp('agent')})`,
      }),
    )
    .addOption(runOptionFlag(O.creative_model, { flags: '--creative-model <m>', help: 'model for the director (openai backend)' }))
    .addOption(runOptionFlag(O.critique_model, { flags: '--critique-model <m>', help: 'model for the video critic (openai backend)' }))
    .addOption(runOptionFlag(O.seed, { help: "seed for the offline director's choices (default 0; clip N of a storyboard gets seed+N-1)" }))
    .option('-o, --output-dir <dir>', 'write the run under <dir>/<timestamp>/ (default: $LOOP_OUTPUT_DIR/video_prompt_traces/)')
    .addOption(new Option('--concurrency <n>', `storyboard mode: clips enhanced at once, 1–${MAX_CONCURRENCY}`).argParser(intArg('--concurrency', 1, MAX_CONCURRENCY)).default(4))
    .option('--json', 'print only the summary JSON (storyboard mode: storyboard_enhanced_motion_prompts.json) on stdout')
    .option('-v, --verbose', 'log every agent call to stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop enhance-video-prompt examples/motion.txt --max-iterations 2 --threshold 90\n' +
        '  npx loop create-storyboard examples/clip.txt -o my_boards\n' +
        '  npx loop enhance-video-prompt "$(ls -d my_boards/*/ | tail -n 1)" -o my_motion   # all its clips\n\n' +
        'Scores (0–100): motion_clarity, camera_language, temporal_consistency, physical_plausibility,\nstart_end_arc (storyboard clips only; neutral otherwise); overall = their mean.',
    )
    .action(action((input: string, raw: unknown) => run(input, parseOptions(OptionsSchema, raw))));
}

async function run(input: string, o: Options): Promise<number> {
  const [{ stat }, { checkConfig }, { resolveBackend }, { createLogger }, { createRunDir, resolveRunsRoot }, { STDIN_PATHS, readPromptInput }] = await Promise.all([
    import('node:fs/promises'),
    import('../../src/config/check.js'),
    import('../../src/config/backends.js'),
    import('../../src/lib/log.js'),
    import('../../src/runs/run-dir.js'),
    import('../../src/lib/input.js'),
  ]);
  // everything that can be wrong with the invocation is checked before the run directory exists
  const env = checkConfig();
  const backend = resolveBackend('agent', o.backend, env, '--backend');
  const isDir = !STDIN_PATHS.has(input) && !!(await stat(input).catch(() => null))?.isDirectory();
  const log = createLogger({ verbose: o.verbose, quiet: o.json && !o.verbose });
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  const common = { maxIterations: o.maxIterations, threshold: o.threshold, backend, creativeModel: o.creativeModel, critiqueModel: o.critiqueModel, seed: o.seed, logger: log, env, signal: ac.signal };
  const who = backend === 'offline' ? 'offline rule-based agents' : `openai (${termSafe(o.creativeModel)} + ${termSafe(o.critiqueModel)})`;

  if (isDir) {
    const { enhanceStoryboardMotion, loadStoryboardForMotion } = await import('../../src/video-prompt/storyboard-mode.js');
    const board = await loadStoryboardForMotion(input);
    const runDir = await createRunDir(resolveRunsRoot(o.outputDir, env.LOOP_OUTPUT_DIR, 'video_prompt_traces'));
    log.info(`enhance-video-prompt: storyboard mode, ${board.clips.length} clip${board.clips.length === 1 ? '' : 's'}, ${who}; traces in ${termSafe(runDir)}`);
    process.once('SIGINT', onSigint);
    try {
      const r = await enhanceStoryboardMotion({ ...common, storyboardDir: input, outDir: runDir, concurrency: o.concurrency });
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { file, trace_file, files, summaries, ...motion } = r;
      if (o.json) process.stdout.write(redact(jsonForTerminal(motion) + '\n'));
      else process.stdout.write(redact(formatStoryboard(motion, file, trace_file, runDir)));
      return 0;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }

  const prompt = await readPromptInput(input);
  const { enhanceVideoPrompt } = await import('../../src/video-prompt/enhance.js');
  const runDir = await createRunDir(resolveRunsRoot(o.outputDir, env.LOOP_OUTPUT_DIR, 'video_prompt_traces'));
  log.info(`enhance-video-prompt: ${who}; trace in ${termSafe(runDir)}`);
  process.once('SIGINT', onSigint);
  try {
    const s = await enhanceVideoPrompt({
      ...common,
      prompt,
      runDir,
      onProgress: (e) => {
        if (e.phase === 'agent1') log.info(`iteration ${e.iteration}/${o.maxIterations}: director…`);
        else if (e.phase === 'agent2' && e.overall === undefined) log.info(`iteration ${e.iteration}/${o.maxIterations}: video critic…`);
        else if (e.phase === 'agent2') log.info(`iteration ${e.iteration}/${o.maxIterations}: overall ${e.overall!.toFixed(1)}`);
      },
    });
    process.stdout.write(redact(o.json ? jsonForTerminal(s) + '\n' : formatReport(s)));
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

type Summary = Awaited<ReturnType<typeof import('../../src/video-prompt/enhance.js').enhanceVideoPrompt>>;
type Motion = import('../../src/video-prompt/storyboard-mode.js').StoryboardMotionFile;
type Scores = NonNullable<Summary['final_scores']>;

// report pieces (model text, paths) are untrusted: one line each, terminal-safe (the whole report is redacted)
const safe = termSafe;
const t = (text: string) => safe(String(text));
const f1 = (n: number | null) => (n === null ? '—' : n.toFixed(1));
const HEAD = ['iter', 'motion', 'camera', 'temporal', 'physics', 'arc', 'overall'];
const row = (label: string, s: Scores) => [label, f1(s.motion_clarity), f1(s.camera_language), f1(s.temporal_consistency), f1(s.physical_plausibility), f1(s.start_end_arc), f1(s.overall)];
const REASON = (s: { max_iterations: number; threshold: number }): Record<string, string> => ({
  threshold_met: `threshold met (${s.threshold})`,
  no_improvement: 'no improvement over the previous round',
  max_iterations: `reached --max-iterations ${s.max_iterations}`,
});

function costLine(c: { total_cost_usd: number; total_is_lower_bound: boolean; tokens: { input: number; output: number } }, offline: boolean): string {
  return (
    `Cost:      $${c.total_cost_usd.toFixed(6)}${c.total_is_lower_bound ? ' (lower bound: some calls unpriced)' : ''}` +
    (offline ? ' (offline, no LLM calls)' : ` (${c.tokens.input} input / ${c.tokens.output} output tokens)`)
  );
}

function formatReport(s: Summary): string {
  const out: string[] = [];
  out.push(`Backend:   ${s.backend === 'offline' ? 'offline rule-based agents (no LLM): director + video rubric critic' : `openai — ${t(s.backend_note)}`}`);
  out.push(`Models:    director ${t(s.models.creative)}, video critic ${t(s.models.critique)}`);
  out.push(`Arc:       ${t(s.arc_note)}`);
  out.push('');
  out.push(table(HEAD, [row('initial', s.initial_assessment.scores), ...s.iterations.map((it) => row(String(it.iteration), it.scores))], { right: [1, 2, 3, 4, 5, 6], rule: false }));
  out.push('');
  out.push(`Stop:      ${REASON(s.settings)[s.stop_reason] ?? t(s.stop_reason)} after ${s.total_iterations} iteration(s)`);
  out.push(`Final:     overall ${f1(s.final_scores?.overall ?? null)}${s.best_iteration ? ` (iteration ${s.best_iteration})` : ''}`);
  out.push('');
  out.push(safe(s.final_prompt ?? '', { multiline: true }));
  out.push('');
  out.push(`Trace:     ${t(s.trace_dir)}`);
  out.push(costLine(s.cost, s.backend === 'offline'));
  out.push(`Time:      ${s.duration_ms} ms`);
  return out.join('\n') + '\n';
}

function formatStoryboard(m: Motion, file: string, traceFile: string, runDir: string): string {
  const out: string[] = [];
  out.push(`Backend:   ${m.backend === 'offline' ? 'offline rule-based agents (no LLM): director + video rubric critic' : `openai — ${t(m.backend_note)}`}`);
  out.push(`Storyboard: ${t(m.storyboard_dir)} (${m.clips.length} clip${m.clips.length === 1 ? '' : 's'})`);
  out.push('');
  out.push(table(['clip', 'motion', 'camera', 'temporal', 'physics', 'arc', 'overall', 'rounds', 'stop'], m.clips.map((c) => [...row(String(c.clip), c.scores), String(c.iterations.length), c.stop_reason]), { right: [1, 2, 3, 4, 5, 6, 7], rule: false }));
  for (const c of m.clips) {
    out.push('');
    out.push(`clip ${c.clip} · ${c.camera.speed} ${c.camera.type}${c.camera.direction !== 'none' ? ` ${c.camera.direction}` : ''} · ${c.duration_s} s · ${t(c.start_frame)} → ${t(c.end_frame)}`);
    out.push(safe(c.enhanced_motion_prompt, { multiline: true }));
  }
  out.push('');
  out.push(`Motion prompts: ${t(file)}`);
  out.push(`Trace:     ${t(traceFile)} (per clip: ${t(runDir)}/clip_NNN/)`);
  out.push(costLine(m.cost, m.backend === 'offline'));
  out.push(`Time:      ${m.duration_ms} ms`);
  return out.join('\n') + '\n';
}
