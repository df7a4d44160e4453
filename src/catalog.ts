/**
 * The names and bounds the parts of tfkd agree on: the choices of every enumerated option and the
 * allowed range of every loss hyperparameter, each written once. The trainer's config, the CLI's
 * option parsing, the experiment design and the loss registry all read them from here, so a value
 * one part accepts is never refused (or silently accepted) by another.
 *
 * Runtime-free on purpose: it imports zod and nothing else, never onnxruntime or tfjs, so a
 * library user (or a config validator, or `--help`) can import it without loading either runtime.
 * The lists are frozen: they are shared by every importer, a push from one would change the rest.
 */
import { z } from 'zod';

/** Losses of `tfkd train --loss`, in the order `--help` lists them. */
export const LOSS_NAMES = Object.freeze(['ce', 'lsr', 'kd', 'tfkd-self', 'tfkd-reg'] as const);
export type LossName = (typeof LOSS_NAMES)[number];

/**
 * `paper` follows the paper's equations with the standard τ² and per-sample ('batchmean') KL;
 * `official` reproduces the official code exactly (PAPER.md, "What the official code computes").
 */
export const FIDELITIES = Object.freeze(['paper', 'official'] as const);
export type Fidelity = (typeof FIDELITIES)[number];

/** `--device` of the teacher (onnxruntime); teacher/providers.ts maps each to providers to try. */
export const TEACHER_DEVICES = Object.freeze(['auto', 'cuda', 'webgpu', 'cpu'] as const);
export type TeacherDevice = (typeof TEACHER_DEVICES)[number];

/** `--backend` of the student (tfjs); student/backend.ts says what each one is. */
export const BACKEND_CHOICES = Object.freeze(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const);
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Kinds of run an experiment design can hold (docs/EXPERIMENTS.md, PAPER.md). */
export const RUN_KINDS = Object.freeze(['baseline', 'lsr', 'kd', 're-kd', 'de-kd', 'tfkd-self', 'tfkd-reg'] as const);
export type RunKind = (typeof RUN_KINDS)[number];

/** The trainer's `--optimizer` (the optimizer module knows more, e.g. adamw, that no flag selects). */
export const OPTIMIZERS = Object.freeze(['sgd', 'adam'] as const);
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** The trainer's `--schedule`, in the order its help and error messages list them. */
export const SCHEDULES = Object.freeze(['step', 'cosine', 'constant'] as const);
export type ScheduleName = (typeof SCHEDULES)[number];

/** Storage type of the logits in a soft-target cache (`tfkd precompute --dtype`). */
export const CACHE_DTYPES = Object.freeze(['f16', 'f32'] as const);
export type CacheDtype = (typeof CACHE_DTYPES)[number];

/** A data set's splits (`--split`). */
export const SPLITS = Object.freeze(['train', 'test'] as const);
export type Split = (typeof SPLITS)[number];

/** A teacher's input layout (`--layout`): channels first (PyTorch exports) or last (tfjs students). */
export const LAYOUTS = Object.freeze(['NCHW', 'NHWC'] as const);
export type LayoutName = (typeof LAYOUTS)[number];

/** How a long command reports progress on stderr (`--progress`). */
export const PROGRESS_MODES = Object.freeze(['auto', 'bar', 'json', 'off'] as const);
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** The loss hyperparameters a user can set, in the order flags are listed and checked. */
export const LOSS_HYPERPARAMETER_NAMES = Object.freeze(['alpha', 'temperature', 'multiplier', 'correctProb', 'epsilon'] as const);
export type LossHyperparameterName = (typeof LOSS_HYPERPARAMETER_NAMES)[number];
export type LossHyperparameters = Record<LossHyperparameterName, number>;

/**
 * The allowed range of each loss hyperparameter, as the zod schema every validator uses (the
 * messages are the ones `tfkd train` prints after the flag). Why these bounds:
 *  - α ∈ [0, 1]: a mixing weight of the two terms.
 *  - τ > 0 (finite): logits are divided by it.
 *  - multiplier > 0 (finite): 0 would leave (1−α)·CE, i.e. `ce` at a smaller learning rate — a
 *    slip, never a method; use `--loss ce` for that.
 *  - a ∈ (0, 1]: the virtual teacher's probability of the true class; a = 0 would teach that the
 *    label is impossible. a = 1 is fine (the others get 0, computed exactly in log space).
 *  - ε ∈ [0, 1): ε = 1 would replace the label by the uniform distribution, leaving nothing to learn.
 */
export const LOSS_HYPERPARAMETERS = {
  alpha: z.number().min(0, 'α must be in [0, 1]').max(1, 'α must be in [0, 1]'),
  temperature: z.number().gt(0, 'τ must be > 0').refine(Number.isFinite, 'τ must be finite'),
  multiplier: z.number().gt(0, 'must be > 0').refine(Number.isFinite, 'must be finite'),
  correctProb: z.number().gt(0, 'a must be in (0, 1]').max(1, 'a must be in (0, 1]'),
  epsilon: z.number().min(0, 'ε must be in [0, 1)').lt(1, 'ε must be in [0, 1)'),
} as const satisfies Record<LossHyperparameterName, z.ZodType<number>>;
