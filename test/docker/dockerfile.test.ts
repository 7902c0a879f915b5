/**
 * The Docker image builds from exactly the files its Dockerfile copies (issue 13, item 7). The
 * build stage is replayed into an empty folder (test/docker/replay.ts: its COPY lines, minus
 * .dockerignore, then its build commands, with node_modules linked from this checkout so nothing
 * is fetched); a source the image needs that no COPY line brings fails the compile. The built CLI
 * then starts there, and imports only what survives `npm prune --omit=dev`.
 *
 * The real `docker build` runs too when a Docker daemon answers and LOOP_TEST_DOCKER_BUILD=1 (it
 * pulls base images and runs `npm ci`: network beyond npm, minutes).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';
import { buildStage, copyArgs, dockerignore, parseDockerfile, replayBuildStage, type Replay } from './replay.js';

const DOCKERFILE = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const NODE_MODULES = join(REPO_ROOT, 'node_modules');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function replay(dockerfile: string): Promise<Replay> {
  const into = mkdtempSync(join(tmpdir(), 'loop-docker-replay-'));
  dirs.push(into);
  return replayBuildStage(dockerfile, { context: REPO_ROOT, into, nodeModules: NODE_MODULES });
}

const failed = (r: Replay) => r.steps.filter((s) => s.ran && s.code !== 0);
const show = (r: Replay) => r.steps.map((s) => `${s.ran ? `ran (exit ${s.code})` : 'skipped'}: ${s.command}${s.code ? `\n${s.output?.slice(0, 4000)}` : ''}`).join('\n');

function node(args: string[], cwd: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env } });
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  );
}

describe('Dockerfile build stage, replayed from exactly what it copies', () => {
  it('copies the app (no test/ or bench/), compiles it, and the CLI starts from the copy', { timeout: 300_000 }, async () => {
    const r = await replay(DOCKERFILE);
    expect(failed(r), show(r)).toEqual([]);
    expect(r.steps.some((s) => s.ran && /\btsc\b/.test(s.command)), show(r)).toBe(true);
    expect(r.copied.filter((f) => /^(test|bench|node_modules|dist)\//.test(f) || f === '.env')).toEqual([]);
    expect(existsSync(join(r.appDir, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(r.appDir, 'dist', 'bench'))).toBe(false);

    // the CLI runs from the copy: its package.json, models/manifest.json, the src/ data files
    const help = node(['dist/cli/main.js', '--help'], r.appDir);
    expect(help.status, help.stderr).toBe(0);
    const models = node(['dist/cli/main.js', 'models', 'list'], r.appDir, { LOOP_MODELS_DIR: join(r.appDir, 'no-models') });
    expect(models.status, models.stderr).toBe(0);

    // the image prunes devDependencies after the build: nothing compiled may import one
    const pkg = JSON.parse(readFileSync(join(r.appDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const bare = new Set<string>();
    const IMPORTS = [/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g];
    for (const f of jsFiles(join(r.appDir, 'dist'))) {
      const js = readFileSync(f, 'utf8');
      for (const re of IMPORTS)
        for (const [, spec] of js.matchAll(re)) {
          const name = /^(?:@[\w.-]+\/)?[\w.-]+/.exec(spec!)?.[0];
          if (!name || spec!.startsWith('.') || spec!.startsWith('node:') || builtins.has(name)) continue;
          bare.add(name);
        }
    }
    expect(bare.has('onnxruntime-node') && bare.has('bullmq'), [...bare].join(', ')).toBe(true);
    expect([...bare].filter((p) => !(p in pkg.dependencies)).sort()).toEqual([]);
  });

  it('fails when a path the app needs is not copied (here: queues/)', { timeout: 300_000 }, async () => {
    const lines = DOCKERFILE.split('\n');
    const i = lines.findIndex((l) => /^COPY\s+queues\s/.test(l));
    expect(i).toBeGreaterThan(-1);
    const r = await replay([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n'));
    expect(failed(r).length, show(r)).toBe(1);
    expect(failed(r)[0]!.output).toMatch(/Cannot find module '\.\.\/queues\//);
  });

  it('the replay reads the Dockerfile as Docker does: stages, COPY forms, .dockerignore', () => {
    const stages = parseDockerfile('ARG X=1\nFROM a AS one\n# c\nRUN a \\\n  && b\nCOPY --chown=1:1 ["x y", "z/"]\nFROM b\nCOPY --from=one /a /b\n');
    expect(stages.map((s) => [s.from, s.name])).toEqual([['a', 'one'], ['b', undefined]]);
    expect(stages[0]!.instructions.map((i) => i.op)).toEqual(['RUN', 'COPY']);
    expect(stages[0]!.instructions[0]!.args).toBe('a && b');
    expect(copyArgs(stages[0]!.instructions[1]!.args)).toEqual({ from: undefined, sources: ['x y'], dest: 'z/' });
    expect(buildStage(stages).name).toBe('one');
    const ignored = dockerignore('# c\nnode_modules\n/dist/\n**/*.tmp-*\n');
    expect(['node_modules', 'node_modules/a/b.js', 'dist/x.js', 'src/a.json.tmp-1', 'a.tmp-2'].every(ignored)).toBe(true);
    expect(['src/node_modules.ts', 'distx', 'src/a.json'].some(ignored)).toBe(false);
  });
});

