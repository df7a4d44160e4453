import { tf } from '../tf.js';

/**
 * Gradient clipping by the global L2 norm, as torch.nn.utils.clip_grad_norm_(params, max_norm)
 * (PyTorch 1.13–2.x, norm_type 2) computes it over the parameters that have a gradient:
 *   n = ‖(‖g_1‖₂, …, ‖g_k‖₂)‖₂,   c = min(max_norm / (n + 1e-6), 1),   g_i ← c·g_i
 * PyTorch multiplies by c also when it is 1 (a no-op), so the gradients are unchanged below the
 * threshold. Everything stays on the device (no read-back). Returns new tensors: call it inside a
 * tidy that keeps what it needs; `grads` itself is not disposed.
 */
export function clipGradNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; totalNorm: tf.Scalar } {
  if (!(maxNorm > 0 && Number.isFinite(maxNorm))) throw new Error(`clip: the maximum norm must be a finite number > 0, got ${maxNorm}`);
  const names = Object.keys(grads);
  if (!names.length) return { grads: {}, totalNorm: tf.scalar(0) };
  const totalNorm = tf.norm(tf.stack(names.map((n) => tf.norm(grads[n])))) as tf.Scalar;
  const coef = tf.minimum(tf.div(tf.scalar(maxNorm), tf.add(totalNorm, tf.scalar(1e-6))), tf.scalar(1));
  return { grads: Object.fromEntries(names.map((n) => [n, tf.mul(grads[n], coef)])), totalNorm };
}
