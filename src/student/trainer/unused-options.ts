/**
 * Train options the run would accept and then not read: momentum for an optimizer without one, a
 * step schedule's milestones under cosine, a fidelity mode for a loss whose two modes agree, a
 * step schedule's γ with no milestone to apply it at. Each was recorded in config.json as if it had acted, so a
 * reader of the run (or of a report's hyperparameter table) was misled. Refused (exit 2) when the
 * user set them — `tfkd train` here, and an experiment design's checks with the same rules.
 *
 * A value equal to the option's default is let through: it cannot mislead (the run does what the
 * default says, or the option has no effect either way), and experiment designs set some of them
 * (momentum 0.9, fidelity paper) for every run of mixed kinds. Only the keys listed in
 * CONDITIONAL_KEYS are judged here; `repro` leaves them out of what it marks as given, since a
 * saved config.json holds every one at its default or at what its run was given.
 */
import { TRAIN_DEFAULTS } from './config.js';

/**
 * The options whose use depends on others (what `repro` must not mark as given): those judged
 * here, then those judged elsewhere — allowInconsistentViews and evalCropPct once the data and
 * caches are open (train.ts), the graph options and width of a student that is not built by the
 * zoo (resolve.ts preflight).
 */
export const CONDITIONAL_KEYS = [
  'momentum',
  'nesterov',
  'milestones',
  'gamma',
  'fidelity',
  'allowInconsistentViews',
  'evalCropPct',
  'widthMultiplier',
  'freeze',
  'preprocess',
  'allowFolded',
  'dropPath',
  'distillToken',
] as const;
export type ConditionalKey = (typeof CONDITIONAL_KEYS)[number];

export interface UnusedOption {
  key: ConditionalKey;
  /** Why it would not act, as a clause after the option's name and value. */
  why: string;
}

/** What the check needs of a run's options (parsed: defaults filled). */
export interface ConditionalInputs {
  optimizer: string;
  schedule: string;
  epochs: number;
  momentum: number;
  nesterov: boolean;
  milestones?: number[];
  gamma: number;
  fidelity: string;
  /** Whether the loss (with its standardization, if on) computes differently in the two modes (the registry's `fidelityModes`). */
  fidelityActs: boolean;
  /** The step schedule's milestones when none are given (defaultMilestones(epochs)). */
  defaultMilestones: number[];
}

/** The given conditional options that would do nothing in this run, in CONDITIONAL_KEYS order. */
export function unusedOptions(c: ConditionalInputs, given: (key: ConditionalKey) => boolean): UnusedOption[] {
  const out: UnusedOption[] = [];
  const sgd = c.optimizer === 'sgd';
  const step = c.schedule === 'step';
  if (given('momentum') && !sgd && c.momentum !== TRAIN_DEFAULTS.momentum) out.push({ key: 'momentum', why: `optimizer ${c.optimizer} has no momentum (only sgd reads it; Adam's is its β1, 0.9)` });
  if (given('nesterov') && !sgd && c.nesterov) out.push({ key: 'nesterov', why: `optimizer ${c.optimizer} has no Nesterov momentum (only sgd reads it)` });
  // (A step milestone past the run's end is let through: --resume --epochs may extend the run to it.)
  if (given('milestones') && !step && (c.milestones?.length ?? 0) > 0) out.push({ key: 'milestones', why: `schedule ${c.schedule} has no milestones (only step reads them)` });
  if (given('gamma') && c.gamma !== TRAIN_DEFAULTS.gamma) {
    if (!step) out.push({ key: 'gamma', why: `schedule ${c.schedule} has no milestones to decay the lr at (only step reads it)` });
    // The resolved milestones are recorded, so a run without any keeps none when it is extended.
    else if ((c.milestones ?? c.defaultMilestones).length === 0) out.push({ key: 'gamma', why: `the step schedule of ${c.epochs} epoch${c.epochs > 1 ? 's' : ''} has no milestone to decay the lr at` });
  }
  if (given('fidelity') && !c.fidelityActs && c.fidelity !== TRAIN_DEFAULTS.fidelity) out.push({ key: 'fidelity', why: 'the loss computes the same in both fidelity modes' });
  return out;
}
