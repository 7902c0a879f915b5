import { METRIC_IDS } from '../scoring/types.js';
import { VIDEO_DIMENSIONS } from '../video-prompt/types.js';
import { DIMENSION_IDS } from '../video-scoring/dimensions.js';
import { DIMENSIONS } from '../prompt/types.js';
import type { Stage } from '../workflow/stages.js';
import { bar, CSS, duration, esc, facts, money, num, promptBlock } from './html.js';
import type { ImageCard, ImagesData, MediaRef, PromptData, RunData, RunState, StageRow, StageState, StoryboardData, VideoCard, VideoPromptData, VideosData } from './load.js';

/**
 * The run report as one HTML document: no script, no external resource, inline CSS only. Images,
 * the contact sheet and the videos are referenced by relative paths into the run directory the
 * report lies in (the report is written at its root), so it opens from disk. A Content Security
 * Policy forbids every script and every request but those files, so even a mistake in escaping
 * could not run code or reach the network. Pure: the same RunData renders the same bytes.
 */

export const STAGE_LABELS: Record<Stage, string> = {
  'image-prompt': 'Image prompt',
  'image-generation': 'Image generation',
  'image-scoring': 'Image scoring',
  storyboard: 'Storyboard',
  'video-prompt': 'Video prompts',
  'video-generation': 'Video generation',
  'video-scoring': 'Video scoring',
};

const STAGE_NUMBERS: Record<Stage, string> = {
  'image-prompt': '1',
  'image-generation': '2',
  'image-scoring': '2b',
  storyboard: '3',
  'video-prompt': '4',
  'video-generation': '5',
  'video-scoring': '5b',
};

const RUN_STATE_WORDS: Record<RunState, string> = {
  running: 'in progress',
  completed: 'completed',
  partial: 'partial',
  failed: 'failed',
  unknown: 'unknown',
};

const STAGE_STATE_WORDS: Record<StageState, string> = {
  done: 'done',
  partial: 'done, partial',
  running: 'in progress',
  pending: 'pending',
  failed: 'failed',
  'not-run': 'not run',
};

const CSP = "default-src 'none'; img-src 'self' file: data:; media-src 'self' file:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const badge = (cls: string, words: string) => `<span class="badge ${esc(cls)}">${esc(words)}</span>`;
const stageBadge = (s: StageState) => `<span class="badge ${s}" data-state="${s}">${esc(STAGE_STATE_WORDS[s])}</span>`;
const pct = (w: number) => `${Math.round(w * 100)}%`;

function img(src: MediaRef, alt: string, cls = ''): string {
  return src ? `<img src="${esc(src)}" alt="${esc(alt)}"${cls ? ` class="${cls}"` : ''}>` : `<div class="missing">${esc(alt)}: file not written yet</div>`;
}

function stageOf(d: RunData, stage: Stage): StageRow | undefined {
  return d.stages.find((s) => s.stage === stage);
}

/** A section for one or more stages; shown when the workflow has them or their files exist. */
function section(d: RunData, id: string, title: string, stages: Stage[], hasData: boolean, body: () => string): string {
  const rows = stages.map((s) => stageOf(d, s)).filter((r): r is StageRow => !!r);
  if (!rows.length && !hasData) return '';
  const head = rows.map((r) => `<span class="muted">${esc(STAGE_LABELS[r.stage])}</span> ${stageBadge(r.state)}`).join(' ');
  const pending = rows.length > 0 && rows.every((r) => r.state === 'pending' || r.state === 'not-run');
  let inner: string;
  if (!hasData && pending) inner = `<p class="pending-note">${rows[0]!.state === 'not-run' ? 'Not run: the run ended before this stage.' : 'Pending: this stage has not started yet.'}</p>`;
  else if (!hasData && rows.some((r) => r.state === 'running')) inner = `<p class="pending-note">In progress: nothing written yet.</p>`;
  else if (!hasData) inner = `<p class="pending-note">No files for this stage.</p>`;
  else inner = body();
  const running = rows.some((r) => r.state === 'running') && hasData ? `<p class="pending-note">In progress: what is written so far.</p>` : '';
  return `<section id="${id}" data-section="${id}"><h2>${esc(title)} ${head}</h2>${running}${inner}</section>`;
}

// ---- status ------------------------------------------------------------------------------------

