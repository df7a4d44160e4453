/**
 * What a plan is (plan.json, schema PLAN_SCHEMA): the step types of the DAG (train, export,
 * precompute, the hold-out data step, select), the students the report groups (PlanRun), and the
 * plan itself. Apart from plan.ts (which builds plans) so that what reads a plan — execute.ts,
 * protocol.ts, report.ts — names its shape without the expansion code.
 */
import type { Kind, LossOptions, PrecomputeOptions, SweepKey, TrainOptions } from './design-schema.js';

export const PLAN_SCHEMA = 'tfkd-experiment-plan/1';

export interface TrainConfig {
  data: string;
  model: string;
  loss: string;
  loss_options: LossOptions;
  train: TrainOptions;
  seed: number;
  /** Key of the precompute step whose cache this run learns from, or null. */
  cache: string | null;
  /**
   * With a `validation:` block: the hold-out step whose training part the run trains on, and the
   * split it is evaluated on every epoch (`validation` = the held-out images, `test` = the test
   * split). Absent otherwise (so designs without a protocol keep their keys).
   */
  holdout?: { step: string; eval: 'validation' | 'test' };
  /** Key of the select step whose chosen values complete `loss_options` (a swept run's final runs). */
  select?: string;
}

interface StepBase {
  key: string;
  /** Keys of the steps that must finish first. */
  inputs: string[];
  /** Human label, for the progress lines. */
  label: string;
}

export interface TrainStep extends StepBase {
  type: 'train';
  config: TrainConfig;
  /** Checkpoint directory names to keep (`epoch-1`, `step-500`); not part of the key. */
  save_at: string[];
  /**
   * `fidelity_teacher:` — the test-split cache of that teacher (its precompute step and directory)
   * the run measures its fidelity against every epoch (--test-cache). Set on the reported students;
   * not part of the key, as `save_at`: the weights do not depend on it, so a self-teacher and the
   * baseline run it equals stay one step. A run whose output lacks those figures is not finished.
   */
  test_cache?: { step: string; dir: string };
  /** Run directory, relative to the experiment directory. */
  dir: string;
}

export interface ExportStep extends StepBase {
  type: 'export';
  run: string;
  /** A fixed checkpoint (`epoch-2`), or null for the final weights (unless `target` is set). */
  checkpoint: string | null;
  /** de-kd target accuracy: the candidate checkpoint whose test accuracy is closest wins. */
  target: number | null;
  candidates: string[] | null;
  /** ONNX file, relative to the experiment directory; `<out>.json` beside it records what was exported. */
  out: string;
}

export interface PrecomputeStep extends StepBase {
  type: 'precompute';
  /** The export step that makes the teacher, or an ONNX file given in the design. */
  teacher: { step: string } | { onnx: string; sha256: string };
  data: string;
  options: PrecomputeOptions;
  dir: string;
  /** With a `validation:` block: the hold-out step; the cache covers its training part (or, `split: test`, the test split). */
  holdout?: string;
  /**
   * `test`: the teacher on the test split (the cache of `fidelity_teacher:`, read only by runs
   * evaluated on the test split). Absent: the training split, as every teacher cache.
   */
  split?: 'test';
}

/** The resolved `validation:` block. */
export interface HoldoutOptions {
  fraction: number | null;
  size: number | null;
  seed: number;
  subset: number | null;
}

/**
 * The hold-out: the training split (or its `subset`) divided, seeded, into the images runs train
 * on and the validation images, written under `dir` as two data sets of the source's own format:
 * `val/` (train = the training part, test = the validation images) and `test/` (the same training
 * part, test = the source's test split, linked). Only `test/` ever reaches the test split.
 */
export interface DataStep extends StepBase {
  type: 'data';
  data: string;
  validation: HoldoutOptions;
  dir: string;
}

/** Sweep values of one grid point (`{ alpha: 0.5, temperature: 4 }`). */
export type SweepValues = Partial<Record<SweepKey, number>>;

/**
 * The choice among a run's grid points: each point is a train step on the sweep seed, evaluated
 * on the validation split; the point with the highest final-epoch validation accuracy wins (ties:
 * the earlier point). `dir/selection.json` records every point's accuracy and the choice.
 */
export interface SelectStep extends StepBase {
  type: 'select';
  run: string;
  variant: string | null;
  keys: SweepKey[];
  points: Array<{ values: SweepValues; step: string }>;
  metric: 'final-epoch validation accuracy';
  dir: string;
}

export type Step = TrainStep | ExportStep | PrecomputeStep | DataStep | SelectStep;

/** One student of the design: a run × seed (× de-kd teacher variant). What the report groups. */
export interface PlanRun {
  name: string;
  kind: Kind;
  model: string;
  seed: number;
  /** de-kd: `epoch-1`, `acc-0.30`; otherwise null. */
  variant: string | null;
  step: string;
  dir: string;
  teacher: null | {
    name: string;
    /** Export step (its `<out>.json` holds the teacher's test accuracy), null for an ONNX file. */
    export: string | null;
    cache: string;
    onnx: string | null;
  };
  /** The select step whose chosen values this run trains with (a swept run), else null. */
  select: string | null;
}

export interface Plan {
  schema: typeof PLAN_SCHEMA;
  /** The design file, its name, and the `--set` overrides it was run with (absent when none). */
  design: { file: string; name: string | null; overrides?: string[] };
  data: string;
  steps: Step[];
  runs: PlanRun[];
  /** The validation protocol, or null for a design without `validation:` (runs evaluated on the test split only). */
  protocol: null | {
    validation: HoldoutOptions;
    /** The hold-out step. */
    data: string;
    /** The seed of every sweep point (null: no sweeps). */
    sweep_seed: number | null;
    selections: Array<{ name: string; variant: string | null; step: string }>;
  };
}
