/**
 * `loop create-storyboard` end to end through the built CLI: the offline default (sketch frames,
 * offline planner), determinism, --from-image, bad input, --frame-variations picks, Replicate
 * against the fake API (init image, a frame that fails for good → exit 7 with the rest written)
 * and the OpenAI planner falling back to the offline one when the model answers non-JSON.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { startFakeReplicate, type FakeReplicate } from '../fakes/replicate-server.js';
import { runCli } from '../helpers/cli.js';

const PROMPT = 'A fox steals a lantern from a sleeping fisherman, runs across the frozen lake, and the ice begins to crack';
const MOVES = ['static', 'pan', 'tilt', 'dolly', 'truck', 'pedestal', 'crane', 'zoom', 'orbit', 'handheld'];
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const pad = (n: number) => String(n).padStart(3, '0');

let work: string;
let promptFile: string;
let sourcePng: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'loop-storyboard-cli-'));
  promptFile = join(work, 'clip_prompt.txt');
  await writeFile(promptFile, PROMPT + '\n');
  // a source image with structure (not a flat colour), at its own size and aspect ratio
  sourcePng = join(work, 'best.png');
  await sharp({ create: { width: 200, height: 120, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .composite([{ input: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="120"><circle cx="60" cy="60" r="40" fill="#0a0"/><rect x="120" y="20" width="60" height="30" fill="#fe3"/></svg>') }])
    .png()
    .toFile(sourcePng);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let seq = 0;
/** A fresh LOOP_OUTPUT_DIR for one run. */
const outRoot = () => join(work, `out-${++seq}`);

/** Run create-storyboard with no keys unless `env` adds them; LOOP_OUTPUT_DIR is `out`. */
const storyboard = (args: string[], out: string, env: Record<string, string | undefined> = {}) =>
  runCli(['create-storyboard', ...args], { cwd: work, env: { LOOP_OUTPUT_DIR: out, ...env } });

/** The storyboard folders written under `<out>/storyboards`. */
const boards = async (out: string) => (await readdir(join(out, 'storyboards')).catch(() => [] as string[])).sort();

