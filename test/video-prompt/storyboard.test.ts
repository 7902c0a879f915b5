/**
 * Storyboard mode on a real storyboard folder (made here with createStoryboard: offline planner,
 * sketch frames), in process and through the built CLI.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvSchema } from '../../src/config/env.js';
import { CostLedger } from '../../src/runs/ledger.js';
import { createStoryboard } from '../../src/storyboard/create.js';
import { distinctMoves } from '../../src/video-prompt/critic.js';
import { VideoPromptSummarySchema } from '../../src/video-prompt/enhance.js';
import {
  enhanceStoryboardMotion,
  readStoryboardMotionFile,
  StoryboardMotionFileSchema,
  VideoPromptTraceFileSchema,
} from '../../src/video-prompt/storyboard-mode.js';
import { startFakeOpenAI } from '../fakes/openai-server.js';
import { runCli } from '../helpers/cli.js';

const PROMPT = 'A fox steals a lantern from a sleeping fisherman, runs across the frozen lake, and the ice begins to crack';
let work: string;
let board: string;
let meta: { clips: Array<{ clip: number; start: { file: string }; end: { file: string } }>; shot_list: Array<{ clip: number; movement: { type: string; direction: string } }> };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-vp-storyboard-'));
  board = join(work, 'storyboards', 'board');
  await createStoryboard({
    dir: board,
    prompt: PROMPT,
    numClips: 3,
    seed: 11,
    planner: 'offline',
    plannerModel: 'gpt-4o',
    env: EnvSchema.parse({}),
    frameVariations: 1,
    backend: 'sketch',
    model: 'sketch',
    fallbackModels: [],
    aspectRatio: '16:9',
    negativePrompt: null,
    concurrency: 4,
  });
  meta = JSON.parse(await readFile(join(board, 'storyboard_metadata.json'), 'utf8'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('storyboard mode', () => {
  it('enhances every clip with its context; the motion file validates and points at frames that exist', async () => {
    const out = join(work, 'video_prompt', 'run1');
    const ledger = new CostLedger();
    const r = await enhanceStoryboardMotion({ storyboardDir: board, outDir: out, maxIterations: 3, threshold: 85, backend: 'offline', creativeModel: 'gpt-4o', critiqueModel: 'gpt-4o', ledger, concurrency: 2 });

    const file = StoryboardMotionFileSchema.parse(JSON.parse(await readFile(join(out, 'storyboard_enhanced_motion_prompts.json'), 'utf8')));
    expect(file.storyboard_dir).toBe('../../storyboards/board');
    expect(file.backend).toBe('offline');
    expect(file.backend_note).toMatch(/rule-based/);
    expect(file.unified_trace).toBe('video_prompt_trace.json');
    expect(file.clips.map((c) => c.clip)).toEqual([1, 2, 3]);
    for (const c of file.clips) {
      const m = meta.clips.find((x) => x.clip === c.clip)!;
      const shot = meta.shot_list.find((x) => x.clip === c.clip)!;
      expect(c.start_frame).toBe(m.start.file);
      expect(c.end_frame).toBe(m.end.file);
      expect(existsSync(join(out, file.storyboard_dir, c.start_frame))).toBe(true);
      expect(existsSync(join(out, file.storyboard_dir, c.end_frame))).toBe(true);
      expect(c.camera).toMatchObject(shot.movement);
      // the planned move is the one move of the prompt, and the arc is stated and scored
      expect(distinctMoves(c.enhanced_motion_prompt)).toEqual([shot.movement.type]);
      expect(c.enhanced_motion_prompt).toMatch(/starts on the start frame.*ends on the end frame/);
      expect(c.scores.start_end_arc).not.toBeNull();
      expect(c.iterations.length).toBeGreaterThanOrEqual(1);
      expect(c.iterations.at(-1)!.scores.overall).toBeGreaterThan(c.iterations[0]!.scores.overall - 1e-9);
      expect(c.trace_dir).toBe(`clip_${String(c.clip).padStart(3, '0')}`);
      const s = VideoPromptSummarySchema.parse(JSON.parse(await readFile(join(out, c.trace_dir, 'prompt_trace_summary.json'), 'utf8')));
      expect(s.final_prompt).toBe(c.enhanced_motion_prompt);
      expect(s.clip?.camera).toMatchObject(shot.movement);
      expect(await readdir(join(out, c.trace_dir))).toContain(s.final_prompt_file);
    }
    expect(r.clips).toEqual(file.clips);
    expect(r.files.slice(0, 2)).toEqual(['storyboard_enhanced_motion_prompts.json', 'video_prompt_trace.json']);
    for (const f of r.files) expect(existsSync(join(out, f)), f).toBe(true);

    // the reader the video stage uses resolves the frames
    const read = await readStoryboardMotionFile(r.file);
    for (const f of read.frames_abs) expect(existsSync(f.start) && existsSync(f.end)).toBe(true);

    // one unified trace with every clip's rounds
    const trace = VideoPromptTraceFileSchema.parse(JSON.parse(await readFile(join(out, 'video_prompt_trace.json'), 'utf8')));
    expect(trace.status).toBe('done');
    expect(trace.clips.map((c) => [c.clip, c.status, c.rounds.length])).toEqual(file.clips.map((c) => [c.clip, 'done', c.iterations.length]));
    for (const c of trace.clips) for (const round of c.rounds) expect(existsSync(join(out, round.agent1_file))).toBe(true);
    expect(new Set(ledger.entries.map((e) => e.stage))).toEqual(new Set(['video_prompt']));
    expect(ledger.entries).toHaveLength(2 * file.clips.reduce((n, c) => n + c.iterations.length, 0));
  });

  it('a folder without storyboard_metadata.json is an INPUT error, nothing written', async () => {
    const empty = join(work, 'not-a-board');
    await mkdir(empty);
    await cp(join(board, 'clip_001_start.png'), join(empty, 'clip_001_start.png'));
    await writeFile(join(empty, 'notes.txt'), 'frames, but no metadata\n');
    const out = join(work, 'video_prompt', 'none');
    await expect(enhanceStoryboardMotion({ storyboardDir: empty, outDir: out, maxIterations: 1, threshold: 85, backend: 'offline', creativeModel: 'm', critiqueModel: 'm' })).rejects.toMatchObject({
      kind: 'INPUT',
      message: expect.stringMatching(/has no storyboard_metadata\.json/),
    });
    expect(existsSync(out)).toBe(false);
  });

  it('a missing frame file is an INPUT error naming the clip and the file', async () => {
    const broken = join(work, 'broken-board');
    await cp(board, broken, { recursive: true });
    await rm(join(broken, 'clip_002_end.png'));
    await expect(enhanceStoryboardMotion({ storyboardDir: broken, outDir: join(work, 'vp-broken'), maxIterations: 1, threshold: 85, backend: 'offline', creativeModel: 'm', critiqueModel: 'm' })).rejects.toMatchObject({
      kind: 'INPUT',
      message: expect.stringMatching(/clip 2's end frame clip_002_end\.png is missing/),
    });
    expect(existsSync(join(work, 'vp-broken'))).toBe(false);
  });

  it('a clip that fails: the other clips stop, the unified trace says error, no motion file is written', async () => {
    const fake = await startFakeOpenAI();
    let n = 0;
    // the first director call succeeds, the critic then fails for good (500 after retries)
    fake.respond((req) => (req.body?.response_format ? { status: 500 } : { content: `A fox walks slowly, take ${++n}.` }));
    const out = join(work, 'video_prompt', 'failing');
    try {
      await expect(
        enhanceStoryboardMotion({
          storyboardDir: board,
          outDir: out,
          maxIterations: 2,
          threshold: 85,
          backend: 'openai',
          creativeModel: 'gpt-4o',
          critiqueModel: 'gpt-4o',
          env: EnvSchema.parse({ OPENAI_API_KEY: 'sk-test-storyboardfail000000', OPENAI_BASE_URL: fake.baseURL }),
          concurrency: 1,
          clipOptions: { retryPolicy: { retries: 1, baseMs: 1, maxMs: 5 }, requestTimeoutMs: 2000 },
        }),
      ).rejects.toMatchObject({ kind: 'REMOTE', message: expect.stringMatching(/^clip 1: .*HTTP 500.*\(partial traces in /) });
    } finally {
      await fake.close();
    }
    expect(existsSync(join(out, 'storyboard_enhanced_motion_prompts.json'))).toBe(false);
    const trace = VideoPromptTraceFileSchema.parse(JSON.parse(await readFile(join(out, 'video_prompt_trace.json'), 'utf8')));
    expect(trace.status).toBe('error');
    expect(trace.error).toMatchObject({ clip: 1, kind: 'REMOTE' });
    expect(trace.clips.map((c) => c.status)).toEqual(['error', 'not_run', 'not_run']);
    expect(trace.clips[0]!.error).toMatchObject({ kind: 'REMOTE' });
    const s = VideoPromptSummarySchema.parse(JSON.parse(await readFile(join(out, 'clip_001', 'prompt_trace_summary.json'), 'utf8')));
    expect(s.stop_reason).toBe('error');
    expect(await readdir(join(out, 'clip_001'))).toEqual(['00_original_prompt.txt', '01_agent1_iteration_1.txt', 'prompt_trace_summary.json']);
  });

  it('CLI: a storyboard folder runs storyboard mode; --json prints the motion file', async () => {
    const r = await runCli(['enhance-video-prompt', board, '--backend', 'offline', '--json', '--max-iterations', '2'], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'cli-out') } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const file = StoryboardMotionFileSchema.parse(JSON.parse(r.stdout));
    expect(file.clips).toHaveLength(3);
    const [run] = await readdir(join(work, 'cli-out', 'video_prompt_traces'));
    expect(run).toMatch(/^\d{8}_\d{6}$/);
    const dir = join(work, 'cli-out', 'video_prompt_traces', run!);
    expect(await readdir(dir)).toEqual(expect.arrayContaining(['storyboard_enhanced_motion_prompts.json', 'video_prompt_trace.json', 'clip_001', 'clip_002', 'clip_003']));
    for (const c of file.clips) expect(existsSync(join(dir, file.storyboard_dir, c.start_frame))).toBe(true);
  });

  it('CLI: a folder without metadata → exit 3, one line, nothing written', async () => {
    const empty = await mkdtemp(join(work, 'empty-'));
    const r = await runCli(['enhance-video-prompt', empty, '--backend', 'offline'], { cwd: work, env: { LOOP_OUTPUT_DIR: join(work, 'cli-none') } });
    expect(r.code).toBe(3);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^loop: error: .*has no storyboard_metadata\.json/);
    expect(existsSync(join(work, 'cli-none'))).toBe(false);
  });
});
