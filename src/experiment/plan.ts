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
  checkpointName,
  checkpointUnit,
  resolveLoss,
  resolveTrain,
  type Design,
  type Kind,
  type LoadedDesign,
  type LossOptions,
  type PrecomputeOptions,
  type RunDef,
  type TrainOptions,
} from './design.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256File } from '../util/hash.js';

export const PLAN_SCHEMA = 'tfkd-experiment-plan/1';
/** Bumped when what a key means changes; part of every key. */
const KEY_VERSION = 'tfkd-experiment-step/1';

export interface TrainConfig {
  data: string;
  model: string;
  loss: string;
  loss_options: LossOptions;
  train: TrainOptions;
  seed: number;
  /** Key of the precompute step whose cache this run learns from, or null. */
  cache: string | null;
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
}

export type Step = TrainStep | ExportStep | PrecomputeStep;

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
}

export interface Plan {
  schema: typeof PLAN_SCHEMA;
  design: { file: string; name: string | null };
  data: string;
  steps: Step[];
  runs: PlanRun[];
}

export { canonicalJson };

export function stepKey(v: unknown): string {
  return createHash('sha256').update(KEY_VERSION).update('\n').update(canonicalJson(v)).digest('hex');
}

export const key8 = (k: string): string => k.slice(0, 8);

type Label = { role: 'run'; name: string; seed: number } | { role: 'teacher'; name: string; seed: number };

