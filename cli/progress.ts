import type { JobView, RunView } from '../queues/inspect.js';
import type { Stage } from '../src/workflow/stages.js';
import { duration } from './format.js';

/**
 * One live progress view for every long command (run, tail, generate-images, generate-videos,
 * score-images, score-videos): one line per unit of work (a stage, or the one batch a single-stage
 * command runs) with done/total, failures, rate and ETA. On a terminal the lines are redrawn in
 * place (log-update); otherwise a timestamped line is printed when a line's facts change (not its
 * rate or ETA, which change every tick), so a log stays short and says each fact once.
 */
export interface ProgressLine {
  /** Stable id: a stage name, or the command's unit ("images"). */
  key: string;
  label: string;
  state: 'waiting' | 'running' | 'review' | 'done' | 'partial' | 'failed';
  done?: number;
  total?: number;
  failed?: number;
  /** What one item is, plural: "images", "frames", "videos". */
  unit?: string;
  /** Items per second so far (running only). */
  rate?: number;
  etaMs?: number;
  /** The stage's own time once done: the summary's duration_ms, so console and files agree. */
  durationMs?: number;
  note?: string;
}

const ICON: Record<ProgressLine['state'], string> = { waiting: '·', running: '▸', review: '?', done: '✓', partial: '!', failed: '✗' };

/** The line's facts without rate and ETA: what a non-terminal log prints a new line for. */
function facts(l: ProgressLine): string {
  const count = l.total !== undefined ? ` ${l.done ?? 0}/${l.total}${l.unit ? ` ${l.unit}` : ''}` : '';
  const failed = l.failed ? ` · ${l.failed} failed` : '';
  const took = (l.state === 'done' || l.state === 'partial') && l.durationMs !== undefined ? ` in ${duration(l.durationMs)}` : '';
  const state = l.state === 'running' ? '' : ` ${l.state === 'review' ? 'waiting for review' : l.state}`;
  return `${l.label}${state}${count}${failed}${took}${l.note ? ` · ${l.note}` : ''}`;
}

