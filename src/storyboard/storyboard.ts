import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Env } from '../config/env.js';
import { LoopError } from '../errors.js';
import type { ImageBackend } from '../generation/backend.js';
import { ASPECT_RATIOS, type AspectRatio } from '../generation/metadata.js';
import { addPngText, parametersText } from '../generation/png-text.js';
import { variationSeeds } from '../generation/seeds.js';
import { initImageField, sizeFor } from '../generation/sizes.js';
import { DEFAULT_MODEL } from '../generation/replicate-backend.js';
import { sha256File, sha256Hex } from '../lib/hash.js';
import type { Logger } from '../lib/log.js';
import { writeFileAtomic, writeJsonAtomic } from '../runs/atomic.js';
import { ensureDir } from '../runs/run-dir.js';
import { combine, commonMetrics } from '../scoring/combine.js';
import type { ImageScorer } from '../scoring/scorer.js';
import { clipFrames, type ClipFrames } from './frames.js';
import { moveWords, SHOT_SIZE_WORDS, StoryboardPlanSchema, type StoryboardPlan } from './plan.js';

/**
 * A storyboard, as data: the plan, each clip's start/end frame prompts and motion, one seed per
 * consistency group, and the frames to make. Saved as storyboard_plan.json before any frame is
 * made, so a crash, retry or resume redraws and re-plans nothing (an LLM plan is paid for once).
 */
export const STORYBOARD_PLAN_FILE = 'storyboard_plan.json';
export const STORYBOARD_METADATA = 'storyboard_metadata.json';
export const CONTACT_SHEET = 'storyboard.png';
export const SOURCE_IMAGE = 'source_image.png';
export const FRAMES_DIR = 'frames';
import { MAX_FRAME_VARIATIONS } from '../workflow/run-options.js';
export { MAX_FRAME_VARIATIONS };

const FrameSourceSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('generate') }),
  /** clip 1's start frame is the source image itself */
  z.object({ source: z.literal('from-image') }),
  /** a continuous transition: this clip starts exactly where the previous one ended */
  z.object({ source: z.literal('continues'), from: z.string() }),
]);

export const FrameSpecSchema = z.object({
  /** c001-start, c001-end, … */
  key: z.string().regex(/^c\d{3}-(start|end)$/),
  clip: z.number().int().positive(),
  which: z.enum(['start', 'end']),
  /** The final file, relative to the storyboard folder: clip_001_start.png. */
  file: z.string(),
  prompt: z.string().min(1),
  seed: z.number().int().nonnegative(),
  consistency_group: z.string(),
  how: FrameSourceSchema,
});
export type FrameSpec = z.infer<typeof FrameSpecSchema>;

export const StoryboardDesignSchema = z.object({
  version: z.literal(1),
  prompt: z.string(),
  num_clips: z.number().int().positive(),
  planner: z.enum(['offline', 'openai']),
  planner_note: z.string(),
  planner_problems: z.array(z.string()).default([]),
  plan: StoryboardPlanSchema,
  frames: z.array(z.custom<ClipFrames>((v) => typeof v === 'object' && v !== null)),
  seeds: z.record(z.string(), z.number().int().nonnegative()),
  seed_source: z.enum(['user', 'drawn']),
  frame_specs: z.array(FrameSpecSchema),
  frame_variations: z.number().int().min(1).max(MAX_FRAME_VARIATIONS),
  backend: z.enum(['sketch', 'replicate']),
  model: z.string(),
  fallback_models: z.array(z.string()),
  aspect_ratio: z.enum(ASPECT_RATIOS),
  negative_prompt: z.string().nullable(),
  /** The image clip 1 starts on and every other frame keeps the look of (copied as source_image.png). */
  from_image: z.object({ file: z.literal(SOURCE_IMAGE), origin: z.string(), sha256: z.string(), strength: z.number() }).nullable(),
  plan_cost_usd: z.number().nullable(),
  started_at: z.string(),
});
export type StoryboardDesign = z.infer<typeof StoryboardDesignSchema>;

const pad = (n: number) => String(n).padStart(3, '0');
export const frameKey = (clip: number, which: 'start' | 'end') => `c${pad(clip)}-${which}`;
export const frameFile = (clip: number, which: 'start' | 'end') => `clip_${pad(clip)}_${which}.png`;
/** A candidate of a generated frame: frames/clip_001_start_v1.png. */
export const candidateFile = (f: FrameSpec, k: number) => `${FRAMES_DIR}/${f.file.replace(/\.png$/, '')}_v${k}.png`;