type TeacherSource = { name: string; onnx: string; sha256: string } | { name: string; train: string };

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

  const addTrain = (config: TrainConfig, saveAt: string[], label: Label): string => {
    const key = stepKey({ type: 'train', config });
    let s = steps.get(key) as TrainStep | undefined;
    if (!s) {
      s = { type: 'train', key, inputs: config.cache ? [config.cache] : [], label: '', config, save_at: [], dir: '' };
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

  const addPrecompute = (teacher: PrecomputeStep['teacher'], label: string): string => {
    const options = d.precompute ?? {};
    // `threads` changes the speed, not the logits: left out of the key.
    const { threads: _threads, ...keyed } = options;
    const key = stepKey({ type: 'precompute', teacher: 'step' in teacher ? { step: teacher.step } : { sha256: teacher.sha256 }, data: d.data, options: keyed });
    if (!steps.has(key)) {
      steps.set(key, { type: 'precompute', key, inputs: 'step' in teacher ? [teacher.step] : [], label, teacher, data: d.data, options, dir: `caches/${key8(key)}` });
    }
    return key;
  };

  // The train step of run `r` at `seed` (one student; de-kd runs are expanded in the main loop).
  const runTrainMemo = new Map<string, string>();
  const stack: string[] = [];
  const trainForRun = (r: RunDef, seed: number, label: Label): string => {
    const memo = `${r.name}#${seed}`;
    const known = runTrainMemo.get(memo);
    if (known) {
      trainLabels.get(known)!.push(label);
      return known;
    }
    if (stack.includes(r.name)) {
      throw new UsageError(`${loaded.file}: teacher cycle: ${[...stack, r.name].join(' → ')}`, 'a run cannot (indirectly) teach itself');
    }
    stack.push(r.name);
    const model = modelOf(r);
    const train = resolveTrain(d.train, r.train);
    const base = { data: d.data, model, loss: KIND_LOSS[r.kind], loss_options: resolveLoss(r.kind, d.loss, r.loss), train, seed };
    let cache: string | null = null;
    if (r.kind === 'kd' || r.kind === 're-kd') {
      cache = cacheOf(teacherSource(r.teacher!), null);
    } else if (r.kind === 'tfkd-self') {
      // Tf-KD_self (Eq. 7): the teacher is a normally trained (ce) model of the student's own
      // architecture, with the same training options; by default one per student seed.
      const ts = r.teacher_seed === undefined || r.teacher_seed === 'same' ? seed : r.teacher_seed;
      const tkey = addTrain({ data: d.data, model, loss: 'ce', loss_options: {}, train, seed: ts, cache: null }, [], { role: 'teacher', name: `self-${model}`, seed: ts });
      cache = cacheOf({ name: selfTeacherName(model, ts), train: tkey }, null);
    }
    const key = addTrain({ ...base, cache }, [], label);
    stack.pop();
    runTrainMemo.set(memo, key);
    return key;
  };

  const teacherMemo = new Map<string, TeacherSource>();
  const teacherSource = (name: string): TeacherSource => {
    const known = teacherMemo.get(name);
    if (known) return known;
    const t = d.teachers?.[name];
    let src: TeacherSource;
    if (!t) {
      // A run named directly as a teacher: its first seed.
      const r = runByName.get(name)!;
      const seed = seedsOf(r)[0];
      src = { name, train: trainForRun(r, seed, { role: 'run', name: r.name, seed }) };
    } else if (t.onnx !== undefined) {
      const file = path.resolve(loaded.dir, t.onnx);
      if (!fs.existsSync(file)) throw new UsageError(`${loaded.file}: teachers.${name}.onnx: file not found: ${file}`);
      src = { name, onnx: file, sha256: sha256File(file) };
    } else if (t.run !== undefined) {
      const r = runByName.get(t.run)!;
      const seed = t.seed ?? seedsOf(r)[0];
      const label: Label = seedsOf(r).includes(seed) ? { role: 'run', name: r.name, seed } : { role: 'teacher', name, seed };
      src = { name, train: trainForRun(r, seed, label) };
      if (t.save_at) addTrain((steps.get(src.train) as TrainStep).config, t.save_at.map(checkpointName), label);
    } else {
      const seed = t.seed ?? topSeeds?.[0] ?? 0;
      const config: TrainConfig = { data: d.data, model: t.model!, loss: 'ce', loss_options: {}, train: resolveTrain(d.train, t.train), seed, cache: null };
      src = { name, train: addTrain(config, (t.save_at ?? []).map(checkpointName), { role: 'teacher', name, seed }) };
    }
    teacherMemo.set(name, src);
    return src;
  };

  const cacheOf = (src: TeacherSource, checkpoint: string | null, target: number | null = null, candidates: string[] | null = null): string => {
    if ('onnx' in src) return addPrecompute({ onnx: src.onnx, sha256: src.sha256 }, src.name);
    const variant = target !== null ? `acc-${target.toFixed(2)}` : (checkpoint ?? 'final');
    const ex = addExport(src.train, checkpoint, target, candidates, `${src.name}-${variant}`);
    return addPrecompute({ step: ex }, `${src.name}-${variant}`);
  };

  const teacherInfo = (src: TeacherSource, cache: string): PlanRun['teacher'] => {
    const pc = steps.get(cache) as PrecomputeStep;
    return { name: src.name, export: 'step' in pc.teacher ? pc.teacher.step : null, cache, onnx: 'onnx' in src ? src.onnx : null };
  };

  for (const r of d.runs) {
    const model = modelOf(r);
    for (const seed of seedsOf(r)) {
      if (r.kind !== 'de-kd') {
        const step = trainForRun(r, seed, { role: 'run', name: r.name, seed });
        const cache = (steps.get(step) as TrainStep).config.cache;
        let teacher: PlanRun['teacher'] = null;
        if (cache) {
          const ts = r.teacher_seed === undefined || r.teacher_seed === 'same' ? seed : r.teacher_seed;
          const src = r.kind === 'tfkd-self' ? { name: selfTeacherName(model, ts), train: '' } : teacherSource(r.teacher!);
          teacher = teacherInfo(src, cache);
        }
        runs.push({ name: r.name, kind: r.kind, model, seed, variant: null, step, dir: '', teacher });
        continue;
      }
      // De-KD: one student per teacher checkpoint (a sweep), all with the KD loss.
      const src = teacherSource(r.teacher!);
      if (!('train' in src)) throw new UsageError(`${loaded.file}: ${r.name}: de-kd needs a trained teacher`);
      const variants: Array<{ variant: string; cache: string }> = [];
      if (r.checkpoints) {
        const names = r.checkpoints.map(checkpointName);
        addTrain((steps.get(src.train) as TrainStep).config, names, { role: 'teacher', name: src.name, seed: (steps.get(src.train) as TrainStep).config.seed });
        for (const c of names) variants.push({ variant: c, cache: cacheOf(src, c) });
      } else {
        const candidates = (d.teachers![r.teacher!].save_at ?? []).map(checkpointName);
        for (const a of r.target_accuracies!) variants.push({ variant: `acc-${a.toFixed(2)}`, cache: cacheOf(src, null, a, candidates) });
      }
      for (const v of variants) {
        const config: TrainConfig = {
          data: d.data,
          model,
          loss: KIND_LOSS[r.kind],
          loss_options: resolveLoss(r.kind, d.loss, r.loss),
          train: resolveTrain(d.train, r.train),
          seed,
          cache: v.cache,
        };
        const step = addTrain(config, [], { role: 'run', name: `${r.name}-${v.variant}`, seed });
        runs.push({ name: r.name, kind: r.kind, model, seed, variant: v.variant, step, dir: '', teacher: teacherInfo(src, v.cache) });
      }
    }
  }

  // Directory names: a step that is some declared run's student lives under runs/, otherwise under teachers/.
  for (const s of steps.values()) {
    if (s.type !== 'train') continue;
    const labels = trainLabels.get(s.key)!;
    const l = labels.find((x) => x.role === 'run') ?? labels[0];
    s.label = `${l.name} s${l.seed}`;
    s.dir = `${l.role === 'run' ? 'runs' : 'teachers'}/${l.name}-s${l.seed}-${key8(s.key)}`;
    s.save_at.sort(compareCheckpoints);
  }
  for (const r of runs) r.dir = (steps.get(r.step) as TrainStep).dir;

  return {
    schema: PLAN_SCHEMA,
    design: { file: loaded.file, name: d.name ?? null },
    data: d.data,
    steps: topoOrder([...steps.values()]),
    runs,
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
