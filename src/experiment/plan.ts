/**
 * Expansion: a validated design → a DAG of steps (train → export → precompute → train …), each
 * named by a content **key** = sha256 of its resolved configuration and the keys of its inputs.
 * Equal work gets equal keys, so it is done once (a tfkd-self teacher that is exactly the
 * baseline's run *is* that run) and found again on a re-run (resume by key).
 *
 * What a key covers: everything we pass that changes the result (data spec, model, loss and its
 * options, training options, seed, the input cache's key; for caches the teacher's key — or the
 * ONNX file's sha256 — and the precompute options). It does not cover the names in the file, nor
 * `save_at` (saving a checkpoint does not change training; a finished run missing a checkpoint
 * that is now wanted is redone), nor the defaults the trainer fills in itself.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import {
  KIND_LOSS,
  TEACHER_KINDS,
  checkpointName,
  checkpointUnit,
  gridKeys,
  gridPoints,
  resolveLoss,
  resolveTrain,
  runGrid,
  type Design,
  type SweepKey,
  type LoadedDesign,
  type LossOptions,
  type RunDef,
} from './design.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256File } from '../util/hash.js';
import {
  PLAN_SCHEMA,
  type DataStep,
  type HoldoutOptions,
  type Plan,
  type PlanRun,
  type PrecomputeStep,
  type SelectStep,
  type Step,
  type SweepValues,
  type TrainConfig,
  type TrainStep,
} from './plan-types.js';

// The plan's types live in plan-types.ts; re-exported so importers of plan.js keep working.
export { PLAN_SCHEMA } from './plan-types.js';
export type { DataStep, ExportStep, HoldoutOptions, Plan, PlanRun, PrecomputeStep, SelectStep, Step, SweepValues, TrainConfig, TrainStep } from './plan-types.js';

/** Bumped when what a key means changes; part of every key. */
const KEY_VERSION = 'tfkd-experiment-step/1';

export { canonicalJson };

export function stepKey(v: unknown): string {
  return createHash('sha256').update(KEY_VERSION).update('\n').update(canonicalJson(v)).digest('hex');
}

export const key8 = (k: string): string => k.slice(0, 8);

type Label = { role: 'run' | 'teacher' | 'sweep'; name: string; seed: number };

type TeacherSource = { name: string; onnx: string; sha256: string } | { name: string; train: string };

/**
 * What a step is for, under a `validation:` block: `final` — a method's reported runs (evaluated
 * on the test split) and the run-teachers they learn from; `select` — everything a choice is made
 * from: sweep points, the run-teachers they learn from, and de-kd teachers (whose checkpoints are
 * picked by accuracy). `select` steps are evaluated on the validation split, so no step upstream
 * of a choice ever opens the test split. Teachers defined by `model:` are always `select`.
 * Without a validation block everything is `final` (and keys are what they were).
 */
type Ctx = 'final' | 'select';

/** Short names of swept options in labels and directory names: `a0.5-t4`. */
// The first five keep the labels (and step keys) of designs written before the other losses existed.
const SWEEP_ABBREV: Record<SweepKey, string> = { alpha: 'a', temperature: 't', multiplier: 'm', correct_prob: 'p', epsilon: 'e', beta: 'b', loss_gamma: 'g', ce_weight: 'cw', kd_weight: 'kw', kd_warmup: 'kwu', power: 'pw' };
export const pointLabel = (v: SweepValues): string =>
  (Object.keys(SWEEP_ABBREV) as SweepKey[])
    .filter((k) => v[k] !== undefined)
    .map((k) => `${SWEEP_ABBREV[k]}${v[k]}`)
    .join('-');

/** The resolved `validation:` block. */
export function holdoutOptions(v: NonNullable<Design['validation']>): HoldoutOptions {
  return { fraction: v.fraction ?? (v.size === undefined ? 0.1 : null), size: v.size ?? null, seed: v.seed ?? 0, subset: v.subset ?? null };
}