function statusSection(d: RunData): string {
  const strip = d.stages
    .map((s) => `<li data-stage="${s.stage}" data-state="${s.state}"><span class="n">${esc(STAGE_NUMBERS[s.stage])}</span>${esc(STAGE_LABELS[s.stage])} ${stageBadge(s.state)}</li>`)
    .join('');
  const done = d.stages.filter((s) => s.state === 'done' || s.state === 'partial').length;
  const rows = d.stages
    .map((s) => {
      const kind = s.offline === null ? '' : s.offline ? badge('offline', 'offline default') : badge('remote', 'model / service');
      return (
        `<tr data-stage="${s.stage}"><td>${esc(STAGE_NUMBERS[s.stage])} ${esc(STAGE_LABELS[s.stage])}</td><td>${stageBadge(s.state)}</td>` +
        `<td class="num">${esc(duration(s.duration_ms))}</td><td class="num">${esc(money(s.cost_usd, s.cost_lower_bound))}</td>` +
        `<td>${kind} ${s.backend_note ? esc(s.backend_note) : '<span class="muted">—</span>'}</td></tr>`
      );
    })
    .join('');
  const total =
    `<tr><th>total</th><th>${esc(`${done} of ${d.stages.length} stages done`)}</th><th class="num">${esc(duration(d.total_time_ms))}</th>` +
    `<th class="num">${esc(money(d.total_cost_usd, d.total_cost_lower_bound))}</th><th>${d.wall_time_ms !== null ? esc(`wall time ${duration(d.wall_time_ms)}`) : ''}</th></tr>`;
  const o = d.spec?.options as Record<string, unknown> | undefined;
  const optionRows: Array<[string, string]> = o
    ? Object.entries(o)
        .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
        .map(([k, v]) => [k, String(v)])
    : [];
  return (
    `<section id="status" data-section="status"><h2>Run status ${badge(d.status, RUN_STATE_WORDS[d.status])}</h2>` +
    `<ol class="stages">${strip}</ol>` +
    (d.error ? `<p class="error">${esc(d.error)}</p>` : '') +
    (d.status === 'running' && d.next_stage ? `<p class="muted">Next: ${esc(STAGE_LABELS[d.next_stage as Stage] ?? d.next_stage)}. This page refreshes itself every 15 s while the run is in progress.</p>` : '') +
    `<h3>Cost, time and backend per stage</h3><table><thead><tr><th>stage</th><th>state</th><th class="num">time</th><th class="num">cost</th><th>what did the work</th></tr></thead><tbody>${rows}</tbody><tfoot>${total}</tfoot></table>` +
    (d.total_cost_lower_bound ? `<p class="muted">≥: a price was missing from the price table, so the cost is a lower bound.</p>` : '') +
    (optionRows.length ? `<details><summary>Options</summary>${facts(optionRows)}</details>` : '') +
    `</section>`
  );
}

// ---- stage 1 -----------------------------------------------------------------------------------

function promptScores(scores: Record<string, number | null> | null, dims: readonly string[]): string {
  if (!scores) return '<p class="muted">not scored yet</p>';
  const bars = dims.map((k) => bar(k.replace(/_/g, ' '), scores[k] ?? null, scores[k] === null ? { title: 'neutral: left out of the overall' } : {}));
  return `<div class="scores">${bars.join('')}${bar('overall', scores.overall ?? null, { cls: 'overall' })}</div>`;
}

