import { tf } from '../tf.js';

/**
 * Logit standardization (Sun et al., "Logit Standardization in Knowledge Distillation", CVPR 2024):
 *   Z(z) = (z − mean(z)) / (std(z) + 1e-7),  per row,
 * with the *unbiased* standard deviation (PyTorch `Tensor.std` default) and ε = 1e-7 added to the
 * std, not inside the square root — as sunshangquan/logit-standardization-KD
 * `mdistiller/distillers/KD.py::normalize` (commit f6e5aa5172bad618e801163c3385322eea673754).
 * Applied to student and teacher logits before the tempered softmax of `kd` and `dkd`.
 */
export function standardizeLogits(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const k = z.shape[1];
    const mean = tf.mean(z, 1, true);
    const centred = tf.sub(z, mean);
    const variance = tf.div(tf.sum(tf.square(centred), 1, true), k - 1);
    return tf.div(centred, tf.add(tf.sqrt(variance), 1e-7)) as tf.Tensor2D;
  });
}