/** The one storyboard folder under `<out>/storyboards`. */
async function onlyBoard(out: string): Promise<string> {
  const dirs = await boards(out);
  expect(dirs).toHaveLength(1);
  return join(out, 'storyboards', dirs[0]!);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const readJson = async (p: string): Promise<Json> => JSON.parse(await readFile(p, 'utf8'));

async function pngSize(p: string): Promise<{ width: number; height: number }> {
  const bytes = await readFile(p);
  expect(bytes.subarray(0, 8).equals(PNG_MAGIC), `${p} is not a PNG`).toBe(true);
  const m = await sharp(bytes).metadata();
  expect(m.format).toBe('png');
  return { width: m.width!, height: m.height! };
}

const rawPixels = async (p: string) => {
  const { data, info } = await sharp(p).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
};

describe('loop create-storyboard: offline default (no keys)', () => {
  it('plans 3 clips with the offline planner, sketch frames, metadata, stdout listing and contact sheet', async () => {
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '3', '--seed', '4'], out);
    expect(r.code, r.stderr).toBe(0);
    const dir = await onlyBoard(out);

    for (let c = 1; c <= 3; c++)
      for (const which of ['start', 'end']) expect(existsSync(join(dir, `clip_${pad(c)}_${which}.png`)), `clip ${c} ${which}`).toBe(true);
    expect(existsSync(join(dir, 'clip_004_start.png'))).toBe(false);
    for (const f of ['storyboard_metadata.json', 'storyboard_plan.json', 'storyboard.png']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect((await readdir(join(dir, 'frames'))).filter((f) => f.endsWith('.png')).length).toBeGreaterThan(0);

    const m = await readJson(join(dir, 'storyboard_metadata.json'));
    expect(m.planner).toBe('offline');
    expect(m.backend).toBe('sketch');
    expect(m.num_clips).toBe(3);
    expect(m.failed_frames).toEqual([]);
    expect(m.shot_list).toHaveLength(3);
    for (const s of m.shot_list) {
      // exactly one primary movement: one object with one type from the vocabulary, not a list
      expect(Array.isArray(s.movement)).toBe(false);
      expect(typeof s.movement).toBe('object');
      expect(MOVES).toContain(s.movement.type);
      expect(typeof s.movement.direction).toBe('string');
    }
    expect(m.clips).toHaveLength(3);
    for (const c of m.clips) {
      for (const which of ['start', 'end'] as const) {
        expect(c[which].prompt, `clip ${c.clip} ${which} prompt`).toEqual(expect.any(String));
        expect(c[which].prompt.length).toBeGreaterThan(20);
        expect(c[which].status).toBe('made');
        expect(c[which].file).toBe(`clip_${pad(c.clip)}_${which}.png`);
      }
      expect(c.start.prompt).toContain('(start of the clip)');
      expect(c.end.prompt).toContain('(end of the clip)');
      expect(c.start.prompt).not.toBe(c.end.prompt);
      expect(c.motion.description).toEqual(expect.any(String));
      expect(c.motion.description.length).toBeGreaterThan(10);
      expect(c.motion.camera.length).toBeGreaterThan(0);
      expect(c.motion.subject.length).toBeGreaterThan(0);
    }

    // stdout: every clip with its start and end paths, and the contact sheet
    for (let c = 1; c <= 3; c++) {
      expect(r.stdout).toMatch(new RegExp(`^clip ${c} `, 'm'));
      expect(r.stdout).toContain(`start  ${join(dir, `clip_${pad(c)}_start.png`)}`);
      expect(r.stdout).toContain(`end    ${join(dir, `clip_${pad(c)}_end.png`)}`);
    }
    expect(r.stdout).toContain(`contact sheet: ${join(dir, 'storyboard.png')}`);
  });

  it('the contact sheet is a PNG whose height grows with the number of clips (1 vs 3)', async () => {
    const one = outRoot();
    const three = outRoot();
    const [r1, r3] = await Promise.all([storyboard([promptFile, '--num-clips', '1', '--seed', '4'], one), storyboard([promptFile, '--num-clips', '3', '--seed', '4'], three)]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r3.code, r3.stderr).toBe(0);
    const s1 = await pngSize(join(await onlyBoard(one), 'storyboard.png'));
    const s3 = await pngSize(join(await onlyBoard(three), 'storyboard.png'));
    expect(s3.width).toBe(s1.width);
    // two more rows, each at least a thumbnail tall
    expect(s3.height).toBeGreaterThan(s1.height + 2 * 100);
  });
});

describe('loop create-storyboard: determinism', () => {
  it('the same prompt and seed twice give byte-identical frames and the same plan', async () => {
    const a = outRoot();
    const b = outRoot();
    const ra = await storyboard([promptFile, '--num-clips', '3', '--seed', '4'], a);
    const rb = await storyboard([promptFile, '--num-clips', '3', '--seed', '4'], b);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const da = await onlyBoard(a);
    const db = await onlyBoard(b);
    const clipsA = (await readdir(da)).filter((f) => /^clip_\d{3}_(start|end)\.png$/.test(f)).sort();
    const clipsB = (await readdir(db)).filter((f) => /^clip_\d{3}_(start|end)\.png$/.test(f)).sort();
    expect(clipsA).toHaveLength(6);
    expect(clipsB).toEqual(clipsA);
    for (const f of clipsA) expect((await readFile(join(da, f))).equals(await readFile(join(db, f))), f).toBe(true);
    const pa = await readJson(join(da, 'storyboard_plan.json'));
    const pb = await readJson(join(db, 'storyboard_plan.json'));
    expect(pa.plan.clips).toHaveLength(3);
    expect(pb.plan).toEqual(pa.plan);

    // and a different seed is a different storyboard (the seed is used)
    const c = outRoot();
    const rc = await storyboard([promptFile, '--num-clips', '3', '--seed', '5'], c);
    expect(rc.code, rc.stderr).toBe(0);
    const dc = await onlyBoard(c);
    const differs = await Promise.all(clipsA.map(async (f) => !(await readFile(join(da, f))).equals(await readFile(join(dc, f)))));
    expect(differs.some(Boolean)).toBe(true);
  });
});

