/**
 * The experiment design file (`tfkd experiment FILE.(json|yaml)`): its schema, its loader and the
 * checks that need more than one field (teacher references, kind-specific options). Every problem
 * is reported as `FILE: path.in[2].file: message` and becomes a UsageError (exit 2), so a typo in
 * a design never starts an hour of training.
 *
 * Layering of values, lowest first (the same for `train` and `loss`):
 *   built-in per-kind loss defaults (PAPER.md)  <  top-level `train` / `loss`  <  the run's (or teacher's) own
 * Top-level loss options are defaults and silently skip kinds that do not use them; an option
 * written on a run that its kind does not use is an error (it would otherwise be ignored).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BACKEND_CHOICES, CACHE_DTYPES, FIDELITIES, LOSS_HYPERPARAMETERS as HP, OPTIMIZERS, RUN_KINDS, SCHEDULES, TEACHER_DEVICES, type LossHyperparameterName, type LossName } from '../catalog.js';
import { UsageError } from '../errors.js';
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

/** A loaded, validated design, with where it came from (relative ONNX paths resolve against `dir`). */
export interface LoadedDesign {
  file: string;
  dir: string;
  design: Design;
  /** `--set PATH=VALUE` overrides applied to the file before validation (recorded in plan.json). */
  overrides?: string[];
}

/** `runs[2].kind` — the path as the user sees it in the file. */
export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const k of p) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += s ? `.${String(k)}` : String(k);
  }
  return s || '(top level)';
}

function formatIssues(file: string, err: z.ZodError): string[] {
  const out: string[] = [];
  for (const i of err.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push(`${file}: ${formatPath([...i.path, k])}: unknown key`);
    } else {
      out.push(`${file}: ${formatPath(i.path)}: ${i.message}`);
    }
  }
  return out;
}

/** Throws one UsageError listing every problem (one per line). */
function fail(problems: string[]): never {
  const [first, ...rest] = problems;
  throw new UsageError(rest.length ? `${first}\n${rest.map((r) => `  ${r}`).join('\n')}` : first, 'see docs/EXPERIMENTS.md for the design file format');
}

/** Parses and validates a design from text (`name` is used in messages and picks JSON vs YAML). */
export function parseDesign(text: string, name: string, overrides: readonly string[] = []): Design {
  let raw: unknown;
  try {
    raw = name.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${name}: not valid ${name.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${name}: a design must be a mapping with "data" and "runs"`);
  for (const o of overrides) applyOverride(raw as Record<string, unknown>, o, name);
  const r = designSchema.safeParse(raw);
  if (!r.success) fail(formatIssues(name, r.error));
  const problems = checkDesign(r.data).map((p) => `${name}: ${p}`);
  if (problems.length) fail(problems);
  return r.data;
}

export function loadDesign(file: string, overrides: readonly string[] = []): LoadedDesign {
  if (!/\.(json|ya?ml)$/.test(file)) throw new UsageError(`${file}: a design file ends in .json, .yaml or .yml`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const design = parseDesign(text, file, overrides);
  return { file, dir: path.dirname(path.resolve(file)), design, ...(overrides.length ? { overrides: [...overrides] } : {}) };
}

/**
 * `--set PATH=VALUE`: sets one value of the parsed file before it is validated. PATH is written as
 * in error messages (`train.epochs`, `teachers.r20.train.epochs`, `runs[3].sweep`); VALUE is YAML
 * (`2`, `[1, 2]`, `false`, `{ alpha: [0.3] }`); `null` removes the key. Missing mappings on the
 * way are created; list indices must exist. The result is validated like the file itself.
 */
export function applyOverride(raw: Record<string, unknown>, set: string, file: string): void {
  const eq = set.indexOf('=');
  const bad = (why: string): never => {
    throw new UsageError(`--set ${set}: ${why}`, 'write --set PATH=VALUE, e.g. --set train.epochs=2 or --set "runs[1].seeds=[1, 2]"');
  };
  if (eq <= 0) bad('expected PATH=VALUE');
  const pathText = set.slice(0, eq).trim();
  const parts: Array<string | number> = [];
  for (const seg of pathText.split('.')) {
    const m = /^([A-Za-z0-9_.-]*)((?:\[\d+\])*)$/.exec(seg);
    if (!m || (m[1] === '' && m[2] === '')) bad(`bad path "${pathText}"`);
    if (m![1]) parts.push(m![1]);
    for (const i of m![2].matchAll(/\[(\d+)\]/g)) parts.push(Number(i[1]));
  }
  let value: unknown;
  try {
    value = parseYaml(set.slice(eq + 1));
  } catch (e) {
    bad(`value is not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  let node: unknown = raw;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i];
    const container = node as Record<string | number, unknown>;
    if (typeof k === 'number') {
      if (!Array.isArray(node) || k >= node.length) bad(`${formatPath(parts.slice(0, i + 1))} does not exist in ${file}`);
    } else if (node === null || typeof node !== 'object' || Array.isArray(node)) {
      bad(`${formatPath(parts.slice(0, i))} is not a mapping in ${file}`);
    } else if (container[k] === undefined || container[k] === null) {
      container[k] = typeof parts[i + 1] === 'number' ? bad(`${formatPath(parts.slice(0, i + 1))} does not exist in ${file}`) : {};
    }
    node = container[k];
  }
  const last = parts[parts.length - 1];
  if (typeof last === 'number') {
    if (!Array.isArray(node) || last >= node.length) bad(`${formatPath(parts)} does not exist in ${file}`);
  } else if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    bad(`${formatPath(parts.slice(0, -1))} is not a mapping in ${file}`);
  }
  const target = node as Record<string | number, unknown>;
  if (value === null && typeof last === 'string') delete target[last];
  else target[last] = value;
}

