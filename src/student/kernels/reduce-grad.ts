/**
 * The gradients of `Sum` and `Mean` without a tensor of ones. tfjs-core's are
 *   Sum:  dx = reshape(dy, kept) · ones(x.shape)
 *   Mean: dx = reshape(dy, kept) · ones(x.shape) / n
 * and `ones` fills a JS array of x's size and uploads it at every call: in a Swin or ViT step
 * (LayerNorm's two means, softmax's sum) that array, its upload and the full-size product were
 * ≈ 10 % of the step on wasm (docs/PERFORMANCE.md, "Reductions' gradients"). Here
 *   Sum:  dx = broadcastTo(reshape(dy, kept), x.shape)
 *   Mean: dx = broadcastTo(reshape(dy, kept) / n, x.shape)
 * which are the same numbers bit for bit: dy · 1 = dy (also for ±0, NaN, ±Inf), and (dy · 1) / n
 * = dy / n, the division done once per kept element instead of once per element of x.
 *
 * tfkd replaces the two gradients for the whole process at backend selection, as it does for
 * ReLU's (relu-grad.ts); TFKD_REDUCE_GRAD=stock keeps tfjs' (before/after measurements).
 * test/student/kernels/reduce-grad.test.ts checks them against the stock ones bit for bit.
 */
import { tf } from '../tf.js';

let registered = false;

/** x's shape with the reduced axes set to 1 (tfjs' own axis parsing: none given = all, [] = none), and the reduced size n. */
function kept(x: tf.Tensor, axis: unknown): { shape: number[]; n: number } {
  const shape = x.shape.slice();
  let n = 1;
  for (const a of tf.util.parseAxisParam(axis as number | number[], x.shape)) {
    n *= shape[a];
    shape[a] = 1;
  }
  return { shape, n };
}

/** Replaces tfjs-core's Sum and Mean gradients (once per process). */
export function registerReduceGrads(env: NodeJS.ProcessEnv = process.env): void {
  if (registered || env.TFKD_REDUCE_GRAD === 'stock') return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x] = saved;
      const k = tf.reshape(dy, kept(x, attrs.axis).shape);
      return { x: () => (k.dtype === 'float32' ? tf.broadcastTo(k, x.shape) : tf.mul(k, tf.ones(x.shape, 'float32'))) };
    },
  });
  tf.registerGradient({
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x] = saved;
      const { shape, n } = kept(x, attrs.axis);
      return {
        x: () => {
          const k = tf.reshape(dy, shape);
          return k.dtype === 'float32' ? tf.broadcastTo(tf.div(k, n), x.shape) : tf.div(tf.mul(k, tf.ones(x.shape, 'float32')), n);
        },
      };
    },
  });
}