function promptSection(d: RunData): string {
  const p = d.prompt;
  return section(d, 'prompt', 'Prompt evolution', ['image-prompt'], !!p, () => {
    const q = p as PromptData;
    const rounds = q.rounds
      .map(
        (r) =>
          `<div class="round${r.iteration === q.best_iteration ? ' best' : ''}" data-round="${r.iteration}"><h3>Round ${r.iteration}${r.iteration === q.best_iteration ? ' · best' : ''}${r.scores ? ` · overall ${esc(num(r.scores.overall))}` : ''}</h3>` +
          promptBlock(r.prompt) +
          promptScores(r.scores, DIMENSIONS) +
          (r.feedback.length ? `<ul class="feedback">${r.feedback.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : '') +
          `</div>`,
      )
      .join('');
    return (
      facts([
        ['stop reason', q.stop_reason],
        ['threshold', q.threshold],
        ['agents', q.models ? Object.entries(q.models).map(([k, v]) => `${k}: ${v}`).join(', ') : null],
        ['rounds', String(q.rounds.length)],
        ['read from', q.source === 'summary' ? 'prompt_trace_summary.json' : 'the numbered trace files (no summary yet)'],
      ]) +
      (q.error ? `<p class="error">${esc(q.error)}</p>` : '') +
      `<h3>Original prompt</h3>${promptBlock(q.original, 'prompt original') || '<p class="muted">—</p>'}` +
      (q.initial ? `<div class="round" data-round="0"><h3>Initial assessment · overall ${esc(num(q.initial.scores.overall))}</h3>${promptScores(q.initial.scores, DIMENSIONS)}</div>` : '') +
      rounds +
      (q.final_prompt ? `<h3>Final prompt${q.final_scores ? ` · overall ${esc(num(q.final_scores.overall))}` : ''}</h3>${promptBlock(q.final_prompt)}` : '')
    );
  });
}

// ---- stage 2 -----------------------------------------------------------------------------------

function imageCard(c: ImageCard, im: ImagesData): string {
  const m = c.meta;
  const s = m?.scores ?? null;
  const isBest = im.best === c.file;
  const metrics = METRIC_IDS.map((id) => {
    const r = s?.metrics[id];
    if (!r) return '';
    if (!r.available) return bar(id, null, { title: r.reason });
    const w = s?.weights_used[id];
    return bar(id, r.normalized, { title: `raw ${r.raw} (${r.model_id})`, note: w !== undefined ? `weight ${pct(w)}` : undefined });
  }).join('');
  const head = `<div class="title"><span>${m?.rank ? `#${m.rank} · ` : ''}${esc(c.file)}</span>${isBest ? badge('done', 'best') : ''}</div>`;
  return (
    `<div class="card${isBest ? ' best' : ''}" data-image="${esc(c.file)}">${img(c.src, c.file)}<div class="body">${head}` +
    (s ? `<div class="metrics">${bar('overall', s.overall, { cls: 'overall', title: s.rank_key != null ? `rank key ${num(s.rank_key, 2)}` : undefined })}${metrics}</div>` : `<p class="muted">${m ? 'not scored' : 'metadata not written yet'}</p>`) +
    facts([
      ['seed', m?.seed],
      ['variation', m?.variation],
      ['size', m ? `${m.width}×${m.height}` : null],
      ['model', m ? `${m.backend} / ${m.model}` : null],
      ['time', m ? duration(m.duration_ms) : null],
      ['cost', m ? money(m.cost_usd) : null],
    ]) +
    `</div></div>`
  );
}

function imagesSection(d: RunData): string {
  const im = d.images;
  return section(d, 'images', 'Images, ranked', ['image-generation', 'image-scoring'], !!im && (im.cards.length > 0 || !!im.trace), () => {
    const x = im as ImagesData;
    const unavailable = Object.entries(x.metrics_unavailable);
    const weights = Object.entries(x.weights_used);
    const failures = x.trace?.failures ?? [];
    return (
      facts([
        ['images', `${x.cards.length}${x.planned !== null ? ` of ${x.planned} planned` : ''}`],
        ['ordering', x.ordering === 'rank' ? 'ranked: image_001 is the best' : x.ordering === 'generation' ? 'generation order (not ranked)' : null],
        ['note', x.ordering_note],
        ['weights used', weights.length ? weights.map(([k, w]) => `${k} ${pct(w)}`).join(', ') : null],
        ['overall', x.overall_note],
      ]) +
      (x.ranking_in_progress ? `<p class="pending-note">Ranking in progress: files are being renamed.</p>` : '') +
      (unavailable.length ? `<details><summary>${unavailable.length} metric(s) unavailable</summary><ul class="feedback">${unavailable.map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`).join('')}</ul></details>` : '') +
      (failures.length ? `<h3>Failed variations</h3><ul>${failures.map((f) => `<li class="problem">variation ${f.variation} (seed ${f.seed}): ${esc(f.reason)}</li>`).join('')}</ul>` : '') +
      `<div class="gallery">${x.cards.map((c) => imageCard(c, x)).join('')}</div>`
    );
  });
}

// ---- stage 3 -----------------------------------------------------------------------------------

function storyboardSection(d: RunData): string {
  const sb = d.storyboard;
  return section(d, 'storyboard', 'Storyboard', ['storyboard'], !!sb && (!!sb.sheet || !!sb.meta || sb.frames.length > 0), () => {
    const s = sb as StoryboardData;
    const m = s.meta;
    const shots = new Map((m?.shot_list ?? []).map((x) => [x.clip, x]));
    const clips = (m?.clips ?? [])
      .map((c) => {
        const shot = shots.get(c.clip);
        const frameState = (f: { file: string | null; status?: string }) => esc(f.status ?? (f.file ? 'made' : 'failed'));
        return (
          `<tr><td class="num">${c.clip}</td><td>${esc(c.description)}${c.narrative_role ? ` <span class="muted">(${esc(c.narrative_role)})</span>` : ''}</td>` +
          `<td>${esc(shot ? `${shot.size} · ${shot.angle} · ${shot.lens_mm}mm` : '')}</td><td>${esc(c.camera_movement ?? '')}</td>` +
          `<td class="num">${shot ? esc(`${shot.duration_s} s`) : ''}</td><td>${frameState(c.start)} → ${frameState(c.end)}</td></tr>`
        );
      })
      .join('');
    const frames = !s.sheet && s.frames.length ? `<div class="gallery">${s.frames.map((f) => `<div class="card">${img(f.src, f.file)}<div class="body">${esc(f.file)}</div></div>`).join('')}</div>` : '';
    return (
      facts([
        ['planner', m?.planner_note],
        ['frames', m?.backend_note],
        ['from image', m?.from_image?.origin],
        ['aspect ratio', m?.aspect_ratio],
      ]) +
      (s.sheet ? `<h3>Contact sheet</h3>${img(s.sheet, 'storyboard contact sheet', 'sheet')}` : frames ? `<h3>Frames so far</h3>${frames}` : '') +
      (clips ? `<h3>Shot list</h3><table><thead><tr><th class="num">clip</th><th>what happens</th><th>shot</th><th>move</th><th class="num">length</th><th>frames</th></tr></thead><tbody>${clips}</tbody></table>` : '')
    );
  });
}

// ---- stage 4 -----------------------------------------------------------------------------------

function videoPromptSection(d: RunData): string {
  const vp = d.videoPrompts;
  return section(d, 'video-prompts', 'Video prompts', ['video-prompt'], !!vp && vp.clips.length > 0, () => {
    const v = vp as VideoPromptData;
    return (
      facts([['threshold', v.threshold]]) +
      v.clips
        .map(
          (c) =>
            `<div class="clip" data-clip="${c.clip}"><h3>Clip ${c.clip}${c.scores ? ` · overall ${esc(num(c.scores.overall ?? null))}` : ''}${c.stop_reason ? ` · ${esc(c.stop_reason)}` : ''}${c.status && c.status !== 'done' ? ` · ${esc(c.status)}` : ''}</h3>` +
            (c.error ? `<p class="error">${esc(c.error)}</p>` : '') +
            (c.original ? `<details><summary>storyboard motion (the loop's start)</summary>${promptBlock(c.original, 'prompt original')}</details>` : '') +
            promptBlock(c.prompt) +
            (c.scores ? promptScores(c.scores, VIDEO_DIMENSIONS) : '') +
            (c.rounds.length
              ? `<details><summary>${c.rounds.length} round(s)</summary>${c.rounds
                  .map((r) => `<div class="round${r.iteration === c.best_iteration ? ' best' : ''}"><h3>Round ${r.iteration} · overall ${esc(num(r.scores.overall ?? null))}</h3>${promptBlock(r.prompt)}${promptScores(r.scores, VIDEO_DIMENSIONS)}${r.feedback.length ? `<ul class="feedback">${r.feedback.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : ''}</div>`)
                  .join('')}</details>`
              : '') +
            `</div>`,
        )
        .join('')
    );
  });
}

// ---- stage 5 -----------------------------------------------------------------------------------

function videoCard(v: VideoCard, best: string | null): string {
  const m = v.meta;
  const isBest = best === v.file;
  const player = v.src
    ? `<video controls preload="metadata" src="${esc(v.src)}" data-file="${esc(v.file)}"></video>`
    : `<div class="missing">${esc(v.file)}: file not written yet</div>`;
  let scores = '<p class="muted">not scored</p>';
  if (v.scores) {
    const dims = DIMENSION_IDS.map((id) => {
      const r = v.scores!.dimensions[id];
      if (!r) return '';
      if (!r.available) return bar(id.replace(/_/g, ' '), null, { title: String(r.reason) });
      const w = v.scores!.weights_used[id];
      return bar(id.replace(/_/g, ' '), r.value as number, { title: String(r.how ?? ''), note: [r.substitute ? 'substitute' : '', w !== undefined ? `weight ${pct(w)}` : ''].filter(Boolean).join(' · ') || undefined });
    }).join('');
    scores = `<div class="metrics">${bar('overall', v.scores.overall, { cls: 'overall' })}${dims}</div>`;
  } else if (v.scores_unreadable) scores = '<p class="muted">scored, in a format this report does not read</p>';
  return (
    `<div class="card${isBest ? ' best' : ''}" data-video="${esc(v.file)}">${player}<div class="body">` +
    `<div class="title"><span>${m?.rank ? `#${m.rank} · ` : ''}${esc(v.file)}</span>${isBest ? badge('done', 'best') : ''}</div>` +
    scores +
    facts([
      ['attempt', m?.attempt],
      ['seed', m?.seed],
      ['length', m ? `${num(m.duration_s)} s at ${m.fps} fps` : null],
      ['size', m ? `${m.width}×${m.height}` : null],
      ['model', m ? `${m.backend} / ${m.model}` : null],
      ['frames', m?.frames_used.note],
      ['time', m ? duration(m.duration_ms) : null],
      ['cost', m ? money(m.cost_usd) : null],
    ]) +
    `</div></div>`
  );
}

function videosSection(d: RunData): string {
  const vs = d.videos;
  const has = !!vs && (vs.clips.length > 0 || !!vs.plan);
  return section(d, 'videos', 'Videos', ['video-generation', 'video-scoring'], has, () => {
    const v = vs as VideosData;
    const sc = v.trace?.scoring ?? null;
    const unavailable = Object.entries(sc?.dimensions_unavailable ?? {});
    const cont = sc?.continuity ?? null;
    const total = v.clips.reduce((a, c) => a + c.videos.length, 0);
    return (
      facts([
        ['videos', `${total}${v.plan ? ` of ${v.plan.clips.length * v.plan.attempts} planned (${v.plan.clips.length} clip(s) × ${v.plan.attempts} attempt(s))` : ''}`],
        ['model', v.plan ? `${v.plan.backend} / ${v.plan.model}` : null],
        ['estimated cost', v.plan ? money(v.plan.estimated_cost_usd) : null],
        ['ordering', v.trace?.ordering_note],
        ['overall', sc?.overall_note],
        ['continuity', cont && cont.mean !== null ? `${num(cont.mean)} (mean over ${cont.pairs.length} cut(s)${cont.substitute ? ', substitute metric' : ''})` : null],
      ]) +
      (unavailable.length ? `<details><summary>${unavailable.length} dimension(s) unavailable</summary><ul class="feedback">${unavailable.map(([k, r]) => `<li><b>${esc(k)}</b>: ${esc(r)}</li>`).join('')}</ul></details>` : '') +
      v.clips
        .map(
          (c) =>
            `<div class="clip" data-clip="${c.clip}"><h3>Clip ${c.clip}</h3>` +
            (c.prompt ? `<details><summary>motion prompt</summary>${promptBlock(c.prompt)}</details>` : '') +
            `<div class="gallery">${c.videos.map((x) => videoCard(x, c.best)).join('')}${c.pending_attempts.map((a) => `<div class="card"><div class="missing">attempt ${a}: pending</div></div>`).join('')}</div>` +
            (c.failures.length ? `<ul>${c.failures.map((f) => `<li class="problem">attempt ${f.attempt} failed: ${esc(f.reason)}</li>`).join('')}</ul>` : '') +
            `</div>`,
        )
        .join('')
    );
  });
}

export function renderReport(d: RunData): string {
  const title = `loop run ${d.run_id ?? ''}`.trim();
  const refresh = d.status === 'running' ? `<meta http-equiv="refresh" content="15">` : '';
  const records = d.records.map((f) => `<a href="${esc(encodeURIComponent(f))}">${esc(f)}</a>`).join(' · ');
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">` +
    `<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width, initial-scale=1">${refresh}` +
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>` +
    `<header><h1>${esc(title)} ${badge(d.status, RUN_STATE_WORDS[d.status])}</h1>` +
    facts([
      ['workflow', d.workflow],
      ['prompt', d.spec?.prompt],
      ['prompt from', d.spec?.prompt_source],
      ['created', d.spec?.created_at],
      ['updated', d.updated_at],
    ]) +
    `</header><main>` +
    statusSection(d) +
    promptSection(d) +
    imagesSection(d) +
    storyboardSection(d) +
    videoPromptSection(d) +
    videosSection(d) +
    (d.problems.length ? `<section id="problems"><h2>Records this report could not read</h2><ul>${d.problems.map((p) => `<li class="problem">${esc(p)}</li>`).join('')}</ul></section>` : '') +
    `</main><footer>Report written ${esc(d.generated_at)} from the run directory's records${records ? `: ${records}` : ''}. Paths are relative to this folder.</footer></body></html>\n`
  );
}
