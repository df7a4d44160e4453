/**
 * Learning-rate schedules as a pure function of the global step: `lrAt(step, stepsPerEpoch, cfg)`.
 * The trainer asks for the lr before every optimizer step, so a resumed run gets exactly the same
 * sequence without any scheduler state to save.
 *
 * - `constant`: lr.
 * - `step` (PyTorch MultiStepLR): lr · γ^(number of milestones ≤ epoch), epoch = ⌊step / N⌋.
 * - `cosine` (CosineAnnealingLR without restarts): minLr + (lr − minLr)·(1 + cos(π·f))/2 where f is
 *   the fraction of the post-warm-up run done: per step (default) or per epoch (PyTorch stepped
 *   once an epoch). Reaches minLr (default 0) at the end of `epochs`, and stays there.
 * - warm-up (any kind): for the first W = round(warmupEpochs·N) steps the lr is multiplied by
 *   (s + 1)/W, s = 0 … W−1, a linear ramp to the schedule's value. With warmupEpochs = 1 this is the
 *   official code's WarmUpLR (stepped before each batch of epoch 0: lr = base·(i+1)/N for batch i),
 *   followed by MultiStepLR from epoch 1 on.
 */
import { UsageError, optionName } from '../errors.js';

const SCHEDULE_KINDS = ['constant', 'step', 'cosine'] as const;
type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

export interface ScheduleConfig {
  kind: ScheduleKind;
  /** Base (peak) learning rate. */
  lr: number;
  /** `step`: epochs at which the lr is multiplied by `gamma` (ascending; duplicates count twice, as in PyTorch). */
  milestones?: readonly number[];
  /** `step`: the factor at each milestone (default 0.1, PyTorch's). */
  gamma?: number;
  /** `cosine`: epochs of the whole run (the decay ends there). */
  epochs?: number;
  /** `cosine`: the final learning rate (default 0). */
  minLr?: number;
  /** `cosine`: evaluate per step (default) or once per epoch. */
  granularity?: 'step' | 'epoch';
  /** Linear warm-up length in epochs (may be fractional), default 0. */
  warmupEpochs?: number;
}

/**
 * The official recipe (train_kd.py / main.py): SGD lr 0.1·batch/128, one warm-up epoch, ×0.2 at
 * epochs 60, 120 and 160 of 200.
 */
export function officialSchedule(batchSize: number): ScheduleConfig {
  return { kind: 'step', lr: (0.1 * batchSize) / 128, milestones: [60, 120, 160], gamma: 0.2, warmupEpochs: 1 };
}

/** Validates a schedule (UsageError naming the train flag), so lrAt cannot fail mid-run. */
export function checkSchedule(c: ScheduleConfig): void {
  if (!(SCHEDULE_KINDS as readonly string[]).includes(c.kind)) throw new UsageError(`unknown schedule "${c.kind}"`, `choose one of: ${SCHEDULE_KINDS.join(', ')}`);
  if (!(c.lr >= 0 && Number.isFinite(c.lr))) throw new UsageError(`${optionName('lr')} ${c.lr}: the learning rate must be a finite number ≥ 0`);
  const w = c.warmupEpochs ?? 0;
  if (!(w >= 0 && Number.isFinite(w))) throw new UsageError(`${optionName('warmup')} ${w}: warm-up epochs must be ≥ 0`);
  if (c.kind === 'step') {
    const ms = c.milestones ?? [];
    if (ms.some((m, i) => !Number.isInteger(m) || m < 0 || (i > 0 && m < ms[i - 1]))) {
      throw new UsageError(`${optionName('milestones')} ${ms.join(',')}: milestones must be ascending whole epochs ≥ 0`);
    }
    const g = c.gamma ?? 0.1;
    if (!(g > 0 && Number.isFinite(g))) throw new UsageError(`${optionName('gamma')} ${g}: γ must be > 0`);
  }
  if (c.kind === 'cosine') {
    if (!(Number.isFinite(c.epochs) && (c.epochs as number) > w)) throw new UsageError(`cosine schedule: ${optionName('epochs')} (${c.epochs}) must exceed the warm-up (${w})`);
    const min = c.minLr ?? 0;
    if (!(min >= 0 && min <= c.lr)) throw new UsageError(`${optionName('minLr')} ${min}: must be in [0, ${optionName('lr')}]`);
  }
}

/** The learning rate for global step `step` (0-based: the step about to be taken). */
export function lrAt(step: number, stepsPerEpoch: number, c: ScheduleConfig): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`lrAt: step must be an integer ≥ 0, got ${step}`);
  if (!Number.isInteger(stepsPerEpoch) || stepsPerEpoch < 1) throw new Error(`lrAt: stepsPerEpoch must be an integer ≥ 1, got ${stepsPerEpoch}`);
  const n = stepsPerEpoch;
  const epoch = Math.floor(step / n);
  const warmupSteps = Math.round((c.warmupEpochs ?? 0) * n);
  let lr: number;
  switch (c.kind) {
    case 'constant':
      lr = c.lr;
      break;
    case 'step': {
      const passed = (c.milestones ?? []).filter((m) => m <= epoch).length;
      lr = c.lr * (c.gamma ?? 0.1) ** passed;
      break;
    }
    case 'cosine': {
      const min = c.minLr ?? 0;
      const w = c.warmupEpochs ?? 0;
      const epochs = c.epochs as number;
      const f =
        (c.granularity ?? 'step') === 'epoch'
          ? (epoch - Math.ceil(w)) / (epochs - Math.ceil(w))
          : (step - warmupSteps) / (Math.round(epochs * n) - warmupSteps);
      const clamped = Math.min(1, Math.max(0, f));
      lr = min + ((c.lr - min) * (1 + Math.cos(Math.PI * clamped))) / 2;
      break;
    }
    default:
      throw new Error(`lrAt: unknown schedule "${(c as { kind: string }).kind}"`);
  }
  return step < warmupSteps ? (lr * (step + 1)) / warmupSteps : lr;
}
