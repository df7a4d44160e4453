import { tf } from '../tf.js';
import { checkShapes, labelCrossEntropy } from './kl.js';
import { ceWeight, temperature, weight } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * ‖x_r‖₂ of each row, with PyTorch's gradient: x_r/‖x_r‖, and 0 for a zero row (torch's norm
 * backward masks norm = 0). tfjs' own gives 0/0 = NaN there — a row centred to zero, as every
 * per-class column of a one-sample batch is, poisoned the whole step.
 */
const rowNorm = tf.customGrad((...args: unknown[]) => {
  const x = args[0] as tf.Tensor2D;
  const save = args[1] as tf.GradSaveFunc;
  const n = tf.sqrt(tf.sum(tf.square(x), 1));
  save([x, n]);
  return {
    value: n,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ns] = saved;
      const positive = tf.greater(ns, 0);
      const scale = tf.where(positive, tf.div(dy, tf.where(positive, ns, tf.onesLike(ns))), tf.zerosLike(ns));
      return tf.mul(xs, tf.expandDims(scale, 1));
    },
  };
}) as (x: tf.Tensor2D) => tf.Tensor1D;

/**
 * Mean over rows of 1 − Pearson(a_r, b_r), the correlation taken along each row:
 * cos(a − ā, b − b̄) = ⟨·,·⟩ / (‖·‖‖·‖ + 1e-8), as `dist_kd.py::pearson_correlation` (ε added to the
 * product of the norms, not inside them).
 */
function relation(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const ac = tf.sub(a, tf.mean(a, 1, true)) as tf.Tensor2D;
    const bc = tf.sub(b, tf.mean(b, 1, true)) as tf.Tensor2D;
    const dot = tf.sum(tf.mul(ac, bc), 1);
    const norms = tf.mul(rowNorm(ac), rowNorm(bc));
    return tf.sub(1, tf.mean(tf.div(dot, tf.add(norms, 1e-8)))) as tf.Scalar;
  });
}

/**
 * `dist` — DIST, "Knowledge Distillation from A Stronger Teacher" (Huang et al., NeurIPS 2022), as
 * hunto/image_classification_sota `lib/models/losses/dist_kd.py::DIST` (commit
 * 6f7a70a1dd57fd88413d83909d3d53243068f701) computes it, y = softmax(z/τ):
 *   inter = τ²·(1 − (1/B) Σ_b ρ(y^s_b, y^t_b))        ρ: Pearson correlation across the K classes
 *   intra = τ²·(1 − (1/K) Σ_k ρ(y^s_{:,k}, y^t_{:,k}))  across the *batch*, per class
 *   loss = w_ce·H(q, p) + w_kd·(β·inter + γ·intra)
 * The intra term couples the samples of a batch, so the loss depends on the batch composition (the
 * trainer's seeded order makes it deterministic). Needs whole teacher distributions: a top-k cache's
 * uniformly spread tail would enter every correlation as if it were the teacher's. Defaults: the
 * repository's `configs/strategies/distill/dist_cifar.yaml` (`kd: dist_t4` → β 1, γ 1, τ 4;
 * kd_loss_weight 2, ori_loss_weight 1).
 */
export const dist: LossEntry = {
  name: 'dist',
  summary: 'DIST: w_ce·CE + w_kd·τ²·(β·(1−ρ_inter) + γ·(1−ρ_intra)), Pearson relations',
  formula: 'w_ce·H(q,p) + w_kd·τ²·[β·(1 − mean_b ρ(y^s_b, y^t_b)) + γ·(1 − mean_k ρ(y^s_{:,k}, y^t_{:,k}))], y = softmax(z/τ)',
  source: 'Huang et al. NeurIPS 2022; hunto/image_classification_sota lib/models/losses/dist_kd.py::DIST @ 6f7a70a1dd57fd88413d83909d3d53243068f701',
  teacher: 'whole',
  // The relations compare student and teacher only; the label enters through the CE term.
  mixedTargets: true,
  options: {
    beta: weight('weight β ≥ 0 of the inter-class relation (per sample, across classes)', 1),
    lossGamma: weight('weight γ ≥ 0 of the intra-class relation (per class, across the batch)', 1),
    temperature: temperature(4),
    kdWeight: weight('weight of the DIST term', 2),
    ceWeight: ceWeight(1),
  },
  fn: ({ logits, labels, targets, teacher, options: o }) =>
    tf.tidy(() => {
      if (!teacher) throw new Error('dist: needs the teacher\'s rows (got none)');
      checkShapes('dist', logits, labels, null, o.numClasses);
      const t = o.temperature!;
      const ys = tf.softmax(tf.div(logits, t)) as tf.Tensor2D;
      const yt = teacher.probs(t);
      const inter = relation(ys, yt);
      const intra = relation(tf.transpose(ys) as tf.Tensor2D, tf.transpose(yt) as tf.Tensor2D);
      const term = tf.add(tf.mul(inter, o.beta!), tf.mul(intra, o.lossGamma!));
      return tf.add(tf.mul(labelCrossEntropy(logits, labels, targets), o.ceWeight!), tf.mul(term, o.kdWeight! * t * t)) as tf.Scalar;
    }),
};
