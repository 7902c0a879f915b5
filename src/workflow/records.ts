import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { LoopError } from '../errors.js';
import { sha256File, sha256Hex } from '../lib/hash.js';
import { writeJsonAtomic } from '../runs/atomic.js';
import { round6 } from '../runs/ledger.js';
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
export const CHECKPOINT_SCHEMA_VERSION = 1;

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
  /** sha256 of this JSON with `sha256` set to "" (canonical: 2-space JSON). */
  sha256: z.string(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;

const selfHash = (cp: Checkpoint) => sha256Hex(JSON.stringify({ ...cp, sha256: '' }, null, 2));

async function hashArtifacts(runDir: string, stages: StageSummary[]) {
  const paths = [...new Set(stages.flatMap((s) => s.artifacts))];
  return Promise.all(
    paths.map(async (p) => {
      const abs = join(runDir, p);
      const data = await readFile(abs);
      return { path: p, sha256: sha256Hex(data), bytes: data.length };
    }),
  );
}

/** Write the checkpoint after a stage: atomic, self-hashed, every named artifact hashed. */
export async function writeCheckpoint(
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
    artifacts: await hashArtifacts(spec.run_dir, stages),
    error,
    updated_at: new Date().toISOString(),
    sha256: '',
  };
  cp.sha256 = selfHash(cp);
  await writeJsonAtomic(join(spec.run_dir, CHECKPOINT_FILE), cp);
  return cp;
}

/** Read and verify a checkpoint: schema, its own hash, and every artifact's hash. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new LoopError('INPUT', `cannot read checkpoint ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = CheckpointSchema.safeParse(raw);
  if (!parsed.success) throw new LoopError('INPUT', `checkpoint ${path} is not a loop checkpoint (${parsed.error.issues[0]?.message})`);
  const cp = parsed.data;
  if (selfHash(cp) !== cp.sha256) throw new LoopError('INPUT', `checkpoint ${path} was modified or is corrupt (sha256 mismatch)`);
  for (const a of cp.artifacts) {
    let actual: string;
    try {
      actual = await sha256File(join(cp.spec.run_dir, a.path));
    } catch {
      throw new LoopError('INPUT', `checkpoint ${path}: artifact ${a.path} is missing`);
    }
    if (actual !== a.sha256) throw new LoopError('INPUT', `checkpoint ${path}: artifact ${a.path} changed since the checkpoint`);
  }
  return cp;
}

/** Path of a file relative to the run directory, as records name artifacts. */
export const relToRun = (runDir: string, abs: string) => relative(runDir, abs);

/** workflow_summary.json and workflow_trace.json: end-to-end metrics and the full stage record. */
export async function writeRunRecords(spec: RunSpec, stages: StageSummary[], status: RunStatus, error: string | null = null) {
  const cost_by_stage: Record<string, number> = {};
  const time_by_stage: Record<string, number> = {};
  const quality_scores: Record<string, unknown> = {};
  const files: Record<string, string> = {};
  const best_outputs: Record<string, unknown> = { best_image: null, best_video: null };
  /** What actually did each stage's work (offline defaults say so). */
  const backends: Record<string, string> = {};
  for (const s of stages) {
    if (typeof s.outputs.backend_note === 'string') backends[s.stage] = s.outputs.backend_note;
    cost_by_stage[s.stage] = round6((cost_by_stage[s.stage] ?? 0) + s.cost_usd);
    time_by_stage[s.stage] = (time_by_stage[s.stage] ?? 0) + s.duration_ms;
    if (Object.keys(s.scores).length) quality_scores[s.stage] = s.scores;
    for (const [k, v] of Object.entries(s.outputs)) {
      if (typeof v === 'string' && (k.endsWith('_file') || k.endsWith('_dir') || k === 'dir')) files[`${s.stage}.${k}`] = v;
      if (k === 'best_image' || k === 'best_video') best_outputs[k] = v;
    }
  }
  const started = stages[0]?.started_at ?? spec.created_at;
  const ended = new Date().toISOString();
  const summary = {
    schema_version: 1,
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
    created_at: spec.created_at,
    started_at: started,
    ended_at: ended,
  };
  await writeJsonAtomic(join(spec.run_dir, SUMMARY_FILE), summary);
  await writeJsonAtomic(join(spec.run_dir, TRACE_FILE), {
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
