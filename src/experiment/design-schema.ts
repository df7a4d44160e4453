/**
 * The design file's schema: the kinds of run and what each one trains with and may set, the zod
 * schemas of every block (names, bounds and choices come from the catalog), and the small readers
 * of the values they hold (a grid's points, a checkpoint's name). Loading and the cross-field
 * checks are in design.ts and design-checks.ts; design.ts re-exports all of this.
 */
import { z } from 'zod';
import { BACKEND_CHOICES, CACHE_DTYPES, FIDELITIES, LOSS_HYPERPARAMETERS as HP, OPTIMIZERS, RUN_KINDS, SCHEDULES, TEACHER_DEVICES, type LossHyperparameterName, type LossName } from '../catalog.js';
import { sharedLossDefaults } from '../student/losses/defaults.js';

export const KINDS = RUN_KINDS;
export type Kind = (typeof KINDS)[number];

/** The `tfkd train --loss` each kind trains with. Re-KD and De-KD are KD with another teacher (PAPER.md). */
export const KIND_LOSS: Record<Kind, LossName> = {
  baseline: 'ce',
  lsr: 'lsr',
  kd: 'kd',
  're-kd': 'kd',
  'de-kd': 'kd',
  'tfkd-self': 'tfkd-self',
  'tfkd-reg': 'tfkd-reg',
};

/** Kinds whose student learns from a teacher named in the file (`teacher:`). */
export const TEACHER_KINDS: ReadonlySet<Kind> = new Set(['kd', 're-kd', 'de-kd']);

export const LOSS_KEYS = ['alpha', 'temperature', 'multiplier', 'correct_prob', 'epsilon', 'fidelity'] as const;
export type LossKey = (typeof LOSS_KEYS)[number];

/** Loss options each kind uses; anything else written on a run of that kind is an error. */
export const KIND_LOSS_KEYS: Record<Kind, readonly LossKey[]> = {
  baseline: [],
  lsr: ['epsilon', 'fidelity'],
  kd: ['alpha', 'temperature', 'multiplier', 'fidelity'],
  're-kd': ['alpha', 'temperature', 'multiplier', 'fidelity'],
  'de-kd': ['alpha', 'temperature', 'multiplier', 'fidelity'],
  'tfkd-self': ['alpha', 'temperature', 'multiplier', 'fidelity'],
  'tfkd-reg': ['alpha', 'temperature', 'multiplier', 'correct_prob', 'fidelity'],
};

/** The design's (snake_case) name of each loss hyperparameter of the catalog. */
const HP_NAME: Record<SweepKey, LossHyperparameterName> = { alpha: 'alpha', temperature: 'temperature', multiplier: 'multiplier', correct_prob: 'correctProb', epsilon: 'epsilon' };

/**
 * Per-kind defaults: the loss registry's defaults of the kind's loss that both fidelity modes share
 * (PAPER.md's official hyperparameters: LSR ε = 0.1; KD MobileNetV2←ResNet18 α 0.95, τ 20; De-KD
 * as KD; self-training ResNet18 α 0.95, τ 6; Tf-KD_reg ImageNet α 0.1, τ 20, a = 0.99), plus what
 * only a design knows: Re-KD's official config has α 0.6. The official `multiplier` differs by
 * mode, so it is left to the trainer's default unless a design sets it.
 */
const KIND_OWN_DEFAULTS: Partial<Record<Kind, Partial<LossOptions>>> = { 're-kd': { alpha: 0.6 } };
export const KIND_LOSS_DEFAULTS: Record<Kind, Partial<LossOptions>> = Object.fromEntries(
  KINDS.map((kind) => {
    const shared = sharedLossDefaults(KIND_LOSS[kind]);
    const out: Partial<LossOptions> = {};
    for (const [k, hp] of Object.entries(HP_NAME) as Array<[SweepKey, LossHyperparameterName]>) if (shared[hp] !== undefined) out[k] = shared[hp];
    return [kind, { ...out, ...KIND_OWN_DEFAULTS[kind] }];
  }),
) as Record<Kind, Partial<LossOptions>>;

const posInt = z.number().int().min(1);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const nameSchema = z.string().regex(NAME, 'names may hold letters, digits, "_", "." and "-" and start with a letter or digit');

const seedsSchema = z
  .array(z.number().int().min(0).max(0xffffffff), {
    error: (iss) => (iss.code === 'invalid_type' ? 'seeds must be a list of integers, e.g. [1, 2, 3]' : undefined),
  })
  .min(1, 'seeds must list at least one seed');