/** Check a --from-image file before anything is written: a readable PNG, JPEG or WebP. */
export async function checkFromImage(path: string): Promise<Buffer> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new LoopError('INPUT', `--from-image ${path}: no such file`);
  if (!st.isFile()) throw new LoopError('INPUT', `--from-image ${path}: not a regular file`);
  const bytes = await readFile(path);
  const sharp = (await import('sharp')).default;
  const meta = await sharp(bytes).metadata().catch(() => null);
  if (!meta || !['png', 'jpeg', 'webp'].includes(meta.format ?? ''))
    throw new LoopError('INPUT', `--from-image ${path}: not a PNG, JPEG or WebP image${meta?.format ? ` (it is ${meta.format})` : ''}`);
  return bytes;
}

/**
 * Lay the plan out as frames: clip 1 starts on the source image when there is one; a continuous
 * transition makes the next clip start on the previous clip's end frame; every other frame is
 * generated, with its consistency group's seed (one seed per recurring subject).
 */
export function designFrames(o: {
  plan: StoryboardPlan;
  seed?: number;
  fromImage: boolean;
}): { frames: ClipFrames[]; seeds: Record<string, number>; seedSource: 'user' | 'drawn'; specs: FrameSpec[] } {
  const groups = [...new Set(o.plan.entities.map((e) => e.consistency_group))];
  if (!groups.length) groups.push('scene');
  const { seeds: drawn, source } = variationSeeds(groups.length, o.seed);
  const seeds = Object.fromEntries(groups.map((g, i) => [g, drawn[i]!]));
  const frames = o.plan.clips.map((c) => clipFrames(o.plan, c));
  const specs: FrameSpec[] = [];
  o.plan.clips.forEach((c, i) => {
    const f = frames[i]!;
    const group = o.plan.entities.find((e) => c.entities.includes(e.id))?.consistency_group ?? groups[0]!;
    for (const which of ['start', 'end'] as const) {
      const prev = o.plan.clips[i - 1];
      const how: FrameSpec['how'] =
        which === 'start' && i === 0 && o.fromImage
          ? { source: 'from-image' }
          : which === 'start' && prev?.shot.transition === 'continuous'
            ? { source: 'continues', from: frameKey(prev.clip, 'end') }
            : { source: 'generate' };
      specs.push({ key: frameKey(c.clip, which), clip: c.clip, which, file: frameFile(c.clip, which), prompt: f[which].prompt, seed: seeds[group]!, consistency_group: group, how });
    }
  });
  return { frames, seeds, seedSource: source, specs };
}

/** One candidate of one frame, made by a backend: the PNG (with its parameters) and a small metadata file. */
export const FrameResultSchema = z.object({
  key: z.string(),
  candidate: z.number().int().positive(),
  file: z.string(),
  sha256: z.string(),
  prompt: z.string(),
  seed: z.number().int().nonnegative(),
  backend: z.string(),
  model: z.string(),
  cost_usd: z.number().nullable(),
  duration_ms: z.number().nonnegative(),
  reused: z.boolean().default(false),
  provider: z.record(z.string(), z.unknown()),
});
export type FrameResult = z.infer<typeof FrameResultSchema>;

export interface FrameRequest {
  spec: FrameSpec;
  candidate: number;
  design: Pick<StoryboardDesign, 'aspect_ratio' | 'negative_prompt' | 'model' | 'fallback_models' | 'from_image'>;
}

/**
 * Make one candidate of a frame into `dir` (the storyboard folder). A candidate already made with
 * the same prompt and seed, and the bytes its metadata records, is reused: a resumed or retried
 * storyboard makes no frame twice.
 */