export function renderLine(l: ProgressLine, width = 100): string {
  const live = l.state === 'running' && l.rate ? ` · ${l.rate >= 1 ? l.rate.toFixed(1) : l.rate.toFixed(2)}/s${l.etaMs !== undefined ? ` · ETA ${duration(l.etaMs)}` : ''}` : '';
  const text = `${ICON[l.state]} ${facts(l)}${live}`;
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

export interface ProgressView {
  set(lines: ProgressLine[]): void;
  /** Print something above the live lines (a warning, a question's context). */
  log(line: string): void;
  /** Stop redrawing; the last lines stay on screen. */
  done(): void;
  /** Hide the live lines while a question is asked (--interactive), show them again after. */
  pause(on: boolean): void;
}

export async function createProgressView(o: { stream: NodeJS.WriteStream; tty?: boolean; clock?: () => Date }): Promise<ProgressView> {
  const tty = o.tty ?? o.stream.isTTY === true;
  const clock = o.clock ?? (() => new Date());
  if (tty) {
    const { createLogUpdate } = await import('log-update');
    // a pseudo-terminal with no size set (script, CI runners) reports 0 rows: log-update would
    // then cut every line as "above the screen"
    const sized = { write: (s: string) => o.stream.write(s), get columns() { return o.stream.columns || 100; }, get rows() { return o.stream.rows || 50; } };
    const draw = createLogUpdate(sized as unknown as NodeJS.WriteStream, { showCursor: false });
    let last: ProgressLine[] = [];
    let paused = false;
    const width = () => Math.max(40, Math.min(o.stream.columns ?? 100, 160) - 1);
    const render = () => !paused && draw(last.map((l) => renderLine(l, width())).join('\n'));
    return {
      set(lines) {
        last = lines;
        render();
      },
      log(line) {
        draw.clear();
        o.stream.write(`${line}\n`);
        render();
      },
      done() {
        render();
        draw.done();
      },
      pause(on) {
        paused = on;
        if (on) draw.clear();
        else render();
      },
    };
  }
  const seen = new Map<string, string>();
  const stamp = () => clock().toISOString().slice(11, 19);
  let paused = false;
  return {
    set(lines) {
      for (const l of lines) {
        const f = facts(l);
        if (seen.get(l.key) === f || paused) continue;
        // a stage still waiting for its turn is not news in a log
        if (!seen.has(l.key) && l.state === 'waiting') continue;
        seen.set(l.key, f);
        o.stream.write(`${stamp()} ${renderLine(l, 10_000)}\n`);
      }
    },
    log(line) {
      o.stream.write(`${line}\n`);
    },
    done() {},
    pause(on) {
      paused = on;
    },
  };
}

// ---- a run's jobs as progress lines -----------------------------------------------------------

const UNIT: Record<string, string> = { variation: 'images', frame: 'frames', pick: 'picks', attempt: 'videos' };

function messageOf(p: unknown): string | undefined {
  return p && typeof p === 'object' && 'message' in p ? String((p as { message: unknown }).message) : undefined;
}

/**
 * One line per stage of the run, from its jobs (the tree walk order: a stage job, then its
 * subtree). A fan-out child belongs to the nearest stage job above it.
 */
export function runLines(view: RunView, stages: readonly Stage[], now = Date.now()): ProgressLine[] {
  const stageJob = new Map<string, JobView>();
  const children = new Map<string, JobView[]>();
  const chain: JobView[] = [];
  for (const j of view.jobs) {
    while (chain.length && chain[chain.length - 1]!.depth >= j.depth) chain.pop();
    if (j.name === 'stage') stageJob.set(j.queue, j);
    else {
      const owner = [...chain].reverse().find((c) => c.name === 'stage');
      if (owner) children.set(owner.queue, [...(children.get(owner.queue) ?? []), j]);
    }
    chain.push(j);
  }
  const summary = new Map(view.stages.map((s) => [s.stage, s]));
  return stages.map((stage): ProgressLine => {
    const sj = stageJob.get(stage);
    const kids = children.get(stage) ?? [];
    const done = kids.filter((k) => k.state === 'completed').length;
    const failed = kids.filter((k) => k.state === 'failed').length;
    const units = [...new Set(kids.map((k) => UNIT[k.name] ?? k.name))];
    const base: ProgressLine = { key: stage, label: stage, state: 'waiting' };
    if (kids.length) Object.assign(base, { done, total: kids.length, failed, unit: units.join('+') });
    const s = summary.get(stage);
    if (s && sj?.state === 'completed') return { ...base, state: s.partial ? 'partial' : 'done', durationMs: s.duration_ms };
    if (!sj) return base;
    if (sj.state === 'failed') return { ...base, state: 'failed', note: sj.failedReason?.split('\n')[0] };
    const msg = messageOf(sj.progress);
    if (sj.state === 'delayed' && msg?.startsWith('waiting for review')) return { ...base, state: 'review', note: msg.replace(/^waiting for review of the /, '') };
    const started = kids.map((k) => k.processedOn ?? 0).filter(Boolean);
    if (sj.state === 'waiting' || (sj.state === 'waiting-children' && !kids.length && !sj.processedOn)) return base;
    const line: ProgressLine = { ...base, state: 'running' };
    if (kids.length && started.length && done + failed > 0) {
      const elapsed = Math.max(1, now - Math.min(...started));
      line.rate = ((done + failed) / elapsed) * 1000;
      line.etaMs = ((kids.length - done - failed) / line.rate) * 1000;
    }
    // a stage without children (scoring, the prompt loop) says what it is doing
    if (!kids.length && sj.state === 'active' && msg) line.note = msg;
    return line;
  });
}

// ---- one batch (a single-stage command) as a progress line ---------------------------------

/**
 * The progress of one batch of items (generate-images, generate-videos, score-images,
 * score-videos): the same view as a run's stages, on stderr so stdout stays for the results.
 */
export async function batchProgress(label: string, unit: string, o: { stream?: NodeJS.WriteStream; tty?: boolean } = {}) {
  const view = await createProgressView({ stream: o.stream ?? process.stderr, tty: o.tty });
  const t0 = Date.now();
  let finished = false;
  return {
    update(done: number, total: number, failed = 0) {
      if (finished) return;
      const settled = done + failed;
      const elapsed = Math.max(1, Date.now() - t0);
      const rate = settled ? (settled / elapsed) * 1000 : undefined;
      const complete = settled >= total;
      view.set([
        {
          key: label,
          label,
          state: complete ? (failed ? (done ? 'partial' : 'failed') : 'done') : 'running',
          done,
          total,
          failed,
          unit,
          rate,
          etaMs: rate && !complete ? ((total - settled) / rate) * 1000 : undefined,
          durationMs: complete ? elapsed : undefined,
        },
      ]);
      if (complete) {
        finished = true;
        view.done();
      }
    },
    log: (line: string) => view.log(line),
  };
}
