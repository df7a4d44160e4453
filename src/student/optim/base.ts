import { tf } from '../tf.js';
import type { OptimizerKind, OptimizerState } from './types.js';

/**
 * Slot bookkeeping shared by the optimizers: per-variable buffers held as non-trainable
 * tf.Variables (unnamed: tfjs variable names are global and must not collide between optimizers),
 * updated in place with assign, exported/imported as Float32Arrays.
 */
export class Slots {
  private readonly map = new Map<string, tf.Variable>();
  private readonly counts = new Map<string, number>();

  constructor(readonly variables: readonly tf.Variable[]) {
    const seen = new Set<string>();
    for (const v of variables) {
      if (seen.has(v.name)) throw new Error(`optimizer: two variables are named "${v.name}"`);
      seen.add(v.name);
    }
  }

  /** Counts one more update of `variable` and returns its new per-variable step t (1, 2, …). */
  tick(variable: tf.Variable): number {
    const t = (this.counts.get(variable.name) ?? 0) + 1;
    this.counts.set(variable.name, t);
    return t;
  }

  get(variable: tf.Variable, slot: string): tf.Variable | undefined {
    return this.map.get(`${variable.name}#${slot}`);
  }

  /** Sets the slot to `value` (creating it on first use); `value` is not disposed. */
  set(variable: tf.Variable, slot: string, value: tf.Tensor): void {
    const key = `${variable.name}#${slot}`;
    const cur = this.map.get(key);
    if (cur) cur.assign(value);
    else this.map.set(key, tf.variable(value, false));
  }

  export(kind: OptimizerKind, step: number): OptimizerState {
    const slots: Record<string, Float32Array> = {};
    for (const [k, v] of this.map) slots[k] = Float32Array.from(v.dataSync() as Float32Array);
    return { kind, step, variableSteps: Object.fromEntries(this.counts), slots };
  }

  /** Replaces every slot with `state`'s, after checking names and sizes against the variables. */
  import(kind: OptimizerKind, state: OptimizerState, allowed: readonly string[]): void {
    if (state.kind !== kind) throw new Error(`optimizer: state is for "${state.kind}", this optimizer is "${kind}"`);
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`optimizer: bad step count ${state.step}`);
    const byName = new Map(this.variables.map((v) => [v.name, v]));
    for (const [name, t] of Object.entries(state.variableSteps ?? {})) {
      if (!byName.has(name)) throw new Error(`optimizer: state counts steps of an unknown variable "${name}"`);
      if (!Number.isInteger(t) || t < 0) throw new Error(`optimizer: bad step count ${t} for "${name}"`);
    }
    const next = new Map<string, tf.Variable>();
    try {
      for (const [key, data] of Object.entries(state.slots)) {
        const i = key.lastIndexOf('#');
        const v = byName.get(key.slice(0, i));
        if (i < 0 || !v || !allowed.includes(key.slice(i + 1))) throw new Error(`optimizer: state has an unknown slot "${key}"`);
        if (data.length !== v.size) throw new Error(`optimizer: slot "${key}" has ${data.length} values, variable has ${v.size}`);
        next.set(key, tf.variable(tf.tensor(data, v.shape, 'float32'), false));
      }
    } catch (e) {
      for (const t of next.values()) t.dispose();
      throw e;
    }
    this.dispose();
    for (const [k, t] of next) this.map.set(k, t);
    for (const [name, t] of Object.entries(state.variableSteps ?? {})) this.counts.set(name, t);
  }

  dispose(): void {
    for (const t of this.map.values()) t.dispose();
    this.map.clear();
    this.counts.clear();
  }
}

export function checkLr(lr: number): void {
  if (!(lr >= 0 && Number.isFinite(lr))) throw new Error(`optimizer: learning rate must be a finite number ≥ 0, got ${lr}`);
}

/** The `noDecay` names of an optimizer config, each checked to name one of its variables. */
export function noDecaySet(variables: readonly tf.Variable[], names: readonly string[] | undefined, kind: string): ReadonlySet<string> {
  const known = new Set(variables.map((v) => v.name));
  for (const n of names ?? []) if (!known.has(n)) throw new Error(`${kind}: noDecay names "${n}", which is not one of its variables`);
  return new Set(names ?? []);
}

/** The `lrScale` of an optimizer config, each name one of its variables and each factor finite and ≥ 0. */
export function lrScaleMap(variables: readonly tf.Variable[], scales: ReadonlyMap<string, number> | undefined, kind: string): ReadonlyMap<string, number> {
  const known = new Set(variables.map((v) => v.name));
  for (const [n, x] of scales ?? []) {
    if (!known.has(n)) throw new Error(`${kind}: lrScale names "${n}", which is not one of its variables`);
    if (!(x >= 0 && Number.isFinite(x))) throw new Error(`${kind}: lrScale of "${n}" must be a finite number ≥ 0, got ${x}`);
  }
  return scales ?? new Map();
}