export async function makeFrame(
  dir: string,
  r: FrameRequest,
  backend: ImageBackend,
  o: { signal?: AbortSignal; onPrediction?: Parameters<ImageBackend['generate']>[0]['onPrediction']; resume?: Parameters<ImageBackend['generate']>[0]['resume'] } = {},
): Promise<FrameResult> {
  const file = candidateFile(r.spec, r.candidate);
  const metaPath = join(dir, file.replace(/\.png$/, '.json'));
  const seed = r.spec.seed + r.candidate - 1;
  const saved = await readFile(metaPath, 'utf8').then((t) => FrameResultSchema.safeParse(JSON.parse(t)), () => null);
  if (saved?.success && saved.data.prompt === r.spec.prompt && saved.data.seed === seed) {
    const sha = await sha256File(join(dir, file)).catch(() => null);
    if (sha === saved.data.sha256) return { ...saved.data, reused: true };
  }
  const aspect = r.design.aspect_ratio as AspectRatio;
  const { width, height } = sizeFor(aspect);
  const init = r.design.from_image ? { bytes: await readFile(join(dir, r.design.from_image.file)), mime: 'image/png' as const, strength: r.design.from_image.strength } : undefined;
  const t0 = performance.now();
  const isSketch = backend.name === 'sketch';
  const out = await backend.generate({
    prompt: r.spec.prompt,
    negativePrompt: r.design.negative_prompt,
    aspectRatio: aspect,
    seed,
    model: isSketch ? 'sketch' : r.design.model,
    fallbackModels: isSketch ? [] : r.design.fallback_models,
    width,
    height,
    signal: o.signal,
    onPrediction: o.onPrediction,
    resume: o.resume,
    initImage: init,
  });
  const bytes = addPngText(out.bytes, 'parameters', parametersText({ prompt: r.spec.prompt, negativePrompt: r.design.negative_prompt, seed, model: out.model, width: out.width, height: out.height, backend: backend.name }));
  await ensureDir(join(dir, FRAMES_DIR));
  await writeFileAtomic(join(dir, file), bytes);
  const result: FrameResult = {
    key: r.spec.key,
    candidate: r.candidate,
    file,
    sha256: sha256Hex(bytes),
    prompt: r.spec.prompt,
    seed,
    backend: backend.name,
    model: out.model,
    cost_usd: out.costUsd,
    duration_ms: Math.round(performance.now() - t0),
    reused: false,
    provider: out.provider,
  };
  await writeJsonAtomic(metaPath, result);
  return result;
}

/**
 * The best of a frame's candidates, by the rank key image ranking uses (the overall before
 * clamping to 0–100, so candidates beyond an anchor keep their order); ties: the earlier one.
 */
export async function pickBest(dir: string, files: string[], prompt: string, scorer: ImageScorer): Promise<{ best: string; scores: { file: string; overall: number | null; rank_key: number | null }[]; metrics: string[] }> {
  const results = await scorer.scoreBatch(files.map((f) => ({ path: join(dir, f) })), prompt);
  const sets = results.map((r) => r.scores?.metrics ?? {});
  const usable = commonMetrics(sets.filter((s) => Object.keys(s).length), scorer.weights);
  const scored = results.map((r, i) => {
    const c = r.scores ? combine(r.scores.metrics, scorer.weights, usable) : null;
    return { file: files[i]!, overall: c?.overall ?? null, key: c?.rank_key ?? -Infinity };
  });
  const best = scored.reduce((a, b) => (b.key > a.key ? b : a));
  return { best: best.file, scores: scored.map(({ file, overall, key }) => ({ file, overall, rank_key: Number.isFinite(key) ? key : null })), metrics: [...usable, 'technical'] };
}

export interface FrameOutcome {
  /** The candidate chosen (relative to the storyboard folder), or why the frame failed. */
  chosen?: string;
  failed?: string;
  candidates: FrameResult[];
  pick?: { scores: { file: string; overall: number | null; rank_key: number | null }[]; metrics: string[] };
}

export interface StoryboardResult {
  metadata: Record<string, unknown>;
  clips: { clip: number; start: string | null; end: string | null; motion: string; camera: string }[];
  failed_frames: string[];
  cost_usd: number;
  cost_is_lower_bound: boolean;
}

/**
 * Put the storyboard together in `dir`: the chosen candidate of each frame copied to its final
 * name (clip_001_start.png…), derived frames copied from their source, storyboard_metadata.json
 * (the plan, every prompt, motion, shot list, seeds, planner and backends, costs, timings, which
 * frames come from where) and the contact sheet. A frame that failed for good is marked so, and
 * the rest is still written.
 */