describe('loop create-storyboard --from-image', () => {
  it('clip 1 starts on the source image (same pixels) and every other frame records the init image', async () => {
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '2', '--seed', '4', '--from-image', sourcePng], out);
    expect(r.code, r.stderr).toBe(0);
    const dir = await onlyBoard(out);
    const src = await rawPixels(sourcePng);
    const start = await rawPixels(join(dir, 'clip_001_start.png'));
    expect({ width: start.width, height: start.height, channels: start.channels }).toEqual({ width: src.width, height: src.height, channels: src.channels });
    expect(start.data.equals(src.data)).toBe(true);

    const m = await readJson(join(dir, 'storyboard_metadata.json'));
    expect(m.from_image).toMatchObject({ file: 'source_image.png', origin: sourcePng });
    expect(m.clips[0].start.source).toBe('from-image');
    expect(m.clips[0].start.status).toBe('made');
    expect(m.clips[0].start.candidates).toEqual([]);
    const others = m.clips.flatMap((c: Json) => [c.start, c.end]).filter((f: Json) => f !== m.clips[0].start);
    expect(others).toHaveLength(3);
    for (const f of others) {
      expect(f.status).toBe('made');
      if (f.source !== 'generate') continue; // a continuous transition copies its source frame
      expect(f.init_image, f.file).toMatch(/source_image\.png/);
      expect(f.candidates.length).toBeGreaterThan(0);
      for (const c of f.candidates) expect(c.init_image, c.file).not.toBeNull();
    }
    expect(others.some((f: Json) => f.source === 'generate')).toBe(true);
  });

  it('a missing file exits 3 with one line and writes no storyboard', async () => {
    const out = outRoot();
    const r = await storyboard([promptFile, '--from-image', join(work, 'no-such.png')], out);
    expect(r.code).toBe(3);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/no-such\.png/);
    expect(await boards(out)).toEqual([]);
  });

  it('a text file named .png exits 3 with one line and writes no storyboard', async () => {
    const fakePng = join(work, 'not-an-image.png');
    await writeFile(fakePng, 'this is text, not an image\n');
    const out = outRoot();
    const r = await storyboard([promptFile, '--from-image', fakePng], out);
    expect(r.code).toBe(3);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/not-an-image\.png/);
    expect(await boards(out)).toEqual([]);
  });
});

describe('loop create-storyboard: bad input', () => {
  for (const args of [
    ['--num-clips', '0'],
    ['--num-clips', '13'],
    ['--frame-variations', '9'],
    ['--seed', '-1'],
  ]) {
    it(`${args.join(' ')} exits 2 with one line`, async () => {
      const out = outRoot();
      const r = await storyboard([promptFile, ...args], out);
      expect(r.code).toBe(2);
      expect(r.stderrLines).toHaveLength(1);
      expect(r.stderrLines[0]).toContain(args[0]!);
      expect(await boards(out)).toEqual([]);
    });
  }

  it('an empty prompt file exits 3 with one line', async () => {
    const empty = join(work, 'empty.txt');
    await writeFile(empty, '');
    const out = outRoot();
    const r = await storyboard([empty], out);
    expect(r.code).toBe(3);
    expect(r.stderrLines).toHaveLength(1);
    expect(await boards(out)).toEqual([]);
  });
});