/** Bounds are the catalog's (the trainer enforces the same ones). */
export const lossSchema = z.strictObject({
  alpha: HP.alpha.optional(),
  temperature: HP.temperature.optional(),
  multiplier: HP.multiplier.optional(),
  correct_prob: HP.correctProb.optional(),
  epsilon: HP.epsilon.optional(),
  fidelity: z.enum(FIDELITIES).optional(),
});
export type LossOptions = z.infer<typeof lossSchema>;

/** Training options, passed to `tfkd train` as `--kebab-case` flags (`args` verbatim, last). */
export const trainSchema = z.strictObject({
  epochs: posInt.optional(),
  batch: posInt.optional(),
  lr: z.number().gt(0).optional(),
  momentum: z.number().min(0).lt(1).optional(),
  weight_decay: z.number().min(0).optional(),
  optimizer: z.enum(OPTIMIZERS).optional(),
  schedule: z.enum(SCHEDULES).optional(),
  milestones: z.array(posInt).optional(),
  gamma: z.number().gt(0).optional(),
  warmup: z.number().min(0).optional(),
  limit: posInt.optional(),
  test_limit: posInt.optional(),
  augment: z.string().min(1).optional(),
  backend: z.enum(BACKEND_CHOICES).optional(),
  args: z.array(z.string()).optional(),
});
export type TrainOptions = z.infer<typeof trainSchema>;

/** Options of `tfkd precompute` for every cache the experiment makes. */
export const precomputeSchema = z.strictObject({
  batch: posInt.optional(),
  dtype: z.enum(CACHE_DTYPES).optional(),
  topk: posInt.optional(),
  device: z.enum(TEACHER_DEVICES).optional(),
  threads: posInt.optional(),
  args: z.array(z.string()).optional(),
});
export type PrecomputeOptions = z.infer<typeof precomputeSchema>;

/** A checkpoint of a training run: an epoch number, or `epoch-N` / `step-N`. */
const checkpointSchema = z.union([posInt, z.string().regex(/^(epoch|step)-[1-9][0-9]*$/, 'a checkpoint is an epoch number or "epoch-N" / "step-N"')]);

/**
 * The protocol's hold-out (docs/EXPERIMENTS.md, "Protocol"): a seeded part of the training split
 * that no run trains on. Teachers and sweep points are scored on it; only the final runs of each
 * method are evaluated on the test split.
 */
export const validationSchema = z
  .strictObject({
    /** Share of the (subset of the) training split held out, in (0, 0.5]; default 0.1 unless `size` is set. */
    fraction: z.number().gt(0).max(0.5).optional(),
    /** Or an exact number of held-out images. */
    size: posInt.optional(),
    /** Seed of the hold-out (and of `subset`); default 0. */
    seed: z.number().int().min(0).max(0xffffffff).optional(),
    /** Use only a seeded subset of this many training images (training + validation) at all. */
    subset: posInt.optional(),
  })
  .refine((v) => v.fraction === undefined || v.size === undefined, { message: 'set fraction or size, not both' });
export type ValidationOptions = z.infer<typeof validationSchema>;

/** Loss options a sweep may vary (never `fidelity`: it changes the formulas, not a value). */
export const SWEEP_KEYS = ['alpha', 'temperature', 'multiplier', 'correct_prob', 'epsilon'] as const;
export type SweepKey = (typeof SWEEP_KEYS)[number];

/**
 * A grid: `{ alpha: [0.1, 0.5], temperature: [4, 20] }` (the cartesian product, in the order
 * written) or an explicit list of points `[{ alpha: 0.1, temperature: 4 }, …]`.
 */
const sweepValue = lossSchema.pick({ alpha: true, temperature: true, multiplier: true, correct_prob: true, epsilon: true });
export const gridSchema = z.union([
  z.strictObject({
    alpha: z.array(HP.alpha).min(1).optional(),
    temperature: z.array(HP.temperature).min(1).optional(),
    multiplier: z.array(HP.multiplier).min(1).optional(),
    correct_prob: z.array(HP.correctProb).min(1).optional(),
    epsilon: z.array(HP.epsilon).min(1).optional(),
  }),
  z.array(sweepValue).min(1),
]);
export type Grid = z.infer<typeof gridSchema>;

