import { tf } from '../tf.js';
import { checkShapes, detach, labelCrossEntropy, labelTargets } from './kl.js';
import { ceWeight, temperature, weight } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * `wsld` — weighted soft labels (Zhou et al., "Rethinking Soft Labels for Knowledge Distillation: A
 * Bias-Variance Tradeoff Perspective", ICLR 2021), as yzd-v/cls_KD
 * `mmcls/models/dis_losses/wsld.py::WSLDLoss` (commit e21ad377df0665bc94c64eb55d5e6f99187fb767)
 * computes it, with the distiller's CE (weight 1) added:
 *   soft_b = −Σ_k softmax(z_t/τ)_k · log softmax(z/τ)_k
 *   w_b    = 1 − exp(−max(CE_s,b / (CE_t,b + 1e-7), 0)),  CE_s = −log softmax(z)[y] (detached), CE_t likewise for z_t
 *   loss   = w_ce·H(q, p) + α·τ²·(1/B) Σ_b w_b·soft_b
 * CE_t is read as the teacher's log-probability at τ = 1, computed in log space. Defaults: the
 * repository's CIFAR-100 config (temp 4, alpha 2.25).
 */
export const wsld: LossEntry = {
  name: 'wsld',
  summary: 'weighted soft labels: w_ce·CE + α·τ²·mean_b (1−e^{−CE_s/CE_t})·H(p^t_τ, p_τ) (cls_KD)',
  formula: 'w_ce·H(q,p) + α·τ²·mean_b w_b·H(p^t_τ,b, p_τ,b), w_b = 1 − exp(−max(CE_s,b / (CE_t,b + 1e-7), 0))',
  source: 'Zhou et al. ICLR 2021; yzd-v/cls_KD mmcls/models/dis_losses/wsld.py::WSLDLoss @ e21ad377df0665bc94c64eb55d5e6f99187fb767',
  teacher: 'probs',
  // CE_s and CE_t are cross-entropies with the label: with a mixed label, H(q_mix, ·) — the same form.
  mixedTargets: true,
  options: {
    temperature: temperature(4),
    alpha: weight('weight α ≥ 0 of the weighted soft-label term', 2.25),
    ceWeight: ceWeight(1),
  },
  fn: ({ logits, labels, targets, teacher, options: o }) =>
    tf.tidy(() => {
      if (!teacher) throw new Error('wsld: needs the teacher\'s rows (got none)');
      checkShapes('wsld', logits, labels, null, o.numClasses);
      const t = o.temperature!;
      const gt = labelTargets(labels, targets, o.numClasses);
      const soft = tf.neg(tf.sum(tf.mul(teacher.probs(t), tf.logSoftmax(tf.div(logits, t))), 1));
      const ceS = tf.neg(tf.sum(tf.mul(tf.logSoftmax(detach(logits)), gt), 1));
      const ceT = tf.neg(tf.sum(tf.mul(teacher.logProbs(1), gt), 1));
      const w = tf.sub(1, tf.exp(tf.neg(tf.relu(tf.div(ceS, tf.add(ceT, 1e-7))))));
      const term = tf.mul(tf.mean(tf.mul(w, soft)), o.alpha! * t * t);
      return tf.add(tf.mul(labelCrossEntropy(logits, labels, targets), o.ceWeight!), term) as tf.Scalar;
    }),
};
