/**
 * `loop score-images <generation-dir>`: (re)score a generation folder, rank, rename by rank, and
 * print the ranked table (per-metric columns, top 3 highlighted, best candidate named).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { action, deviceArg, intArg, parseOptions } from '../shared.js';

const Opts = z.object({
  promptFile: z.string().min(1).optional(),
  device: z.string().default('cpu'),
  modelsDir: z.string().min(1).optional(),
  weights: z.string().optional(),
  batchSize: z.number().int().min(1).max(64).default(8),
  clipModel: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/).optional(),
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
});

const METRICS = ['pickscore', 'clip_score', 'vqa_score', 'aesthetic'];

/** "pickscore=50,clip_score=25" → weights; unknown names and bad numbers are usage errors. */
function parseWeights(s: string | undefined, usage: (m: string) => Error): Record<string, number> | undefined {
  if (s === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || !METRICS.includes(m[1]!)) throw usage(`--weights: expected name=number with names ${METRICS.join(', ')}, got "${part}"`);
    out[m[1]!] = Number(m[2]);
  }
  if (!Object.values(out).some((v) => v > 0)) throw usage('--weights: at least one weight must be above 0');
  return out;
}

export function register(program: Command): void {
  program
    .command('score-images')
    .argument('<generation-dir>', 'an image generation folder (image_NNN.png + image_NNN_metadata.json + generation_trace.json)')
    .summary('(re)score and rank a generation folder')
    .description('(re)score a generation folder: rank, rename image_NNN by rank, update metadata and trace')
    .option('--prompt-file <file>', 'score against this prompt (default: the prompt in generation_trace.json); "-" reads stdin')
    .option('--device <device>', 'cpu, cuda or cuda:N, N 0–15 (with no NVIDIA GPU, CUDA falls back to CPU with a warning)', deviceArg('--device'), 'cpu')
    .option('--models-dir <dir>', 'model folder (default: LOOP_MODELS_DIR, then ~/.cache/loop/models)')
    .option('--weights <list>', 'overall weights, e.g. pickscore=50,clip_score=25,vqa_score=15,aesthetic=10')
    .option('--clip-model <id>', 'CLIP model for CLIPScore (default clip-vit-large-patch14)')
    .option('--batch-size <n>', 'images per model run', intArg('--batch-size', 1, 64), 8)
    .option('--json', 'print the ranking as JSON on stdout')
    .option('-v, --verbose', 'detailed logs on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop generate-images examples/start.txt -n 4 --skip-scoring -o my_images\n' +
        '  npx loop score-images "$(ls -d my_images/*/ | tail -n 1)" --prompt-file examples/start.txt\n' +
        '  npx loop score-images "$(ls -d my_images/*/ | tail -n 1)" --weights pickscore=60,clip_score=40',
    )
    .action(
      action(async (dir: string, raw: unknown) => {
        const o = parseOptions(Opts, raw);
        const { usageError, ExitCode } = await import('../../src/errors.js');
        const weights = parseWeights(o.weights, usageError);
        const { resolveDevice } = await import('../../src/lib/device.js');
        resolveDevice(o.device); // a bad --device, or cuda:N past this machine's GPUs, fails before any work
        const { createLogger } = await import('../../src/lib/log.js');
        const log = createLogger({ verbose: o.verbose });
        const { checkConfig, resolveCheckedModelsDir } = await import('../../src/config/check.js');
        const env = checkConfig();
        const modelsDir = resolveCheckedModelsDir(o.modelsDir, env);
        const { termSafe, jsonForTerminal } = await import('../../src/lib/terminal.js');
        const { redact } = await import('../../src/lib/secrets.js');
        const t = (x: string) => termSafe(redact(String(x)));
        let prompt: string | undefined;
        if (o.promptFile) prompt = await (await import('../../src/lib/input.js')).readPromptInput(o.promptFile);
        const { scoreGenerationDir } = await import('../../src/scoring/rank.js');
        const progress = await (await import('../progress.js')).batchProgress('scoring', 'images');
        const result = await scoreGenerationDir(dir, {
          prompt,
          device: o.device,
          modelsDir,
          logger: log,
          weights,
          batchSize: o.batchSize,
          clipModel: o.clipModel,
          onProgress: (done, total) => progress.update(done, total),
        });
        if (o.json) process.stdout.write(redact(jsonForTerminal(result)) + '\n');
        else {
          const { readFile } = await import('node:fs/promises');
          const { join } = await import('node:path');
          const { GenerationTraceSchema, GENERATION_TRACE } = await import('../../src/generation/metadata.js');
          const { renderResults } = await import('../image-report.js');
          const trace = GenerationTraceSchema.parse(JSON.parse(await readFile(join(dir, GENERATION_TRACE), 'utf8')));
          const promptSource = o.promptFile === undefined ? undefined : o.promptFile === '-' ? 'stdin' : o.promptFile;
          process.stdout.write(redact(renderResults(trace, dir, { promptSource })) + '\n');
          const w = Object.entries(result.weights_used).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`).join(', ');
          process.stdout.write(`\noverall from: ${w} (anchors ${t(result.anchors_version)}, device ${t(result.device)})\n`);
          for (const u of result.unscorable) process.stdout.write(`not scored: ${t(u.file)}: ${t(u.reason)}\n`);
          if (result.prompt_truncated) process.stdout.write('note: the prompt was truncated to 77 CLIP tokens for the CLIP-based metrics\n');
        }
        if (result.unscorable.length === result.images.length) return ExitCode.FAILED;
        return result.unscorable.length ? ExitCode.PARTIAL : ExitCode.OK;
      }),
    );
}