export const sweepSchema = z.strictObject({
  /** The one seed every grid point is trained on (default: the first top-level seed). */
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  /** Default grid per kind, for runs of that kind that have no `sweep:` of their own. */
  grids: z.partialRecord(z.enum(KINDS), gridSchema).optional(),
});
export type SweepOptions = z.infer<typeof sweepSchema>;

export const teacherSchema = z.strictObject({
  /** Train a `ce` run of this zoo model (with `train` overrides and `seed`) and use it. */
  model: z.string().min(1).optional(),
  /** An existing ONNX teacher (path relative to the design file). */
  onnx: z.string().min(1).optional(),
  /** A run defined in `runs` (its `seed`, default the run's first seed). */
  run: nameSchema.optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  train: trainSchema.optional(),
  /** Extra checkpoints to keep (candidates for de-kd `target_accuracies`). */
  save_at: z.array(checkpointSchema).min(1).optional(),
  description: z.string().optional(),
});
export type TeacherDef = z.infer<typeof teacherSchema>;

export const runSchema = z.strictObject({
  name: nameSchema,
  kind: z.enum(KINDS, {
    error: (iss) => `unknown kind ${JSON.stringify(iss.input)} (expected ${KINDS.join('|')})`,
  }),
  description: z.string().optional(),
  model: z.string().min(1).optional(),
  teacher: nameSchema.optional(),
  /** tfkd-self: the seed of the self-teacher; `same` (default) = each student seed's own teacher. */
  teacher_seed: z.union([z.number().int().min(0).max(0xffffffff), z.literal('same')]).optional(),
  seeds: seedsSchema.optional(),
  loss: lossSchema.optional(),
  train: trainSchema.optional(),
  /** de-kd: the teacher run's checkpoints to distil from (a sweep). */
  checkpoints: z.array(checkpointSchema).min(1).optional(),
  /** de-kd: target teacher accuracies in (0, 1]; the closest saved checkpoint is used. */
  target_accuracies: z.array(z.number().gt(0).max(1)).min(1).optional(),
  /** This run's grid (replaces `sweep.grids.<kind>`); `false`: no sweep for this run. */
  sweep: z.union([gridSchema, z.literal(false)]).optional(),
  /** Use the values chosen by another run's sweep (e.g. de-kd from its kd run) instead of a sweep of its own. */
  sweep_from: nameSchema.optional(),
});
export type RunDef = z.infer<typeof runSchema>;

export const designSchema = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  data: z.string().min(1),
  model: z.string().min(1).optional(),
  seeds: seedsSchema.optional(),
  train: trainSchema.optional(),
  loss: lossSchema.optional(),
  precompute: precomputeSchema.optional(),
  teachers: z.record(nameSchema, teacherSchema).optional(),
  runs: z.array(runSchema).min(1, 'runs must list at least one run'),
  validation: validationSchema.optional(),
  sweep: sweepSchema.optional(),
});
export type Design = z.infer<typeof designSchema>;

/** The keys a grid varies, in SWEEP_KEYS order. */
export function gridKeys(g: Grid): SweepKey[] {
  const points = Array.isArray(g) ? g : [g];
  return SWEEP_KEYS.filter((k) => points.some((p) => p[k] !== undefined));
}

/**
 * The points of a grid, in a fixed order: a list as written; a mapping as the cartesian product
 * over SWEEP_KEYS order (alpha, temperature, multiplier, correct_prob, epsilon; the last fastest).
 */
export function gridPoints(g: Grid): Array<Partial<Record<SweepKey, number>>> {
  if (Array.isArray(g)) return g.map((p) => ({ ...p }));
  let points: Array<Partial<Record<SweepKey, number>>> = [{}];
  for (const k of SWEEP_KEYS.filter((x) => g[x] !== undefined)) {
    points = points.flatMap((p) => g[k]!.map((v) => ({ ...p, [k]: v })));
  }
  return points;
}

/** The grid a run is swept over (its own, else its kind's default), or null (no sweep, or `sweep_from`). */
export function runGrid(d: Design, r: RunDef): Grid | null {
  if (r.sweep === false || r.sweep_from !== undefined) return null;
  return r.sweep ?? d.sweep?.grids?.[r.kind] ?? null;
}

/** `3` → `epoch-3`; `step-500` stays. The name of the checkpoint directory the trainer writes. */
export function checkpointName(c: number | string): string {
  return typeof c === 'number' ? `epoch-${c}` : c;
}

export function checkpointUnit(c: number | string): 'epoch' | 'step' {
  return checkpointName(c).startsWith('step-') ? 'step' : 'epoch';
}
