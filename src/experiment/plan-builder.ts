/**
 * The expansion of a design into its plan (plan.ts): a PlanBuilder holds the design and the steps
 * made so far, and adds each step once, by key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { LoadedDesign } from './design.js';
import { KIND_LOSS, TEACHER_KINDS, checkpointName, checkpointUnit, gridKeys, gridPoints, resolveLoss, resolveTrain, runGrid, type Design, type LossOptions, type RunDef } from './design-schema.js';
import { sha256File } from '../util/hash.js';
import { holdoutOptions, key8, pointLabel, stepKey } from './plan-keys.js';
import { compareCheckpoints, topoOrder } from './plan-order.js';
import { PLAN_SCHEMA, type DataStep, type Plan, type PlanRun, type PrecomputeStep, type SelectStep, type Step, type TrainConfig, type TrainStep } from './plan-types.js';

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

/** Where a train step's directory lives, by the role of the label it is named after. */
const ROOT = { run: 'runs', sweep: 'sweep', teacher: 'teachers' } as const;

/**
 * The expansion, top-down: `build` walks the design's runs; each run asks for its train step
 * (`trainForRun`), which asks for the cache it learns from (`cacheForRun` → `teacherSource` →
 * `cacheOf`: export + precompute) and its select step (`selectFor`: the grid of a sweep). Every
 * `add*` returns the key of an equal step already made when there is one, so shared work appears
 * once; the memo maps keep repeated requests (and their labels) cheap. Steps are kept in creation
 * order, which `topoOrder` preserves where inputs allow: the plan is deterministic.
 */
export class PlanBuilder {
  private readonly d: Design;
  private readonly steps = new Map<string, Step>();
  /** Who asked for each train step (the directory name comes from the most telling one). */
  private readonly trainLabels = new Map<string, Label[]>();
  private readonly runs: PlanRun[] = [];
  private readonly runByName: Map<string, RunDef>;
  /** The hold-out step (one; every train and precompute step depends on it), when validating. */
  private readonly holdoutStep: DataStep | null;
  private readonly selectMemo = new Map<string, string>();
  private readonly selections: NonNullable<Plan['protocol']>['selections'] = [];
  private readonly runTrainMemo = new Map<string, string>();
  /** Runs being expanded, innermost last (a teacher cycle shows up here). */
  private readonly stack: string[] = [];
  private readonly teacherMemo = new Map<string, TeacherSource>();

  constructor(private readonly loaded: LoadedDesign) {
    this.d = loaded.design;
    this.runByName = new Map(this.d.runs.map((r) => [r.name, r] as const));
    this.holdoutStep = this.addHoldout();
  }

  build(): Plan {
    const fidelity = this.addFidelityCache();
    for (const r of this.d.runs) {
      for (const seed of this.seedsOf(r)) {
        if (r.kind === 'de-kd') this.addDeKdRun(r, seed);
        else this.addRun(r, seed);
      }
    }
    if (fidelity) this.measureFidelity(fidelity);
    this.nameTrainSteps();
    const d = this.d;
    const h = this.holdoutStep;
    return {
      schema: PLAN_SCHEMA,
      design: { file: this.loaded.file, name: d.name ?? null, ...(this.loaded.overrides?.length ? { overrides: this.loaded.overrides } : {}) },
      data: d.data,
      steps: topoOrder([...this.steps.values()]),
      runs: this.runs,
      protocol: h ? { validation: h.validation, data: h.key, sweep_seed: this.selections.length ? (d.sweep?.seed ?? d.seeds?.[0] ?? null) : null, selections: this.selections } : null,
    };
  }

  // ---- the design's own defaults ----------------------------------------------------------------
  private seedsOf(r: RunDef): number[] {
    return r.seeds ?? this.d.seeds ?? [];
  }

  private modelOf(r: RunDef): string {
    return r.model ?? this.d.model!;
  }

  private ctxOf(c: Ctx): Ctx {
    return this.d.validation ? c : 'final';
  }

  private sweepSeed(r: RunDef): number {
    return this.d.sweep?.seed ?? this.d.seeds?.[0] ?? this.seedsOf(r)[0];
  }

  /** The protocol fields of a train config (none without a validation block, so keys stay as they were). */
  private proto(ctx: Ctx, select: string | null = null): Pick<TrainConfig, 'holdout' | 'select'> {
    const h = this.holdoutStep;
    return {
      ...(h ? { holdout: { step: h.key, eval: ctx === 'select' ? ('validation' as const) : ('test' as const) } } : {}),
      ...(select ? { select } : {}),
    };
  }