describe('Dockerfile images', () => {
  const stages = parseDockerfile(DOCKERFILE);
  const byName = (n: string) => stages.find((s) => s.name === n);

  it('the default image is the CPU one; the gpu target runs on CUDA 12 + cuDNN 9 with the CUDA provider', () => {
    expect(stages.at(-1)!.name).toBe('cpu');
    const args = Object.fromEntries([...DOCKERFILE.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
    const image = (s: string) => s.replace(/^\$\{(\w+)\}$/, (_, k: string) => args[k] ?? '');
    expect(image(byName('gpu')!.from)).toMatch(/^nvidia\/cuda:12\.\d+(\.\d+)?-cudnn-runtime-ubuntu\d+\.\d+$/);
    expect(image(byName('cpu')!.from)).toMatch(/^node:20-.*slim$/);
    // the CPU build skips onnxruntime-node's CUDA download; the gpu stages fetch it and check it is there
    expect(buildStage(stages).instructions.some((i) => i.op === 'ENV' && /\bONNXRUNTIME_NODE_INSTALL=skip\b/.test(i.args))).toBe(true);
    const gpuDeps = byName('gpu-deps')!.instructions.map((i) => i.args).join('\n');
    expect(gpuDeps).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/);
    expect(gpuDeps).toMatch(/libonnxruntime_providers_cuda\.so/);
    expect(byName('gpu')!.instructions.some((i) => i.op === 'COPY' && copyArgs(i.args).from === 'gpu-deps')).toBe(true);
  });

  it('docker-compose.yml builds the gpu target for the scoring worker and the cpu one for the rest', () => {
    const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    const block = (name: string) => new RegExp(`^  ${name}:\\n((?:    .*\\n|\\s*\\n)*)`, 'm').exec(compose)?.[1] ?? '';
    expect(/^x-loop: &loop\n  build:\n    context: \.\n    target: cpu$/m.test(compose)).toBe(true);
    expect(block('scoring-worker')).toMatch(/build:\n\s+context: \.\n\s+target: gpu\n/);
    expect(block('scoring-worker')).toMatch(/--device", "cuda:0"/);
    for (const s of ['worker', 'board']) expect(block(s)).not.toMatch(/target:/);
  });

  const daemon = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 10_000 });
  const why =
    daemon.error || daemon.status !== 0
      ? `no Docker daemon (${(daemon.error?.message ?? daemon.stderr.trim().split('\n')[0]) || 'docker version failed'})`
      : process.env.LOOP_TEST_DOCKER_BUILD !== '1'
        ? 'set LOOP_TEST_DOCKER_BUILD=1 to build the real image (pulls base images, runs npm ci)'
        : '';
  it.skipIf(why !== '')(`docker build --target cpu succeeds${why ? ` (skipped: ${why})` : ''}`, { timeout: 1_800_000 }, () => {
    const r = spawnSync('docker', ['build', '--target', 'cpu', '-t', 'loop:test', '.'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 1_800_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`.slice(-4000)).toBe(0);
    const help = spawnSync('docker', ['run', '--rm', 'loop:test', '--help'], { encoding: 'utf8', timeout: 120_000 });
    expect(help.status, help.stderr).toBe(0);
  });
});
