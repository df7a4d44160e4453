/**
 * The design file's schema: the kinds of run and what each one trains with and may set, the zod
 * schemas of every block (names, bounds and choices come from the catalog), and the small readers
 * of the values they hold (a grid's points, a checkpoint's name). Loading and the cross-field
 * checks are in design.ts and design-checks.ts; design.ts re-exports all of this.
 */
import { z } from 'zod';
import { BACKEND_CHOICES, CACHE_DTYPES, FIDELITIES, OPTIMIZERS, SCHEDULES, TEACHER_DEVICES } from '../catalog.js';
import { parseAugmentSpec } from '../data/augment.js';
import { UsageError } from '../errors.js';
import { LAYER_GROUPS } from '../student/optim/layer-decay.js';
import { TRAIN_DEFAULTS } from '../student/trainer/config.js';
import { builtinLosses, entryOptionNames, lossEntry, LOSS_OPTION_NAMES, resolveLossOptions, specDefault, type LossEntry, type LossOptionName } from '../student/losses/index.js';

/**
 * The kinds of run a design can hold: `baseline` (ce), Re-KD and De-KD (KD with another teacher,
 * docs/PAPER.md), and one kind per other loss of the registry, named as the loss.
 */
const KINDS = Object.freeze(['baseline', 'lsr', 'kd', 're-kd', 'de-kd', ...builtinLosses().filter((e) => !['ce', 'lsr', 'kd'].includes(e.name)).map((e) => e.name)]) as readonly [string, ...string[]];
export type Kind = string;

/** The `tfkd train --loss` each kind trains with. */
export const KIND_LOSS: Readonly<Record<Kind, string>> = Object.fromEntries(KINDS.map((k) => [k, k === 'baseline' ? 'ce' : k === 're-kd' || k === 'de-kd' ? 'kd' : k]));

function kindEntry(kind: Kind): LossEntry {
  return lossEntry(KIND_LOSS[kind]);
}

/**
 * Kinds whose student learns from a teacher named in the file (`teacher:`): every loss that reads a
 * teacher, except tfkd-self (its teacher is a ce run of its own model; see teacher_seed).
 */
export const TEACHER_KINDS: ReadonlySet<Kind> = new Set(KINDS.filter((k) => k !== 'tfkd-self' && kindEntry(k).teacher !== 'none'));

/** A loss option's name in design files (snake_case). */
export const designKey = (k: LossOptionName): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const HP_NAME: Readonly<Record<string, LossOptionName>> = Object.fromEntries(LOSS_OPTION_NAMES.map((k) => [designKey(k), k]));
/** The registry's name of a design loss key (`correct_prob` → `correctProb`). */
export const lossOptionOf = (key: string): LossOptionName | undefined => HP_NAME[key];

/** Loss options a sweep may vary (never `fidelity` or `logit_standardization`: they change the formulas, not a value). */
export const SWEEP_KEYS = Object.freeze(LOSS_OPTION_NAMES.map(designKey));
export type SweepKey = string;

export type LossKey = string;

/**
 * Loss options each kind uses (what its loss reads, with and without logit standardization, as the
 * registry says); anything else written on a run of that kind is an error.
 */
export const KIND_LOSS_KEYS: Readonly<Record<Kind, readonly LossKey[]>> = Object.fromEntries(
  KINDS.map((kind) => {
    const e = kindEntry(kind);
    const names = new Set([...entryOptionNames(e), ...(e.standardized ? entryOptionNames(e, true) : [])]);
    const keys = SWEEP_KEYS.filter((k) => names.has(HP_NAME[k]));
    return [kind, kind === 'baseline' ? [] : [...keys, 'fidelity', ...(e.standardized ? ['logit_standardization'] : [])]];
  }),
);

/**
 * Per-kind defaults: the registry's defaults of the kind's loss that both fidelity modes share (the
 * official `multiplier` differs by mode, so it is left to the trainer unless a design sets it), plus
 * what only a design knows: Re-KD's official config has α 0.6.
 */