  /**
   * Training options of a step in context `ctx`: `test_limit` limits the test split only, so a
   * step evaluated on the validation split is evaluated on all of it (and its key ignores it).
   */
  private trainFor(own: RunDef['train'], ctx: Ctx): TrainConfig['train'] {
    const t = resolveTrain(this.d.train, own);
    if (this.holdoutStep && ctx === 'select') delete t.test_limit;
    return t;
  }

  /** Loss options fixed in the design, without the ones a select step chooses. */
  private fixedLoss(r: RunDef, select: string | null): LossOptions {
    const all = resolveLoss(r.kind, this.d.loss, r.loss) as Record<string, unknown>;
    if (select) for (const k of (this.steps.get(select) as SelectStep).keys) delete all[k];
    return all as LossOptions;
  }

  private trainStep(key: string): TrainStep {
    return this.steps.get(key) as TrainStep;
  }

  // ---- steps ------------------------------------------------------------------------------------
  private addHoldout(): DataStep | null {
    const d = this.d;
    if (!d.validation) return null;
    const validation = holdoutOptions(d.validation);
    const key = stepKey({ type: 'data', data: d.data, validation });
    const step: DataStep = { type: 'data', key, inputs: [], label: 'hold-out', data: d.data, validation, dir: `data/${key8(key)}` };
    this.steps.set(key, step);
    return step;
  }

  private addTrain(config: TrainConfig, saveAt: string[], label: Label): string {
    const key = stepKey({ type: 'train', config });
    let s = this.steps.get(key) as TrainStep | undefined;
    if (!s) {
      const inputs = [config.holdout?.step, config.cache, config.select].filter((x): x is string => typeof x === 'string');
      s = { type: 'train', key, inputs, label: '', config, save_at: [], dir: '' };
      this.steps.set(key, s);
      this.trainLabels.set(key, []);
    }
    for (const c of saveAt) if (!s.save_at.includes(c)) s.save_at.push(c);
    if (new Set(s.save_at.map(checkpointUnit)).size > 1) {
      throw new UsageError(`${this.loaded.file}: ${label.name}: checkpoints of one run mix epochs and steps (${s.save_at.join(', ')})`);
    }
    this.trainLabels.get(key)!.push(label);
    return key;
  }

  private addExport(run: string, checkpoint: string | null, target: number | null, candidates: string[] | null, label: string): string {
    const key = stepKey({ type: 'export', run, checkpoint, target, candidates });
    if (!this.steps.has(key)) {
      this.steps.set(key, { type: 'export', key, inputs: [run], label, run, checkpoint, target, candidates, out: `teachers/${label}-${key8(key)}.onnx` });
    }
    return key;
  }

  private addPrecompute(teacher: PrecomputeStep['teacher'], label: string, own: RunDef['precompute'] | undefined, split: 'train' | 'test'): string {
    const d = this.d;
    // A run's own `precompute:` options over the design's (one teacher, several caches).
    const options = { ...d.precompute, ...own };
    // `threads` changes the speed, not the logits: left out of the key.
    const { threads: _threads, ...keyed } = options;
    const holdout = this.holdoutStep?.key;
    // The split enters the key only when it is the test split: training caches keep their keys.
    const test = split === 'test' ? { split } : {};
    const key = stepKey({ type: 'precompute', teacher: 'step' in teacher ? { step: teacher.step } : { sha256: teacher.sha256 }, data: d.data, options: keyed, holdout, ...test });
    if (!this.steps.has(key)) {
      const inputs = ['step' in teacher ? teacher.step : undefined, holdout].filter((x): x is string => typeof x === 'string');
      this.steps.set(key, { type: 'precompute', key, inputs, label, teacher, data: d.data, options, dir: `caches/${key8(key)}`, ...(holdout ? { holdout } : {}), ...test });
    }
    return key;
  }

  /**
   * The cache of `fidelity_teacher:` on the test split (its final weights, for a teacher trained
   * here), with the design's `precompute` options; null without one.
   */
  private addFidelityCache(): string | null {
    const name = this.d.fidelity_teacher;
    if (name === undefined) return null;
    return this.cacheOf(this.teacherSource(name, 'final'), null, null, null, undefined, 'test');
  }