/** The cross-field checks zod cannot express; returns `path: message` lines. */
export function checkDesign(d: Design): string[] {
  const out: string[] = [];
  const teachers = d.teachers ?? {};
  const runIndex = new Map<string, number>();
  d.runs.forEach((r, i) => {
    if (runIndex.has(r.name)) out.push(`runs[${i}].name: duplicate run name "${r.name}" (also runs[${runIndex.get(r.name)}])`);
    else runIndex.set(r.name, i);
  });
  const defined = () => {
    const t = Object.keys(teachers);
    return `defined teachers: ${t.length ? t.join(', ') : '(none)'}; runs: ${[...runIndex.keys()].join(', ')}`;
  };

  for (const [tname, t] of Object.entries(teachers)) {
    const at = `teachers.${tname}`;
    const sources = (['model', 'onnx', 'run'] as const).filter((k) => t[k] !== undefined);
    if (sources.length !== 1) out.push(`${at}: a teacher needs exactly one of model | onnx | run (got ${sources.length ? sources.join(', ') : 'none'})`);
    if (t.onnx !== undefined) {
      for (const k of ['seed', 'train', 'save_at'] as const) if (t[k] !== undefined) out.push(`${at}.${k}: not used by an onnx teacher`);
    }
    if (t.run !== undefined) {
      const ri = runIndex.get(t.run);
      if (ri === undefined) out.push(`${at}.run: run "${t.run}" is not defined (runs: ${[...runIndex.keys()].join(', ')})`);
      else if (d.runs[ri].kind === 'de-kd') out.push(`${at}.run: run "${t.run}" is a de-kd sweep (several students per seed); name a single-student run`);
      if (t.train !== undefined) out.push(`${at}.train: set train options on run "${t.run}" itself`);
    }
    if (t.save_at) {
      const units = new Set(t.save_at.map(checkpointUnit));
      if (units.size > 1) out.push(`${at}.save_at: mixes epochs and steps (one unit per run)`);
    }
  }

  out.push(...checkProtocol(d, runIndex));

  d.runs.forEach((r, i) => {
    const at = `runs[${i}]`;
    if (!r.model && !d.model) out.push(`${at}.model: no model (set model here or at the top level)`);
    if (!r.seeds && !d.seeds) out.push(`${at}.seeds: no seeds (set seeds here or at the top level, e.g. [1, 2])`);
    const used = KIND_LOSS_KEYS[r.kind];
    for (const k of Object.keys(r.loss ?? {})) {
      if (!used.includes(k as LossKey)) out.push(`${at}.loss.${k}: not used by kind "${r.kind}" (it uses: ${used.length ? used.join(', ') : 'none'})`);
    }
    if (TEACHER_KINDS.has(r.kind)) {
      if (r.teacher === undefined) out.push(`${at}.teacher: kind "${r.kind}" needs a teacher (${defined()})`);
      else if (!(r.teacher in teachers) && !runIndex.has(r.teacher)) out.push(`${at}.teacher: teacher "${r.teacher}" is not defined (${defined()})`);
      else if (!(r.teacher in teachers) && r.teacher === r.name) out.push(`${at}.teacher: a run cannot teach itself`);
      else if (!(r.teacher in teachers) && d.runs[runIndex.get(r.teacher)!].kind === 'de-kd') out.push(`${at}.teacher: run "${r.teacher}" is a de-kd sweep; name a single-student run`);
    } else if (r.teacher !== undefined) {
      out.push(`${at}.teacher: kind "${r.kind}" takes no teacher${r.kind === 'tfkd-self' ? ' (its teacher is a ce run of its own model; see teacher_seed)' : ''}`);
    }
    if (r.teacher_seed !== undefined && r.kind !== 'tfkd-self') out.push(`${at}.teacher_seed: only for kind "tfkd-self"`);
    if (r.kind === 'de-kd') {
      const n = Number(r.checkpoints !== undefined) + Number(r.target_accuracies !== undefined);
      if (n !== 1) out.push(`${at}: kind "de-kd" needs exactly one of checkpoints | target_accuracies`);
      const t = r.teacher !== undefined ? teachers[r.teacher] : undefined;
      if (t?.onnx !== undefined) out.push(`${at}.teacher: de-kd needs a teacher trained here (model or run), not an ONNX file ("${r.teacher}")`);
      if (r.target_accuracies && r.teacher !== undefined && !t?.save_at) {
        out.push(`${at}.target_accuracies: needs candidate checkpoints: set teachers.${r.teacher}.save_at (e.g. [1, 2, 3])`);
      }
      if (r.checkpoints && new Set(r.checkpoints.map(checkpointUnit)).size > 1) out.push(`${at}.checkpoints: mixes epochs and steps (one unit per run)`);
    } else {
      if (r.checkpoints !== undefined) out.push(`${at}.checkpoints: only for kind "de-kd"`);
      if (r.target_accuracies !== undefined) out.push(`${at}.target_accuracies: only for kind "de-kd"`);
    }
  });
  return out;
}

