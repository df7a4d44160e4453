import { tf } from '../tf.js';
import { checkShapes, crossEntropy, klReduced, mix } from './kl.js';
import type { LossFn, LossOptions } from './types.js';

/**
 * The distillation core shared by `kd` and `tfkd-self`:
 *   (1−α)·H(q, p) + α·τ²·m·KL(p^t_τ ‖ p_τ),  p_τ = softmax(z/τ), p^t_τ = `soft` (already tempered)
 * with KL reduced per `klReduced` (paper: batchmean; official: mean over B·K = batchmean / K).
 */
export function distill(name: string, logits: tf.Tensor2D, labels: tf.Tensor1D, soft: tf.Tensor2D | null, opts: LossOptions, multiplier: number): tf.Scalar {
  return tf.tidy(() => {
    if (!soft) throw new Error(`${name}: needs the teacher's soft targets p^t_τ (got null)`);
    checkShapes(name, logits, labels, soft, opts.numClasses);
    const { alpha, temperature: t } = opts;
    const ce = crossEntropy(logits, labels);
    const kl = klReduced(soft, tf.logSoftmax(tf.div(logits, t)) as tf.Tensor2D, opts.fidelity);
    return mix(ce, 1 - alpha, kl, alpha * t * t * multiplier);
  });
}

/**
 * `kd` — knowledge distillation (Hinton et al. 2015), also Re-KD and De-KD (same loss, other teacher):
 *  - `paper` (Eq. 4 + standard τ², PAPER.md): (1−α)·H(q,p) + α·τ²·(1/B) Σ_b KL(p^t_τ,b ‖ p_τ,b).
 *    Eq. 4 has no τ²; we apply it as the code and Hinton et al. do (the author: "necessary"), since
 *    the KL gradient scales as 1/τ² and τ² keeps the soft term's weight independent of τ.
 *  - `official` (`loss_kd` in my_loss_function.py): (1−α)·CE + α·τ²·KL_sum/(B·K), because
 *    `nn.KLDivLoss()` defaults to reduction 'mean' over all B·K elements (issue #41).
 * `multiplier` is NOT applied (the official `loss_kd` has none; use `tfkd-self` for that).
 */
export const kdLoss: LossFn = (logits, labels, soft, opts) => distill('kd', logits, labels, soft, opts, 1);
