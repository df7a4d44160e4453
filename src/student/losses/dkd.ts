import { tf } from '../tf.js';
import { checkShapes, crossEntropy, klRows, oneHotFloat } from './kl.js';
import { ceWeight, temperature, weight } from './option-specs.js';
import { standardizeLogits } from './standardize.js';
import type { LossEntry, LossOptionSpec } from './types.js';

const warmup: LossOptionSpec = { help: 'epochs of the linear warm-up min(epoch / E, 1) of the DKD term (epochs count from 1)', default: 20, min: 0, minExclusive: true };

/**
 * `dkd` — decoupled knowledge distillation (Zhao et al., CVPR 2022), as
 * megvii-research/mdistiller `mdistiller/distillers/DKD.py::dkd_loss` (commit
 * e8c5bb331e78c9d79a8894ca233caae78531cf7f) computes it, p_τ = softmax(z/τ), y the label:
 *   TCKD = τ²/B · Σ_b KL([p^t_τ(y), 1 − p^t_τ(y)] ‖ [p_τ(y), 1 − p_τ(y)])   (binary target/other split;
 *          both masses summed from the probabilities, as the code's `cat_mask` does, then log)
 *   NCKD = τ²/B · Σ_b KL(softmax(z_t/τ − 1000·1_y) ‖ softmax(z/τ − 1000·1_y))   (the other classes)
 *   loss = w_ce·H(q, p) + min(epoch / E, 1) · (α·TCKD + β·NCKD)
 * `F.kl_div(..., size_average=False)` is the sum over batch and classes; "/ target.shape[0]" the
 * batch mean. The teacher enters through its tempered log-probabilities (z_t/τ up to a row
 * constant, which every softmax ignores): exact for full caches and their ensembles (log space),
 * while a top-k cache at τ ≠ 1 gives the log of float32 probabilities, which collapses NCKD for a
 * teacher confident beyond float32's range (docs/LOSSES.md). Defaults: mdistiller's CIFAR-100 DKD config
 * (α 1, β 8, τ 4, CE weight 1, warm-up 20). With --logit-standardization (logit-standardization-KD
 * `DKD.py` @ f6e5aa5, README preset `--base-temp 2 --kd-weight 9`): τ 2, α 9, β 72, both logits
 * z-scored (standardize.ts) before the softmax.
 */
export const dkd: LossEntry = {
  name: 'dkd',
  summary: 'decoupled KD: w_ce·CE + min(epoch/E,1)·(α·TCKD + β·NCKD) (mdistiller)',
  formula:
    'w_ce·H(q,p) + min(epoch/E, 1)·(α·τ²·KL(b^t ‖ b^s) + β·τ²·KL(p̂^t_τ ‖ p̂^s_τ)), b = [p_τ(y), 1 − p_τ(y)], ' +
    'p̂ = p_τ renormalised over the classes k ≠ y; batch mean',
  source: 'Zhao et al. CVPR 2022; megvii-research/mdistiller mdistiller/distillers/DKD.py::dkd_loss @ e8c5bb331e78c9d79a8894ca233caae78531cf7f',
  teacher: 'probs',
  mixedTargets: 'DKD splits the distributions at the one target class, and a mixed label has two',
  options: {
    alpha: weight('weight α ≥ 0 of TCKD (target vs the rest)', 1),
    beta: weight('weight β ≥ 0 of NCKD (among the other classes)', 8),
    temperature: temperature(4),
    ceWeight: ceWeight(1),
    kdWarmup: warmup,
  },
  standardized: {
    alpha: weight('weight α ≥ 0 of TCKD (target vs the rest)', 9),
    beta: weight('weight β ≥ 0 of NCKD (among the other classes)', 72),
    temperature: temperature(2),
    ceWeight: ceWeight(1),
    kdWarmup: warmup,
  },
  fn: ({ logits, labels, teacher, epoch, options: o }) =>
    tf.tidy(() => {
      if (!teacher) throw new Error('dkd: needs the teacher\'s rows (got none)');
      checkShapes('dkd', logits, labels, null, o.numClasses);
      const t = o.temperature!;
      const gt = oneHotFloat(labels, o.numClasses);
      const other = tf.sub(1, gt);
      const zs = o.logitStandardization ? standardizeLogits(logits) : logits;
      // The teacher as log-probabilities (z_t/τ up to a row constant): NCKD's softmax(z_t/τ − 1000·1_y)
      // is then computed as the code does, well defined even when the teacher's other probabilities
      // underflow (a confident teacher), where renormalising probabilities would give 0/0.
      const logPt = o.logitStandardization ? (tf.logSoftmax(tf.div(standardizeLogits(teacher.logits()), t)) as tf.Tensor2D) : teacher.logProbs(t);
      const pt = tf.exp(logPt) as tf.Tensor2D;
      const ps = tf.softmax(tf.div(zs, t)) as tf.Tensor2D;
      // TCKD: the binary (target, rest) distributions, each mass summed from the probabilities.
      const bin = (p: tf.Tensor2D) => tf.concat([tf.sum(tf.mul(p, gt), 1, true), tf.sum(tf.mul(p, other), 1, true)], 1) as tf.Tensor2D;
      const bt = bin(pt);
      const tckd = tf.mean(klRows(bt, tf.log(bin(ps)) as tf.Tensor2D));
      // NCKD: the teacher renormalised over the other classes; the student's log-softmax with the
      // target pushed down by 1000, as the code does (its gradient there is e^{−1000}: 0).
      const ntTeacher = tf.softmax(tf.sub(logPt, tf.mul(gt, 1000))) as tf.Tensor2D;
      const ntStudent = tf.logSoftmax(tf.sub(tf.div(zs, t), tf.mul(gt, 1000))) as tf.Tensor2D;
      const nckd = tf.mean(klRows(ntTeacher, ntStudent));
      const warm = Math.min(epoch / o.kdWarmup!, 1);
      const dkdTerm = tf.mul(tf.add(tf.mul(tckd, o.alpha!), tf.mul(nckd, o.beta!)), warm * t * t);
      return tf.add(tf.mul(crossEntropy(logits, labels), o.ceWeight!), dkdTerm) as tf.Scalar;
    }),
};
