/**
 * The loss interface: what a loss is handed for one batch (LossContext), what it returns (a scalar),
 * and the registry entry every loss exports (LossEntry): the function with everything the rest of
 * tfkd derives from it — the options it reads with their bounds and defaults, whether and how it
 * reads a teacher, its formula and its source. docs/LOSSES.md is the reader's version.
 */
import type { Fidelity } from '../../catalog.js';
import type { tf } from '../tf.js';


/**
 * Every hyperparameter a loss can read, by its API name (camelCase; the CLI flag is its kebab-case
 * form, the design file's its snake_case form). One namespace for all losses: a loss declares which
 * of them it reads, with its own bounds and defaults (an α that mixes two terms lives in [0, 1], DKD's
 * α is a weight ≥ 0). Adding a name here adds a flag to `tfkd train` and a key to design files.
 */
export const LOSS_OPTION_NAMES = Object.freeze([
  'alpha',
  'beta',
  'lossGamma',
  'temperature',
  'multiplier',
  'correctProb',
  'epsilon',
  'ceWeight',
  'kdWeight',
  'kdWarmup',
  'power',
] as const);
export type LossOptionName = (typeof LOSS_OPTION_NAMES)[number];

/** What one option means to the loss that reads it, its range, and its default per fidelity mode. */
export interface LossOptionSpec {
  /** One line for `--help` and the docs, in the loss's own terms. */
  help: string;
  /** Default; a pair when the two fidelity modes differ. */
  default: number | Readonly<Record<Fidelity, number>>;
  /** Inclusive lower bound (or exclusive when `minExclusive`), inclusive upper bound. */
  min?: number;
  minExclusive?: boolean;
  max?: number;
  maxExclusive?: boolean;
  /** Must be an integer (epochs). */
  integer?: boolean;
}

/**
 * How a loss reads the teacher's rows (the cache or caches given with `--cache`):
 *  - `none`: teacher-free (the loss builds its own target, or needs none);
 *  - `probs`: tempered probabilities softmax(z_t/τ) at any τ ≥ 1 — from top-k caches too (their tail
 *    mass is stored per τ) and from ensembles (the mean of the teachers' probabilities);
 *  - `whole`: whole distributions: full-logit caches only (a top-k cache's tail is spread uniformly,
 *    which a loss that correlates every class with every other would learn as if it were real);
 *    ensembles allowed (mean of probabilities);
 *  - `logits`: the raw logits of one full-logit cache (e.g. to standardize them); no top-k, no ensemble.
 */
export type TeacherAccess = 'none' | 'probs' | 'whole' | 'logits';

/** The options a loss was resolved with: every option it reads, plus the run-wide ones. */
export interface LossOptions extends Partial<Record<LossOptionName, number>> {
  numClasses: number;
  fidelity: Fidelity;
  /** z-score the student's and teacher's logits before every softmax (Sun et al. 2024). */
  logitStandardization: boolean;
}

/** The teacher's rows for the batch, read on demand (each call is a fresh tensor in the caller's scope). */
export interface BatchTeacher {
  /** softmax(z_t/τ) [B, K] (an ensemble: the mean over teachers). */
  probs(temperature: number): tf.Tensor2D;
  /** log softmax(z_t/τ) [B, K], computed in log space (no underflow to −∞ for a single cache). */
  logProbs(temperature: number): tf.Tensor2D;
  /** Raw logits z_t [B, K] (one full-logit cache only; the registry refuses other caches first). */
  logits(): tf.Tensor2D;
}

/**
 * What a loss is handed for one batch, inside the gradient's scope (tensors made here are freed with
 * it). `epoch` and `step` count from 1, as the authors' loops do (DKD's warm-up is epoch / 20).
 */
export interface LossContext {
  /** tfkd's own tfjs instance: a user loss must build tensors with it, not with another copy of tfjs. */
  tf: typeof tf;
  /** Student logits z [B, K] (training mode); with --distill-token, the class token's head. */
  logits: tf.Tensor2D;
  /**
   * --distill-token only (losses with `distillationToken`): the distillation token's head [B, K] of
   * a DeiT-distilled student, where the loss puts its teacher term (DeiT's DistillationLoss). Absent
   * or null otherwise: the loss computes exactly what it computed before.
   */
  distLogits?: tf.Tensor2D | null;
  /** Integer labels y [B] (int32); with mixed views, sample i's own label y_i. */
  labels: tf.Tensor1D;
  /**
   * Mixed views only (docs/MIXING.md): the mixed label λ·onehot(y_i) + (1 − λ)·onehot(y_j) [B, K]
   * (timm's mixup_target without smoothing), to be used in place of onehot(labels). Absent or null
   * when nothing is mixed: every loss then computes exactly what it computed before.
   */
  targets?: tf.Tensor2D | null;
  /** The batch's teacher rows (the rows of the (sample, view) pairs the student sees); null for `none`. */
  teacher: BatchTeacher | null;
  /**
   * Self-distillation from the run's own past: the student's probabilities for these samples from
   * the previous epoch ([B, K]), for losses with `selfHistory`; null in the first epoch.
   */
  previous: tf.Tensor2D | null;
  epoch: number;
  epochs: number;
  step: number;
  options: LossOptions;
}

/** A loss: a scalar (the batch mean) from the context. Pure, no side effects. */
export type LossFn = (ctx: LossContext) => tf.Scalar;

/**
 * A loss's registry entry. Built-in losses each export one from their own file; a user module
 * (`--loss ./my-loss.mjs`) exports one as its default export (or as `loss`).
 */
export interface LossEntry {
  name: string;
  /** One line for `--help` and the report. */
  summary: string;
  /** The formula, in the paper's notation (docs/LOSSES.md; `--help` shows the summary). */
  formula: string;
  /** Paper and code the loss follows (repository, file, function, commit). */
  source: string;
  teacher: TeacherAccess;
  /** Options read without --logit-standardization. */
  options: Readonly<Partial<Record<LossOptionName, LossOptionSpec>>>;
  /**
   * Options (and teacher access) with --logit-standardization; absent when the loss does not support it.
   * The teacher is then read as raw logits (`logits`): the z-score needs each row's mean and std.
   */
  standardized?: Readonly<Partial<Record<LossOptionName, LossOptionSpec>>>;
  /** Needs the student's own predictions from the previous epoch (PS-KD): the trainer keeps them in a cache. */
  selfHistory?: boolean;
  /** Whether `--fidelity official` computes something else than `paper` (else both modes give the same numbers). */
  fidelityModes?: boolean;
  /**
   * Mixed views (Mixup/CutMix, docs/MIXING.md): `true` when the loss reads `ctx.targets` (the mixed
   * label) wherever it would read the one-hot label; else one line saying why it cannot, which the
   * trainer prints when refusing a mixing plan. Absent (user losses that do not say): refused.
   */
  mixedTargets?: true | string;
  /**
   * Trains DeiT's distillation head: with --distill-token the trainer passes it as `ctx.distLogits`
   * and the loss applies its teacher term to it, its label term to `logits`. Absent: refused.
   */
  distillationToken?: true;
  fn: LossFn;
}
