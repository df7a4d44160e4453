import { tf } from '../tf.js';
import { checkShapes, labelCrossEntropy } from './kl.js';
import type { LossEntry } from './types.js';

/**
 * `ce` — the baseline: H(q, p) = −log softmax(z)[y], averaged over the batch.
 * Source: paper Eq. 1 (CE baseline); official `nn.CrossEntropyLoss()` in main.py. Identical in both
 * fidelity modes; no teacher, no hyperparameters.
 */
export const ce: LossEntry = {
  name: 'ce',
  summary: 'cross-entropy H(q,p) (baseline)',
  formula: 'H(q, p) = −(1/B) Σ_b log softmax(z_b)[y_b]',
  source: 'Yuan et al. CVPR 2020 Eq. 1; yuanli2333/Teacher-free-Knowledge-Distillation main.py nn.CrossEntropyLoss',
  teacher: 'none',
  options: {},
  mixedTargets: true,
  fn: ({ logits, labels, targets, options }) =>
    tf.tidy(() => {
      checkShapes('ce', logits, labels, null, options.numClasses);
      return labelCrossEntropy(logits, labels, targets);
    }),
};