export async function assembleStoryboard(dir: string, d: StoryboardDesign, outcomes: Map<string, FrameOutcome>, o: { backendNote: string; logger?: Logger }): Promise<StoryboardResult> {
  const finalOf = new Map<string, string | null>();
  const derived: Record<string, string> = {};
  for (const f of d.frame_specs) {
    let src: string | null = null;
    if (f.how.source === 'from-image') {
      src = SOURCE_IMAGE;
      derived[f.file] = `the source image (${d.from_image?.origin})`;
    } else if (f.how.source === 'continues') {
      const from = d.frame_specs.find((x) => x.key === (f.how as { from: string }).from)!;
      src = finalOf.get(from.key) ? from.file : null;
      derived[f.file] = `continues ${from.file} (continuous transition)`;
    } else src = outcomes.get(f.key)?.chosen ?? null;
    if (src) await copyFile(join(dir, src), join(dir, f.file));
    finalOf.set(f.key, src ? f.file : null);
  }
  const failed = d.frame_specs.filter((f) => !finalOf.get(f.key)).map((f) => f.file);
  const all = [...outcomes.values()].flatMap((x) => x.candidates);
  const paid = all.filter((c) => !c.reused);
  const cost = paid.reduce((s, c) => s + (c.cost_usd ?? 0), 0) + (d.plan_cost_usd ?? 0);
  const clips = d.plan.clips.map((c, i) => {
    const fr = d.frames[i]!;
    return {
      clip: c.clip,
      start: finalOf.get(frameKey(c.clip, 'start')) ?? null,
      end: finalOf.get(frameKey(c.clip, 'end')) ?? null,
      motion: fr.motion.description,
      camera: moveWords(c.shot.movement),
    };
  });
  const metadata = {
    schema_version: 1,
    prompt: d.prompt,
    num_clips: d.num_clips,
    planner: d.planner,
    planner_note: d.planner_note,
    planner_problems: d.planner_problems,
    backend: d.backend,
    backend_note: o.backendNote,
    model: d.backend === 'sketch' ? 'sketch' : d.model,
    aspect_ratio: d.aspect_ratio,
    frame_variations: d.frame_variations,
    seeds: d.seeds,
    seed_source: d.seed_source,
    style: d.plan.style,
    entities: d.plan.entities,
    shot_list: d.plan.clips.map((c) => ({ clip: c.clip, size: c.shot.size, size_words: SHOT_SIZE_WORDS[c.shot.size], angle: c.shot.angle, lens_mm: c.shot.lens_mm, movement: c.shot.movement, duration_s: c.shot.duration_s, transition: c.shot.transition })),
    from_image: d.from_image,
    clips: d.plan.clips.map((c, i) => {
      const fr = d.frames[i]!;
      const frame = (which: 'start' | 'end') => {
        const spec = d.frame_specs.find((f) => f.key === frameKey(c.clip, which))!;
        const out = outcomes.get(spec.key);
        return {
          file: finalOf.get(spec.key) ?? null,
          status: finalOf.get(spec.key) ? 'made' : 'failed',
          prompt: spec.prompt,
          seed: spec.seed,
          consistency_group: spec.consistency_group,
          source: spec.how.source,
          derived_from: derived[spec.file] ?? null,
          init_image: spec.how.source === 'generate' && d.from_image ? `keeps the look of ${SOURCE_IMAGE} (strength ${d.from_image.strength})` : null,
          chosen_candidate: out?.chosen ?? null,
          candidates: out?.candidates.map((x) => ({ file: x.file, seed: x.seed, model: x.model, cost_usd: x.cost_usd, duration_ms: x.duration_ms, reused: x.reused, init_image: x.provider.init_image ?? null })) ?? [],
          pick: out?.pick ?? null,
          failure: out?.failed ?? null,
          size: fr[which].size,
          lens_mm: fr[which].lens_mm,
          framing: fr[which].framing,
        };
      };
      return {
        clip: c.clip,
        description: c.description,
        narrative_role: c.narrative_role,
        background: c.background,
        entities: c.entities,
        depends_on: c.depends_on,
        camera_movement: moveWords(c.shot.movement),
        motion: fr.motion,
        start: frame('start'),
        end: frame('end'),
      };
    }),
    failed_frames: failed,
    cost_usd: Math.round(cost * 1e6) / 1e6,
    cost_is_lower_bound: paid.some((c) => c.cost_usd === null),
    started_at: d.started_at,
    ended_at: new Date().toISOString(),
  };
  await writeJsonAtomic(join(dir, STORYBOARD_METADATA), metadata);
  const { renderContactSheet } = await import('./contact-sheet.js');
  const sheet = await renderContactSheet(
    d.plan.clips.map((c, i) => ({
      clip: c.clip,
      start: clips[i]!.start ? join(dir, clips[i]!.start!) : null,
      end: clips[i]!.end ? join(dir, clips[i]!.end!) : null,
      caption: [
        `Clip ${c.clip} · ${c.narrative_role} · ${c.shot.size}, ${c.shot.angle}, ${c.shot.lens_mm}mm`,
        `${moveWords(c.shot.movement)} · ${c.shot.duration_s} s · ${c.shot.transition}${i < d.plan.clips.length - 1 ? ` → clip ${c.clip + 1}` : ''}`,
        c.description,
      ],
    })),
    { aspectRatio: d.aspect_ratio, title: `Storyboard: ${d.num_clips} clip${d.num_clips === 1 ? '' : 's'} · ${d.planner} planner · ${d.backend}` },
  );
  await writeFileAtomic(join(dir, CONTACT_SHEET), sheet);
  o.logger?.debug(`storyboard written in ${dir}`);
  return { metadata, clips, failed_frames: failed, cost_usd: metadata.cost_usd, cost_is_lower_bound: metadata.cost_is_lower_bound };
}

