/**
 * The model manifest (models/manifest.json): which files each scorer needs, where they come from,
 * and (where known) their sha256 and size. Unknown hashes are `null` and reported as "unpinned";
 * we never invent one.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { LoopError } from '../errors.js';
import { dataFile } from '../lib/paths.js';

const Sha = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits');

export const ModelFileSchema = z.object({
  path: z.string().min(1).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path inside the model folder'),
  url: z.string().url().nullable(),
  sha256: Sha.nullable(),
  size: z.number().int().nonnegative().nullable(),
});
export type ModelFile = z.infer<typeof ModelFileSchema>;

export const ModelEntrySchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  role: z.string(),
  metrics: z.array(z.string()),
  /** download: `loop models pull` fetches it; export / build: made locally, see `instructions`. */
  obtain: z.enum(['download', 'export', 'build']),
  source: z.string(),
  license: z.string(),
  instructions: z.string().optional(),
  /** export / build: the section of models/README.md with the recipe. */
  recipe: z.string().optional(),
  files: z.array(ModelFileSchema).min(1),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

export const ManifestSchema = z.object({
  schema_version: z.literal(1),
  models: z.array(ModelEntrySchema),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const defaultManifestPath = () => dataFile('models', 'manifest.json');

export async function loadManifest(path = defaultManifestPath()): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new LoopError('CONFIG', `cannot read model manifest ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LoopError('CONFIG', `model manifest ${path} is not valid JSON`);
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new LoopError('CONFIG', `model manifest ${path}: ${i.path.join('.')}: ${i.message}`);
  }
  const ids = new Set<string>();
  for (const m of r.data.models) {
    if (ids.has(m.id)) throw new LoopError('CONFIG', `model manifest ${path}: duplicate id ${m.id}`);
    ids.add(m.id);
  }
  return r.data;
}

/**
 * The one step that installs a model, for an "unavailable" line: `loop models pull <id>` for a
 * download, the models/README.md recipe for one that is exported or built (pull refuses those).
 */
export function installHint(id: string, manifestPath = defaultManifestPath()): string {
  const m = bundledModels(manifestPath).find((x) => x.id === id);
  if (!m || m.obtain === 'download') return `run \`loop models pull ${id}\``;
  const verb = m.obtain === 'export' ? 'export' : 'build';
  return `${verb} it: ${m.recipe ? `models/README.md "${m.recipe}"` : (m.instructions ?? 'see models/README.md')}`;
}

const bundled = new Map<string, ModelEntry[]>();
/** The manifest read once, synchronously (on the path that reports a missing model); unreadable → none. */
function bundledModels(path: string): ModelEntry[] {
  let models = bundled.get(path);
  if (!models) {
    try {
      models = ManifestSchema.parse(JSON.parse(readFileSync(path, 'utf8'))).models;
    } catch {
      models = [];
    }
    bundled.set(path, models);
  }
  return models;
}

export function findModel(manifest: Manifest, id: string): ModelEntry {
  const m = manifest.models.find((x) => x.id === id);
  if (!m) throw new LoopError('NOT_FOUND', `unknown model "${id}"; known: ${manifest.models.map((x) => x.id).join(', ')}`);
  return m;
}
