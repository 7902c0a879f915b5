import { readFileSync } from 'node:fs';
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

function readTable(path: string): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw configError(`cannot read price table ${path}: ${(e as Error).message}`);
  }
  const parsed = PriceTableSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw configError(`invalid price table ${path} at ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return parsed.data;
}

let cached: { key: string; table: PriceTable } | undefined;

/** The built-in table merged with the user's override file (LOOP_PRICES_FILE), by model id. */
export function loadPrices(overridePath = process.env.LOOP_PRICES_FILE): PriceTable {
  const key = overridePath ?? '';
  if (cached?.key === key) return cached.table;
  const base = readTable(dataFile('src', 'config', 'prices.json'));
  let table = base;
  if (overridePath) {
    const user = readTable(overridePath);
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
