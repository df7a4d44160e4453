/** Training accuracy's numerator for one batch, computed on the step's own forward pass (loop.ts). */
import { tf } from '../tf.js';

/**
 * The batch's training hits. Unmixed: rows whose argmax is the label. Mixed: each row's mixed label
 * mass at the predicted class, λ·[pred = a] + (1 − λ)·[pred = b] (CutMix's λ is the pasted area's
 * complement) — the accuracy mixup's authors report (facebookresearch/mixup-cifar10, train.py:
 * `lam * predicted.eq(targets_a) + (1 - lam) * predicted.eq(targets_b)`). Counting the first
 * image's label alone would score a half-and-half mixture as right or wrong by a coin flip.
 */
export function trainingHits(logits: tf.Tensor2D, labels: tf.Tensor1D, mixed: tf.Tensor2D | null): tf.Scalar {
  const pred = tf.argMax(logits, 1);
  if (!mixed) return tf.sum(tf.cast(tf.equal(pred, labels), 'int32'));
  return tf.sum(tf.mul(mixed, tf.oneHot(pred as tf.Tensor1D, logits.shape[1])));
}