describe('loop create-storyboard --frame-variations', () => {
  /** One --frame-variations 3 storyboard, shared by the two tests below. */
  let dir: string;
  let m: Json;
  beforeAll(async () => {
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '2', '--seed', '9', '--frame-variations', '3'], out);
    expect(r.code, r.stderr).toBe(0);
    dir = await onlyBoard(out);
    m = await readJson(join(dir, 'storyboard_metadata.json'));
  });
  const generatedFrames = () =>
    m.clips.flatMap((c: Json) => (['start', 'end'] as const).map((which) => ({ stem: `clip_${pad(c.clip)}_${which}`, f: c[which] }))).filter((x: Json) => x.f.source === 'generate');

  it('every generated frame has 3 candidates in frames/ and a pick with 3 technical scores', async () => {
    expect(m.frame_variations).toBe(3);
    const frames = await readdir(join(dir, 'frames'));
    const gen = generatedFrames();
    expect(gen.length).toBeGreaterThanOrEqual(3);
    for (const { stem, f } of gen) {
      const mine = frames.filter((x) => x.startsWith(`${stem}_v`) && x.endsWith('.png')).sort();
      expect(mine, stem).toEqual([1, 2, 3].map((k) => `${stem}_v${k}.png`));
      expect(f.candidates.map((c: Json) => c.file)).toEqual(mine.map((x) => `frames/${x}`));
      expect(f.pick, stem).not.toBeNull();
      expect(f.pick.metrics).toEqual(['technical']); // no models installed
      expect(f.pick.scores.map((s: Json) => s.file)).toEqual(mine.map((x) => `frames/${x}`));
      for (const s of f.pick.scores) expect(s.overall, s.file).toEqual(expect.any(Number));
      // the final frame is the chosen candidate's bytes
      expect(mine.map((x) => `frames/${x}`)).toContain(f.chosen_candidate);
      expect((await readFile(join(dir, f.file))).equals(await readFile(join(dir, f.chosen_candidate))), stem).toBe(true);
    }
  });

  it('the chosen candidate is the one with the highest rank key (the unclamped overall) in the recorded pick', () => {
    const wrong: string[] = [];
    for (const { stem, f } of generatedFrames()) {
      // ties: the earlier candidate
      const best = f.pick.scores.reduce((a: Json, b: Json) => (b.rank_key > a.rank_key ? b : a));
      if (f.chosen_candidate !== best.file)
        wrong.push(`${stem}: chose ${f.chosen_candidate} but ${best.file} has the highest rank key (${f.pick.scores.map((s: Json) => `${s.file.replace('frames/', '')}=${s.rank_key.toFixed(3)}`).join(', ')})`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('loop create-storyboard --backend replicate (fake Replicate API)', () => {
  let fake: FakeReplicate;
  let clip2Description: string;
  beforeAll(async () => {
    fake = await startFakeReplicate({ latencyMs: 30 });
    // the plan depends on the prompt, seed and clip count only: clip 2's description, from an offline run
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '3', '--seed', '4', '--backend', 'sketch'], out);
    expect(r.code, r.stderr).toBe(0);
    const plan = await readJson(join(await onlyBoard(out), 'storyboard_plan.json'));
    clip2Description = plan.plan.clips[1].description;
  });
  afterEach(() => {
    fake.setFaults([]);
    fake.reset();
  });
  afterAll(async () => {
    await fake.close();
  });
  const replicateEnv = () => ({ REPLICATE_API_TOKEN: fake.token, REPLICATE_BASE_URL: fake.baseUrl });
  const replicateArgs = ['--backend', 'replicate', '--model', 'black-forest-labs/flux-dev'];

  it('makes the frames with Replicate; with --from-image every request carries the image as a data URI with prompt_strength', async () => {
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '2', '--seed', '4', '--from-image', sourcePng, ...replicateArgs], out, replicateEnv());
    expect(r.code, r.stderr).toBe(0);
    const dir = await onlyBoard(out);
    const m = await readJson(join(dir, 'storyboard_metadata.json'));
    expect(m.backend).toBe('replicate');
    expect(m.model).toBe('black-forest-labs/flux-dev');
    expect(m.failed_frames).toEqual([]);

    const creates = fake.creates().filter((c) => c.status === 201);
    const generated = m.clips.flatMap((c: Json) => [c.start, c.end]).filter((f: Json) => f.source === 'generate');
    expect(generated.length).toBe(3); // clip 1's start is the source image itself
    expect(creates).toHaveLength(generated.length);
    // clip 1's start frame is not requested at all
    expect(creates.some((c) => String((c.body?.input as Json).prompt) === m.clips[0].start.prompt)).toBe(false);
    const source = await readFile(join(dir, 'source_image.png'));
    for (const c of creates) {
      const input = c.body!.input as Json;
      expect(c.model).toBe('black-forest-labs/flux-dev');
      expect(generated.map((f: Json) => f.prompt)).toContain(input.prompt);
      expect(input.image).toMatch(/^data:image\/png;base64,/);
      expect(Buffer.from(String(input.image).split(',')[1]!, 'base64').equals(source)).toBe(true);
      expect(input.prompt_strength).toEqual(expect.any(Number));
      expect(input.prompt_strength).toBeGreaterThan(0);
      expect(input.prompt_strength).toBeLessThanOrEqual(1);
    }
    for (const f of generated) {
      expect(f.status).toBe('made');
      expect(f.candidates[0].model).toBe('black-forest-labs/flux-dev');
      expect(f.candidates[0].init_image).toMatchObject({ field: 'image' });
      expect(existsSync(join(dir, f.file))).toBe(true);
    }
  });

  it('a frame that fails for good: exit 7, stderr names it, metadata marks it failed, the rest is written', async () => {
    const isClip2End = (p: unknown) => typeof p === 'string' && p.includes('(end of the clip)') && p.startsWith(`${clip2Description} (end of the clip)`);
    fake.setFaults([{ on: 'create', match: (ctx) => isClip2End(ctx.input?.prompt), times: 1_000_000, fault: { kind: 'fail', error: 'injected: clip 2 end' } }]);
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '3', '--seed', '4', ...replicateArgs], out, replicateEnv());
    expect(r.code, r.stderr).toBe(7);
    expect(fake.creates().some((c) => isClip2End((c.body?.input as Json)?.prompt))).toBe(true);
    expect(r.stderr).toMatch(/clip_002_end\.png/);
    expect(r.stdout).toMatch(/end\s+FAILED/);

    const dir = await onlyBoard(out);
    const m = await readJson(join(dir, 'storyboard_metadata.json'));
    const end2 = m.clips[1].end;
    expect(end2.status).toBe('failed');
    expect(end2.file).toBeNull();
    expect(end2.failure).toMatch(/injected: clip 2 end/);
    // only clip 2's end failed (and a frame that continues from it, if the plan has one)
    const continues = m.clips.flatMap((c: Json) => [c.start, c.end]).filter((f: Json) => f.source === 'continues' && /clip_002_end\.png/.test(f.derived_from ?? ''));
    expect(m.failed_frames).toEqual(['clip_002_end.png', ...continues.map((f: Json) => `clip_${pad(m.clips.find((c: Json) => c.start === f || c.end === f).clip)}_start.png`)]);
    expect(existsSync(join(dir, 'clip_002_end.png'))).toBe(false);
    for (const c of m.clips)
      for (const which of ['start', 'end'] as const) {
        const f = c[which];
        if (m.failed_frames.includes(`clip_${pad(c.clip)}_${which}.png`)) continue;
        expect(f.status, `clip ${c.clip} ${which}`).toBe('made');
        expect(existsSync(join(dir, f.file))).toBe(true);
      }
    const sheet = await pngSize(join(dir, 'storyboard.png'));
    expect(sheet.height).toBeGreaterThan(3 * 100);
    expect(existsSync(join(dir, 'storyboard_plan.json'))).toBe(true);
  });
});

