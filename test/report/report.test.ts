/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { register as registerReport } from '../../cli/commands/report.js';
import { writeFileAtomic } from '../../src/runs/atomic.js';
import { enhanceImagePrompt } from '../../src/prompt/enhance.js';
import { REPORT_FILE, writeRunReport } from '../../src/report/report.js';
import { CheckpointSchema, writeCheckpoint } from '../../src/workflow/records.js';
import { STAGE_DIRS, WORKFLOW_STAGES, type Stage } from '../../src/workflow/stages.js';
import { RunOptionsSchema, RunSpecSchema, StageSummarySchema, type RunSpec, type StageSummary } from '../../src/workflow/types.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';
import { cleanPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

/**
 * The run report (report.html): built from a real full run on the offline defaults and opened in
 * headless Chromium from disk; and rendered for runs that are in progress, failed, prompt-only and
 * image-only, with user text that tries to inject markup and a secret that must not appear.
 */

// the report is written with the run directory's atomic writer (temp file, fsync, rename)
vi.mock('../../src/runs/atomic.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/runs/atomic.js')>();
  return { ...m, writeFileAtomic: vi.fn(m.writeFileAtomic) };
});

const START = join(REPO_ROOT, 'examples', 'start.txt');
const prefix = uniquePrefix('report');