const KIND_OWN_DEFAULTS: Partial<Record<Kind, LossOptions>> = { 're-kd': { alpha: 0.6 } };
function kindLossDefaults(kind: Kind, logitStandardization = false): LossOptions {
  const e = kindEntry(kind);
  const out: LossOptions = {};
  for (const k of entryOptionNames(e, logitStandardization)) {
    const spec = (logitStandardization ? e.standardized! : e.options)[k]!;
    const [p, o] = FIDELITIES.map((f) => specDefault(spec, f));
    if (p === o) out[designKey(k)] = p;
  }
  return logitStandardization ? out : { ...out, ...KIND_OWN_DEFAULTS[kind] };
}

/** The design keys a run of `kind` reads with or without logit standardization (plus fidelity and the switch). */
export function kindLossKeys(kind: Kind, logitStandardization: boolean): readonly LossKey[] {
  const e = kindEntry(kind);
  if (kind === 'baseline') return [];
  if (logitStandardization && !e.standardized) return KIND_LOSS_KEYS[kind];
  const names = new Set(entryOptionNames(e, logitStandardization));
  return [...SWEEP_KEYS.filter((k) => names.has(HP_NAME[k])), 'fidelity', ...(e.standardized ? ['logit_standardization'] : [])];
}

/**
 * Whether `fidelity` changes what a run of `kind` computes: its loss has two modes (the registry's
 * `fidelityModes`) and logit standardization, which has one form, is off.
 */
export function fidelityActs(kind: Kind, logitStandardization: boolean): boolean {
  const e = kindEntry(kind);
  return e.fidelityModes === true && !(logitStandardization && e.standardized !== undefined);
}

/** Loss options for a run of `kind`: per-kind defaults < top-level < the run's own, keeping only keys the kind uses. */
export function resolveLoss(kind: Kind, top: LossOptions | undefined, own: LossOptions | undefined): LossOptions {
  // With logit standardization a loss reads other options with other defaults (the registry's `standardized`).
  const ls = (own?.logit_standardization ?? top?.logit_standardization) === true;
  const merged: Record<string, unknown> = { ...kindLossDefaults(kind, ls), ...(top ?? {}), ...(own ?? {}) };
  const out: Record<string, unknown> = {};
  for (const k of kindLossKeys(kind, ls)) if (merged[k] !== undefined) out[k] = merged[k];
  // A top-level fidelity reaches every kind, but a loss whose two modes agree computes the same
  // under either: it trains as `paper` (the trainer refuses another mode it would not read), so
  // that its step key, and its run, are the same whichever mode the design names. (A run's own
  // `official` on such a kind is refused by checkDesign.)
  if (out.fidelity !== undefined && !fidelityActs(kind, ls)) out.fidelity = 'paper';
  return out as LossOptions;
}

/**
 * Why a run's resolved loss options are outside its loss's bounds (the registry's, which `tfkd train`
 * enforces too), or null. K is not known here; the K-dependent check (a ≥ 1/K) is left to the trainer.
 */
export function lossValueProblem(kind: Kind, o: LossOptions): string | null {
  const given: Partial<Record<LossOptionName, number>> = {};
  for (const [k, v] of Object.entries(o)) {
    const name = HP_NAME[k];
    if (name && typeof v === 'number') given[name] = v;
  }
  const fidelity = (o.fidelity as (typeof FIDELITIES)[number] | undefined) ?? 'paper';
  return usageProblem(() => resolveLossOptions(kindEntry(kind), fidelity, 2 ** 31 - 1, o.logit_standardization === true, given));
}

/** The UsageError `f` throws as one line (its hint in parentheses), or null: the trainer's own refusal, found before anything runs. */
function usageProblem(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof UsageError) return e.message + (e.hint ? ` (${e.hint})` : '');
    throw e;
  }
}

const posInt = z.number().int().min(1);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const nameSchema = z.string().regex(NAME, 'names may hold letters, digits, "_", "." and "-" and start with a letter or digit');

