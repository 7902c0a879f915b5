import { type Command } from 'commander';
import { z } from 'zod';
import { ASPECT_RATIOS } from '../../src/generation/metadata.js';
import { AGENT_BACKENDS, defaultBackendHelp } from '../../src/config/backends.js';
import { RUN_OPTION as O } from '../../src/workflow/run-options.js';
import { redact } from '../../src/lib/secrets.js';
import { jsonForTerminal, termSafe } from '../../src/lib/terminal.js';
import { table } from '../format.js';
import { action, parseOptions } from '../shared.js';
import { runOptionFlag } from './queue.js';

/**
 * `loop enhance-image-prompt`: Workflow 1 from the command line. Flags, printing and exit codes
 * only; the stage itself is src/prompt/enhance.ts, imported lazily so `loop --help` stays fast.
 * Every flag and the input are validated before the run directory is created, so a bad
 * invocation leaves nothing behind. The flags it shares with `loop run` (types, ranges, defaults)
 * come from the run options' declarations (src/workflow/run-options.ts), under this command's
 * own names and help.
 */
const OptionsSchema = z.object({
  maxIterations: O.max_iterations_image.type,
  threshold: O.threshold_image.type,
  skipThreshold: O.skip_threshold.type,
  outputDir: z.string().min(1).optional(),
  brand: z.string().min(1).optional(),
  backend: O.agent_backend.type.optional(),
  creativeModel: z.string().trim().min(1),
  critiqueModel: z.string().trim().min(1),
  seed: O.seed.type.optional(),
  aspectRatio: O.aspect_ratio.type.optional(),
  json: z.boolean().default(false),
  verbose: z.boolean().default(false),
});
type Options = z.infer<typeof OptionsSchema>;

export function register(program: Command): void {
  program
    .command('enhance-image-prompt')
    .summary('enhance an image prompt with two agents')
    .description('enhance an image prompt with two agents (cinematographer + prompt engineer) and write the trace')
    .argument('<input>', 'prompt file, or "-" for stdin')
    .addOption(runOptionFlag(O.max_iterations_image, { flags: '--max-iterations <n>', help: 'maximum rounds, 1–10' }))
    .addOption(runOptionFlag(O.threshold_image, { flags: '--threshold <f>', help: 'stop when the overall score reaches this, 0–100' }))
    .addOption(runOptionFlag(O.skip_threshold, { flags: '--skip-threshold <f>', help: 'skip enhancement when the initial assessment reaches this (101 = never skip)' }))
    .option('-o, --output-dir <dir>', 'write the run under <dir>/<timestamp>/ (default: $LOOP_OUTPUT_DIR/image_prompt_traces/)')
    .addOption(runOptionFlag(O.brand))
    .addOption(
      runOptionFlag(O.agent_backend, {
        flags: '--backend <name>',
        help: `agents: ${AGENT_BACKENDS.offline.name} (rule-based, no LLM) or ${AGENT_BACKENDS.openai.name} (${defaultBackendHelp('agent')})`,
      }),
    )
    .addOption(runOptionFlag(O.creative_model, { flags: '--creative-model <m>', help: 'model for the cinematographer (openai backend)' }))
    .addOption(runOptionFlag(O.critique_model, { flags: '--critique-model <m>', help: 'model for the prompt engineer (openai backend)' }))
    .addOption(runOptionFlag(O.seed, { help: 'seed for the offline agents\' choices (default 0)' }))
    .addOption(
      runOptionFlag(O.aspect_ratio, {
        flags: '-a, --aspect-ratio <r>',
        help: `the images' aspect ratio, for the prompt's framing hint (${ASPECT_RATIOS.join(', ')}; default: chosen for the subject)`,
        default: undefined,
      }),
    )
    .option('--json', 'print only the summary JSON on stdout')
    .option('-v, --verbose', 'log every agent call to stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop enhance-image-prompt examples/start.txt --brand examples/brand.json -o my_traces\n' +
        '  echo "a cat on a windowsill" | npx loop enhance-image-prompt - --max-iterations 5 -a 16:9 --json',
    )
    .action(action((input: string, raw: unknown) => run(input, parseOptions(OptionsSchema, raw))));
}

