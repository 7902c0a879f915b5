import { METRIC_IDS } from '../src/scoring/types.js';
import type { GenerationTrace, ImageMetadata } from '../src/generation/metadata.js';
import { termSafe } from '../src/lib/terminal.js';
import { bold, dim, money, table } from './format.js';

/**
 * Pieces of a trace that come from outside loop (file names, model ids, provider error text, the
 * prompt's path) pass through termSafe before they are laid out; loop's own colours are added
 * after, so they survive.
 */
const t = (text: unknown) => termSafe(String(text ?? ''));

/**
 * Console rendering of an image generation folder (generate-images, score-images): the progress
 * line and the ranked results table. Pure string functions.
 */

const METRIC_LABEL: Record<string, string> = { pickscore: 'pick', clip_score: 'clip', vqa_score: 'vqa', aesthetic: 'aesth', technical: 'tech' };

const num = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toFixed(1));

export function orderedImages(trace: GenerationTrace): ImageMetadata[] {
  return [...trace.images].sort((a, b) =>
    trace.ordering === 'rank' ? (a.rank ?? 1e9) - (b.rank ?? 1e9) || a.variation - b.variation : a.variation - b.variation,
  );
}

/**
 * The results table, the best candidate, the total cost, the backend and the failures. Scores are
 * rounded for people (the files keep full precision). `promptSource` names the prompt the images
 * were scored against when it is not the one they were made from (score-images --prompt-file).
 */
export function renderResults(trace: GenerationTrace, outDir: string, o: { promptSource?: string } = {}): string {
  const images = orderedImages(trace);
  const scored = trace.ordering === 'rank';
  const metrics = scored
    ? METRIC_IDS.filter((m) => images.some((i) => i.scores?.metrics[m]?.available))
    : [];
  const header = ['', scored ? 'rank' : 'var', 'file', 'seed', 'model', 'cost', ...metrics.map((m) => METRIC_LABEL[m] ?? m), ...(scored ? ['overall'] : [])];
  const rows = images.map((img) => {
    const top = scored && img.rank !== null && img.rank <= 3;
    return {
      top,
      cells: [
        top ? '★' : ' ',
        scored ? String(img.rank ?? '—') : String(img.variation),
        t(img.file),
        String(img.seed),
        t(img.model),
        money(img.cost_usd),
        ...metrics.map((m) => {
          const r = img.scores?.metrics[m];
          return r?.available ? num(r.normalized) : '—';
        }),
        ...(scored ? [num(img.scores?.overall)] : []),
      ],
    };
  });
  const out: string[] = [];
  out.push(`backend: ${t(trace.backend)} — ${t(trace.backend_note)}`);
  out.push(`prompt:  ${t(o.promptSource ?? trace.prompt_source)}`);
  out.push(`output:  ${t(outDir)}`);
  out.push('');
  if (rows.length) out.push(table(header, rows.map((r) => (r.top ? r.cells.map(bold) : r.cells)), { rule: false }));
  else out.push('no images were produced');
  out.push('');
  if (!scored) out.push(dim(`not ranked — ${trace.ordering_note ? t(trace.ordering_note) : 'files keep generation order'}`));
  // Say which metrics could not run and why (once each, with what fixes it), so a ranking on fewer
  // metrics is not mistaken for a full one.
  const sc = (trace.scoring ?? {}) as { metrics_unavailable?: Record<string, string>; overall_note?: string };
  for (const [m, why] of Object.entries(sc.metrics_unavailable ?? {})) out.push(dim(`unavailable: ${t(m)}: ${t(why)}`));
  if (scored && sc.overall_note) out.push(dim(`note: ${t(sc.overall_note)}`));
  const best = scored ? images.find((i) => i.file === trace.best) ?? images[0] : undefined;
  if (best)
    out.push(bold(`best candidate: ${t(best.file)} (seed ${best.seed}${best.scores?.overall != null ? `, overall ${best.scores.overall.toFixed(1)}` : ''})`));
  else if (images.length) out.push('best candidate: none chosen (images are unscored; look at them in generation order)');
  const cost = trace.cost as { total_cost_usd?: number; total_is_lower_bound?: boolean };
  out.push(
    `total cost: ${money(cost.total_cost_usd ?? 0)}${cost.total_is_lower_bound ? ' (lower bound: some models have no price)' : ''} for ${images.length} image${images.length === 1 ? '' : 's'}${trace.backend === 'sketch' ? ' (offline previz sketches, not model output)' : ''}`,
  );
  if (trace.failures.length) {
    out.push('');
    out.push(`${trace.failures.length} of ${trace.num_variations} variations failed:`);
    for (const f of trace.failures)
      out.push(`  variation ${f.variation} (seed ${f.seed}, ${f.attempts} attempts, tried ${f.models_tried.map(t).join(' → ')}): ${t(f.reason)}`);
  }
  return out.join('\n');
}