/** Data kinds a `validation:` hold-out can be written for (as files the trainer reads back). */
export const HOLDOUT_KINDS = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;

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

/** Checks of `validation:` / `sweep:` / runs' `sweep` and `sweep_from`. */
function checkProtocol(d: Design, runIndex: Map<string, number>): string[] {
  const out: string[] = [];
  const dataKind = d.data.split(':')[0];
  if (d.validation && !(HOLDOUT_KINDS as readonly string[]).includes(dataKind)) {
    out.push(`validation: a hold-out is written as files of the data set's own format; supported: ${HOLDOUT_KINDS.join(', ')} (data is "${dataKind}")`);
  }
  const noVal = 'hyperparameters are chosen on the validation split: add a validation: block (e.g. validation: { fraction: 0.1, seed: 0 })';
  if (d.sweep && !d.validation) out.push(`sweep: ${noVal}`);
  const checkGrid = (g: Grid, kind: Kind, at: string, own?: LossOptions): void => {
    const used = KIND_LOSS_KEYS[kind];
    const keys = gridKeys(g);
    if (!keys.length) out.push(`${at}: a grid needs at least one of ${SWEEP_KEYS.join(', ')}`);
    for (const k of keys) {
      if (!used.includes(k)) out.push(`${at}.${k}: not used by kind "${kind}" (it uses: ${used.length ? used.join(', ') : 'none'})`);
      else if (own?.[k] !== undefined) out.push(`${at}.${k}: also fixed by the run's loss.${k}; keep one`);
    }
    if (Array.isArray(g)) g.forEach((p, j) => Object.keys(p).length === 0 && out.push(`${at}[${j}]: an empty point`));
    const pts = gridPoints(g).map((p) => JSON.stringify(Object.entries(p).sort()));
    if (new Set(pts).size !== pts.length) out.push(`${at}: a point is listed twice`);
  };
  for (const [kind, g] of Object.entries(d.sweep?.grids ?? {})) if (g) checkGrid(g, kind as Kind, `sweep.grids.${kind}`);
  d.runs.forEach((r, i) => {
    const at = `runs[${i}]`;
    if (r.sweep !== undefined && r.sweep !== false) {
      if (!d.validation) out.push(`${at}.sweep: ${noVal}`);
      checkGrid(r.sweep, r.kind, `${at}.sweep`, r.loss);
    }
    const g = runGrid(d, r);
    if (g && r.sweep === undefined) {
      for (const k of gridKeys(g)) if (r.loss?.[k] !== undefined) out.push(`${at}.loss.${k}: fixed here but swept by sweep.grids.${r.kind}; drop one (or set sweep: false on the run)`);
    }
    if (r.sweep_from !== undefined) {
      if (!d.validation) out.push(`${at}.sweep_from: ${noVal}`);
      if (r.sweep !== undefined) out.push(`${at}.sweep_from: a run takes either its own sweep or sweep_from, not both`);
      const si = runIndex.get(r.sweep_from);
      if (si === undefined) {
        out.push(`${at}.sweep_from: run "${r.sweep_from}" is not defined (runs: ${[...runIndex.keys()].join(', ')})`);
        return;
      }
      const src = d.runs[si];
      const sg = runGrid(d, src);
      if (src.name === r.name) out.push(`${at}.sweep_from: a run cannot take its values from itself`);
      else if (!sg) out.push(`${at}.sweep_from: run "${src.name}" has no sweep of its own`);
      else {
        if (src.kind === 'de-kd') out.push(`${at}.sweep_from: run "${src.name}" is a de-kd run (one sweep per teacher); name a single-teacher run`);
        for (const k of gridKeys(sg)) {
          if (!KIND_LOSS_KEYS[r.kind].includes(k)) out.push(`${at}.sweep_from: run "${src.name}" sweeps ${k}, which kind "${r.kind}" does not use`);
          else if (r.loss?.[k] !== undefined) out.push(`${at}.loss.${k}: also chosen by the sweep of run "${src.name}" (sweep_from); keep one`);
        }
      }
    }
  });
  return out;
}

/** `3` → `epoch-3`; `step-500` stays. The name of the checkpoint directory the trainer writes. */
export function checkpointName(c: number | string): string {
  return typeof c === 'number' ? `epoch-${c}` : c;
}

export function checkpointUnit(c: number | string): 'epoch' | 'step' {
  return checkpointName(c).startsWith('step-') ? 'step' : 'epoch';
}

/** Loss options for a run of `kind`: per-kind defaults < top-level < the run's own, keeping only keys the kind uses. */
export function resolveLoss(kind: Kind, top: LossOptions | undefined, own: LossOptions | undefined): LossOptions {
  const merged: Record<string, unknown> = { ...KIND_LOSS_DEFAULTS[kind], ...(top ?? {}), ...(own ?? {}) };
  const out: Record<string, unknown> = {};
  for (const k of KIND_LOSS_KEYS[kind]) if (merged[k] !== undefined) out[k] = merged[k];
  return out as LossOptions;
}

/** Training options: top-level < own (shallow; `args` replaces). */
export function resolveTrain(top: TrainOptions | undefined, own: TrainOptions | undefined): TrainOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ ...(top ?? {}), ...(own ?? {}) })) if (v !== undefined) out[k] = v;
  return out as TrainOptions;
}