async function run(input: string, o: Options): Promise<number> {
  const [{ checkConfig }, { readPromptInput }, { createLogger }, { createRunDir, resolveRunsRoot }, { resolveAgentBackend, enhanceImagePrompt, OFFLINE_BACKEND_NOTE }, { loadBrand }] =
    await Promise.all([
      import('../../src/config/check.js'),
      import('../../src/lib/input.js'),
      import('../../src/lib/log.js'),
      import('../../src/runs/run-dir.js'),
      import('../../src/prompt/enhance.js'),
      import('../../src/prompt/brand.js'),
    ]);
  // everything that can be wrong with the invocation is checked before the run directory exists
  const env = checkConfig();
  const backend = resolveAgentBackend(o.backend, env);
  const brand = o.brand ? await loadBrand(o.brand) : null;
  const prompt = await readPromptInput(input);
  const log = createLogger({ verbose: o.verbose, quiet: o.json && !o.verbose });
  const runDir = await createRunDir(resolveRunsRoot(o.outputDir, env.LOOP_OUTPUT_DIR, 'image_prompt_traces'));

  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  log.info(`enhance-image-prompt: ${backend === 'offline' ? OFFLINE_BACKEND_NOTE.split(':')[0] : `openai (${termSafe(o.creativeModel)} + ${termSafe(o.critiqueModel)})`}; trace in ${termSafe(runDir)}`);
  try {
    const s = await enhanceImagePrompt({
      prompt,
      runDir,
      maxIterations: o.maxIterations,
      threshold: o.threshold,
      skipThreshold: o.skipThreshold,
      brand,
      backend,
      creativeModel: o.creativeModel,
      critiqueModel: o.critiqueModel,
      seed: o.seed,
      aspectRatio: o.aspectRatio,
      logger: log,
      env,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'agent1') log.info(`iteration ${e.iteration}/${o.maxIterations}: cinematographer…`);
        else if (e.phase === 'agent2' && e.overall === undefined) log.info(`iteration ${e.iteration}/${o.maxIterations}: prompt engineer…`);
        else if (e.phase === 'agent2') log.info(`iteration ${e.iteration}/${o.maxIterations}: overall ${e.overall!.toFixed(1)}`);
      },
    });
    // model output and the brand file are untrusted text: a model that echoes the key must not
    // print it, and escape sequences must not reach the terminal (formatReport makes each
    // untrusted piece safe; the JSON keeps its values and escapes what a terminal would obey)
    process.stdout.write(redact(o.json ? jsonForTerminal(s) + '\n' : formatReport(s)));
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

type Summary = Awaited<ReturnType<typeof import('../../src/prompt/enhance.js').enhanceImagePrompt>>;
type Scores = NonNullable<Summary['final_scores']>;

/** An untrusted piece of the report (model, brand or provider text, a path): redacted, one line, terminal-safe. */
const t = (text: string) => termSafe(redact(String(text)));

const f1 = (n: number | null) => (n === null ? '—' : n.toFixed(1));

function formatReport(s: Summary): string {
  const out: string[] = [];
  out.push(`Backend:   ${s.backend === 'offline' ? 'offline rule-based agents (no LLM)' : `openai — ${t(s.backend_note)}`}`);
  out.push(`Models:    cinematographer ${t(s.models.creative)}, prompt engineer ${t(s.models.critique)}`);
  out.push(`Brand:     ${s.brand ? (s.brand.brand != null ? t(s.brand.brand) : 'brand file applied') : 'none (brand alignment neutral)'}`);
  out.push(`Initial assessment (rule-based): overall ${f1(s.initial_assessment.scores.overall)}`);
  out.push('');
  const head = ['iter', 'complete', 'specific', 'profess', 'cinema', 'brand', 'overall'];
  const row = (label: string, sc: Scores) =>
    [label, f1(sc.completeness), f1(sc.specificity), f1(sc.professionalism), f1(sc.cinematography), f1(sc.brand_alignment), f1(sc.overall)];
  const rows = [row('initial', s.initial_assessment.scores), ...s.iterations.map((it) => row(String(it.iteration), it.scores))];
  out.push(table(head, rows, { right: [1, 2, 3, 4, 5, 6], rule: false }));
  out.push('');
  const reason: Record<string, string> = {
    threshold_met: `threshold met (${s.settings.threshold})`,
    no_improvement: 'no improvement over the previous round',
    max_iterations: `reached --max-iterations ${s.settings.max_iterations}`,
    initial_score_above_skip_threshold: `initial score ≥ skip threshold ${s.settings.skip_threshold}; enhancement skipped`,
  };
  out.push(`Stop:      ${reason[s.stop_reason] ?? t(s.stop_reason)} after ${s.total_iterations} iteration(s)`);
  out.push(`Final:     overall ${f1(s.final_scores?.overall ?? null)}${s.best_iteration ? ` (iteration ${s.best_iteration})` : ''}`);
  out.push('');
  out.push(termSafe(redact(s.final_prompt ?? ''), { multiline: true }));
  out.push('');
  out.push(`Trace:     ${t(s.trace_dir)}`);
  const c = s.cost;
  out.push(
    `Cost:      $${c.total_cost_usd.toFixed(6)}${c.total_is_lower_bound ? ' (lower bound: some calls unpriced)' : ''}` +
      (s.backend === 'offline' ? ' (offline, no LLM calls)' : ` (${c.tokens.input} input / ${c.tokens.output} output tokens)`),
  );
  out.push(`Time:      ${s.duration_ms} ms`);
  return out.join('\n') + '\n';
}
