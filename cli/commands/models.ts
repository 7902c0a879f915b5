/**
 * `loop models list | pull <id> | verify [id] | path [id]`: the model files the scorers load.
 * Folder: --models-dir, else LOOP_MODELS_DIR, else the user cache (~/.cache/loop/models).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { action, parseOptions } from '../shared.js';
import { table } from '../format.js';
import { jsonForTerminal, termSafe } from '../../src/lib/terminal.js';

const Opts = z.object({
  modelsDir: z.string().min(1).optional(),
  manifest: z.string().min(1).optional(),
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
  force: z.boolean().optional(),
});
type Opts = z.infer<typeof Opts>;

const human = (n: number | null) =>
  n === null ? '—' : n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;

async function setup(raw: unknown) {
  const o = parseOptions(Opts, raw);
  const { loadManifest } = await import('../../src/models/manifest.js');
  const { checkConfig, resolveCheckedModelsDir } = await import('../../src/config/check.js');
  const env = checkConfig();
  // a models folder that is a file: one line, exit 4 (LOOP_MODELS_DIR) or 3 (--models-dir)
  const modelsDir = resolveCheckedModelsDir(o.modelsDir, env);
  const manifest = await loadManifest(o.manifest);
  return { o, manifest, modelsDir, vqaModel: env.LOOP_VQA_MODEL ?? null };
}

const VQA_METRICS = ['vqa_score', 'text_alignment_vqa'];

/** Manifest text (ids, instructions, paths: a --manifest may be anyone's file) for the terminal. */
const t = (text: unknown) => termSafe(String(text ?? ''));

const common = (c: Command) =>
  c
    .option('--models-dir <dir>', 'model folder (default: LOOP_MODELS_DIR, then ~/.cache/loop/models)')
    .option('--manifest <file>', 'model manifest (default: models/manifest.json of this package)')
    .option('--json', 'machine-readable output on stdout');


