/**
 * The trainer's view of the optimizer and the learning-rate schedule (adapter over
 * src/student/optim and src/student/schedule.ts): apply one step's gradients at a given lr, and
 * get/set the state a checkpoint stores.
 */
import { optionName, UsageError, WorkError } from '../../errors.js';
import { clipGradNorm, createOptimizer, type Optimizer, type OptimizerState } from '../optim/index.js';
import { layerScales, resolveLayerGroups } from '../optim/layer-decay.js';
import { lrAt, type ScheduleConfig } from '../schedule.js';
import { tf } from '../tf.js';
import { namesMatching } from '../zoo/onnx-import.js';
import { OnnxGraphLayer } from '../zoo/onnx-layer.js';
import type { StoredOptimizerState } from './checkpoint.js';
import type { TrainConfig } from './config.js';

export interface TrainOptimizer {
  /** The variables it updates (the model's trainable weights), for tf.variableGrads. */
  readonly vars: tf.Variable[];
  /** Updates the variables from `grads` (keyed by variable name) at learning rate `lr`, after --clip-grad. */
  apply(grads: tf.NamedTensorMap, lr: number): void;
  /** What the weight decay covers, for the run's log: null when it covers every weight. */
  readonly decayNote: string | null;
  /** --layer-decay's layers and their lr factors, for the run's log: null without it. */
  readonly layerNote: string | null;
  getState(): StoredOptimizerState;
  setState(s: StoredOptimizerState): void;
  dispose(): void;
}

/**
 * The optimizer of src/student/optim over the model's trainable variables. Its state is keyed by
 * tfjs variable names, which carry process-global suffixes (`fc1/kernel_3` for the fourth model
 * built in a process); checkpoints store it under the stable layer-qualified names instead
 * (`fc1/kernel`, the zoo's names) so a run can resume in any process.
 */
export function createTrainOptimizer(config: TrainConfig, model: tf.LayersModel): TrainOptimizer {
  const vars: tf.Variable[] = [];
  const toStable = new Map<string, string>();
  /** The names --skip-decay matches: ONNX initializer names for onnx: students, else the stable names. */
  const userName = new Map<string, string>();
  for (const layer of model.layers) {
    const onnxNames = layer instanceof OnnxGraphLayer ? new Map([...layer.vars].map(([name, lv]) => [lv, name])) : null;
    for (const w of layer.trainableWeights) {
      const v = w.read() as tf.Variable;
      vars.push(v);
      const stable = `${layer.name}/${w.originalName.slice(w.originalName.lastIndexOf('/') + 1)}`;
      toStable.set(v.name, stable);
      userName.set(v.name, onnxNames?.get(w) ?? stable);
    }
  }
  const toLocal = new Map([...toStable].map(([a, b]) => [b, a]));
  const noDecay = noDecayVariables(config.skipDecay ?? [], vars, userName);
  const layers = layerDecayOf(config, vars, userName);
  const lrScale = layers?.lrScale;
  const opt: Optimizer =
    config.optimizer === 'sgd'
      ? createOptimizer(vars, { kind: 'sgd', momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay, noDecay, lrScale })
      : createOptimizer(vars, { kind: config.optimizer, weightDecay: config.weightDecay, noDecay, lrScale });
  const clip = config.clipGrad;
  const rename = (key: string, map: Map<string, string>): string => {
    const i = key.lastIndexOf('#');
    const base = i < 0 ? key : key.slice(0, i);
    const to = map.get(base);
    if (to === undefined) throw new WorkError(`optimizer state names an unknown variable "${base}"`);
    return i < 0 ? to : `${to}${key.slice(i)}`;
  };
  return {
    vars,
    layerNote: layers?.note ?? null,
    decayNote: noDecay.length ? `weight decay ${config.weightDecay} on ${vars.length - noDecay.length} of ${vars.length} weight tensors, none on ${noDecay.length} (${optionName('skipDecay')} ${config.skipDecay!.join(',')})` : null,
    apply(grads, lr) {
      if (clip === undefined) return opt.step(grads, lr);
      tf.tidy(() => opt.step(clipGradNorm(grads, clip).grads, lr));
    },
    getState() {
      const st = opt.getState();
      const tensors: StoredOptimizerState['tensors'] = {};
      for (const [k, data] of Object.entries(st.slots)) tensors[rename(k, toStable)] = { shape: [data.length], data };
      const variableSteps = Object.fromEntries(Object.entries(st.variableSteps).map(([k, t]) => [rename(k, toStable), t]));
      return { scalars: { kind: st.kind, step: st.step, variableSteps }, tensors };
    },
    setState(s) {
      const sc = s.scalars as { kind: OptimizerState['kind']; step: number; variableSteps: Record<string, number> };
      opt.setState({
        kind: sc.kind,
        step: sc.step,
        variableSteps: Object.fromEntries(Object.entries(sc.variableSteps).map(([k, t]) => [rename(k, toLocal), t])),
        slots: Object.fromEntries(Object.entries(s.tensors).map(([k, t]) => [rename(k, toLocal), t.data])),
      });
    },
    dispose: () => opt.dispose(),
  };
}

