import { tf } from '../tf.js';
import { checkShapes, crossEntropy, klReduced, mix } from './kl.js';
import type { LossFn } from './types.js';
import { virtualTeacher } from './virtual-teacher.js';

/**
 * `tfkd-reg` — Tf-KD_reg (paper Eq. 8–9), distillation from a hand-designed virtual teacher
 * p^d(k) = a if k = c else (1−a)/(K−1), built here from the labels (`soft` must be null):
 *  - `paper`: (1−α)·H(q,p) + α·τ²·m·(1/B) Σ_b KL(p^d_τ,b ‖ p_τ,b) with p^d_τ = softmax(log p^d/τ)
 *    and a tempered student p_τ = softmax(z/τ), batchmean KL.
 *    τ² IS applied, although Eq. 9 has none: with the student tempered, the KL gradient w.r.t. z is
 *    (p_τ − p^d_τ)/τ ≈ (z − log p^d − const)/(K·τ²) for large τ, so at the paper's τ ≥ 20 the
 *    regulariser would be ~400× weaker than the CE term it is meant to balance. τ² restores the
 *    scale exactly as for KD (Hinton et al.; PAPER.md "standard practice"), so `paper` mode means
 *    "the equations + standard τ² + batchmean KL" for every loss.
 *    `multiplier` m: the paper has none, default 1.
 *  - `official` (`loss_kd_regularization` in my_loss_function.py):
 *    (1−α)·CE + α·m·KL(softmax(p^d/τ) ‖ softmax(z))_sum/(B·K): a softmax over *probabilities*,
 *    the student NOT tempered, no τ², 'mean' reduction (÷K).
 */
export const tfkdRegLoss: LossFn = (logits, labels, soft, opts) =>
  tf.tidy(() => {
    if (soft) throw new Error('tfkd-reg: builds its virtual teacher from the labels; pass soft = null');
    checkShapes('tfkd-reg', logits, labels, null, opts.numClasses);
    const { alpha, temperature: t, multiplier, fidelity } = opts;
    const teacher = virtualTeacher(labels, opts.numClasses, opts.correctProb, t, fidelity);
    const ce = crossEntropy(logits, labels);
    if (fidelity === 'official') {
      const kl = klReduced(teacher, tf.logSoftmax(logits) as tf.Tensor2D, 'official');
      return mix(ce, 1 - alpha, kl, alpha * multiplier);
    }
    const kl = klReduced(teacher, tf.logSoftmax(tf.div(logits, t)) as tf.Tensor2D, 'paper');
    return mix(ce, 1 - alpha, kl, alpha * t * t * multiplier);
  });