const seedsSchema = z
  .array(z.number().int().min(0).max(0xffffffff), {
    error: (iss) => (iss.code === 'invalid_type' ? 'seeds must be a list of integers, e.g. [1, 2, 3]' : undefined),
  })
  .min(1, 'seeds must list at least one seed')
  // A repeated seed is the same step twice: the plan would train it once and report it as two seeds.
  .refine((s) => new Set(s).size === s.length, { error: (iss) => `seed ${(iss.input as number[]).find((x, i, a) => a.indexOf(x) !== i)} is listed twice` });

/** A run's loss options by their design names (snake_case), plus fidelity and logit_standardization. */
export type LossOptions = Record<string, number | string | boolean | undefined>;

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/** Loss options by their design names; each run's values are checked against its loss's bounds (design-checks.ts). */
const lossSchema: z.ZodType<LossOptions> = z.strictObject({
  ...(Object.fromEntries(SWEEP_KEYS.map((k) => [k, finite.optional()])) as Record<string, z.ZodOptional<typeof finite>>),
  fidelity: z.enum(FIDELITIES).optional(),
  logit_standardization: z.boolean().optional(),
});

/** Training options, passed to `tfkd train` as `--kebab-case` flags (`args` verbatim, last). */
const trainSchema = z.strictObject({
  epochs: posInt.optional(),
  batch: posInt.optional(),
  lr: z.number().gt(0).optional(),
  lr_base: z.number().gt(0).optional(),
  lr_base_size: posInt.optional(),
  lr_base_scale: z.enum(['linear', 'sqrt']).optional(),
  momentum: z.number().min(0).lt(1).optional(),
  weight_decay: z.number().min(0).optional(),
  skip_decay: z.array(z.string().min(1)).min(1).optional(),
  clip_grad: z.number().gt(0).optional(),
  grad_accum_steps: z.number().int().min(1).optional(),
  layer_decay: z.number().gt(0).max(1).optional(),
  layer_groups: z.string().min(1).refine((v) => layerGroupsProblem(v) === null, { error: (iss) => layerGroupsProblem(iss.input as string)! }).optional(),
  ema: z.number().gt(0).lt(1).optional(),
  drop_path: z.number().min(0).lt(1).optional(),
  distill_token: z.boolean().optional(),
  ema_warmup: z.boolean().optional(),
  optimizer: z.enum(OPTIMIZERS).optional(),
  schedule: z.enum(SCHEDULES).optional(),
  milestones: z.array(posInt).optional(),
  gamma: z.number().gt(0).optional(),
  warmup: z.number().min(0).optional(),
  limit: posInt.optional(),
  test_limit: posInt.optional(),
  augment: z.string().min(1).refine((v) => augmentProblem(v) === null, { error: (iss) => augmentProblem(iss.input as string)! }).optional(),
  backend: z.enum(BACKEND_CHOICES).optional(),
  args: z.array(z.string()).optional(),
});
export type TrainOptions = z.infer<typeof trainSchema>;

/** Training options: top-level < own (shallow; `args` replaces). */
export function resolveTrain(top: TrainOptions | undefined, own: TrainOptions | undefined): TrainOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...(top ?? {}), ...(own ?? {}) })) if (v !== undefined) out[k] = v;
  return out as TrainOptions;
}

/**
 * Why `tfkd train --augment SPEC` would refuse `spec` (the trainer's parser, with its list of the
 * forms a spec takes), or null; checked here so that a typo fails before the hold-out and the
 * teachers are made, not in the first student's step.
 */
function augmentProblem(spec: string): string | null {
  return usageProblem(() => parseAugmentSpec(spec));
}

/**
 * `layer_groups` is a preset's name or timm's matcher as JSON; whether the matcher fits the model's
 * weights needs the model, so only the form is checked here (the rest by the trainer).
 */