/**
 * The variables --skip-decay exempts from weight decay (PyTorch: a param group with weight_decay 0).
 * `1d` is timm's rule (param_groups_weight_decay: ndim ≤ 1 — biases, BatchNorm / LayerNorm scales
 * and shifts); any other entry is a pattern over weight names, as --freeze matches them (a glob, or
 * a module prefix), e.g. timm ViT's `pos_embed` and `cls_token`. An entry that matches nothing is an
 * error: a misspelt name must not silently decay.
 */
function noDecayVariables(rules: readonly string[], vars: readonly tf.Variable[], userName: ReadonlyMap<string, string>): string[] {
  const named = namesMatching('skipDecay', rules.filter((r) => r !== '1d'), vars.map((v) => userName.get(v.name)!), 'trainable weight');
  const oneD = rules.includes('1d');
  if (oneD && !vars.some((v) => v.rank <= 1)) throw new UsageError(`${optionName('skipDecay')} 1d: matches no trainable weight`, 'the model has no biases or norms');
  return vars.filter((v) => named.has(userName.get(v.name)!) || (oneD && v.rank <= 1)).map((v) => v.name);
}

/**
 * --layer-decay d: every trainable weight's lr factor d^(L − 1 − layer) from timm's grouping of the
 * weights' names (ONNX initializer names for onnx: students; --layer-groups, else the first preset
 * that fits), keyed by variable name; null without --layer-decay.
 */
function layerDecayOf(config: TrainConfig, vars: readonly tf.Variable[], userName: ReadonlyMap<string, string>): { lrScale: Map<string, number>; note: string } | null {
  if (config.layerDecay === undefined) {
    if (config.layerGroups !== undefined) throw new UsageError(`${optionName('layerGroups')} needs ${optionName('layerDecay')}`);
    return null;
  }
  const names = vars.map((v) => userName.get(v.name)!);
  const { name, matcher } = resolveLayerGroups(config.layerGroups, names);
  const { scale, layers } = layerScales(names, config.layerDecay, matcher);
  const lrScale = new Map(vars.map((v) => [v.name, scale.get(userName.get(v.name)!)!]));
  const lowest = Math.min(...scale.values());
  return { lrScale, note: `layer decay ${config.layerDecay} over ${layers} layers (${name}): lr × ${lowest.toPrecision(3)} at the first, × 1 at the last (the head)` };
}

/** The schedule of a run (src/student/schedule.ts); validated by checkSchedule before training. */
export function scheduleOf(config: TrainConfig): ScheduleConfig {
  return {
    kind: config.schedule,
    lr: config.lr,
    milestones: config.milestones,
    gamma: config.gamma,
    epochs: config.epochs,
    warmupEpochs: config.warmup,
  };
}

/** The learning rate of global step `step` (0-based), a pure function of the config: nothing to save for resume. */
export function learningRate(config: TrainConfig, step: number, stepsPerEpoch: number): number {
  return lrAt(step, stepsPerEpoch, scheduleOf(config));
}
