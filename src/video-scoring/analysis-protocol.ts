/** Messages between the calling thread (analysis-pool.ts) and an analysis thread (analysis-thread.ts). */
import type { BoundaryFrames } from './continuity.js';
import type { DimensionResult } from './dimensions.js';
import type { DecodeStats, FramePlan } from './frames.js';

export interface AnalysisJob {
  id: number;
  path: string;
  plan: FramePlan;
  boundary: boolean;
  /** Model frames the thread may post before it waits for an answer (back-pressure). */
  window: number;
}

export type ToThread = { op: 'job'; job: AnalysisJob } | { op: 'ack'; id: number } | { op: 'abort'; id: number };

export interface AnalysisDone {
  stats: DecodeStats;
  flicker: DimensionResult;
  dynamic: DimensionResult;
  smooth: DimensionResult;
  boundary: BoundaryFrames | null;
}

export interface ModelFrame {
  index: number;
  width: number;
  height: number;
  rgb: Uint8Array;
}

export type FromThread =
  | { op: 'ready' }
  | ({ op: 'frame'; id: number } & ModelFrame)
  | ({ op: 'done'; id: number } & AnalysisDone)
  | { op: 'error'; id: number; message: string; aborted: boolean };
