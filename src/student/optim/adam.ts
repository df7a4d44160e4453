import { tf } from '../tf.js';
import { checkLr, lrScaleMap, noDecaySet, Slots } from './base.js';
import type { AdamConfig, Optimizer, OptimizerState } from './types.js';

/**
 * Adam / AdamW with PyTorch semantics (torch.optim.Adam / AdamW, amsgrad off); t = 1, 2, … counts the
 * updates of each variable (PyTorch's per-parameter `step`):
 *   adam:  g ← g + wd·w                    adamw: w ← w·(1 − lr·wd)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²      (m, v start at 0)
 *   w ← w − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
 * Note ε is added after the bias correction of √v, as PyTorch does (tfjs's AdamOptimizer differs).
 * The bias corrections are computed in double, as PyTorch does on the CPU. lr is the step's lr times
 * the variable's lrScale (a param group's lr), in the update and in AdamW's decay alike.
 */
export class Adam implements Optimizer {
  readonly kind: 'adam' | 'adamw';
  private steps = 0;
  private readonly slots: Slots;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly noDecay: ReadonlySet<string>;
  private readonly lrScale: ReadonlyMap<string, number>;

  constructor(variables: readonly tf.Variable[], config: AdamConfig) {
    this.kind = config.kind;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.epsilon = config.epsilon ?? 1e-8;
    this.weightDecay = config.weightDecay ?? (config.kind === 'adamw' ? 0.01 : 0);
    for (const [n, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`${this.kind}: ${n} must be in [0, 1), got ${b}`);
    }
    if (!(this.epsilon >= 0)) throw new Error(`${this.kind}: epsilon must be ≥ 0, got ${this.epsilon}`);
    if (!(this.weightDecay >= 0)) throw new Error(`${this.kind}: weight decay must be ≥ 0, got ${this.weightDecay}`);
    this.slots = new Slots(variables);
    this.noDecay = noDecaySet(variables, config.noDecay, this.kind);
    this.lrScale = lrScaleMap(variables, config.lrScale, this.kind);
  }

  get stepCount(): number {
    return this.steps;
  }

  step(grads: tf.NamedTensorMap, lr: number): void {
    checkLr(lr);
    const { beta1: b1, beta2: b2, epsilon: eps } = this;
    for (const w of this.slots.variables) {
      const g0 = grads[w.name];
      if (!g0) continue;
      const wd = this.noDecay.has(w.name) ? 0 : this.weightDecay;
      const t = this.slots.tick(w);
      const lrw = lr * (this.lrScale.get(w.name) ?? 1);
      const stepSize = lrw / (1 - b1 ** t);
      const bc2Sqrt = Math.sqrt(1 - b2 ** t);
      tf.tidy(() => {
        let g: tf.Tensor = g0;
        if (wd !== 0) {
          if (this.kind === 'adamw') w.assign(tf.mul(w, 1 - lrw * wd));
          else g = tf.add(g, tf.mul(w, wd));
        }
        const m0 = this.slots.get(w, 'exp_avg');
        const v0 = this.slots.get(w, 'exp_avg_sq');
        const m = m0 ? tf.add(tf.mul(m0, b1), tf.mul(g, 1 - b1)) : tf.mul(g, 1 - b1);
        const v = v0 ? tf.add(tf.mul(v0, b2), tf.mul(tf.square(g), 1 - b2)) : tf.mul(tf.square(g), 1 - b2);
        this.slots.set(w, 'exp_avg', m);
        this.slots.set(w, 'exp_avg_sq', v);
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        w.assign(tf.sub(w, tf.mul(tf.div(m, denom), stepSize)));
      });
    }
    this.steps++;
  }

  getState(): OptimizerState {
    return this.slots.export(this.kind, this.steps);
  }

  setState(state: OptimizerState): void {
    this.slots.import(this.kind, state, ['exp_avg', 'exp_avg_sq']);
    this.steps = state.step;
  }

  dispose(): void {
    this.slots.dispose();
  }
}
