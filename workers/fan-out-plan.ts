import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from '../src/lib/canonical-json.js';
import { sha256Hex } from '../src/lib/hash.js';
import { writeJsonAtomic } from '../src/runs/atomic.js';
import { ensureDir } from '../src/runs/run-dir.js';
import type { FanOut, StageContext } from './stage.js';

/**
 * A fan-out stage's plan, saved in its folder before any child exists and read back on every later
 * step, so a crash, a retry or a resume redraws nothing — while what it was drawn from stays the
 * same. A plan records its basis (FanOut.basis: the upstream outputs it was drawn from) in
 * `<plan>.basis.json` beside it (`video_plan.basis.json`). When a stage re-runs and its basis has changed (a retried child
 * upstream re-ran the stages before it: a new best image, new storyboard frames), the plan is
 * stale: it is drawn again under the next revision, whose children have ids of their own, and what
 * the earlier revision wrote in the folder moves to `.superseded/r<N>/` first, so nothing it made
 * is reused for the new plan (the generation cache still serves any request that is unchanged).
 * A folder a later stage shares (image and video scoring rank their generation folder in place)
 * moves with it: that stage runs again after this one anyway.
 *
 * Crash-safe: the basis file is written with the new revision and `drawing` before anything
 * moves; a step that finds `drawing` finishes the move and draws.
 */
export const basisFileOf = (planFile: string) => `${planFile.replace(/\.json$/, '')}.basis.json`;
export const SUPERSEDED_DIR = '.superseded';

const BasisSchema = z.object({
  schema_version: z.literal(1),
  revision: z.number().int().nonnegative(),
  basis_sha256: z.string().nullable(),
  state: z.enum(['drawing', 'drawn']),
  /** Why the latest revision was drawn. */
  reason: z.string(),
  updated_at: z.string(),
});
type Basis = z.infer<typeof BasisSchema>;

export interface LoadedPlan<P> {
  plan: P;
  /** 0 for the first plan; each redraw after an upstream change adds one. */
  revision: number;
}

/** The job-key suffix of a revision's children (none for revision 0: ids of runs made before revisions existed hold). */
export const revisionKey = (key: string, revision: number) => (revision ? `${key}.r${revision}` : key);

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

/** Move everything of the stage folder but the basis file into .superseded/r<revision>/ (idempotent). */
async function supersede(stageDir: string, keep: string, revision: number): Promise<void> {
  const into = join(stageDir, SUPERSEDED_DIR, `r${revision}`);
  await mkdir(into, { recursive: true });
  for (const name of await readdir(stageDir)) {
    if (name === keep || name === SUPERSEDED_DIR) continue;
    const dest = join(into, name);
    if (existsSync(dest)) await rm(dest, { recursive: true, force: true }); // a half-finished earlier move
    await rename(join(stageDir, name), dest);
  }
}

export async function loadOrDrawPlan<P>(f: FanOut<P>, ctx: StageContext): Promise<LoadedPlan<P>> {
  const planPath = join(ctx.stageDir, f.planFile);
  const basisPath = join(ctx.stageDir, basisFileOf(f.planFile));
  const basisSha = f.basis ? sha256Hex(canonicalJson((await f.basis(ctx as StageContext<undefined>)) ?? null)) : null;
  const rawBasis = await readText(basisPath);
  let basis: Basis | undefined = rawBasis === undefined ? undefined : BasisSchema.parse(JSON.parse(rawBasis));
  const write = async (b: Omit<Basis, 'schema_version' | 'updated_at'>) => {
    await ensureDir(ctx.stageDir);
    await writeJsonAtomic(basisPath, (basis = { schema_version: 1, ...b, updated_at: new Date().toISOString() }));
  };

  const saved = basis?.state === 'drawing' ? undefined : await readText(planPath);
  if (saved !== undefined) {
    const plan = f.planSchema.parse(JSON.parse(saved));
    // a plan saved before its basis was recorded (or by a run made before bases existed) is adopted as drawn from today's
    if (!basis) {
      await write({ revision: 0, basis_sha256: basisSha, state: 'drawn', reason: 'first plan' });
      return { plan, revision: 0 };
    }
    if (basis.basis_sha256 === null || basisSha === null || basis.basis_sha256 === basisSha) return { plan, revision: basis.revision };
    const old = basis.revision;
    await write({ revision: old + 1, basis_sha256: basisSha, state: 'drawing', reason: `what revision ${old} was drawn from changed upstream` });
    ctx.logger.info(`[${ctx.spec.run_id}] ${f.planFile}: its upstream changed; drawing revision ${old + 1} (revision ${old}'s files move to ${SUPERSEDED_DIR}/r${old}/)`);
  }
  if (basis?.state === 'drawing' && basis.revision > 0) await supersede(ctx.stageDir, basisFileOf(f.planFile), basis.revision - 1);
  const revision = basis?.revision ?? 0;
  const plan = f.planSchema.parse(await f.draw(ctx as StageContext<undefined>));
  await ensureDir(ctx.stageDir);
  await writeJsonAtomic(planPath, plan);
  await write({ revision, basis_sha256: basisSha, state: 'drawn', reason: basis?.reason ?? 'first plan' });
  return { plan, revision };
}
