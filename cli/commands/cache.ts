/**
 * `loop cache stats | prune`: the generation cache under <LOOP_OUTPUT_DIR>/.cache/generations
 * (src/cache/generation-cache.ts). Flags only at start-up; the cache module loads in the action.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { formatBytes, parseAge, parseSize } from '../../src/cache/units.js';
import { jsonForTerminal, termSafe } from '../../src/lib/terminal.js';
import { action, parseOptions } from '../shared.js';

const DEFAULT_MAX_SIZE = '2GB';

const sizeArg = (value: string): number => {
  const n = parseSize(value);
  if (n === undefined) throw new InvalidArgumentError(`--max-size must be a size like 2GB, 500MB, 1.5GiB or a number of bytes, got "${termSafe(value).slice(0, 40)}"`);
  return n;
};
const ageArg = (value: string): number => {
  const n = parseAge(value);
  if (n === undefined) throw new InvalidArgumentError(`--older-than must be an age like 30d, 12h, 90m, 45s or 2w, got "${termSafe(value).slice(0, 40)}"`);
  return n;
};

const Opts = z.object({
  maxSize: z.number().int().nonnegative().optional(),
  olderThan: z.number().int().nonnegative().optional(),
  dryRun: z.boolean().optional(),
  json: z.boolean().optional(),
});

async function openCache() {
  const { checkConfig } = await import('../../src/config/check.js');
  const { GenerationCache } = await import('../../src/cache/generation-cache.js');
  return GenerationCache.at(checkConfig().LOOP_OUTPUT_DIR);
}

const when = (iso: string | null) => iso ?? '—';

export function register(program: Command): void {
  const cache = program
    .command('cache')
    .summary('inspect and prune the generation cache')
    .description('the generation cache (<LOOP_OUTPUT_DIR>/.cache/generations): what a re-run does not pay for again')
    .addHelpText('after', '\nExamples:\n  npx loop cache stats\n  npx loop cache prune --max-size 500MB --dry-run');

  cache
    .command('stats')
    .description('entries, size, and what they cost when first made')
    .option('--json', 'machine-readable output on stdout')
    .addHelpText('after', '\nExamples:\n  npx loop cache stats\n  npx loop cache stats --json')
    .action(
      action(async (raw: unknown) => {
        const o = parseOptions(Opts, raw);
        const s = await (await openCache()).stats();
        if (o.json) process.stdout.write(jsonForTerminal(s) + '\n');
        else {
          const w = (line: string) => process.stdout.write(termSafe(line) + '\n');
          w(`cache: ${s.dir}`);
          w(`entries: ${s.entries} (${s.images} image${s.images === 1 ? '' : 's'}, ${s.videos} video${s.videos === 1 ? '' : 's'}${s.video_scores ? `, ${s.video_scores} video score${s.video_scores === 1 ? '' : 's'}` : ''}${s.unreadable ? `, ${s.unreadable} unreadable` : ''}) · ${formatBytes(s.bytes)}`);
          w(`first made for: $${s.original_cost_usd.toFixed(4)} (what re-making them all would cost)`);
          w(`last used: oldest ${when(s.oldest_use)}, newest ${when(s.newest_use)}`);
        }
        return 0;
      }),
    );

  cache
    .command('prune')
    .summary('evict least recently used or old entries')
    .description(`evict the least recently used entries until the cache is at most --max-size (default ${DEFAULT_MAX_SIZE} when no bound is given), and those unused for --older-than`)
    .option('--max-size <size>', 'keep at most this much: 2GB, 500MB, 1.5GiB, or bytes', sizeArg)
    .option('--older-than <age>', 'remove entries not used for this long: 30d, 12h, 90m, 2w', ageArg)
    .option('--dry-run', 'say what would go; remove nothing')
    .option('--json', 'machine-readable output on stdout')
    .addHelpText('after', '\nExamples:\n  npx loop cache prune --max-size 2GB --dry-run\n  npx loop cache prune --older-than 30d')
    .action(
      action(async (raw: unknown) => {
        const o = parseOptions(Opts, raw);
        const maxBytes = o.maxSize ?? (o.olderThan === undefined ? parseSize(DEFAULT_MAX_SIZE) : undefined);
        const r = await (await openCache()).prune({ maxBytes, olderThanMs: o.olderThan, dryRun: o.dryRun });
        if (o.json) process.stdout.write(jsonForTerminal(r) + '\n');
        else {
          const verb = r.dry_run ? 'would remove' : 'removed';
          process.stdout.write(
            termSafe(
              `${verb} ${r.removed.length} entr${r.removed.length === 1 ? 'y' : 'ies'} (${formatBytes(r.removed_bytes)})${r.leftovers_removed ? ` and ${r.leftovers_removed} leftover file(s)` : ''}; kept ${r.kept_entries} (${formatBytes(r.kept_bytes)})${maxBytes !== undefined ? `, bound ${formatBytes(maxBytes)}` : ''}`,
            ) + '\n',
          );
        }
        return 0;
      }),
    );
}