/** Plan a storyboard (offline or LLM), lay out its frames and save the design. */
export async function designStoryboard(o: {
  dir: string;
  prompt: string;
  numClips: number;
  seed?: number;
  planner: 'offline' | 'openai';
  plannerModel: string;
  env: Pick<Env, 'OPENAI_API_KEY' | 'OPENAI_BASE_URL'>;
  frameVariations: number;
  backend: 'sketch' | 'replicate';
  model: string;
  fallbackModels: string[];
  aspectRatio: AspectRatio;
  negativePrompt: string | null;
  fromImage?: { bytes: Buffer; origin: string };
  signal?: AbortSignal;
}): Promise<StoryboardDesign> {
  const planSeed = o.seed ?? 0;
  let plan: StoryboardPlan;
  let planner: 'offline' | 'openai' = 'offline';
  let note = 'offline planner (rule-based: beats from the prompt, a narrative arc, no LLM)';
  let problems: string[] = [];
  let planCost: number | null = 0;
  if (o.planner === 'openai') {
    const { planWithLlm } = await import('./llm-planner.js');
    const r = await planWithLlm({ prompt: o.prompt, numClips: o.numClips, seed: planSeed, model: o.plannerModel, apiKey: o.env.OPENAI_API_KEY ?? '', baseURL: o.env.OPENAI_BASE_URL, signal: o.signal });
    plan = r.plan;
    planner = r.planner;
    note = r.note;
    problems = r.problems;
    planCost = r.cost_usd;
  } else {
    const { planOffline } = await import('./offline-planner.js');
    plan = planOffline({ prompt: o.prompt, numClips: o.numClips, seed: planSeed });
  }
  await ensureDir(o.dir);
  let fromImage: StoryboardDesign['from_image'] = null;
  if (o.fromImage) {
    const sharp = (await import('sharp')).default;
    const png = await sharp(o.fromImage.bytes).png().toBuffer();
    await writeFileAtomic(join(o.dir, SOURCE_IMAGE), png);
    fromImage = { file: SOURCE_IMAGE, origin: o.fromImage.origin, sha256: sha256Hex(png), strength: 0.65 };
  }
  const { frames, seeds, seedSource, specs } = designFrames({ plan, seed: o.seed, fromImage: !!fromImage });
  // frames that keep a source image's look fall back only to models that take an init image
  // (FLUX schnell, the image default's fallback, takes none); SDXL when none is left
  let fallbackModels = o.fallbackModels;
  if (fromImage && o.backend === 'replicate') {
    fallbackModels = o.fallbackModels.filter((m) => initImageField(m) !== null);
    if (!fallbackModels.length && o.model !== DEFAULT_MODEL) fallbackModels = [DEFAULT_MODEL];
  }
  const design: StoryboardDesign = StoryboardDesignSchema.parse({
    version: 1,
    prompt: o.prompt,
    num_clips: o.numClips,
    planner,
    planner_note: note,
    planner_problems: problems,
    plan,
    frames,
    seeds,
    seed_source: seedSource,
    frame_specs: specs,
    frame_variations: o.frameVariations,
    backend: o.backend,
    model: o.model,
    fallback_models: fallbackModels,
    aspect_ratio: o.aspectRatio,
    negative_prompt: o.negativePrompt,
    from_image: fromImage,
    plan_cost_usd: planCost,
    started_at: new Date().toISOString(),
  });
  return design;
}

/** The candidates to make: every generated frame × K. */
export const frameRequests = (d: StoryboardDesign): FrameRequest[] =>
  d.frame_specs.filter((f) => f.how.source === 'generate').flatMap((spec) => Array.from({ length: d.frame_variations }, (_, k) => ({ spec, candidate: k + 1, design: d })));
