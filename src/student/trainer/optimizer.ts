/**
 * The trainer's view of the optimizer and the learning-rate schedule (adapter over
 * src/student/optim and src/student/schedule.ts): apply one step's gradients at a given lr, and
 * get/set the state a checkpoint stores.
 */
import { WorkError } from '../../errors.js';
import { createOptimizer, type Optimizer, type OptimizerState } from '../optim/index.js';
import { lrAt, type ScheduleConfig } from '../schedule.js';
import type { tf } from '../tf.js';
import type { StoredOptimizerState } from './checkpoint.js';
import type { TrainConfig } from './config.js';

export interface TrainOptimizer {
  /** The variables it updates (the model's trainable weights), for tf.variableGrads. */
  readonly vars: tf.Variable[];
  /** Updates the variables from `grads` (keyed by variable name) at learning rate `lr`. */
  apply(grads: tf.NamedTensorMap, lr: number): void;
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
  for (const layer of model.layers) {
    for (const w of layer.trainableWeights) {
      const v = w.read() as tf.Variable;
      vars.push(v);
      toStable.set(v.name, `${layer.name}/${w.originalName.slice(w.originalName.lastIndexOf('/') + 1)}`);
    }
  }
  const toLocal = new Map([...toStable].map(([a, b]) => [b, a]));
  const opt: Optimizer =
    config.optimizer === 'adam'
      ? createOptimizer(vars, { kind: 'adam', weightDecay: config.weightDecay })
      : createOptimizer(vars, { kind: 'sgd', momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay });
  const rename = (key: string, map: Map<string, string>): string => {
    const i = key.lastIndexOf('#');
    const base = i < 0 ? key : key.slice(0, i);
    const to = map.get(base);
    if (to === undefined) throw new WorkError(`optimizer state names an unknown variable "${base}"`);
    return i < 0 ? to : `${to}${key.slice(i)}`;
  };
  return {
    vars,
    apply: (grads, lr) => opt.step(grads, lr),
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
