/**
 * A training convolution with its bias and ReLU in one forward kernel, for the zoo's Conv2D layers
 * (zoo/conv.ts) on wasm when the native add-on backs it.
 *
 * Why: the lazy-gradient layer runs conv2d, add(bias) and relu as three kernels, so every conv
 * with a bias writes and re-reads its full-size output twice more per step (cnn's two convs: ≈ 7.5 M
 * floats each time, ≈ 20 % of its step, docs/PERFORMANCE.md), and the tape keeps all three
 * outputs. Here the add-on's plain convolution is followed by one in-place pass of bias and ReLU,
 * with a registered gradient that stays lazy per input (unlike `tf.fused.conv2d`'s customGrad,
 * which computes all three). Not the convolution's own epilogue (`FusedConv2D`'s inference path):
 * oneDNN's AVX2 kernels start their sums from the bias, which rounds differently.
 *
 * Same numbers: the convolution is the one `Conv2D` runs, the pass does the native `Add`'s and
 * `Relu`'s arithmetic, which is what the three-kernel path runs at these sizes (outputs below
 * NATIVE_ELEMENTWISE_MIN elements keep the three kernels: wasm's there); checked bit for bit —
 * forward, every gradient, whole training steps — under the CPU's best kernels and the AVX2 ones
 * (test/student/kernels/conv-bias-act.test.ts). The ReLU gradient reads the op's output instead of
 * its input: step(relu(z)) = step(z) for every z but NaN (a diverged step).
 *
 * Kernel `TfkdConv2DBiasAct`: inputs {x, filter, bias?}, FusedConv2D's attrs with activation
 * 'linear' | 'relu' → conv(x, filter) + bias, activated. Registered on wasm by
 * registerNativeKernels (kernels/native.ts, convBiasActNative); the gradient once on import.
 */
import { tf } from '../tf.js';
import { CONV_BIAS_ACT_KERNEL, convBiasActReady, NATIVE_ELEMENTWISE_MIN } from './native.js';
import { reluGradOf } from './relu-grad.js';

interface Attrs {
  strides: [number, number];
  pad: 'valid' | 'same';
  dataFormat: 'NHWC';
  dilations: [number, number];
  activation: 'linear' | 'relu';
}

/** How many training convolutions ran as the one fused kernel (tests check the path). */
export const convBiasActCalls = { fused: 0 };

/**
 * conv2d(x, filter) + bias, then the activation, as one kernel when it can run fused (wasm with the
 * native kernels, NHWC, no dilation, float32, linear or ReLU, ≥ NATIVE_ELEMENTWISE_MIN outputs);
 * null otherwise (the caller runs the three ops). `TFKD_FUSED_CONV=0` always returns null (for before/after measurements).
 */
export function convBiasAct(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor | null,
  strides: [number, number],
  pad: 'valid' | 'same',
  dilations: [number, number],
  activation: string,
): tf.Tensor4D | null {
  if (process.env.TFKD_FUSED_CONV === '0') return null;
  if (!convBiasActReady() || tf.getBackend() !== 'wasm') return null;
  if (activation !== 'linear' && activation !== 'relu') return null;
  if (!bias && activation === 'linear') return null; // nothing to fuse
  if (dilations[0] !== 1 || dilations[1] !== 1) return null;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || (bias && (bias.dtype !== 'float32' || bias.size !== filter.shape[3]))) return null;
  // Small outputs: the three-kernel path runs wasm's Add and Relu there, and fusing saves nothing.
  const info = tf.backend_util.computeConv2DInfo(x.shape, filter.shape, strides, dilations, pad);
  if (info.outShape.reduce((p, v) => p * v, 1) < NATIVE_ELEMENTWISE_MIN) return null;
  const attrs: Attrs = { strides, pad, dataFormat: 'NHWC', dilations, activation };
  convBiasActCalls.fused++;
  const inputs: tf.NamedTensorMap = bias ? { x, filter, bias } : { x, filter };
  return tf.engine().runKernel(CONV_BIAS_ACT_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

// The gradient: conv2d's and add's own (tfjs-core conv2d_grad.ts, add_grad.ts: sum of dy over the
// broadcast axes) applied to dy·step(y), each input's a thunk the tape calls only when needed.
tf.registerGradient({
  kernelName: CONV_BIAS_ACT_KERNEL,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor4D;
    const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as Attrs;
    const g = a.activation === 'relu' ? reluGradOf(dy, y) : dy;
    return {
      x: () => tf.conv2dTranspose(g, filter, x.shape, a.strides, a.pad),
      filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: g }, { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor4D,
      bias: () => tf.sum(g, [0, 1, 2]),
    };
  },
});