  /**
   * Every reported student measures its fidelity against cache `key` — but not the steps that
   * cache is made from (the teacher itself when it is a run of the design, and what that run learns
   * from): they finish before it exists.
   */
  private measureFidelity(key: string): void {
    const upstream = new Set<string>();
    const walk = (k: string): void => {
      if (upstream.has(k)) return;
      upstream.add(k);
      for (const i of this.steps.get(k)!.inputs) walk(i);
    };
    walk(key);
    const dir = (this.steps.get(key) as PrecomputeStep).dir;
    for (const r of this.runs) {
      const s = this.trainStep(r.step);
      if (upstream.has(s.key) || s.test_cache) continue;
      s.test_cache = { step: key, dir };
      s.inputs.push(key);
    }
  }

  /** The select step of run `r` (variant: a de-kd teacher), building its grid points on first use; null when not swept. */
  private selectFor(r: RunDef, variant: { name: string; cache: () => string } | null): string | null {
    if (r.sweep_from !== undefined) return this.selectFor(this.runByName.get(r.sweep_from)!, null);
    const grid = runGrid(this.d, r);
    if (!grid) return null;
    const memo = `${r.name}#${variant?.name ?? ''}`;
    const known = this.selectMemo.get(memo);
    if (known) return known;
    const base = variant ? `${r.name}-${variant.name}` : r.name;
    const points = this.gridPointSteps(r, grid, base, variant);
    const metric = 'final-epoch validation accuracy' as const;
    const key = stepKey({ type: 'select', points: points.map((p) => p.step), metric });
    if (!this.steps.has(key)) {
      this.steps.set(key, { type: 'select', key, inputs: points.map((p) => p.step), label: base, run: r.name, variant: variant?.name ?? null, keys: gridKeys(grid), points, metric, dir: `selections/${base}-${key8(key)}` });
    }
    this.selectMemo.set(memo, key);
    this.selections.push({ name: r.name, variant: variant?.name ?? null, step: key });
    return key;
  }

  /** One train step per point of run `r`'s sweep grid, in the `select` context. */
  private gridPointSteps(r: RunDef, grid: NonNullable<ReturnType<typeof runGrid>>, base: string, variant: { name: string; cache: () => string } | null): SelectStep['points'] {
    const seed = this.sweepSeed(r);
    const model = this.modelOf(r);
    const train = this.trainFor(r.train, 'select');
    const fixed = resolveLoss(r.kind, this.d.loss, r.loss);
    const points: SelectStep['points'] = [];
    for (const values of gridPoints(grid)) {
      const cache = variant ? variant.cache() : this.cacheForRun(r, seed, 'select');
      const config: TrainConfig = { data: this.d.data, model, loss: KIND_LOSS[r.kind], loss_options: { ...fixed, ...values }, train, seed, cache, ...this.proto('select') };
      points.push({ values, step: this.addTrain(config, [], { role: 'sweep', name: `${base}-${pointLabel(values)}`, seed }) });
    }
    return points;
  }

  // ---- teachers and their caches ------------------------------------------------------------------
  /**
   * The cache a single-teacher run learns from at `seed` (every teacher kind but de-kd, whose
   * checkpoints are expanded in addDeKdRun, and tfkd-self, whose teacher it trains), or null.
   */
  private cacheForRun(r: RunDef, seed: number, ctx: Ctx): string | null {
    if (TEACHER_KINDS.has(r.kind) && r.kind !== 'de-kd') return this.cacheOf(this.teacherSource(r.teacher!, ctx), null, null, null, r.precompute);
    if (r.kind !== 'tfkd-self') return null;
    // Tf-KD_self (Eq. 7): the teacher is a normally trained (ce) model of the student's own
    // architecture, with the same training options; by default one per student seed.
    const model = this.modelOf(r);
    const ts = r.teacher_seed === undefined || r.teacher_seed === 'same' ? seed : r.teacher_seed;
    const config: TrainConfig = { data: this.d.data, model, loss: 'ce', loss_options: {}, train: this.trainFor(r.train, ctx), seed: ts, cache: null, ...this.proto(ctx) };
    const tkey = this.addTrain(config, [], { role: 'teacher', name: `self-${modelSlug(model)}`, seed: ts });
    return this.cacheOf({ name: selfTeacherName(model, ts), train: tkey }, null, null, null, r.precompute);
  }

