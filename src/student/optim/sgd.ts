import { tf } from '../tf.js';
import { checkLr, lrScaleMap, noDecaySet, Slots } from './base.js';
import type { Optimizer, OptimizerState, SgdConfig } from './types.js';

/**
 * SGD with PyTorch semantics (torch.optim.SGD, 1.x–2.x), per variable w with gradient g:
 *   d_p = g + wd·w
 *   if μ ≠ 0:  buf = d_p on the first step, else buf = μ·buf + (1 − dampening)·d_p
 *              d_p = d_p + μ·buf  (nesterov)   or   d_p = buf
 *   w ← w − lr·d_p              (lr · the variable's lrScale, a param group's lr)
 * This differs from tfjs's MomentumOptimizer (which scales the buffer update by lr), so resumed or
 * compared runs match PyTorch's — the official code uses SGD(μ = 0.9, wd = 5e-4).
 */
export class Sgd implements Optimizer {
  readonly kind = 'sgd' as const;
  private steps = 0;
  private readonly slots: Slots;
  private readonly momentum: number;
  private readonly dampening: number;
  private readonly nesterov: boolean;
  private readonly weightDecay: number;
  private readonly noDecay: ReadonlySet<string>;
  private readonly lrScale: ReadonlyMap<string, number>;

  constructor(variables: readonly tf.Variable[], config: SgdConfig) {
    this.momentum = config.momentum ?? 0;
    this.dampening = config.dampening ?? 0;
    this.nesterov = config.nesterov ?? false;
    this.weightDecay = config.weightDecay ?? 0;
    if (!(this.momentum >= 0)) throw new Error(`sgd: momentum must be ≥ 0, got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new Error(`sgd: weight decay must be ≥ 0, got ${this.weightDecay}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) throw new Error('sgd: Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch)');
    this.slots = new Slots(variables);
    this.noDecay = noDecaySet(variables, config.noDecay, 'sgd');
    this.lrScale = lrScaleMap(variables, config.lrScale, 'sgd');
  }

  get stepCount(): number {
    return this.steps;
  }

  step(grads: tf.NamedTensorMap, lr: number): void {
    checkLr(lr);
    const { momentum: mu, dampening, nesterov } = this;
    for (const w of this.slots.variables) {
      const g = grads[w.name];
      if (!g) continue;
      this.slots.tick(w);
      const wd = this.noDecay.has(w.name) ? 0 : this.weightDecay;
      const lrw = lr * (this.lrScale.get(w.name) ?? 1);
      tf.tidy(() => {
        let d: tf.Tensor = wd !== 0 ? tf.add(g, tf.mul(w, wd)) : g;
        if (mu !== 0) {
          const buf = this.slots.get(w, 'momentum_buffer');
          if (!buf) this.slots.set(w, 'momentum_buffer', d);
          else buf.assign(tf.add(tf.mul(buf, mu), dampening !== 0 ? tf.mul(d, 1 - dampening) : d));
          const b = this.slots.get(w, 'momentum_buffer')!;
          d = nesterov ? tf.add(d, tf.mul(b, mu)) : b;
        }
        w.assign(tf.sub(w, tf.mul(d, lrw)));
      });
    }
    this.steps++;
  }

  getState(): OptimizerState {
    return this.slots.export(this.kind, this.steps);
  }

  setState(state: OptimizerState): void {
    this.slots.import(this.kind, state, ['momentum_buffer']);
    this.steps = state.step;
  }

  dispose(): void {
    this.slots.dispose();
  }
}