/** A Chromium to drive: CI installs Debian's (`apt-get install chromium`, see .ci/run). */
function findChromium(): string | undefined {
  const candidates = [process.env.LOOP_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
  try {
    candidates.push(chromium.executablePath()); // a browser playwright downloaded, if any
  } catch {
    // playwright-core has no browser of its own
  }
  return candidates.find((p): p is string => !!p && existsSync(p));
}
const CHROMIUM = findChromium();
if (!CHROMIUM) console.warn('test/report: the browser test is skipped: no chromium executable (/usr/bin/chromium; apt-get install chromium, or set LOOP_TEST_CHROMIUM)');

const stateOf = (html: string, stage: string) => new RegExp(`<li data-stage="${stage}" data-state="([a-z-]+)"`).exec(html)?.[1];
const sectionOf = (html: string, id: string) => new RegExp(`<section id="${id}"[^>]*>([\\s\\S]*?)</section>`).exec(html)?.[1];
/** Every src and href value in the page. */
const refs = (html: string) => [...html.matchAll(/\s(?:src|href|poster)="([^"]*)"/g)].map((m) => m[1]!);

const temps: string[] = [];
const tempDir = async (name: string) => {
  const d = await mkdtemp(join(tmpdir(), name));
  temps.push(d);
  return d;
};

afterAll(async () => {
  await cleanPrefix(prefix);
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

describe('the report of a real full run (offline defaults)', () => {
  let runDir: string;
  let html: string;
  let reportPath: string;

  beforeAll(async () => {
    const work = await tempDir('loop-report-');
    const args = ['run', START, '--workflow', 'full', '--seed', '11', '--num-image-variations', '2', '--max-iterations-image', '2', '--num-clips', '2', '--num-video-attempts', '1', '--max-iterations-video', '2'];
    const r = await runCli(args, { cwd: work, env: { REDIS_URL, LOOP_QUEUE_PREFIX: prefix, LOOP_OUTPUT_DIR: join(work, 'out') }, timeoutMs: 170_000 });
    expect(r.code, r.stderr).toBe(0);
    runDir = /run directory: (.+)/.exec(r.stdout)![1]!.trim();
    // videos carry scores once scored: by the run's video-scoring stage where the workflow has it, else here
    const gen = join(runDir, STAGE_DIRS['video-generation']);
    const scored = JSON.parse(readFileSync(join(gen, 'clip_001', 'video_001_metadata.json'), 'utf8')).scores !== null;
    if (!scored) {
      const s = await runCli(['score-videos', gen], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'out') }, timeoutMs: 120_000 });
      expect(s.code, s.stderr).toBe(0);
    }
    reportPath = await writeRunReport(runDir);
    html = readFileSync(reportPath, 'utf8');
  }, 300_000);

  it('writes <run dir>/report.html atomically, every stage of the run done, offline defaults named as such', async () => {
    expect(reportPath).toBe(join(runDir, REPORT_FILE));
    expect(vi.mocked(writeFileAtomic)).toHaveBeenCalledWith(reportPath, html);
    expect(readdirSync(runDir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const cp = CheckpointSchema.parse(JSON.parse(readFileSync(join(runDir, 'workflow_checkpoint.json'), 'utf8')));
    expect(cp.status).toBe('completed');
    expect(html).toMatch(/<h2>Run status <span class="badge completed">completed<\/span>/);
    for (const s of cp.completed_stages) {
      expect(stateOf(html, s), s).toBe('done');
      // cost and time per stage, and what did the work, from the stage's own backend_note
      const row = new RegExp(`<tr data-stage="${s}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? '';
      expect(row, s).toMatch(/\d+(\.\d+)? (ms|s)</);
      expect(row, s).toContain('$0.0000');
      expect(row, s).toContain('offline default');
      const note = (cp.stages.find((x) => x.stage === s)!.outputs as { backend_note: string }).backend_note;
      expect(row, s).toContain(note.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&#39;').replace(/"/g, '&quot;'));
    }
  });

  it('shows the prompt rounds with scores, the ranked gallery with a bar per metric, the contact sheet and every video', () => {
    const prompt = sectionOf(html, 'prompt')!;
    expect(prompt).toContain('Original prompt');
    expect(prompt).toMatch(/data-round="1"/);
    expect(prompt).toMatch(/data-metric="specificity"[^>]*><span class="label">specificity<\/span><span class="bar"><span class="fill" style="width:\d+\.\d%"><\/span><\/span><span class="value">\d+\.\d</);

    const images = sectionOf(html, 'images')!;
    const trace = JSON.parse(readFileSync(join(runDir, 'stage_2_image_generation', 'generation_trace.json'), 'utf8'));
    const shown = [...images.matchAll(/data-image="([^"]+)"/g)].map((m) => m[1]);
    expect(shown).toEqual(trace.images.sort((a: { rank: number }, b: { rank: number }) => a.rank - b.rank).map((i: { file: string }) => i.file));
    expect(images).toMatch(/<div class="card best" data-image="image_001\.png"><img src="stage_2_image_generation\/image_001\.png\?v=[0-9a-z]+"/);
    expect(images).toMatch(/data-metric="technical"[^>]*><span class="label">technical<\/span><span class="bar"><span class="fill" style="width:\d+\.\d%">/);
    expect(images).toMatch(/<div class="score na" data-metric="pickscore" title="[^"]*not installed/);

    expect(sectionOf(html, 'storyboard')!).toMatch(/<img src="stage_3_storyboard\/storyboard\.png\?v=[0-9a-z]+" alt="storyboard contact sheet" class="sheet">/);

    const videos = sectionOf(html, 'videos')!;
    const mp4s = ['clip_001/video_001.mp4', 'clip_002/video_001.mp4'];
    for (const v of mp4s) {
      expect(videos).toMatch(new RegExp(`<video controls preload="metadata" src="stage_5_video_generation/${v.replace('.', '\\.')}\\?v=[0-9a-z]+" data-file="${v}">`));
      const meta = JSON.parse(readFileSync(join(runDir, 'stage_5_video_generation', v.replace('.mp4', '_metadata.json')), 'utf8'));
      const card = new RegExp(`data-video="${v}">([\\s\\S]*?)</div></div>`).exec(videos)![1]!;
      // its scores from its metadata: the overall and each dimension
      expect(card).toContain(`<span class="value">${meta.scores.overall.toFixed(1)}</span>`);
      expect(card).toMatch(/data-metric="temporal flickering"[^>]*><span class="label">temporal flickering<\/span><span class="bar"><span class="fill" style="width:\d/);
    }
  });

  it('is self-contained: no script, no stylesheet or font from elsewhere, every reference a relative path to a file in the run directory', () => {
    expect(html).not.toMatch(/<script|<link|@import|url\(|<iframe|<object|<embed/i);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
    const all = refs(html);
    expect(all.length).toBeGreaterThan(5);
    for (const ref of all) {
      expect(ref, ref).not.toMatch(/^[a-z][a-z0-9+.-]*:|^\/|^\\|(^|\/)\.\.(\/|$)/i);
      expect(existsSync(join(runDir, decodeURIComponent(ref.split('?')[0]!))), ref).toBe(true);
    }
  });

  it.skipIf(!CHROMIUM)('opens from disk in headless Chromium: no console error, no failed or non-file request, every image drawn, every video loads its metadata', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: { url: string; type: string }[] = [];
      const failed: { url: string; type: string; error: string }[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('request', (q) => requests.push({ url: q.url(), type: q.resourceType() }));
      page.on('requestfailed', (q) => failed.push({ url: q.url(), type: q.resourceType(), error: q.failure()?.errorText ?? '?' }));
      await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load' });
      const state = await page.evaluate(async () => {
        const videos = [...document.querySelectorAll('video')];
        const until = Date.now() + 20_000;
        while (videos.some((v) => v.readyState < 1 && !v.error) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
        return {
          h264: document.createElement('video').canPlayType('video/mp4; codecs="avc1.64001F"'),
          images: [...document.images].map((i) => ({ src: i.currentSrc, complete: i.complete, w: i.naturalWidth })),
          videos: videos.map((v) => ({ src: v.currentSrc, ready: v.readyState, error: v.error?.message ?? null, w: v.videoWidth, d: v.duration })),
        };
      });
      expect(errors).toEqual([]);
      expect(requests.filter((q) => !q.url.startsWith('file://'))).toEqual([]);
      // preload="metadata": once a video has its metadata, Chromium suspends the rest of its load
      // and reports that request as ERR_ABORTED. That, for a video that did load, is not a failure;
      // a missing file (ERR_FILE_NOT_FOUND) or any other failure is.
      const loaded = new Set(state.videos.filter((v) => v.ready >= 1).map((v) => v.src));
      expect(failed.filter((f) => !(f.type === 'media' && f.error === 'net::ERR_ABORTED' && loaded.has(f.url)))).toEqual([]);

      const cards = (html.match(/data-image="/g) ?? []).length;
      expect(state.images).toHaveLength(cards + 1); // the gallery and the contact sheet
      for (const i of state.images) expect(i.w, i.src).toBeGreaterThan(0);

      const mp4s = readdirSync(join(runDir, 'stage_5_video_generation'), { recursive: true }).filter((f) => String(f).endsWith('.mp4'));
      expect(state.videos).toHaveLength(mp4s.length);
      for (const v of state.videos) {
        const file = fileURLToPath(v.src.split('?')[0]!);
        expect(file.startsWith(runDir + '/'), v.src).toBe(true);
        expect(existsSync(file), v.src).toBe(true);
        // Debian's chromium plays H.264 (the animatics' codec); a build without it still shows the file
        if (state.h264) {
          expect(v.error, v.src).toBeNull();
          expect(v.ready, v.src).toBeGreaterThanOrEqual(1);
          expect(v.w).toBe(640);
          expect(v.d).toBeGreaterThan(0);
        } else console.warn(`test/report: this chromium cannot play H.264; checked only that ${v.src} is a file in the run directory`);
      }
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('renders an image-only run: its three stages, the gallery, nothing after it', async () => {
    const dir = join(await tempDir('loop-report-io-'), 'feedback_loops', 'io');
    await mkdir(dir, { recursive: true });
    await cp(join(runDir, 'stage_1_image_prompt'), join(dir, 'stage_1_image_prompt'), { recursive: true });
    await cp(join(runDir, 'stage_2_image_generation'), join(dir, 'stage_2_image_generation'), { recursive: true });
    const full = CheckpointSchema.parse(JSON.parse(readFileSync(join(runDir, 'workflow_checkpoint.json'), 'utf8')));
    const spec: RunSpec = { ...full.spec, workflow: 'image-only', run_dir: 'feedback_loops/io' };
    await writeFile(join(dir, 'run_spec.json'), JSON.stringify(spec));
    await writeCheckpoint(dir, spec, full.stages.slice(0, 3), 'completed', null);
    const page = readFileSync(await writeRunReport(dir), 'utf8');
    expect([...page.matchAll(/<li data-stage="([a-z-]+)" data-state="([a-z-]+)"/g)].map((m) => `${m[1]}:${m[2]}`)).toEqual(['image-prompt:done', 'image-generation:done', 'image-scoring:done']);
    expect(page).toMatch(/<h2>Run status <span class="badge completed">/);
    expect((page.match(/<img src="stage_2_image_generation\/image_00\d\.png/g) ?? []).length).toBe(2);
    expect(page).not.toMatch(/data-section="(storyboard|video-prompts|videos)"/);
  });
});

// ---- runs that are not finished, or not full ---------------------------------------------------------

const SECRET = 'r8_reportTestSecretToken_0123456789';
const NASTY = `a cat <script>alert("x")</script> on a windowsill & a <img src=x onerror=alert(1)> "quoted" 'single' ${SECRET}`;

/** A run directory whose stage 1 really ran (offline agents), and a checkpoint saying so. */
async function stageOneRun(workflow: RunSpec['workflow'], status: 'running' | 'completed' | 'failed', error: string | null = null): Promise<{ dir: string; spec: RunSpec; summary: StageSummary }> {
  const root = await tempDir('loop-report-s1-');
  const id = `r${Date.now()}`;
  const dir = join(root, 'feedback_loops', id);
  const stageDir = join(dir, STAGE_DIRS['image-prompt']);
  await mkdir(stageDir, { recursive: true });
  const spec = RunSpecSchema.parse({
    run_id: id,
    workflow,
    run_dir: `feedback_loops/${id}`,
    prompt: NASTY,
    prompt_source: 'test',
    options: RunOptionsSchema.parse({ seed: 3, agent_backend: 'offline', image_backend: 'sketch', max_iterations_image: 2 }),
    created_at: new Date().toISOString(),
  });
  await writeFile(join(dir, 'run_spec.json'), JSON.stringify(spec));
  const s = await enhanceImagePrompt({ prompt: NASTY, runDir: stageDir, maxIterations: 2, threshold: 99, backend: 'offline', creativeModel: 'm', critiqueModel: 'm', seed: 3 });
  const files = readdirSync(stageDir).sort();
  const summary = StageSummarySchema.parse({
    stage: 'image-prompt',
    dir: STAGE_DIRS['image-prompt'],
    cost_usd: s.cost.total_cost_usd,
    duration_ms: s.duration_ms,
    started_at: s.started_at,
    ended_at: s.ended_at,
    scores: { ...s.final_scores },
    artifacts: files.map((f) => `${STAGE_DIRS['image-prompt']}/${f}`),
    outputs: { final_prompt: s.final_prompt, final_prompt_file: `${STAGE_DIRS['image-prompt']}/${s.final_prompt_file}`, summary_file: `${STAGE_DIRS['image-prompt']}/prompt_trace_summary.json`, stop_reason: s.stop_reason, backend: s.backend, backend_note: s.backend_note },
  });
  const order = WORKFLOW_STAGES[workflow]!;
  await writeCheckpoint(dir, spec, [summary], status, status === 'completed' ? null : (order[1] ?? null), error);
  return { dir, spec, summary };
}

/** writeRunReport with a secret in the environment, as a worker with a key has. */
async function reportWithSecret(dir: string): Promise<string> {
  vi.stubEnv('REPLICATE_API_TOKEN', SECRET);
  try {
    return readFileSync(await writeRunReport(dir), 'utf8');
  } finally {
    vi.unstubAllEnvs();
  }
}

describe('the report of runs in progress, failed, or not full', () => {
  it('a full run with only stage 1 done: stage 1 shown, the next in progress, the rest pending; user text escaped; the secret redacted', async () => {
    const { dir } = await stageOneRun('full', 'running');
    const page = await reportWithSecret(dir);
    expect(page).toMatch(/<h2>Run status <span class="badge running">in progress<\/span>/);
    const states = Object.fromEntries((WORKFLOW_STAGES.full as Stage[]).map((s) => [s, stateOf(page, s)]));
    const [, next, ...later] = WORKFLOW_STAGES.full as Stage[];
    expect(states['image-prompt']).toBe('done');
    expect(states[next!]).toBe('running');
    for (const s of later) expect(states[s], s).toBe('pending');
    for (const id of ['storyboard', 'video-prompts', 'videos']) expect(sectionOf(page, id), id).toContain('Pending: this stage has not started yet.');
    expect(sectionOf(page, 'images')).toContain('In progress: nothing written yet.');
    expect(page).not.toMatch(/<img|<video/);
    expect(page).toContain('<meta http-equiv="refresh" content="15">');
    // the prompt's rounds, read from stage 1's summary
    expect(sectionOf(page, 'prompt')).toMatch(/data-round="1"/);
    // markup in the prompt is text: nothing of it is a tag or an attribute
    expect(page).not.toMatch(/<script|<img src=x|<[^>]*\sonerror=/i);
    expect(page).toContain('a cat &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; on a windowsill &amp; a &lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &#39;single&#39;');
    expect(page).not.toContain(SECRET);
    expect(page).not.toContain(SECRET.slice(0, 12));
    expect(page).toContain('[redacted]');
  });

  it('stage 1 still running (no summary yet): its rounds so far from the numbered trace files', async () => {
    const { dir, spec } = await stageOneRun('image-only', 'running');
    const stageDir = join(dir, STAGE_DIRS['image-prompt']);
    for (const f of readdirSync(stageDir)) if (f === 'prompt_trace_summary.json' || /final_enhanced_prompt|iteration_2/.test(f)) await rm(join(stageDir, f));
    await writeCheckpoint(dir, spec, [], 'running', 'image-prompt');
    const page = readFileSync(await writeRunReport(dir), 'utf8');
    expect(stateOf(page, 'image-prompt')).toBe('running');
    expect(stateOf(page, 'image-generation')).toBe('pending');
    const prompt = sectionOf(page, 'prompt')!;
    expect(prompt).toContain('In progress: what is written so far.');
    expect(prompt).toContain('the numbered trace files (no summary yet)');
    const critique = JSON.parse(readFileSync(join(stageDir, readdirSync(stageDir).find((f) => f.includes('agent2_iteration_1'))!), 'utf8').split('\nJSON:\n')[1]!);
    expect(prompt).toMatch(new RegExp(`data-round="1"><h3>Round 1 · overall ${critique.scores.overall.toFixed(1).replace('.', '\\.')}<`));
  });

  it('a failed run: the failed stage, the error, and the stages after it not run', async () => {
    const { dir } = await stageOneRun('image-only', 'failed', 'stage image-generation failed: <b>provider</b> down');
    const page = readFileSync(await writeRunReport(dir), 'utf8');
    expect(page).toMatch(/<h2>Run status <span class="badge failed">failed<\/span>/);
    expect(stateOf(page, 'image-prompt')).toBe('done');
    expect(stateOf(page, 'image-generation')).toBe('failed');
    expect(stateOf(page, 'image-scoring')).toBe('not-run');
    expect(page).toContain('<p class="error">stage image-generation failed: &lt;b&gt;provider&lt;/b&gt; down</p>');
  });

  it('a prompt-only run: one stage, no gallery', async () => {
    const { dir } = await stageOneRun('prompt-only', 'completed');
    const page = readFileSync(await writeRunReport(dir), 'utf8');
    expect([...page.matchAll(/<li data-stage="([a-z-]+)"/g)].map((m) => m[1])).toEqual(['image-prompt']);
    expect(page).toMatch(/<h2>Run status <span class="badge completed">completed<\/span>/);
    expect(page).not.toMatch(/data-section="images"/);
    expect(page).not.toContain('http-equiv="refresh"');
  });

  it('tolerates a bare or damaged run directory, and refuses one that does not exist', async () => {
    const dir = await tempDir('loop-report-bare-');
    let page = readFileSync(await writeRunReport(dir), 'utf8');
    expect(page).toMatch(/<h2>Run status <span class="badge unknown">unknown<\/span>/);
    await writeFile(join(dir, 'workflow_checkpoint.json'), '{"status": "running", "stages": [{"stage": "image-prompt"}]');
    page = readFileSync(await writeRunReport(dir), 'utf8');
    expect(sectionOf(page, 'problems')).toContain('workflow_checkpoint.json: not valid JSON');
    await expect(writeRunReport(join(dir, 'nope'))).rejects.toThrow(/run directory not found/);
  });

  it('`loop report <run-dir>` writes the page and prints its path; exit 3 for a missing folder', async () => {
    const { dir } = await stageOneRun('prompt-only', 'completed');
    const out: string[] = [];
    const err: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    const before = process.exitCode;
    try {
      const program = () => {
        const p = new Command('loop').exitOverride();
        registerReport(p);
        return p;
      };
      await program().parseAsync(['report', dir], { from: 'user' });
      expect(process.exitCode).toBe(0);
      expect(out.join('')).toBe(`${join(dir, REPORT_FILE)}\n`);
      expect(await readFile(join(dir, REPORT_FILE), 'utf8')).toMatch(/^<!doctype html>/);
      await program().parseAsync(['report', join(dir, 'missing')], { from: 'user' });
      expect(process.exitCode).toBe(3);
      expect(err.join('')).toMatch(/^loop: error: run directory not found: /);
    } finally {
      so.mockRestore();
      se.mockRestore();
      process.exitCode = before;
    }
  });
});
