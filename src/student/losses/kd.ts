import { tf } from '../tf.js';
import { checkShapes, klReduced, klRows, labelCrossEntropy, mix } from './kl.js';
import { ceWeight, mixingAlpha, temperature, weight } from './option-specs.js';
import { standardizeLogits } from './standardize.js';
import type { LossContext, LossEntry } from './types.js';

/**
 * The distillation core shared by `kd` and `tfkd-self`:
 *   (1−α)·H(q, p) + α·τ²·m·KL(p^t_τ ‖ p_τ),  p_τ = softmax(z/τ), p^t_τ = the teacher's tempered probabilities
 * with KL reduced per `klReduced` (paper: batchmean; official: mean over B·K = batchmean / K).
 *
 * With --logit-standardization (kd only), mdistiller's KD form on z-scored logits, as
 * sunshangquan/logit-standardization-KD `mdistiller/distillers/KD.py::kd_loss` (commit
 * f6e5aa5172bad618e801163c3385322eea673754) computes it:
 *   w_ce·H(q, p) + w_kd·τ²·(1/B) Σ_b KL(softmax(Z(z_t)/τ) ‖ softmax(Z(z)/τ)),  Z = standardizeLogits;
 * the CE term stays on the raw logits.
 */
export function distill(name: string, ctx: LossContext, multiplier: number): tf.Scalar {
  return tf.tidy(() => {
    const { logits, labels, targets, teacher, options: o } = ctx;
    if (!teacher) throw new Error(`${name}: needs the teacher's rows (got none)`);
    checkShapes(name, logits, labels, null, o.numClasses);
    // --distill-token: the KL term on the distillation head (DeiT's soft distillation), CE on the class head.
    const student = ctx.distLogits ?? logits;
    if (ctx.distLogits) checkShapes(name, ctx.distLogits, labels, null, o.numClasses);
    const t = o.temperature!;
    const ce = labelCrossEntropy(logits, labels, targets);
    if (o.logitStandardization) {
      const target = tf.softmax(tf.div(standardizeLogits(teacher.logits()), t)) as tf.Tensor2D;
      const kl = tf.mean(klRows(target, tf.logSoftmax(tf.div(standardizeLogits(student), t)) as tf.Tensor2D)) as tf.Scalar;
      return mix(ce, o.ceWeight!, kl, o.kdWeight! * t * t);
    }
    const soft = teacher.probs(t);
    checkShapes(name, logits, labels, soft, o.numClasses);
    const kl = klReduced(soft, tf.logSoftmax(tf.div(student, t)) as tf.Tensor2D, o.fidelity);
    return mix(ce, 1 - o.alpha!, kl, o.alpha! * t * t * multiplier);
  });
}

/**
 * `kd` — knowledge distillation (Hinton et al. 2015), also Re-KD and De-KD (same loss, other teacher):
 *  - `paper` (Eq. 4 + standard τ², docs/PAPER.md): (1−α)·H(q,p) + α·τ²·(1/B) Σ_b KL(p^t_τ,b ‖ p_τ,b).
 *    Eq. 4 has no τ²; we apply it as the code and Hinton et al. do (the author: "necessary"), since
 *    the KL gradient scales as 1/τ² and τ² keeps the soft term's weight independent of τ.
 *  - `official` (`loss_kd` in my_loss_function.py): (1−α)·CE + α·τ²·KL_sum/(B·K), because
 *    `nn.KLDivLoss()` defaults to reduction 'mean' over all B·K elements (issue #41).
 *  - with --distill-token (a DeiT-distilled ONNX student): the KL term on the distillation token's
 *    head, CE on the class token's — DeiT's soft distillation (facebookresearch/deit
 *    losses.py::DistillationLoss 'soft', base criterion without smoothing); its reduction, KL summed
 *    · τ² / numel, is `official`'s.
 *  - with --logit-standardization: see `distill` (the defaults become that repository's README preset
 *    `--base-temp 2 --kd-weight 9`, applied as its tools/train.py does: τ 2, KD weight 9, CE weight
 *    mdistiller's KD default 0.1).
 * Defaults α 0.95, τ 20: the official MobileNetV2 ← ResNet18 config behind the paper's "normal KD" column.
 */
export const kd: LossEntry = {
  name: 'kd',
  summary: '(1−α)CE + α·τ²·KL(p^t_τ‖p_τ); paper: batchmean KL · official: KL/K (\'mean\' reduction)',
  formula:
    '(1−α)·H(q,p) + α·τ²·KL(p^t_τ ‖ p_τ); KL per sample averaged over the batch (paper) or over B·K elements (official). ' +
    'With --logit-standardization: w_ce·H(q,p) + w_kd·τ²·KL(softmax(Z(z_t)/τ) ‖ softmax(Z(z)/τ)), Z = z-score per row',
  source:
    'Hinton et al. 2015; Yuan et al. CVPR 2020 Eq. 4, Teacher-free-Knowledge-Distillation my_loss_function.py::loss_kd; ' +
    'logit standardization: Sun et al. CVPR 2024, sunshangquan/logit-standardization-KD mdistiller/distillers/KD.py::kd_loss @ f6e5aa5',
  teacher: 'probs',
  fidelityModes: true,
  mixedTargets: true,
  distillationToken: true,
  options: {
    alpha: mixingAlpha('weight α ∈ [0, 1] of the KL term; 1 − α weighs the CE', 0.95),
    temperature: temperature(20),
  },
  standardized: {
    temperature: temperature(2),
    ceWeight: ceWeight(0.1),
    kdWeight: weight('weight of τ²·KL on standardized logits', 9),
  },
  fn: (ctx) => distill('kd', ctx, 1),
};
