/**
 * An exponential moving average of a model's weights, as timm's ModelEmaV3 keeps one
 * (timm/utils/model_ema.py; train.py calls `model_ema.update(model, step=num_updates)` after every
 * optimizer step, num_updates counting from 1):
 *
 *   decay_t = 0                                        at t = 1 (the average starts as the weights)
 *           = d                                        t > 1, no warm-up
 *           = min(1 − (1 + (t − 1))^(−2/3), d)          t > 1, warm-up (get_decay: gamma 1, power 2/3)
 *   ema ← lerp(ema, w, 1 − decay_t)
 *
 * over every weight the model holds — trainable weights and BatchNorm running statistics alike
 * (ModelEmaV3 interpolates the whole state_dict). torch.lerp(e, w, λ) is e + λ·(w − e) for λ < 0.5
 * and w − (w − e)·(1 − λ) otherwise, λ rounded to float32 first; the same here, so the first
 * update (λ = 1) copies the weights exactly.
 */
import { tf } from './tf.js';
import { namedWeights, recordProblems, type WeightRecord } from './zoo/index.js';

export interface EmaConfig {
  /** d ∈ (0, 1): the average's decay per step. */
  decay: number;
  /** timm's --model-ema-warmup: decay_t rises from 0 towards d as 1 − t^(−2/3). */
  warmup: boolean;
}

/** decay_t of update `step` (1, 2, …): ModelEmaV3.get_decay(step) with update_after_step 0. */
export function emaDecayAt(step: number, c: EmaConfig): number {
  const s = Math.max(0, step - 1);
  if (s <= 0) return 0;
  if (!c.warmup) return c.decay;
  return Math.max(Math.min(1 - (1 + s) ** (-2 / 3), c.decay), 0);
}

type LayerVar = tf.LayersModel['weights'][number];

export class WeightEma {
  private readonly pairs: Array<{ key: string; live: LayerVar; ema: tf.Variable }>;

  /** Starts as a copy of the model's current weights (timm: deepcopy(model)). */
  constructor(
    model: tf.LayersModel,
    readonly config: EmaConfig,
  ) {
    if (!(config.decay > 0 && config.decay < 1)) throw new Error(`ema: decay must be in (0, 1), got ${config.decay}`);
    this.pairs = namedWeights(model).map(([key, live]) => ({ key, live, ema: tf.variable(live.read(), false) }));
  }

  /** One update after optimizer step `step` (1, 2, …; the run's global step count). */
  update(step: number): void {
    const lambda = Math.fround(1 - emaDecayAt(step, this.config));
    const rest = Math.fround(1 - lambda);
    tf.tidy(() => {
      for (const { live, ema } of this.pairs) {
        const w = live.read();
        const d = tf.sub(w, ema);
        ema.assign(lambda < 0.5 ? tf.add(ema, tf.mul(d, lambda)) : tf.sub(w, tf.mul(d, rest)));
      }
    });
  }

  /** The average as a weight record (the names of saveWeights), for checkpoints; read asynchronously (webgpu has no sync read in Node). */
  async record(): Promise<WeightRecord> {
    const rec: WeightRecord = {};
    for (const { key, ema } of this.pairs) rec[key] = { dtype: 'F32', shape: [...ema.shape], data: Float32Array.from((await ema.data()) as Float32Array) };
    return rec;
  }

  /** Replaces the average with a checkpoint's (resume); every weight must be there, with its shape (loadWeights' check). */
  load(rec: WeightRecord): void {
    const problems = recordProblems(this.pairs.map(({ key, ema }) => [key, ema] as const), rec);
    if (problems.length) throw new Error(`ema: the stored average does not match the model (${problems.slice(0, 3).join(', ')})`);
    for (const { key, ema } of this.pairs) tf.tidy(() => ema.assign(tf.tensor(rec[key].data, ema.shape, 'float32')));
  }

  /**
   * Runs `fn` with the average in the model's weights, then puts the trained weights back (the
   * per-epoch evaluation of the average uses the model's own forward pass).
   */
  async withAverage<T>(fn: () => Promise<T>): Promise<T> {
    const saved = this.pairs.map(({ live }) => tf.clone(live.read()));
    try {
      for (const { live, ema } of this.pairs) live.write(ema);
      return await fn();
    } finally {
      this.pairs.forEach(({ live }, i) => live.write(saved[i]));
      tf.dispose(saved);
    }
  }

  dispose(): void {
    for (const { ema } of this.pairs) ema.dispose();
  }
}
