/**
 * The data of a report: the run records it is built from, the per-method rows of the table, and
 * report.json's shape. Apart from report.ts so that what renders a report (html.ts, plots.ts,
 * report-table.ts) can name its inputs without importing the module that imports it (a type
 * circle is still a circle: eslint's import-x/no-cycle).
 */
import type { Plan } from './plan-types.js';
import type { HoldoutRecord, SelectionRecord } from './protocol.js';
import type { Reading, WelchInterval } from './stats.js';

export interface RunRecord {
  /** Group label: the run's name, with the de-kd teacher variant (`de-kd @epoch-1`). */
  method: string;
  kind: string | null;
  model: string | null;
  variant: string | null;
  seed: number;
  dir: string;
  /** The split the run's accuracies are measured on (`validation` only for protocol-internal runs). */
  split: 'test' | 'validation';
  final: number;
  best: number;
  bestEpoch: number;
  /** Per epoch: test accuracy, and for --test-cache runs the agreement with that teacher and the KL from it. */
  curve: Array<{ epoch: number; test_acc: number; test_agreement?: number; test_kl?: number }>;
  /** Calibration at the final epoch: expected calibration error (fraction; null for runs recorded before tfkd kept it) and mean cross-entropy. */
  ece: number | null;
  nll: number | null;
  /** --ema runs: the average of the weights' final test accuracy (absent otherwise). */
  emaFinal?: number;
  /** --test-cache runs: the final epoch's agreement with that cache's teacher and KL from it, and which teacher (its file) (absent otherwise). */
  fidelity?: { agreement: number; kl: number; teacher: string };
  teacher: null | { name: string; checkpoint: string | null; test_acc: number | null; split: 'test' | 'validation' | null };
  /** The loss options the run trained with (its config.json), and the keys a sweep chose. */
  hyper: Record<string, number | string>;
  chosen: string[];
  /** The select step's record directory, for swept runs. */
  selection: string | null;
  /** What it trained on, from its manifest: backend and kernels, e.g. `wasm (wasm+native-blas)`. */
  compute: string | null;
}

export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1 denominator); null with one seed. */
  std: number | null;
}

export interface MethodRow {
  method: string;
  kind: string | null;
  model: string | null;
  variant: string | null;
  n: number;
  seeds: number[];
  /** Test accuracy at the final epoch: what the table reports. */
  final: Stat;
  /** The best epoch, picked on the test set (the official code's habit; optimistic). */
  best: Stat;
  /** Final-epoch ECE and NLL over the seeds; null unless every run of the row recorded its ECE. */
  calibration: null | { ece: Stat; nll: Stat };
  /** --ema: the average of the weights' final test accuracy over the seeds, when every run kept one (absent otherwise). */
  ema?: Stat;
  /** --test-cache: final agreement and KL over the seeds, when every run measured them against the same teacher (absent otherwise). */
  fidelity?: { agreement: Stat; kl: Stat; teacher: string };
  /** The baseline method this row is compared with (same model), and the differences of means. */
  baseline: string | null;
  delta_final: number | null;
  delta_best: number | null;
  /** 95 % Welch interval of Δ final (null without ≥ 2 seeds on both sides), and its reading. */
  ci: WelchInterval | null;
  reading: Reading | null;
  teacher: null | { name: string; checkpoint: string | null; test_acc: number | null; split: 'test' | 'validation' | null };
  hyperparameters: Record<string, number | string>;
  /** Hyperparameters a sweep chose (keys of `hyperparameters`). */
  chosen: string[];
}

export interface ReportProtocol {
  dir: string;
  validation: NonNullable<Plan['protocol']>['validation'];
  /** Image counts of the hold-out (null when its record is missing). */
  holdout: Pick<HoldoutRecord, 'source_train' | 'pool' | 'train' | 'validation'> | null;
  sweep_seed: number | null;
}

export interface Report {
  schema: 'tfkd-report/2';
  inputs: string[];
  std: 'sample (n-1)';
  ci: 'Welch 95% (Welch-Satterthwaite df, Student t)';
  methods: MethodRow[];
  runs: Array<Omit<RunRecord, 'curve'>>;
  protocol: ReportProtocol | null;
  selections: Array<SelectionRecord & { dir: string }>;
  /** The design files of the experiment directories, with the `--set` overrides they were run with. */
  designs: Array<{ file: string; name: string | null; overrides: string[] }>;
  missing: string[];
  /** Runs left out because a file the report reads is not the one their step recorded (edited after it finished). */
  changed: Array<{ dir: string; why: string }>;
  plots: { curves: string | null; de_kd: string | null; fidelity: string | null };
  /** The self-contained page (html.ts). */
  html: 'index.html';
  /** The method Δ is measured against (`--against`), or null for the baseline of each model. */
  against: string | null;
  /** Set when the runs did not all train on the same backend and kernels (report-table.ts computeNote). */
  compute_note: string | null;
}