function layerGroupsProblem(spec: string): string | null {
  // An empty string is min(1)'s to report.
  if (spec === '' || spec in LAYER_GROUPS) return null;
  try {
    JSON.parse(spec);
    return null;
  } catch {
    return `"${spec}" is neither a preset (${Object.keys(LAYER_GROUPS).join(', ')}) nor JSON`;
  }
}

/**
 * The last epoch a `tfkd train` with options `t` reaches (the trainer's default when unset), or null
 * when `args` passes --epochs or a --config file, which the design cannot see into.
 */
export function trainEpochs(t: TrainOptions): number | null {
  if ((t.args ?? []).some((a) => /^--(epochs|config)(=|$)/.test(a))) return null;
  return t.epochs ?? TRAIN_DEFAULTS.epochs;
}

/** Options of `tfkd precompute` for every cache the experiment makes. */
const precomputeSchema = z.strictObject({
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
const validationSchema = z
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

/**
 * How many images a hold-out of `v` takes for validation out of a pool of `pool` images (the subset,
 * or the whole training split), as protocol.ts draws them, and which side that leaves empty (null:
 * neither). The data step refuses an empty side only after the output directory exists; the design
 * check and the preflight ask this first.
 */
export function holdoutCount(v: NonNullable<Design['validation']>, pool: number): { held: number; empty: 'validate on' | 'train on' | null } {
  const held = v.size ?? Math.round((v.fraction ?? 0.1) * pool);
  return { held, empty: held < 1 ? 'validate on' : held >= pool ? 'train on' : null };
}

/**
 * A grid: `{ alpha: [0.1, 0.5], temperature: [4, 20] }` (the cartesian product, in the order
 * written) or an explicit list of points `[{ alpha: 0.1, temperature: 4 }, …]`.
 */
const sweepValue = z.strictObject(Object.fromEntries(SWEEP_KEYS.map((k) => [k, finite.optional()])) as Record<string, z.ZodOptional<typeof finite>>);
const gridSchema = z.union([
  z.strictObject(Object.fromEntries(SWEEP_KEYS.map((k) => [k, z.array(finite).min(1).optional()])) as Record<string, z.ZodOptional<z.ZodArray<typeof finite>>>),
  z.array(sweepValue).min(1),
]);
export type Grid = Record<string, number[] | undefined> | Array<Record<string, number | undefined>>;

const sweepSchema = z.strictObject({
  /** The one seed every grid point is trained on (default: the first top-level seed). */
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  /** Default grid per kind, for runs of that kind that have no `sweep:` of their own. */
  grids: z.partialRecord(z.enum(KINDS as [string, ...string[]]), gridSchema).optional(),
});

const teacherSchema = z.strictObject({
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

const runSchema = z.strictObject({
  name: nameSchema,
  kind: z.enum(KINDS as [string, ...string[]], {
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
  /**
   * This run's teacher cache options over the design's `precompute` (keys given here win; `args`
   * replaces): e.g. one run on a 1-view cache and another on mixed views of the same teacher.
   */
  precompute: precomputeSchema.optional(),
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
  /**
   * A teacher (of `teachers:`, or a run) every reported student measures its fidelity to, every
   * epoch, on the test split (`tfkd train --test-cache`): the plan precomputes that teacher on the
   * test split once. Not a loss option (that `fidelity` is paper | official).
   */
  fidelity_teacher: nameSchema.optional(),
});
export type Design = z.infer<typeof designSchema>;

/** The keys a grid varies, in SWEEP_KEYS order. */
export function gridKeys(g: Grid): SweepKey[] {
  const points: Array<Record<string, unknown>> = Array.isArray(g) ? g : [g];
  return SWEEP_KEYS.filter((k) => points.some((p) => p[k] !== undefined));
}

/**
 * The points of a grid, in a fixed order: a list as written; a mapping as the cartesian product
 * over SWEEP_KEYS order (the registry's option order: alpha, beta, gamma, temperature, …; the last fastest).
 */
export function gridPoints(g: Grid): Array<Partial<Record<SweepKey, number>>> {
  if (Array.isArray(g)) return g.map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Partial<Record<SweepKey, number>>);
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
