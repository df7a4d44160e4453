import { tf } from '../tf.js';
import { checkShapes, crossEntropy } from './kl.js';
import type { LossFn } from './types.js';

/**
 * `ce` — the baseline: H(q, p) = −log softmax(z)[y], averaged over the batch.
 * Source: paper Eq. 1 (CE baseline); official `nn.CrossEntropyLoss()` in main.py. Identical in both
 * fidelity modes; no teacher, no hyperparameters.
 */
export const ceLoss: LossFn = (logits, labels, _soft, opts) =>
  tf.tidy(() => {
    checkShapes('ce', logits, labels, null, opts.numClasses);
    return crossEntropy(logits, labels);
  });
