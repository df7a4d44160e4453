import { tf } from '../tf.js';
import { checkShapes, labelTargets, oneHotFloat, paperSmoothing, smoothLabels, softCrossEntropy } from './kl.js';
import { mixingAlpha } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * `hard-kd` — DeiT's hard-label distillation (Touvron et al., "Training data-efficient image
 * transformers & distillation through attention", ICML 2021, Eq. 3), as facebookresearch/deit
 * `losses.py::DistillationLoss` computes it with distillation_type 'hard' and its default base
 * criterion, timm's LabelSmoothingCrossEntropy (smoothing = --smoothing, 0.1), on one head:
 *   y_t  = argmax_k z_t,k                          (the teacher's decision; first index on a tie)
 *   loss = (1−α)·H(q', p) + α·CE(p, y_t),  q' = (1−ε)·q + ε/K
 * DeiT's defaults: α = 0.5 (--distillation-alpha), ε = 0.1. With mixed views q is the mixed label,
 * which is timm's mixup_target with label smoothing, and the teacher's decision is on the mixed
 * image (its multi-view cache row). DeiT applies the second term to a separate distillation token:
 * with --distill-token (a DeiT-distilled ONNX student) it does, on that token's head p_d,
 *   loss = (1−α)·H(q', p) + α·CE(p_d, y_t)
 * as DistillationLoss does with the model's (outputs, outputs_kd); a one-head student takes both
 * terms on its logits (DeiT's "hard distillation" without the token).
 * y_t comes from log softmax(z_t) (the order of the logits, without a float32 softmax's ties); an
 * ensemble decides by its mean probability.
 */
export const hardKd: LossEntry = {
  name: 'hard-kd',
  summary: "DeiT's hard-label distillation: (1−α)·H(q', p) + α·CE(p, argmax z_t), q' smoothed by ε (--distill-token: the second term on the distillation head)",
  formula: "(1−α)·H((1−ε)q + ε/K, p) + α·CE(p, argmax_k z_t,k); with --distill-token the second term on the distillation token's head p_d",
  source: 'Touvron et al. ICML 2021 Eq. 3; facebookresearch/deit losses.py::DistillationLoss (hard) with timm LabelSmoothingCrossEntropy',
  teacher: 'probs',
  mixedTargets: true,
  distillationToken: true,
  options: {
    alpha: mixingAlpha("weight α ∈ [0, 1] of the teacher's decision; 1 − α weighs the (smoothed) labels", 0.5),
    epsilon: { help: 'label smoothing ε ∈ [0, 1) of the base cross-entropy', default: 0.1, min: 0, max: 1, maxExclusive: true },
  },
  fn: ({ logits, distLogits, labels, targets, teacher, options: o }) =>
    tf.tidy(() => {
      if (!teacher) throw new Error("hard-kd: needs the teacher's rows (got none)");
      checkShapes('hard-kd', logits, labels, null, o.numClasses);
      const k = o.numClasses;
      const smoothed = smoothLabels(labelTargets(labels, targets, k), ...paperSmoothing(o.epsilon!, k));
      const decision = oneHotFloat(tf.argMax(teacher.logProbs(1), 1) as tf.Tensor1D, k);
      if (distLogits) checkShapes('hard-kd', distLogits, labels, null, k);
      return tf.add(tf.mul(softCrossEntropy(logits, smoothed), 1 - o.alpha!), tf.mul(softCrossEntropy(distLogits ?? logits, decision), o.alpha!)) as tf.Scalar;
    }),
};
