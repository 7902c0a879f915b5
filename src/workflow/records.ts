import { readFile, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { LoopError } from '../errors.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { sha256Hex } from '../lib/hash.js';
import { isInside, realpathInside } from '../lib/rel-path.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import { round6 } from '../runs/ledger.js';
import { outputRootOf } from './run-paths.js';
import type { Stage } from './stages.js';
import { RunSpecSchema, StageSummarySchema, type RunSpec, type StageSummary } from './types.js';

/**
 * The run directory's records (Story 9.3): workflow_checkpoint.json after every stage,
 * workflow_summary.json and workflow_trace.json at the end. The run directory is the source of
 * truth for artifacts; Redis only holds job state.
 */
export const CHECKPOINT_FILE = 'workflow_checkpoint.json';
export const SUMMARY_FILE = 'workflow_summary.json';
export const TRACE_FILE = 'workflow_trace.json';
export const CHECKPOINT_SCHEMA_VERSION = 3;

export type RunStatus = 'running' | 'completed' | 'partial' | 'failed';

const ArtifactSchema = z.object({ path: z.string(), sha256: z.string(), bytes: z.number().int().nonnegative() });

export const CheckpointSchema = z.object({
  schema_version: z.literal(CHECKPOINT_SCHEMA_VERSION),
  run_id: z.string(),
  workflow: z.string(),
  status: z.enum(['running', 'completed', 'partial', 'failed']),
  spec: RunSpecSchema,
  completed_stages: z.array(z.string()),
  next_stage: z.string().nullable(),
  stages: z.array(StageSummarySchema),
  artifacts: z.array(ArtifactSchema),
  error: z.string().nullable(),
  updated_at: z.string(),
  /** sha256 of the canonical JSON of this record with `sha256` set to "" (see selfHash). */
  sha256: z.string(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;

/**
 * sha256 over canonical JSON (keys sorted, no whitespace) of the raw record with `sha256` = "":
 * independent of key order, so a validator that re-orders keys (zod does) cannot break it.
 */
const selfHash = (cp: unknown) => sha256Hex(canonicalJson({ ...(cp as object), sha256: '' }));

async function hashArtifacts(runDir: string, stages: StageSummary[]) {
  const paths = [...new Set(stages.flatMap((s) => s.artifacts))].sort();
  return Promise.all(
    paths.map(async (p) => {
      const data = await readFile(await realpathInside(runDir, p, 'artifact'));
      return { path: p, sha256: sha256Hex(data), bytes: data.length };
    }),
  );
}

/** Write the checkpoint after a stage: atomic, self-hashed, every named artifact hashed. */
export async function writeCheckpoint(
  runDir: string,
  spec: RunSpec,
  stages: StageSummary[],
  status: RunStatus,
  nextStage: Stage | null,
  error: string | null = null,
): Promise<Checkpoint> {
  const cp: Checkpoint = {
    schema_version: CHECKPOINT_SCHEMA_VERSION,
    run_id: spec.run_id,
    workflow: spec.workflow,
    status,
    spec,
    completed_stages: stages.map((s) => s.stage),
    next_stage: nextStage,
    stages,
    artifacts: await hashArtifacts(runDir, stages),
    error,
    updated_at: new Date().toISOString(),
    sha256: '',
  };
  cp.sha256 = selfHash(cp);
  await writeJsonAtomic(join(runDir, CHECKPOINT_FILE), cp);
  await refreshReport(runDir);
  return cp;
}

/**
 * report.html follows the checkpoint (written at enqueue, after each stage and on failure), so it
 * shows a run in progress. Best effort: a page that cannot be written never fails a stage.
 */
async function refreshReport(runDir: string): Promise<void> {
  try {
    await (await import('../report/report.js')).writeRunReport(runDir);
  } catch (e) {
    process.stderr.write(`loop: warning: report.html not updated in ${runDir}: ${String((e as Error)?.message ?? e).split('\n')[0]}\n`);
  }
}

const refuse = (path: string, why: string) => new LoopError('CHECKPOINT', `checkpoint ${path} refused: ${why}`);

/**
 * Read and verify a checkpoint: JSON, its own hash (over the raw record), schema, its location
 * (the run directory it names must be the folder it lies in), and every artifact: a relative path
 * inside the run directory after resolving symlinks, with the sha256 it was saved with.
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LoopError('NOT_FOUND', `checkpoint not found: ${path}`);
    throw refuse(path, code ? `cannot read it (${code})` : 'not valid JSON (truncated or corrupt)');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw refuse(path, 'not a loop checkpoint');
  const version = (raw as { schema_version?: unknown }).schema_version;
  if (version !== CHECKPOINT_SCHEMA_VERSION) throw refuse(path, `schema version ${String(version)}; this loop reads ${CHECKPOINT_SCHEMA_VERSION}`);
  if (selfHash(raw) !== (raw as { sha256?: unknown }).sha256) throw refuse(path, 'its sha256 does not match its content (modified or corrupt)');
  const parsed = CheckpointSchema.safeParse(raw);
  if (!parsed.success) throw refuse(path, `${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const cp = parsed.data;
  // the run directory is where the checkpoint lies: a relative run_dir must be the tail of that
  // folder's path (the output root may move: runs are relocatable), an absolute one that folder
  const here = await realpath(dirname(resolve(path)));
  const named = isAbsolute(cp.spec.run_dir) ? await realpath(cp.spec.run_dir).catch(() => resolve(cp.spec.run_dir)) : undefined;
  if (named ? here !== named : outputRootOf(here, cp.spec.run_dir) === undefined)
    throw refuse(path, `it names run directory ${cp.spec.run_dir} but lies in ${here} (moved, copied or edited)`);
  for (const a of cp.artifacts) {
    if (!isInside(a.path)) throw refuse(path, `artifact path ${a.path} is not inside the run directory`);
    let data: Buffer;
    try {
      data = await readFile(await realpathInside(here, a.path, 'artifact'));
    } catch (e) {
      throw refuse(path, e instanceof LoopError ? e.message : `artifact ${a.path} is missing`);
    }
    if (sha256Hex(data) !== a.sha256) throw refuse(path, `artifact ${a.path} changed since the checkpoint`);
  }
  return cp;
}

/** Path of a file relative to the run directory, as records name artifacts. */
export const relToRun = (runDir: string, abs: string) => relative(runDir, abs);

/** workflow_summary.json and workflow_trace.json: end-to-end metrics and the full stage record. */
export async function writeRunRecords(runDir: string, spec: RunSpec, stages: StageSummary[], status: RunStatus, error: string | null = null) {
  const cost_by_stage: Record<string, number> = {};
  const time_by_stage: Record<string, number> = {};
  const quality_scores: Record<string, unknown> = {};
  const files: Record<string, string> = {};
  const best_outputs: Record<string, unknown> = { best_image: null, best_video: null, best_video_per_clip: {} };
  const reviews: unknown[] = [];
  /** What actually did each stage's work (offline defaults say so). */
  const backends: Record<string, string> = {};
  for (const s of stages) {
    backends[s.stage] = s.outputs.backend_note;
    cost_by_stage[s.stage] = round6((cost_by_stage[s.stage] ?? 0) + s.cost_usd);
    time_by_stage[s.stage] = (time_by_stage[s.stage] ?? 0) + s.duration_ms;
    if (Object.keys(s.scores).length) quality_scores[s.stage] = s.scores;
    for (const [k, v] of Object.entries(s.outputs)) {
      if (typeof v === 'string' && (k.endsWith('_file') || k.endsWith('_dir'))) files[`${s.stage}.${k}`] = v;
      if (k === 'best_image' || k === 'best_video') best_outputs[k] = v;
    }
    if (s.stage === 'video-scoring') {
      // one best video per clip; `best_video` is clip 1's, the opening shot of the ad
      best_outputs.best_video_per_clip = s.outputs.best_per_clip;
      best_outputs.best_video = Object.values(s.outputs.best_per_clip)[0] ?? null;
      best_outputs.continuity = s.outputs.continuity;
    }
    reviews.push(...s.reviews.map((r) => ({ stage: s.stage, ...r })));
  }
  if (spec.input_image) files.input_image = spec.input_image;
  const started = stages[0]?.started_at ?? spec.created_at;
  const ended = new Date().toISOString();
  const summary = {
    schema_version: 2,
    /** Every path below is relative to the run directory; run_dir itself is relative to LOOP_OUTPUT_DIR unless absolute. */
    run_id: spec.run_id,
    workflow: spec.workflow,
    status,
    error,
    run_dir: spec.run_dir,
    stages_completed: stages.map((s) => s.stage),
    total_cost_usd: round6(Object.values(cost_by_stage).reduce((a, b) => a + b, 0)),
    total_time_ms: Object.values(time_by_stage).reduce((a, b) => a + b, 0),
    wall_time_ms: Date.parse(ended) - Date.parse(spec.created_at),
    cost_by_stage,
    time_by_stage,
    quality_scores,
    best_outputs,
    backends,
    files,
    /** Decisions at the review gates (--review / --interactive), in order. */
    reviews,
    created_at: spec.created_at,
    started_at: started,
    ended_at: ended,
  };
  await writeJsonAtomic(join(runDir, SUMMARY_FILE), summary);
  await writeJsonAtomic(join(runDir, TRACE_FILE), {
    schema_version: 1,
    run_id: spec.run_id,
    workflow: spec.workflow,
    status,
    error,
    spec,
    stages,
    ended_at: ended,
  });
  return summary;
}