describe('loop create-storyboard --planner openai (fake OpenAI API)', () => {
  let fake: FakeOpenAIServer;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('a model that answers non-JSON twice: exit 0 with the offline planner, and the note says why', async () => {
    fake.enqueue({ content: 'Sure! Clip one: a fox. Clip two: the ice cracks.' }, { content: 'Apologies, here it is again: a fox, then ice.' });
    const out = outRoot();
    const r = await storyboard([promptFile, '--num-clips', '2', '--seed', '4', '--planner', 'openai'], out, { OPENAI_API_KEY: 'sk-fake-test-0123456789abcdefghij', OPENAI_BASE_URL: fake.baseURL });
    expect(r.code, r.stderr).toBe(0);
    // one request and one repair turn, then the fallback: no third call
    expect(fake.requests.filter((q) => /chat\/completions/.test(q.path))).toHaveLength(2);
    const dir = await onlyBoard(out);
    const m = await readJson(join(dir, 'storyboard_metadata.json'));
    expect(m.planner).toBe('offline');
    expect(m.planner_note).toMatch(/LLM plan invalid/);
    expect(m.planner_note).toMatch(/offline planner/);
    expect(m.planner_problems.length).toBeGreaterThanOrEqual(2);
    expect(m.clips).toHaveLength(2);
    expect(m.failed_frames).toEqual([]);
    expect(r.stdout).toMatch(/LLM plan invalid/);
  });
});
