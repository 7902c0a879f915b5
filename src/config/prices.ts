import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { configError } from '../errors.js';
import { dataFile } from '../lib/paths.js';

const ModelPrice = z
  .object({
    input_per_1m_tokens: z.number().nonnegative().optional(),
    output_per_1m_tokens: z.number().nonnegative().optional(),
    per_image: z.number().nonnegative().optional(),
    per_video_second: z.number().nonnegative().optional(),
  })
  .strict();

export const PriceTableSchema = z.object({
  schema_version: z.literal(1),
  as_of: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  currency: z.literal('USD'),
  note: z.string().optional(),
  models: z.record(z.string(), ModelPrice),
});

export type PriceTable = z.infer<typeof PriceTableSchema>;
export type ModelPrice = z.infer<typeof ModelPrice>;

/** `models["a/b"].per_image` from zod's path: where in the file the first problem is. */
function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(String(k))) out += (out ? '.' : '') + String(k);
    else out += `[${JSON.stringify(String(k))}]`;
  }
  return out || '(top level)';
}

/**
 * Read and validate one price table. `label` names where the path came from (LOOP_PRICES_FILE);
 * every problem is one CONFIG line naming the file: missing, not a regular file, not JSON, or
 * the first entry that does not fit the schema.
 */
function readTable(path: string, label: string): PriceTable {
  const where = `${label} ${path}`;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw configError(code === 'ENOENT' || code === 'ENOTDIR' ? `${where}: file not found` : `${where}: cannot read it (${code ?? (e as Error).message})`);
  }
  // a FIFO or a device would block or never end: only regular files are read
  if (!st.isFile()) throw configError(`${where}: ${st.isDirectory() ? 'is a directory' : 'is not a regular file'}; give a JSON price table`);
  if (st.size > 4 * 1024 * 1024) throw configError(`${where}: ${st.size} bytes is too large for a price table (is this the right file?)`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw configError(`${where}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!text.trim()) throw configError(`${where}: the file is empty; give a JSON price table`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw configError(`${where}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const parsed = PriceTableSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw configError(`${where}: invalid at ${jsonPath(i.path)}: ${i.message} (see src/config/prices.json for the shape)`);
  }
  return parsed.data;
}

let cached: { key: string; table: PriceTable } | undefined;

/** The built-in table merged with the user's override file (LOOP_PRICES_FILE), by model id. */
export function loadPrices(overridePath = process.env.LOOP_PRICES_FILE): PriceTable {
  const key = overridePath ?? '';
  if (cached?.key === key) return cached.table;
  const base = readTable(dataFile('src', 'config', 'prices.json'), 'built-in price table');
  let table = base;
  if (overridePath) {
    const user = readTable(overridePath, 'LOOP_PRICES_FILE');
    table = { ...base, as_of: user.as_of, models: { ...base.models, ...user.models } };
  }
  cached = { key, table };
  return table;
}

/** Look up a model, tolerating version pins ("owner/name:sha") and dated snapshots ("gpt-4o-2024-08-06"). */
export function priceFor(model: string, table = loadPrices()): ModelPrice | undefined {
  const bare = model.split(':')[0]!;
  if (table.models[bare]) return table.models[bare];
  const prefix = Object.keys(table.models)
    .filter((k) => bare.startsWith(k + '-'))
    .sort((a, b) => b.length - a.length)[0];
  return prefix ? table.models[prefix] : undefined;
}

export function tokenCost(model: string, inputTokens: number, outputTokens: number): number | undefined {
  const p = priceFor(model);
  if (p?.input_per_1m_tokens === undefined || p.output_per_1m_tokens === undefined) return undefined;
  return (inputTokens * p.input_per_1m_tokens + outputTokens * p.output_per_1m_tokens) / 1e6;
}

export function imageCost(model: string, images = 1): number | undefined {
  const p = priceFor(model)?.per_image;
  return p === undefined ? undefined : p * images;
}

export function videoCost(model: string, seconds: number): number | undefined {
  const p = priceFor(model)?.per_video_second;
  return p === undefined ? undefined : p * seconds;
}