export function register(program: Command): void {
  const models = program
    .command('models')
    .description('list, download, verify and locate the scoring models')
    .addHelpText('after', '\nExamples:\n  npx loop models list\n  npx loop models pull clip-vit-base-patch32\n  npx loop models verify');

  common(models.command('list').description('each model: present / partial / missing, size, where it goes'))
    .addHelpText('after', '\nExamples:\n  npx loop models list\n  npx loop models list --models-dir ./my_models --json')
    .action(
    action(async (raw: unknown) => {
      const { o, manifest, modelsDir, vqaModel } = await setup(raw);
      const { modelState } = await import('../../src/models/store.js');
      const states = await Promise.all(manifest.models.map((m) => modelState(modelsDir, m)));
      if (o.json) {
        process.stdout.write(
          jsonForTerminal({ models_dir: modelsDir, models: manifest.models.map((m, i) => ({ id: m.id, role: m.role, metrics: m.metrics, obtain: m.obtain, ...states[i] })), vqa: { model: vqaModel, metrics: VQA_METRICS } }) + '\n',
        );
        return 0;
      }
      process.stdout.write(`models folder: ${t(modelsDir)}\n\n`);
      const rows: string[][] = [];
      manifest.models.forEach((m, i) => {
        const s = states[i]!;
        const known = m.files.every((f) => f.size !== null) ? m.files.reduce((a, f) => a + f.size!, 0) : null;
        rows.push([t(m.id), s.status, s.status === 'missing' ? (known === null ? '—' : `(${human(known)})`) : human(s.size), t(m.metrics.join(',')), m.obtain, t(s.dir)]);
      });
      process.stdout.write(table(['id', 'status', 'size', 'metrics', 'obtain', 'path'], rows, { rule: false }) + '\n');
      const missing = manifest.models.filter((_, i) => states[i]!.status !== 'present');
      if (missing.length) {
        process.stdout.write('\n');
        for (const m of missing)
          process.stdout.write(m.obtain === 'download' ? `${t(m.id)}: loop models pull ${t(m.id)}\n` : `${t(m.id)}: ${m.instructions ? t(m.instructions) : 'see models/README.md'}\n`);
      }
      // the one metric that is a remote model, not a file here
      process.stdout.write(`\nVQAScore (${VQA_METRICS.join(', ')}): a vision chat model, no file: ${vqaModel ? `LOOP_VQA_MODEL=${t(vqaModel)}` : 'LOOP_VQA_MODEL is unset (set it to use VQAScore)'}\n`);
      return 0;
    }),
  );

  common(models.command('pull').argument('<id>', 'model id (see `loop models list`)').description('download a model: progress, resume, sha256 verification'))
    .option('--force', 're-download files that are already present')
    .addHelpText(
      'after',
      '\nExamples:\n  npx loop models pull clip-vit-base-patch32\n  npx loop models pull clip-vit-large-patch14 --models-dir ./my_models',
    )
    .action(
      action(async (id: string, raw: unknown) => {
        const { o, manifest, modelsDir } = await setup(raw);
        const { findModel } = await import('../../src/models/manifest.js');
        const { pullModel } = await import('../../src/models/pull.js');
        const m = findModel(manifest, id);
        // create the models folder here, with a mkdir -p that cannot spin (src/runs/run-dir.ts ensureDir):
        // pullModel's own recursive mkdir then only works inside a real directory
        const { ensureDir, directoryError } = await import('../../src/runs/run-dir.js');
        await ensureDir(modelsDir).catch((e: unknown) => {
          throw directoryError(e, `${o.modelsDir ? '--models-dir' : process.env.LOOP_MODELS_DIR ? 'LOOP_MODELS_DIR' : 'models folder'} ${modelsDir}`, modelsDir, o.modelsDir ? 'INPUT' : 'CONFIG');
        });
        const tty = process.stderr.isTTY === true;
        let lastLine = '';
        let lastPct = -1;
        const results = await pullModel(modelsDir, m, {
          force: o.force,
          onProgress: ({ file, received, total }) => {
            const pct = total ? Math.floor((received / total) * 100) : -1;
            const line = `${t(m.id)}/${t(file)}: ${human(received)}${total ? ` of ${human(total)} (${pct}%)` : ''}`;
            if (tty) process.stderr.write(`\r${line}\x1b[K`);
            else if (pct !== lastPct && (pct % 10 === 0 || pct === -1) && line !== lastLine) process.stderr.write(line + '\n');
            lastLine = line;
            lastPct = pct;
          },
        });
        if (tty && lastLine) process.stderr.write('\n');
        if (o.json) process.stdout.write(jsonForTerminal({ id: m.id, dir: `${modelsDir}/${m.id}`, files: results }) + '\n');
        else
          for (const r of results)
            process.stdout.write(`${r.status === 'present' ? 'present   ' : 'downloaded'}  ${t(m.id)}/${t(r.path)}  sha256 ${r.sha256}${r.pinned ? ' (verified)' : ' (unpinned: not in the manifest)'}${r.resumed ? ' (resumed)' : ''}\n`);
        return 0;
      }),
    );

  common(models.command('verify').argument('[id]', 'one model (default: every installed model)').description('sha256 of every model file against the manifest'))
    .addHelpText('after', '\nExamples:\n  npx loop models verify\n  npx loop models verify clip-vit-base-patch32 --json')
    .action(
      action(async (id: string | undefined, raw: unknown) => {
        const { o, manifest, modelsDir } = await setup(raw);
        const { findModel } = await import('../../src/models/manifest.js');
        const { modelState, verifyModel } = await import('../../src/models/store.js');
        const { LoopError } = await import('../../src/errors.js');
        const targets = id ? [findModel(manifest, id)] : manifest.models;
        const report: { id: string; status: string; files: Awaited<ReturnType<typeof verifyModel>> }[] = [];
        let bad = false;
        for (const m of targets) {
          const st = await modelState(modelsDir, m);
          // without an id, a model that is not installed at all is not a failure
          if (!id && st.status === 'missing') {
            report.push({ id: m.id, status: 'not installed', files: [] });
            continue;
          }
          const files = await verifyModel(modelsDir, m);
          const failed = files.some((f) => f.status === 'mismatch' || f.status === 'size-mismatch' || f.status === 'missing');
          bad ||= failed;
          report.push({ id: m.id, status: failed ? 'FAILED' : files.some((f) => f.status === 'unpinned') ? 'ok (unpinned files)' : 'ok', files });
        }
        // `verify` with no id and nothing installed verified nothing: that is not a success
        const noneInstalled = !id && report.every((r) => r.status === 'not installed');
        if (o.json) process.stdout.write(jsonForTerminal({ models_dir: modelsDir, ok: !bad && !noneInstalled, models: report }) + '\n');
        else if (!noneInstalled)
          for (const r of report) {
            process.stdout.write(`${t(r.id)}: ${r.status}\n`);
            for (const f of r.files)
              process.stdout.write(
                `  ${f.status.padEnd(13)} ${t(f.path)}${f.sha256 ? `  sha256 ${f.sha256}` : ''}${f.status === 'mismatch' ? `  (manifest: ${f.expected})` : ''}${f.status === 'unpinned' ? '  (no hash in the manifest to check against)' : ''}\n`,
              );
          }
        if (noneInstalled)
          throw new LoopError(
            'MODEL',
            `no scoring models are installed in ${modelsDir}, so there is nothing to verify; \`loop models list\` says what each metric needs and how to get it`,
          );
        if (bad) throw new LoopError('MODEL', `model verification failed in ${modelsDir}`);
        return 0;
      }),
    );

  common(models.command('path').argument('[id]', 'a model id').description('print the models folder, or one model\'s folder'))
    .addHelpText('after', '\nExamples:\n  npx loop models path\n  npx loop models path clip-vit-base-patch32   # where its files go')
    .action(
    action(async (id: string | undefined, raw: unknown) => {
      const { manifest, modelsDir } = await setup(raw);
      const { findModel } = await import('../../src/models/manifest.js');
      const { modelDir } = await import('../../src/models/store.js');
      process.stdout.write(t(id ? modelDir(modelsDir, findModel(manifest, id).id) : modelsDir) + '\n');
      return 0;
    }),
  );
}