/** Expands a design into its plan. Pure apart from hashing ONNX teacher files. */
export function expandDesign(loaded: LoadedDesign): Plan {
  const d: Design = loaded.design;
  const steps = new Map<string, Step>();
  const trainLabels = new Map<string, Label[]>();
  const runs: PlanRun[] = [];
  const topSeeds = d.seeds;
  const runByName = new Map(d.runs.map((r) => [r.name, r] as const));

  const seedsOf = (r: RunDef): number[] => r.seeds ?? topSeeds ?? [];
  const modelOf = (r: RunDef): string => r.model ?? d.model!;
  const ctxOf = (c: Ctx): Ctx => (d.validation ? c : 'final');

  // ---- the hold-out (one step; every train and precompute step of the design depends on it) ----
  let holdoutStep: DataStep | null = null;
  if (d.validation) {
    const validation = holdoutOptions(d.validation);
    const key = stepKey({ type: 'data', data: d.data, validation });
    holdoutStep = { type: 'data', key, inputs: [], label: 'hold-out', data: d.data, validation, dir: `data/${key8(key)}` };
    steps.set(key, holdoutStep);
  }
  /** The protocol fields of a train config (none without a validation block, so keys stay as they were). */
  const proto = (ctx: Ctx, select: string | null = null): Pick<TrainConfig, 'holdout' | 'select'> => ({
    ...(holdoutStep ? { holdout: { step: holdoutStep.key, eval: ctx === 'select' ? ('validation' as const) : ('test' as const) } } : {}),
    ...(select ? { select } : {}),
  });
  /**
   * Training options of a step in context `ctx`: `test_limit` limits the test split only, so a
   * step evaluated on the validation split is evaluated on all of it (and its key ignores it).
   */
  const trainFor = (own: RunDef['train'], ctx: Ctx): TrainConfig['train'] => {
    const t = resolveTrain(d.train, own);
    if (holdoutStep && ctx === 'select') delete t.test_limit;
    return t;
  };
  const sweepSeed = (r: RunDef): number => d.sweep?.seed ?? topSeeds?.[0] ?? seedsOf(r)[0];

  const addTrain = (config: TrainConfig, saveAt: string[], label: Label): string => {
    const key = stepKey({ type: 'train', config });
    let s = steps.get(key) as TrainStep | undefined;
    if (!s) {
      const inputs = [config.holdout?.step, config.cache, config.select].filter((x): x is string => typeof x === 'string');
      s = { type: 'train', key, inputs, label: '', config, save_at: [], dir: '' };
      steps.set(key, s);
      trainLabels.set(key, []);
    }
    for (const c of saveAt) if (!s.save_at.includes(c)) s.save_at.push(c);
    if (new Set(s.save_at.map(checkpointUnit)).size > 1) {
      throw new UsageError(`${loaded.file}: ${label.name}: checkpoints of one run mix epochs and steps (${s.save_at.join(', ')})`);
    }
    trainLabels.get(key)!.push(label);
    return key;
  };

  const addExport = (run: string, checkpoint: string | null, target: number | null, candidates: string[] | null, label: string): string => {
    const key = stepKey({ type: 'export', run, checkpoint, target, candidates });
    if (!steps.has(key)) {
      steps.set(key, { type: 'export', key, inputs: [run], label, run, checkpoint, target, candidates, out: `teachers/${label}-${key8(key)}.onnx` });
    }
    return key;
  };

  const addPrecompute = (teacher: PrecomputeStep['teacher'], label: string, own?: RunDef['precompute']): string => {
    const options = { ...d.precompute, ...own };
    // `threads` changes the speed, not the logits: left out of the key.
    const { threads: _threads, ...keyed } = options;
    const holdout = holdoutStep?.key;
    const key = stepKey({ type: 'precompute', teacher: 'step' in teacher ? { step: teacher.step } : { sha256: teacher.sha256 }, data: d.data, options: keyed, holdout });
    if (!steps.has(key)) {
      const inputs = ['step' in teacher ? teacher.step : undefined, holdout].filter((x): x is string => typeof x === 'string');
      steps.set(key, { type: 'precompute', key, inputs, label, teacher, data: d.data, options, dir: `caches/${key8(key)}`, ...(holdout ? { holdout } : {}) });
    }
    return key;
  };

  // ---- sweeps: one select step per swept run (per teacher variant for de-kd) -------------------
  const selectMemo = new Map<string, string>();
  const selections: NonNullable<Plan['protocol']>['selections'] = [];
  /** The select step of run `r` (variant: a de-kd teacher), building its grid points on first use; null when not swept. */
  const selectFor = (r: RunDef, variant: { name: string; cache: () => string } | null): string | null => {
    if (r.sweep_from !== undefined) return selectFor(runByName.get(r.sweep_from)!, null);
    const grid = runGrid(d, r);
    if (!grid) return null;
    const memo = `${r.name}#${variant?.name ?? ''}`;
    const known = selectMemo.get(memo);
    if (known) return known;
    const seed = sweepSeed(r);
    const model = modelOf(r);
    const train = trainFor(r.train, 'select');
    const fixed = resolveLoss(r.kind, d.loss, r.loss);
    const base = variant ? `${r.name}-${variant.name}` : r.name;
    const points: SelectStep['points'] = [];
    for (const values of gridPoints(grid)) {
      const cache = variant ? variant.cache() : cacheForRun(r, seed, 'select');
      const config: TrainConfig = { data: d.data, model, loss: KIND_LOSS[r.kind], loss_options: { ...fixed, ...values }, train, seed, cache, ...proto('select') };
      points.push({ values, step: addTrain(config, [], { role: 'sweep', name: `${base}-${pointLabel(values)}`, seed }) });
    }
    const metric = 'final-epoch validation accuracy' as const;
    const key = stepKey({ type: 'select', points: points.map((p) => p.step), metric });
    if (!steps.has(key)) {
      steps.set(key, { type: 'select', key, inputs: points.map((p) => p.step), label: base, run: r.name, variant: variant?.name ?? null, keys: gridKeys(grid), points, metric, dir: `selections/${base}-${key8(key)}` });
    }
    selectMemo.set(memo, key);
    selections.push({ name: r.name, variant: variant?.name ?? null, step: key });
    return key;
  };
  /** Loss options fixed in the design, without the ones a select step chooses. */
  const fixedLoss = (r: RunDef, select: string | null): LossOptions => {
    const all = resolveLoss(r.kind, d.loss, r.loss) as Record<string, unknown>;
    if (select) for (const k of (steps.get(select) as SelectStep).keys) delete all[k];
    return all as LossOptions;
  };

  // The cache a single-teacher run learns from at `seed` (every teacher kind but de-kd, whose
  // checkpoints are expanded in the main loop, and tfkd-self, whose teacher it trains), or null.
  const cacheForRun = (r: RunDef, seed: number, ctx: Ctx): string | null => {
    if (TEACHER_KINDS.has(r.kind) && r.kind !== 'de-kd') return cacheOf(teacherSource(r.teacher!, ctx), null, null, null, r.precompute);
    if (r.kind === 'tfkd-self') {
      // Tf-KD_self (Eq. 7): the teacher is a normally trained (ce) model of the student's own
      // architecture, with the same training options; by default one per student seed.
      const model = modelOf(r);
      const ts = r.teacher_seed === undefined || r.teacher_seed === 'same' ? seed : r.teacher_seed;
      const config: TrainConfig = { data: d.data, model, loss: 'ce', loss_options: {}, train: trainFor(r.train, ctx), seed: ts, cache: null, ...proto(ctx) };
      const tkey = addTrain(config, [], { role: 'teacher', name: `self-${model}`, seed: ts });
      return cacheOf({ name: selfTeacherName(model, ts), train: tkey }, null, null, null, r.precompute);
    }
    return null;
  };

  // The train step of run `r` at `seed` (one student; de-kd runs are expanded in the main loop).
  const runTrainMemo = new Map<string, string>();
  const stack: string[] = [];
  const trainForRun = (r: RunDef, seed: number, label: Label, ctx0: Ctx): string => {
    const ctx = ctxOf(ctx0);
    const memo = `${r.name}#${seed}#${ctx}`;
    const known = runTrainMemo.get(memo);
    if (known) {
      trainLabels.get(known)!.push(label);
      return known;
    }
    if (stack.includes(r.name)) {
      throw new UsageError(`${loaded.file}: teacher cycle: ${[...stack, r.name].join(' → ')}`, 'a run cannot (indirectly) teach itself');
    }
    stack.push(r.name);
    const select = selectFor(r, null);
    const cache = cacheForRun(r, seed, ctx);
    const config: TrainConfig = {
      data: d.data,
      model: modelOf(r),
      loss: KIND_LOSS[r.kind],
      loss_options: fixedLoss(r, select),
      train: trainFor(r.train, ctx),
      seed,
      cache,
      ...proto(ctx, select),
    };
    const key = addTrain(config, [], ctx === 'select' && label.role === 'run' ? { ...label, role: 'teacher' } : label);
    stack.pop();
    runTrainMemo.set(memo, key);
    return key;
  };

  const teacherMemo = new Map<string, TeacherSource>();
  const teacherSource = (name: string, ctx0: Ctx): TeacherSource => {
    const ctx = ctxOf(ctx0);
    const known = teacherMemo.get(`${name}#${ctx}`);
    if (known) return known;
    const t = d.teachers?.[name];
    let src: TeacherSource;
    if (!t) {
      // A run named directly as a teacher: its first seed.
      const r = runByName.get(name)!;
      const seed = seedsOf(r)[0];
      src = { name, train: trainForRun(r, seed, { role: 'run', name: r.name, seed }, ctx) };
    } else if (t.onnx !== undefined) {
      const file = path.resolve(loaded.dir, t.onnx);
      if (!fs.existsSync(file)) throw new UsageError(`${loaded.file}: teachers.${name}.onnx: file not found: ${file}`);
      src = { name, onnx: file, sha256: sha256File(file) };
    } else if (t.run !== undefined) {
      const r = runByName.get(t.run)!;
      const seed = t.seed ?? seedsOf(r)[0];
      const label: Label = seedsOf(r).includes(seed) ? { role: 'run', name: r.name, seed } : { role: 'teacher', name, seed };
      src = { name, train: trainForRun(r, seed, label, ctx) };
      if (t.save_at) addTrain((steps.get(src.train) as TrainStep).config, t.save_at.map(checkpointName), label);
    } else {
      const seed = t.seed ?? topSeeds?.[0] ?? 0;
      const config: TrainConfig = { data: d.data, model: t.model!, loss: 'ce', loss_options: {}, train: trainFor(t.train, 'select'), seed, cache: null, ...proto('select') };
      src = { name, train: addTrain(config, (t.save_at ?? []).map(checkpointName), { role: 'teacher', name, seed }) };
    }
    teacherMemo.set(`${name}#${ctx}`, src);
    return src;
  };

  const cacheOf = (src: TeacherSource, checkpoint: string | null, target: number | null = null, candidates: string[] | null = null, own?: RunDef['precompute']): string => {
    if ('onnx' in src) return addPrecompute({ onnx: src.onnx, sha256: src.sha256 }, src.name, own);
    const variant = target !== null ? `acc-${target.toFixed(2)}` : (checkpoint ?? 'final');
    const ex = addExport(src.train, checkpoint, target, candidates, `${src.name}-${variant}`);
    return addPrecompute({ step: ex }, `${src.name}-${variant}`, own);
  };

  const teacherInfo = (src: TeacherSource, cache: string): PlanRun['teacher'] => {
    const pc = steps.get(cache) as PrecomputeStep;
    return { name: src.name, export: 'step' in pc.teacher ? pc.teacher.step : null, cache, onnx: 'onnx' in src ? src.onnx : null };
  };

  for (const r of d.runs) {
    const model = modelOf(r);
    for (const seed of seedsOf(r)) {
      if (r.kind !== 'de-kd') {
        const step = trainForRun(r, seed, { role: 'run', name: r.name, seed }, 'final');
        const config = (steps.get(step) as TrainStep).config;
        let teacher: PlanRun['teacher'] = null;
        if (config.cache) {
          const ts = r.teacher_seed === undefined || r.teacher_seed === 'same' ? seed : r.teacher_seed;
          const src = r.kind === 'tfkd-self' ? { name: selfTeacherName(model, ts), train: '' } : teacherSource(r.teacher!, 'final');
          teacher = teacherInfo(src, config.cache);
        }
        runs.push({ name: r.name, kind: r.kind, model, seed, variant: null, step, dir: '', teacher, select: config.select ?? null });
        continue;
      }
      // De-KD: one student per teacher checkpoint (a sweep of teachers), all with the KD loss. The
      // teacher is trained in the `select` context: its checkpoints are picked by accuracy.
      const src = teacherSource(r.teacher!, 'select');
      if (!('train' in src)) throw new UsageError(`${loaded.file}: ${r.name}: de-kd needs a trained teacher`);
      const variants: Array<{ variant: string; cache: string }> = [];
      if (r.checkpoints) {
        const names = r.checkpoints.map(checkpointName);
        addTrain((steps.get(src.train) as TrainStep).config, names, { role: 'teacher', name: src.name, seed: (steps.get(src.train) as TrainStep).config.seed });
        for (const c of names) variants.push({ variant: c, cache: cacheOf(src, c, null, null, r.precompute) });
      } else {
        const candidates = (d.teachers![r.teacher!].save_at ?? []).map(checkpointName);
        for (const a of r.target_accuracies!) variants.push({ variant: `acc-${a.toFixed(2)}`, cache: cacheOf(src, null, a, candidates, r.precompute) });
      }
      for (const v of variants) {
        const select = selectFor(r, { name: v.variant, cache: () => v.cache });
        const config: TrainConfig = {
          data: d.data,
          model,
          loss: KIND_LOSS[r.kind],
          loss_options: fixedLoss(r, select),
          train: trainFor(r.train, 'final'),
          seed,
          cache: v.cache,
          ...proto('final', select),
        };
        const step = addTrain(config, [], { role: 'run', name: `${r.name}-${v.variant}`, seed });
        runs.push({ name: r.name, kind: r.kind, model, seed, variant: v.variant, step, dir: '', teacher: teacherInfo(src, v.cache), select });
      }
    }
  }

  // Directory names: a step that is some declared run's student lives under runs/, a sweep point
  // under sweep/, otherwise under teachers/.
  const ROOT = { run: 'runs', sweep: 'sweep', teacher: 'teachers' } as const;
  for (const s of steps.values()) {
    if (s.type !== 'train') continue;
    const labels = trainLabels.get(s.key)!;
    const l = labels.find((x) => x.role === 'run') ?? labels.find((x) => x.role === 'sweep') ?? labels[0];
    s.label = `${l.name} s${l.seed}`;
    s.dir = `${ROOT[l.role]}/${l.name}-s${l.seed}-${key8(s.key)}`;
    s.save_at.sort(compareCheckpoints);
  }
  for (const r of runs) r.dir = (steps.get(r.step) as TrainStep).dir;

  return {
    schema: PLAN_SCHEMA,
    design: { file: loaded.file, name: d.name ?? null, ...(loaded.overrides?.length ? { overrides: loaded.overrides } : {}) },
    data: d.data,
    steps: topoOrder([...steps.values()]),
    runs,
    protocol: holdoutStep
      ? { validation: holdoutStep.validation, data: holdoutStep.key, sweep_seed: selections.length ? (d.sweep?.seed ?? topSeeds?.[0] ?? null) : null, selections }
      : null,
  };
}

const selfTeacherName = (model: string, seed: number): string => `self-${model}-s${seed}`;

function compareCheckpoints(a: string, b: string): number {
  const [ua, na] = a.split('-');
  const [ub, nb] = b.split('-');
  return ua === ub ? Number(na) - Number(nb) : ua < ub ? -1 : 1;
}

/** Inputs before the steps that use them; otherwise the order of creation (deterministic). */
function topoOrder(steps: Step[]): Step[] {
  const byKey = new Map(steps.map((s) => [s.key, s] as const));
  const done = new Set<string>();
  const out: Step[] = [];
  const visit = (s: Step): void => {
    if (done.has(s.key)) return;
    done.add(s.key);
    for (const i of s.inputs) visit(byKey.get(i)!);
    out.push(s);
  };
  steps.forEach(visit);
  return out;
}