  /** The train step of run `r` at `seed` (one student; de-kd runs are expanded in addDeKdRun). */
  private trainForRun(r: RunDef, seed: number, label: Label, ctx0: Ctx): string {
    const ctx = this.ctxOf(ctx0);
    const memo = `${r.name}#${seed}#${ctx}`;
    const known = this.runTrainMemo.get(memo);
    if (known) {
      this.trainLabels.get(known)!.push(label);
      return known;
    }
    if (this.stack.includes(r.name)) {
      throw new UsageError(`${this.loaded.file}: teacher cycle: ${[...this.stack, r.name].join(' → ')}`, 'a run cannot (indirectly) teach itself');
    }
    this.stack.push(r.name);
    const select = this.selectFor(r, null);
    const cache = this.cacheForRun(r, seed, ctx);
    const config: TrainConfig = {
      data: this.d.data,
      model: this.modelOf(r),
      loss: KIND_LOSS[r.kind],
      loss_options: this.fixedLoss(r, select),
      train: this.trainFor(r.train, ctx),
      seed,
      cache,
      ...this.proto(ctx, select),
    };
    const key = this.addTrain(config, [], ctx === 'select' && label.role === 'run' ? { ...label, role: 'teacher' } : label);
    this.stack.pop();
    this.runTrainMemo.set(memo, key);
    return key;
  }

  /** Where teacher `name` comes from in context `ctx0`: an ONNX file or a train step. */
  private teacherSource(name: string, ctx0: Ctx): TeacherSource {
    const ctx = this.ctxOf(ctx0);
    const known = this.teacherMemo.get(`${name}#${ctx}`);
    if (known) return known;
    const t = this.d.teachers?.[name];
    let src: TeacherSource;
    if (!t) {
      // A run named directly as a teacher: its first seed.
      const r = this.runByName.get(name)!;
      const seed = this.seedsOf(r)[0];
      src = { name, train: this.trainForRun(r, seed, { role: 'run', name: r.name, seed }, ctx) };
    } else if (t.onnx !== undefined) {
      src = this.onnxTeacher(name, t.onnx);
    } else if (t.run !== undefined) {
      src = this.runTeacher(name, t, ctx);
    } else {
      const seed = t.seed ?? this.d.seeds?.[0] ?? 0;
      const config: TrainConfig = { data: this.d.data, model: t.model!, loss: 'ce', loss_options: {}, train: this.trainFor(t.train, 'select'), seed, cache: null, ...this.proto('select') };
      src = { name, train: this.addTrain(config, (t.save_at ?? []).map(checkpointName), { role: 'teacher', name, seed }) };
    }
    this.teacherMemo.set(`${name}#${ctx}`, src);
    return src;
  }

  private onnxTeacher(name: string, onnx: string): TeacherSource {
    const file = path.resolve(this.loaded.dir, onnx);
    if (!fs.existsSync(file)) throw new UsageError(`${this.loaded.file}: teachers.${name}.onnx: file not found: ${file}`);
    return { name, onnx: file, sha256: sha256File(file) };
  }

  /** A teacher defined as another run (`run:`, optionally at another seed), with its checkpoints. */
  private runTeacher(name: string, t: NonNullable<Design['teachers']>[string], ctx: Ctx): TeacherSource {
    const r = this.runByName.get(t.run!)!;
    const seed = t.seed ?? this.seedsOf(r)[0];
    const label: Label = this.seedsOf(r).includes(seed) ? { role: 'run', name: r.name, seed } : { role: 'teacher', name, seed };
    const src = { name, train: this.trainForRun(r, seed, label, ctx) };
    if (t.save_at) this.addTrain(this.trainStep(src.train).config, t.save_at.map(checkpointName), label);
    return src;
  }

  /** The precompute step of a teacher's cache (after exporting the checkpoint or target it names). */
  private cacheOf(src: TeacherSource, checkpoint: string | null, target: number | null = null, candidates: string[] | null = null, own?: RunDef['precompute'], split: 'train' | 'test' = 'train'): string {
    const on = split === 'test' ? ' (test)' : '';
    if ('onnx' in src) return this.addPrecompute({ onnx: src.onnx, sha256: src.sha256 }, `${src.name}${on}`, own, split);
    const variant = target !== null ? `acc-${target.toFixed(2)}` : (checkpoint ?? 'final');
    const ex = this.addExport(src.train, checkpoint, target, candidates, `${src.name}-${variant}`);
    return this.addPrecompute({ step: ex }, `${src.name}-${variant}${on}`, own, split);
  }

  private teacherInfo(src: TeacherSource, cache: string): PlanRun['teacher'] {
    const pc = this.steps.get(cache) as PrecomputeStep;
    return { name: src.name, export: 'step' in pc.teacher ? pc.teacher.step : null, cache, onnx: 'onnx' in src ? src.onnx : null };
  }

