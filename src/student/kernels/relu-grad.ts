/**
 * The ReLU gradient as one kernel. tfjs-core's gradient for `Relu` is `mul(dy, cast(step(x)))`:
 * three kernels and two full-size intermediates per ReLU per step (Step, Cast, Multiply — ≈ 6 %
 * of a cnn step on wasm, docs/PERFORMANCE.md). `TfkdReluGrad` computes the same product in one
 * pass: out = dy · step(x) with step(x) = 1 for x > 0, NaN for NaN, else 0 (tfjs' definition), so
 * the result is bit-identical to the stock gradient (dy·1 = dy; dy·0 = ±0, NaN for infinite dy).
 *
 * tfkd registers it on cpu and wasm (on wasm in C via the native add-on when its kernels are
 * registered, native/src/pool_eltwise.cc reluGrad, else a JS loop on the heap) and replaces the
 * `Relu` gradient for the whole process; on any other backend, or for a non-float32 ReLU, the
 * replacement runs the stock composition. test/student/kernels/relu-grad.test.ts checks both against the
 * stock gradient bit for bit.
 *
 * Kernel `TfkdReluGrad`: inputs {dy, x} (float32, same shape) → dy·step(x).
 */
import { tf } from '../tf.js';
import { nativeAddonOnHeap } from './native.js';
import { withViews, type BackendLike } from './views.js';

export const RELU_GRAD_KERNEL = 'TfkdReluGrad';

/** How many ReLU-gradient kernel calls ran in C vs JS (tests check the path). */
export const reluGradCalls = { native: 0, js: 0 };

function reluGradKernel(args: { inputs: Record<string, tf.TensorInfo>; backend: unknown }): tf.TensorInfo {
  const { dy, x } = args.inputs;
  if (dy.dtype !== 'float32' || x.dtype !== 'float32') throw new Error(`${RELU_GRAD_KERNEL}: float32 only`);
  if (dy.shape.length !== x.shape.length || dy.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`${RELU_GRAD_KERNEL}: dy [${dy.shape}] does not match x [${x.shape}]`);
  }
  const [out] = withViews(args.backend as BackendLike, [dy, x], [x.shape], ([g, v], [o], onHeap) => {
    const nat = onHeap ? nativeAddonOnHeap() : null;
    if (nat) return void (reluGradCalls.native++, nat.reluGrad(g, v, o));
    reluGradCalls.js++;
    for (let i = 0; i < o.length; i++) {
      const xi = v[i];
      o[i] = g[i] * (xi > 0 ? 1 : xi === xi ? 0 : xi);
    }
  });
  return out;
}

const BACKENDS = ['cpu', 'wasm'] as const;
let registered = false;

/**
 * Registers `TfkdReluGrad` on cpu and wasm and replaces tfjs-core's `Relu` gradient (once per
 * process). Safe for every backend: without the kernel the stock composition runs.
 * TFKD_RELU_GRAD=stock leaves tfjs' gradient in place (for before/after measurements).
 */
export function registerReluGrad(env: NodeJS.ProcessEnv = process.env): void {
  if (registered || env.TFKD_RELU_GRAD === 'stock') return;
  registered = true;
  for (const backendName of BACKENDS) {
    if (!tf.getKernel(RELU_GRAD_KERNEL, backendName)) {
      tf.registerKernel({ kernelName: RELU_GRAD_KERNEL, backendName, kernelFunc: reluGradKernel as unknown as tf.KernelFunc });
    }
  }
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x] = saved;
      return { x: () => reluGradOf(dy, x) };
    },
  });
}

/**
 * dy·step(x): `TfkdReluGrad` where it is registered on the current backend (float32), else tfjs'
 * own composition — the same bits either way. Also the ReLU part of kernels/conv-bias-act.ts's
 * gradient (there with x = the ReLU's output: the same step but for NaN).
 */
export function reluGradOf<T extends tf.Tensor>(dy: T, x: tf.Tensor): T {
  const b = tf.getBackend();
  const fused = x.dtype === 'float32' && dy.dtype === 'float32' && b !== undefined && tf.getKernel(RELU_GRAD_KERNEL, b) !== undefined;
  if (fused) return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x }, {}) as T;
  return tf.mul(dy, tf.cast(tf.step(x), 'float32')) as T;
}
