import { tf } from '../tf.js';
import { checkShapes, crossEntropy, oneHotFloat } from './kl.js';
import { ceWeight, temperature, weight } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * Removes the target class from a row's softmax without gathering ragged rows: the target logit is
 * pushed down by 1e9, so e^{x − max} there is exactly 0 in float32 (as in the code's boolean mask)
 * and the log-softmax of the others is the log-softmax over K − 1 classes.
 */
export const DROP = 1e9;

/**
 * `nkd` — normalized KD (Yang et al., "From Knowledge Distillation to Self-Knowledge Distillation",
 * ICCV 2023), as yzd-v/cls_KD `mmcls/models/dis_losses/nkd.py::NKDLoss` at commit
 * 9466b3f3d8e06a1021d722bf3f4a7ebee99e3aed (which fixed the non-target mask: the earlier
 * e21ad377 kept every class) computes it, with the distiller's CE (weight 1) added:
 *   L_t   = −(1/B) Σ_b T_b(y) · log S_b(y)          T = softmax(z_t), S = softmax(z)   (τ = 1)
 *   L_non = −γ·τ²·(1/B) Σ_b Σ_{k≠y} T̂_b(k) · log Ŝ_b(k)   T̂, Ŝ: softmax(·/τ) over the K − 1 other classes
 *   loss  = w_ce·H(q, p) + L_t + L_non
 * T(y) is a constant (detached). Defaults: the repository's CIFAR-100 config
 * (configs/distillers/cifar100/res34_distill_res18_cifar.py: temp 3, gamma 3.5).
 */
export const nkd: LossEntry = {
  name: 'nkd',
  summary: 'normalized KD: w_ce·CE − T(y)·log S(y) − γ·τ²·Σ_{k≠y} T̂ log Ŝ (cls_KD)',
  formula: 'w_ce·H(q,p) − mean_b T(y)·log S(y) − γ·τ²·mean_b Σ_{k≠y} T̂_τ(k)·log Ŝ_τ(k), T̂/Ŝ softmax over the non-target classes',
  source: 'Yang et al. ICCV 2023; yzd-v/cls_KD mmcls/models/dis_losses/nkd.py::NKDLoss @ 9466b3f3d8e06a1021d722bf3f4a7ebee99e3aed',
  teacher: 'probs',
  mixedTargets: 'NKD normalises the non-target classes around the one target class, and a mixed label has two',
  options: {
    temperature: temperature(3, 'temperature τ of the non-target distributions'),
    lossGamma: weight('weight γ ≥ 0 of the non-target term', 3.5),
    ceWeight: ceWeight(1),
  },
  fn: ({ logits, labels, teacher, options: o }) =>
    tf.tidy(() => {
      if (!teacher) throw new Error('nkd: needs the teacher\'s rows (got none)');
      checkShapes('nkd', logits, labels, null, o.numClasses);
      const t = o.temperature!;
      const gt = oneHotFloat(labels, o.numClasses);
      const logS = tf.logSoftmax(logits);
      const tTarget = tf.sum(tf.mul(teacher.probs(1), gt), 1);
      const lossT = tf.neg(tf.mean(tf.mul(tTarget, tf.sum(tf.mul(logS, gt), 1))));
      // T̂ as the code computes it, a softmax over the other classes' logits — from the teacher's
      // log-probabilities (equal to z_t/τ up to a row constant), not by renormalising probabilities:
      // a confident teacher's other probabilities underflow to 0, its logits do not.
      const tHat = tf.softmax(tf.sub(teacher.logProbs(t), tf.mul(gt, DROP)));
      const logSHat = tf.logSoftmax(tf.sub(tf.div(logits, t), tf.mul(gt, DROP)));
      // T̂ is 0 at the target, so the target's (very negative, finite) log Ŝ contributes 0.
      const lossNon = tf.mul(tf.mean(tf.sum(tf.mul(tHat, logSHat), 1)), -o.lossGamma! * t * t);
      return tf.add(tf.add(tf.mul(crossEntropy(logits, labels), o.ceWeight!), lossT), lossNon) as tf.Scalar;
    }),
};
