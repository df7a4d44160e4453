/**
 * What a caller hands `train()` (train.ts) and gets back: the request with its hooks for progress
 * lines, and the result. Apart from train.ts so that the loop (loop.ts) can name them without
 * importing the module that imports it.
 */
import type { BackendInfo } from '../backend.js';
import type { LossEntry, LossFn } from '../losses/index.js';
import type { TrainConfig, TrainConfigInput } from './config.js';
import type { EpochMetrics, Summary } from './run-dir.js';

export interface StepProgress {
  epoch: number;
  epochs: number;
  /** Batch within the epoch (1-based) and batches per epoch: the steps, unless --grad-accum-steps joins batches into one. */
  step: number;
  steps: number;
  loss: number;
  /** Training images per second over the epoch so far. */
  imgPerSec: number;
}

export interface TrainHooks {
  /** Informational lines (parameter count, backend, resume point). */
  info?(line: string): void;
  /** Warnings (ignored options …). */
  warn?(line: string): void;
  onStep?(p: StepProgress): void;
  onEpoch?(m: EpochMetrics, best: { acc: number; epoch: number }): void;
  onEvalBatch?(done: number, total: number): void;
}

/** The request's config: config.json's keys, and `loss` may also be a loss entry or a function (API). */
export type TrainRequestConfig = Omit<TrainConfigInput, 'loss'> & { loss: TrainConfigInput['loss'] | LossEntry | LossFn };

export interface TrainRequest {
  /** Layered configuration (defaults are applied here); see config.ts. */
  config: TrainRequestConfig;
  /** Keys the user set explicitly (flags or config file): compared against the saved run on --resume. */
  explicit?: ReadonlySet<string>;
  out: string;
  resume?: boolean;
  /** Stop after this many completed epochs, leaving a resumable run (staged training, tests). */
  stopAfter?: number;
  /**
   * Worker threads decoding + rendering folder/list images ahead of the step (default
   * defaultRenderWorkers(): the cores but one, at most 4; 0: decoded on the libuv pool, rendered on
   * the main thread). The inputs' bytes do not depend on it.
   */
  renderWorkers?: number;
  hooks?: TrainHooks;
}

export interface TrainResult {
  out: string;
  config: TrainConfig;
  summary: Summary;
  metrics: EpochMetrics[];
  backend: BackendInfo;
  params: number;
  /** Whether all `config.epochs` epochs are done (false after --stop-after). */
  complete: boolean;
  seconds: number;
}
