/**
 * `loop models list | pull <id> | verify [id] | path [id]`: the model files the scorers load.
 * Folder: --models-dir, else LOOP_MODELS_DIR, else the user cache (~/.cache/loop/models).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { action, parseOptions } from '../shared.js';
import { table } from '../format.js';

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
  const { resolveModelsDir } = await import('../../src/models/store.js');
  const { loadEnv } = await import('../../src/config/env.js');
  const env = loadEnv();
  const manifest = await loadManifest(o.manifest);
  const modelsDir = resolveModelsDir({ modelsDir: o.modelsDir, env: { ...process.env, LOOP_MODELS_DIR: env.LOOP_MODELS_DIR } });
  return { o, manifest, modelsDir };
}

const common = (c: Command) =>
  c
    .option('--models-dir <dir>', 'model folder (default: LOOP_MODELS_DIR, then ~/.cache/loop/models)')
    .option('--manifest <file>', 'model manifest (default: models/manifest.json of this package)')
    .option('--json', 'machine-readable output on stdout');


export function register(program: Command): void {
  const models = program.command('models').description('list, download, verify and locate the scoring models');

  common(models.command('list').description('each model: present / partial / missing, size, where it goes')).action(
    action(async (raw: unknown) => {
      const { o, manifest, modelsDir } = await setup(raw);
      const { modelState } = await import('../../src/models/store.js');
      const states = await Promise.all(manifest.models.map((m) => modelState(modelsDir, m)));
      if (o.json) {
        process.stdout.write(
          JSON.stringify({ models_dir: modelsDir, models: manifest.models.map((m, i) => ({ id: m.id, role: m.role, metrics: m.metrics, obtain: m.obtain, ...states[i] })) }, null, 2) + '\n',
        );
        return 0;
      }
      process.stdout.write(`models folder: ${modelsDir}\n\n`);
      const rows: string[][] = [];
      manifest.models.forEach((m, i) => {
        const s = states[i]!;
        const known = m.files.every((f) => f.size !== null) ? m.files.reduce((a, f) => a + f.size!, 0) : null;
        rows.push([m.id, s.status, s.status === 'missing' ? (known === null ? '—' : `(${human(known)})`) : human(s.size), m.metrics.join(','), m.obtain, s.dir]);
      });
      process.stdout.write(table(['id', 'status', 'size', 'metrics', 'obtain', 'path'], rows, { rule: false }) + '\n');
      const missing = manifest.models.filter((_, i) => states[i]!.status !== 'present');
      if (missing.length) {
        process.stdout.write('\n');
        for (const m of missing) process.stdout.write(m.obtain === 'download' ? `${m.id}: loop models pull ${m.id}\n` : `${m.id}: ${m.instructions ?? 'see models/README.md'}\n`);
      }
      return 0;
    }),
  );

  common(models.command('pull').argument('<id>', 'model id (see `loop models list`)').description('download a model: progress, resume, sha256 verification'))
    .option('--force', 're-download files that are already present')
    .action(
      action(async (id: string, raw: unknown) => {
        const { o, manifest, modelsDir } = await setup(raw);
        const { findModel } = await import('../../src/models/manifest.js');
        const { pullModel } = await import('../../src/models/pull.js');
        const m = findModel(manifest, id);
        const tty = process.stderr.isTTY === true;
        let lastLine = '';
        let lastPct = -1;
        const results = await pullModel(modelsDir, m, {
          force: o.force,
          onProgress: ({ file, received, total }) => {
            const pct = total ? Math.floor((received / total) * 100) : -1;
            const line = `${m.id}/${file}: ${human(received)}${total ? ` of ${human(total)} (${pct}%)` : ''}`;
            if (tty) process.stderr.write(`\r${line}\x1b[K`);
            else if (pct !== lastPct && (pct % 10 === 0 || pct === -1) && line !== lastLine) process.stderr.write(line + '\n');
            lastLine = line;
            lastPct = pct;
          },
        });
        if (tty && lastLine) process.stderr.write('\n');
        if (o.json) process.stdout.write(JSON.stringify({ id: m.id, dir: `${modelsDir}/${m.id}`, files: results }, null, 2) + '\n');
        else
          for (const r of results)
            process.stdout.write(`${r.status === 'present' ? 'present   ' : 'downloaded'}  ${m.id}/${r.path}  sha256 ${r.sha256}${r.pinned ? ' (verified)' : ' (unpinned: not in the manifest)'}${r.resumed ? ' (resumed)' : ''}\n`);
        return 0;
      }),
    );

  common(models.command('verify').argument('[id]', 'one model (default: every installed model)').description('sha256 of every model file against the manifest'))
    .action(
      action(async (id: string | undefined, raw: unknown) => {
        const { o, manifest, modelsDir } = await setup(raw);
        const { findModel } = await import('../../src/models/manifest.js');
        const { modelState, verifyModel } = await import('../../src/models/store.js');
        const { ExitCode } = await import('../../src/errors.js');
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
        if (o.json) process.stdout.write(JSON.stringify({ models_dir: modelsDir, ok: !bad, models: report }, null, 2) + '\n');
        else
          for (const r of report) {
            process.stdout.write(`${r.id}: ${r.status}\n`);
            for (const f of r.files)
              process.stdout.write(
                `  ${f.status.padEnd(13)} ${f.path}${f.sha256 ? `  sha256 ${f.sha256}` : ''}${f.status === 'mismatch' ? `  (manifest: ${f.expected})` : ''}${f.status === 'unpinned' ? '  (no hash in the manifest to check against)' : ''}\n`,
              );
          }
        if (bad) {
          process.stderr.write(`loop: error: model verification failed in ${modelsDir}\n`);
          return ExitCode.MODEL;
        }
        return 0;
      }),
    );

  common(models.command('path').argument('[id]', 'a model id').description('print the models folder, or one model\'s folder')).action(
    action(async (id: string | undefined, raw: unknown) => {
      const { manifest, modelsDir } = await setup(raw);
      const { findModel } = await import('../../src/models/manifest.js');
      const { modelDir } = await import('../../src/models/store.js');
      process.stdout.write((id ? modelDir(modelsDir, findModel(manifest, id).id) : modelsDir) + '\n');
      return 0;
    }),
  );
}