  // ---- the design's runs --------------------------------------------------------------------------
  /** A declared run (any kind but de-kd) at one seed. */
  private addRun(r: RunDef, seed: number): void {
    const model = this.modelOf(r);
    const step = this.trainForRun(r, seed, { role: 'run', name: r.name, seed }, 'final');
    const config = this.trainStep(step).config;
    let teacher: PlanRun['teacher'] = null;
    if (config.cache) {
      const ts = r.teacher_seed === undefined || r.teacher_seed === 'same' ? seed : r.teacher_seed;
      const src = r.kind === 'tfkd-self' ? { name: selfTeacherName(model, ts), train: '' } : this.teacherSource(r.teacher!, 'final');
      teacher = this.teacherInfo(src, config.cache);
    }
    this.runs.push({ name: r.name, kind: r.kind, model, seed, variant: null, step, dir: '', teacher, select: config.select ?? null });
  }

  /**
   * De-KD: one student per teacher checkpoint (a sweep of teachers), all with the KD loss. The
   * teacher is trained in the `select` context: its checkpoints are picked by accuracy.
   */
  private addDeKdRun(r: RunDef, seed: number): void {
    const src = this.teacherSource(r.teacher!, 'select');
    if (!('train' in src)) throw new UsageError(`${this.loaded.file}: ${r.name}: de-kd needs a trained teacher`);
    for (const v of this.deKdVariants(r, src)) {
      const select = this.selectFor(r, { name: v.variant, cache: () => v.cache });
      const config: TrainConfig = {
        data: this.d.data,
        model: this.modelOf(r),
        loss: KIND_LOSS[r.kind],
        loss_options: this.fixedLoss(r, select),
        train: this.trainFor(r.train, 'final'),
        seed,
        cache: v.cache,
        ...this.proto('final', select),
      };
      const step = this.addTrain(config, [], { role: 'run', name: `${r.name}-${v.variant}`, seed });
      this.runs.push({ name: r.name, kind: r.kind, model: this.modelOf(r), seed, variant: v.variant, step, dir: '', teacher: this.teacherInfo(src, v.cache), select });
    }
  }

  /** The teacher caches of a de-kd run: one per named checkpoint, or per target accuracy. */
  private deKdVariants(r: RunDef, src: { name: string; train: string }): Array<{ variant: string; cache: string }> {
    const variants: Array<{ variant: string; cache: string }> = [];
    if (r.checkpoints) {
      const names = r.checkpoints.map(checkpointName);
      const teacherStep = this.trainStep(src.train);
      this.addTrain(teacherStep.config, names, { role: 'teacher', name: src.name, seed: teacherStep.config.seed });
      for (const c of names) variants.push({ variant: c, cache: this.cacheOf(src, c, null, null, r.precompute) });
    } else {
      const candidates = (this.d.teachers![r.teacher!].save_at ?? []).map(checkpointName);
      for (const a of r.target_accuracies!) variants.push({ variant: `acc-${a.toFixed(2)}`, cache: this.cacheOf(src, null, a, candidates, r.precompute) });
    }
    return variants;
  }

  /**
   * Directory names: a step that is some declared run's student lives under runs/, a sweep point
   * under sweep/, otherwise under teachers/.
   */
  private nameTrainSteps(): void {
    for (const s of this.steps.values()) {
      if (s.type !== 'train') continue;
      const labels = this.trainLabels.get(s.key)!;
      const l = labels.find((x) => x.role === 'run') ?? labels.find((x) => x.role === 'sweep') ?? labels[0];
      s.label = `${l.name} s${l.seed}`;
      s.dir = `${ROOT[l.role]}/${l.name}-s${l.seed}-${key8(s.key)}`;
      s.save_at.sort(compareCheckpoints);
    }
    for (const r of this.runs) r.dir = this.trainStep(r.step).dir;
  }
}

/**
 * A model name fit for step labels and the file names made from them: zoo names as they are,
 * `onnx:DIR/m.onnx` → `onnx-m`, `./DIR/m.mjs` → `m` (a path's slashes would make directories).
 */
function modelSlug(model: string): string {
  const onnx = /^onnx:(.*)$/.exec(model);
  const base = path.basename(onnx ? onnx[1] : model).replace(/\.(onnx|mjs|cjs|js)$/, '');
  return (onnx ? `onnx-${base}` : base).replace(/[^A-Za-z0-9._-]/g, '_');
}

const selfTeacherName = (model: string, seed: number): string => `self-${modelSlug(model)}-s${seed}`;
