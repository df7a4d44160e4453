import { tf } from '../tf.js';
import { checkShapes, labelTargets, paperSmoothing, smoothLabels, softCrossEntropy } from './kl.js';
import type { LossEntry } from './types.js';

/**
 * `lsr` — label smoothing regularisation (ε = `epsilon`), cross-entropy against smoothed labels:
 *  - `paper` (Eq. 3, Szegedy et al.): q' = (1−ε) q + ε u, u = 1/K, so the target class gets
 *    1 − ε + ε/K and every other class ε/K. Loss H(q', p) averaged over the batch.
 *    Eq. 3 writes it as (1−ε) H(q,p) + ε D_KL(u, p); that differs from H(q', p) only by the
 *    constant ε·H(u) = ε·log K (D_KL(u,p) = H(u,p) − H(u)), so gradients are identical; we report
 *    the cross-entropy form, as PyTorch's `label_smoothing` does.
 *  - `official` (`loss_label_smoothing` in my_loss_function.py): the target class gets 1 − ε and
 *    the K − 1 *other* classes ε/(K−1) each; loss −Σ log_softmax(z)·q' / B. The official code
 *    hard-codes ε = 0.1.
 */
export const lsr: LossEntry = {
  name: 'lsr',
  summary: 'label smoothing; paper: q\' = (1−ε)q + ε/K · official: target 1−ε, others ε/(K−1)',
  formula: "H(q', p), paper q' = (1−ε)q + ε/K; official q'_y = 1−ε, q'_k = ε/(K−1) for k ≠ y",
  source: 'Yuan et al. CVPR 2020 Eq. 3; Teacher-free-Knowledge-Distillation my_loss_function.py::loss_label_smoothing',
  teacher: 'none',
  fidelityModes: true,
  // Smoothing is affine in q, so smoothing the mixed label is timm's mixup_target with smoothing.
  mixedTargets: true,
  options: { epsilon: { help: 'smoothing ε ∈ [0, 1)', default: 0.1, min: 0, max: 1, maxExclusive: true } },
  fn: ({ logits, labels, targets, options }) =>
    tf.tidy(() => {
      checkShapes('lsr', logits, labels, null, options.numClasses);
      const k = options.numClasses;
      const eps = options.epsilon!;
      const [onTarget, offTarget] = options.fidelity === 'official' ? [1 - eps, eps / (k - 1)] : paperSmoothing(eps, k);
      return softCrossEntropy(logits, smoothLabels(labelTargets(labels, targets, k), onTarget, offTarget));
    }),
};
