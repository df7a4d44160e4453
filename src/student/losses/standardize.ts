import { tf } from '../tf.js';

/**
 * The unbiased standard deviation of each row of a centred x − x̄, keepDims ([n, 1]), with
 * PyTorch's gradient: `std_backward` is (dy / (2·std)).masked_fill_(std == 0, 0) through var's 2(x − x̄)/(K − 1), i.e.
 * dy·(x − x̄)/((K − 1)·std), and 0 for a row whose entries are all equal. tfjs' own sqrt gradient
 * is 1/(2·0) = ∞ there and ∞·0 = NaN: a zero-initialised head (every logit equal) poisoned the step
 * although the authors' code trains through it (a huge but finite gradient, ε = 1e-7 below).
 */
const rowStd = tf.customGrad((...args: unknown[]) => {
  // `centred` is x − x̄ (its mean's backward, outside, projects the gradient as autodiff would).
  const centred = args[0] as tf.Tensor2D;
  const save = args[1] as tf.GradSaveFunc;
  const k = centred.shape[1];
  const std = tf.sqrt(tf.div(tf.sum(tf.square(centred), 1, true), k - 1));
  save([centred, std]);
  return {
    value: std,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [c, s] = saved;
      const positive = tf.greater(s, 0);
      // grad_var = dy / (2·std), masked as torch masks it; then (grad_var / (K − 1))·(2(x − x̄)): the
      // float operations in the order tfjs' own gradient of sqrt(sum((x − x̄)²) / (K − 1)) takes, so
      // that every row with std > 0 gets the bits it got before (runs with --logit-standardization
      // reproduce across versions).
      const gradVar = tf.where(positive, tf.div(dy, tf.mul(tf.where(positive, s, tf.onesLike(s)), 2)), tf.zerosLike(s));
      return tf.mul(tf.div(gradVar, k - 1), tf.mul(c, 2));
    },
  };
}) as (centred: tf.Tensor2D) => tf.Tensor2D;

/**
 * Logit standardization (Sun et al., "Logit Standardization in Knowledge Distillation", CVPR 2024):
 *   Z(z) = (z − mean(z)) / (std(z) + 1e-7),  per row,
 * with the *unbiased* standard deviation (PyTorch `Tensor.std` default) and ε = 1e-7 added to the
 * std, not inside the square root — as sunshangquan/logit-standardization-KD
 * `mdistiller/distillers/KD.py::normalize` (commit f6e5aa5172bad618e801163c3385322eea673754).
 * Applied to student and teacher logits before the tempered softmax of `kd` and `dkd`. The std
 * has torch's gradient (rowStd): finite for a row of equal logits, where Z is 0 and its gradient
 * (dy − mean dy)/1e-7.
 */
export function standardizeLogits(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const centred = tf.sub(z, tf.mean(z, 1, true)) as tf.Tensor2D;
    return tf.div(centred, tf.add(rowStd(centred), 1e-7)) as tf.Tensor2D;
  });
}
