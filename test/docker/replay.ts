/**
 * Replays a Dockerfile's build stage without Docker: its COPY lines copy exactly those paths from
 * the build context (minus what .dockerignore keeps out) into an empty folder, and its RUN lines
 * run the commands that build the app, in order, in the stage's WORKDIR:
 *   - `npm ci` / `npm install` links node_modules from this checkout (offline) and, unless given
 *     --ignore-scripts, runs the root package's install lifecycle scripts (`prepare`) as npm would;
 *   - a `tsc …` (or `npx tsc …`, `./node_modules/.bin/tsc …`) runs as written.
 * Everything else (npm rebuild, npm prune, downloads, checks) is listed as skipped: it fetches or
 * trims dependencies, which the linked node_modules stands in for.
 *
 * Supports what this repository's Dockerfile uses: FROM/WORKDIR/ENV/COPY/RUN, `\` continuations,
 * COPY flags and JSON form, and .dockerignore lines without `!` exceptions.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, symlink } from 'node:fs/promises';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';

export interface Instruction {
  op: string;
  args: string;
}
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Logical instructions (continuations joined, comments dropped), grouped by FROM. */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#') || (!line && !cur)) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1).trimEnd() + ' ';
      continue;
    }
    logical.push((cur + line).trim());
    cur = '';
  }
  if (cur.trim()) logical.push(cur.trim());
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/s.exec(l)!;
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: f[1]!, name: f[2], instructions: [] });
    } else if (stages.length) stages.at(-1)!.instructions.push({ op, args });
  }
  return stages;
}

export function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  let rest = args.trim();
  const flags: Record<string, string> = {};
  for (let m; (m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)); rest = rest.slice(m[0].length)) flags[m[1]!] = m[2] ?? '';
  const parts: string[] = rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/);
  if (parts.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { from: flags.from, sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

const isContextCopy = (i: Instruction) => i.op === 'ADD' || (i.op === 'COPY' && copyArgs(i.args).from === undefined);

/** The one stage that copies from the build context (the others copy from stages). */
export function buildStage(stages: Stage[]): Stage {
  const found = stages.filter((s) => s.instructions.some(isContextCopy));
  if (found.length !== 1) throw new Error(`expected one stage that copies from the build context, found ${found.length}`);
  return found[0]!;
}

/** .dockerignore as a predicate over context-relative paths (a matched folder excludes its contents). */
export function dockerignore(text: string): (rel: string) => boolean {
  const res = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((p) => {
      if (p.startsWith('!')) throw new Error(`.dockerignore exceptions (${p}) are not supported by this replay`);
      const glob = posix.normalize(p.replace(/^\/+/, '')).replace(/\/+$/, '');
      const re = glob
        .split('/')
        .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return new RegExp(`^${re}$`);
    });
  return (rel) => {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (res.some((r) => r.test(prefix))) return true;
    }
    return false;
  };
}

export interface Step {
  command: string;
  ran: boolean;
  code?: number;
  output?: string;
}
export interface Replay {
  /** The stage's final WORKDIR in the replay folder (where the image's /app would be). */
  appDir: string;
  steps: Step[];
  /** Every file copied, relative to the context. */
  copied: string[];
}

function sh(command: string, cwd: string, env: Record<string, string>, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn('sh', ['-c', command], {
      cwd,
      env: { ...process.env, ...env, PATH: `${join(cwd, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      done({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

async function copyInto(src: string, dest: string, rel: string, ignored: (rel: string) => boolean, copied: string[]): Promise<void> {
  if (ignored(rel)) return;
  const st = await stat(src);
  if (st.isDirectory()) {
    await mkdir(dest, { recursive: true });
    for (const name of (await readdir(src)).sort()) await copyInto(join(src, name), join(dest, name), `${rel}/${name}`, ignored, copied);
  } else {
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(src, dest);
    copied.push(rel);
  }
}

const LIFECYCLE = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare'];

export async function replayBuildStage(
  dockerfile: string,
  opts: { context: string; into: string; nodeModules: string; timeoutMs?: number },
): Promise<Replay> {
  const stage = buildStage(parseDockerfile(dockerfile));
  const ignorePath = join(opts.context, '.dockerignore');
  const ignored = existsSync(ignorePath) ? dockerignore(await readFile(ignorePath, 'utf8')) : () => false;
  const fsRoot = join(opts.into, 'fs');
  const at = (p: string) => join(fsRoot, ...p.split('/').filter(Boolean));
  let workdir = '/';
  const env: Record<string, string> = {};
  const steps: Step[] = [];
  const copied: string[] = [];
  const run = async (command: string, extraEnv: Record<string, string>) => {
    const r = await sh(command, at(workdir), { ...env, ...extraEnv }, opts.timeoutMs ?? 300_000);
    steps.push({ command, ran: true, ...r });
    return r.code === 0;
  };
  await mkdir(fsRoot, { recursive: true });
  for (const ins of stage.instructions) {
    if (ins.op === 'WORKDIR') {
      workdir = posix.resolve(workdir, ins.args);
      await mkdir(at(workdir), { recursive: true });
    } else if (ins.op === 'ENV') {
      for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
    } else if (isContextCopy(ins)) {
      const { sources, dest } = copyArgs(ins.args);
      const destAbs = posix.resolve(workdir, dest);
      const intoDir = dest.endsWith('/') || sources.length > 1;
      for (const s of sources) {
        if (/[*?[]/.test(s)) throw new Error(`COPY wildcards (${s}) are not supported by this replay`);
        const src = resolve(opts.context, s);
        const rel = relative(opts.context, src).split(sep).join('/');
        if (rel.startsWith('..')) throw new Error(`COPY ${s}: outside the build context`);
        if (!existsSync(src) || (rel && ignored(rel))) throw new Error(`COPY ${s}: not found in the build context${existsSync(src) ? ' (.dockerignore excludes it)' : ''}`);
        const isDir = (await stat(src)).isDirectory();
        const target = isDir || !intoDir ? destAbs : posix.join(destAbs, posix.basename(rel));
        await copyInto(src, at(target), rel, ignored, copied);
      }
    } else if (ins.op === 'RUN') {
      for (const part of ins.args.split(/&&|;/).map((c) => c.trim()).filter(Boolean)) {
        const assign: Record<string, string> = {};
        let cmd = part;
        for (let m; (m = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s+/.exec(cmd)); cmd = cmd.slice(m[0].length)) assign[m[1]!] = m[2]!;
        if (/^npm\s+(ci|install|i)(\s|$)/.test(cmd)) {
          const cwd = at(workdir);
          if (!existsSync(join(cwd, 'package.json'))) throw new Error(`${cmd}: no package.json in ${workdir} yet`);
          if (!existsSync(join(cwd, 'node_modules'))) await symlink(opts.nodeModules, join(cwd, 'node_modules'), 'dir');
          steps.push({ command: `${cmd} (node_modules linked from the checkout)`, ran: false });
          if (/\s--ignore-scripts(\s|=true|$)/.test(cmd)) continue;
          const scripts = (JSON.parse(await readFile(join(cwd, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
          for (const name of LIFECYCLE) if (scripts[name] && !(await run(scripts[name], assign))) return { appDir: at(workdir), steps, copied };
        } else if (/^(?:npx\s+(?:--\S+\s+)*)?(?:\S*\/)?tsc(\s|$)/.test(cmd)) {
          if (!(await run(cmd, assign))) return { appDir: at(workdir), steps, copied };
        } else steps.push({ command: part, ran: false });
      }
    }
  }
  return { appDir: at(workdir), steps, copied };
}
