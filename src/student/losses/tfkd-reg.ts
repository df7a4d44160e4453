import { tf } from '../tf.js';
import { checkShapes, klReduced, labelCrossEntropy, mix } from './kl.js';
import { mixingAlpha, temperature } from './option-specs.js';
import type { LossEntry } from './types.js';
import { virtualTeacher } from './virtual-teacher.js';

/**
 * `tfkd-reg` — Tf-KD_reg (paper Eq. 8–9), distillation from a hand-designed virtual teacher
 * p^d(k) = a if k = c else (1−a)/(K−1), built here from the labels:
 *  - `paper`: (1−α)·H(q,p) + α·τ²·m·(1/B) Σ_b KL(p^d_τ,b ‖ p_τ,b) with p^d_τ = softmax(log p^d/τ)
 *    and a tempered student p_τ = softmax(z/τ), batchmean KL.
 *    τ² IS applied, although Eq. 9 has none: with the student tempered, the KL gradient w.r.t. z is
 *    (p_τ − p^d_τ)/τ ≈ (z − log p^d − const)/(K·τ²) for large τ, so at the paper's τ ≥ 20 the
 *    regulariser would be ~400× weaker than the CE term it is meant to balance. τ² restores the
 *    scale exactly as for KD (Hinton et al.; "standard practice"), so `paper` mode means
 *    "the equations + standard τ² + batchmean KL" for every loss.
 *    `multiplier` m: the paper has none, default 1.
 *  - `official` (`loss_kd_regularization` in my_loss_function.py):
 *    (1−α)·CE + α·m·KL(softmax(p^d/τ) ‖ softmax(z))_sum/(B·K): a softmax over *probabilities*,
 *    the student NOT tempered, no τ², 'mean' reduction (÷K).
 * Defaults a 0.99, τ 20, α 0.1: the paper's a and the ImageNet / CIFAR-100 ResNet18 config;
 * multiplier 100 in `official` (the ResNet18 config, ≈ undoing ÷K at K = 100), 1 in `paper`.
 */
export const tfkdReg: LossEntry = {
  name: 'tfkd-reg',
  summary:
    'virtual teacher a / (1−a)/(K−1); paper: (1−α)CE + α·τ²·m·KL(softmax(log p^d/τ)‖p_τ) batchmean · ' +
    'official: (1−α)CE + α·m·KL(softmax(p^d/τ)‖p)/K, student untempered, no τ²',
  formula: 'p^d(k) = a if k = y else (1−a)/(K−1); (1−α)·H(q,p) + α·τ²·m·KL(p^d_τ ‖ p_τ) (paper)',
  source: 'Yuan et al. CVPR 2020 Eq. 8–9; Teacher-free-Knowledge-Distillation my_loss_function.py::loss_kd_regularization',
  teacher: 'none',
  fidelityModes: true,
  mixedTargets: true,
  options: {
    alpha: mixingAlpha('weight α ∈ [0, 1] of the KL term', 0.1),
    temperature: temperature(20),
    multiplier: { help: 'extra factor m > 0 on the KL term', default: { paper: 1, official: 100 }, min: 0, minExclusive: true },
    correctProb: { help: 'the virtual teacher\'s probability a of the true class, in [1/K, 1]', default: 0.99, min: 0, minExclusive: true, max: 1 },
  },
  fn: ({ logits, labels, targets, options: o }) =>
    tf.tidy(() => {
      checkShapes('tfkd-reg', logits, labels, null, o.numClasses);
      const { alpha, temperature: t, multiplier, fidelity } = o as Required<typeof o>;
      const teacher = virtualTeacher(labels, o.numClasses, o.correctProb!, t, fidelity, targets);
      const ce = labelCrossEntropy(logits, labels, targets);
      if (fidelity === 'official') {
        const kl = klReduced(teacher, tf.logSoftmax(logits) as tf.Tensor2D, 'official');
        return mix(ce, 1 - alpha, kl, alpha * multiplier);
      }
      const kl = klReduced(teacher, tf.logSoftmax(tf.div(logits, t)) as tf.Tensor2D, 'paper');
      return mix(ce, 1 - alpha, kl, alpha * t * t * multiplier);
    }),
};
