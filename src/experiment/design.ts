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
import { UsageError } from '../errors.js';

export const KINDS = ['baseline', 'lsr', 'kd', 're-kd', 'de-kd', 'tfkd-self', 'tfkd-reg'] as const;
export type Kind = (typeof KINDS)[number];

/** The `tfkd train --loss` each kind trains with. Re-KD and De-KD are KD with another teacher (PAPER.md). */
export const KIND_LOSS: Record<Kind, string> = {
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

/**
 * Per-kind defaults, from the official hyperparameters quoted in PAPER.md:
 * LSR ε = 0.1; KD MobileNetV2←ResNet18 (α 0.95, τ 20); Re-KD (α 0.6, τ 20); De-KD as KD;
 * self-training ResNet18 (α 0.95, τ 6); Tf-KD_reg ImageNet (α 0.1, τ 20, a = 0.99).
 * The official `multiplier` is left to the trainer's default unless a design sets it.
 */
export const KIND_LOSS_DEFAULTS: Record<Kind, Partial<LossOptions>> = {
  baseline: {},
  lsr: { epsilon: 0.1 },
  kd: { alpha: 0.95, temperature: 20 },
  're-kd': { alpha: 0.6, temperature: 20 },
  'de-kd': { alpha: 0.95, temperature: 20 },
  'tfkd-self': { alpha: 0.95, temperature: 6 },
  'tfkd-reg': { alpha: 0.1, temperature: 20, correct_prob: 0.99 },
};

const posInt = z.number().int().min(1);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const nameSchema = z.string().regex(NAME, 'names may hold letters, digits, "_", "." and "-" and start with a letter or digit');

const seedsSchema = z
  .array(z.number().int().min(0).max(0xffffffff), {
    error: (iss) => (iss.code === 'invalid_type' ? 'seeds must be a list of integers, e.g. [1, 2, 3]' : undefined),
  })
  .min(1, 'seeds must list at least one seed');

export const lossSchema = z.strictObject({
  alpha: z.number().min(0).max(1).optional(),
  temperature: z.number().gt(0).optional(),
  multiplier: z.number().gt(0).optional(),
  correct_prob: z.number().gt(0).max(1).optional(),
  epsilon: z.number().min(0).lt(1).optional(),
  fidelity: z.enum(['paper', 'official']).optional(),
});
export type LossOptions = z.infer<typeof lossSchema>;

/** Training options, passed to `tfkd train` as `--kebab-case` flags (`args` verbatim, last). */
export const trainSchema = z.strictObject({
  epochs: posInt.optional(),
  batch: posInt.optional(),
  lr: z.number().gt(0).optional(),
  momentum: z.number().min(0).lt(1).optional(),
  weight_decay: z.number().min(0).optional(),
  optimizer: z.enum(['sgd', 'adam']).optional(),
  schedule: z.enum(['step', 'cosine', 'constant']).optional(),
  milestones: z.array(posInt).optional(),
  gamma: z.number().gt(0).optional(),
  warmup: z.number().min(0).optional(),
  limit: posInt.optional(),
  test_limit: posInt.optional(),
  augment: z.string().min(1).optional(),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).optional(),
  args: z.array(z.string()).optional(),
});
export type TrainOptions = z.infer<typeof trainSchema>;

/** Options of `tfkd precompute` for every cache the experiment makes. */
export const precomputeSchema = z.strictObject({
  batch: posInt.optional(),
  dtype: z.enum(['f16', 'f32']).optional(),
  topk: posInt.optional(),
  device: z.enum(['auto', 'cuda', 'webgpu', 'cpu']).optional(),
  threads: posInt.optional(),
  args: z.array(z.string()).optional(),
});
export type PrecomputeOptions = z.infer<typeof precomputeSchema>;

/** A checkpoint of a training run: an epoch number, or `epoch-N` / `step-N`. */
const checkpointSchema = z.union([posInt, z.string().regex(/^(epoch|step)-[1-9][0-9]*$/, 'a checkpoint is an epoch number or "epoch-N" / "step-N"')]);

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
});
export type Design = z.infer<typeof designSchema>;

/** A loaded, validated design, with where it came from (relative ONNX paths resolve against `dir`). */
export interface LoadedDesign {
  file: string;
  dir: string;
  design: Design;
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
export function parseDesign(text: string, name: string): Design {
  let raw: unknown;
  try {
    raw = name.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${name}: not valid ${name.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${name}: a design must be a mapping with "data" and "runs"`);
  const r = designSchema.safeParse(raw);
  if (!r.success) fail(formatIssues(name, r.error));
  const problems = checkDesign(r.data).map((p) => `${name}: ${p}`);
  if (problems.length) fail(problems);
  return r.data;
}

export function loadDesign(file: string): LoadedDesign {
  if (!/\.(json|ya?ml)$/.test(file)) throw new UsageError(`${file}: a design file ends in .json, .yaml or .yml`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { file, dir: path.dirname(path.resolve(file)), design: parseDesign(text, file) };
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
