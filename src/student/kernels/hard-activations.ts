/**
 * PyTorch's Hardswish and Hardsigmoid as one kernel each way, for the zoo's mobilenet_v3_small
 * (zoo/mobilenetv3-layers.ts) and the ONNX students' HardSwish / PyTorch-exported HardSigmoid
 * (zoo/onnx-ops/elementwise.ts).
 *
 * Composed of tfjs ops, hardswish (x · relu6(x + 3)) / 6 is four forward kernels (Add, Relu6,
 * Multiply, RealDiv) and about ten backward ones (RealDiv, two Multiply, Relu6's
 * LessEqual + Step + Multiply + Cast + Multiply, the tape's Add), each a full pass over the
 * activation with its own intermediate; wasm's LessEqual alone runs ≈ 6× slower than its Multiply.
 * In a 224² mobilenet_v3_small training step that was ≈ 100 ms CPU of ≈ 330 (docs/PERFORMANCE.md,
 * "mobilenet_v3_small: zoo vs ONNX graph").
 *
 * The kernels compute exactly what that composition computes, operation by operation in float32,
 * so outputs and gradients are bit-identical to the composed ops' (tested):
 *
 *   a = x + 3,  r = min(max(a, 0), 6),  m = 1 if 0 < a ≤ 6 else 0 (NaN for NaN a: tfjs' step);
 *   r of NaN is NaN on cpu, 0 on wasm (XNNPACK's clamp), as each backend's Relu6
 *   hardswish:   y = (x · r) / 6        dx = (dy/6) · r + ((dy/6) · x) · m
 *   hardsigmoid: y = r / 6              dx = (dy/6) · m
 *
 * Kernels `TfkdHardSwish`, `TfkdHardSigmoid` ({x}) and their gradients `…Grad` ({dy, x}), float32:
 * on wasm in C on the heap (the native add-on's hardAct / hardActGrad, native/src/hard_act.cc)
 * while its kernels are registered; on cpu as JS loops (every intermediate rounded with
 * Math.fround; a product or quotient of two float32 values computed in float64 and rounded once is
 * the float32 result). A JS loop on the wasm heap measured ≈ 3× slower than the composed wasm ops,
 * so without the add-on (and on other backends, or with TFKD_HARD_ACT=composed) the callers
 * compose tfjs ops as before.
 */
import { tf } from '../tf.js';
import { nativeAddonOnHeap } from './native.js';
import { registerEltwiseKernels, type EltwiseKernel, type Loop } from './eltwise-kernels.js';

const HARD_SWISH_KERNEL = 'TfkdHardSwish';
const HARD_SIGMOID_KERNEL = 'TfkdHardSigmoid';

const f = Math.fround;

/** relu6(a) as tfjs computes it (NaN passes through). */
const relu6 = (a: number): number => (a <= 0 ? 0 : a >= 6 ? 6 : a);
/** tfjs' Relu6 gradient mask: lessEqual(a, 6) · step(a). */
const mask = (a: number): number => (a > 0 && a <= 6 ? 1 : a === a ? 0 : NaN);

/** How many kernel calls ran in C vs JS (tests check the path). */
export const hardActCalls = { native: 0, js: 0 };

/** One activation (kind 0 hardswish, 1 hardsigmoid: the add-on's `kind`) as a kernel pair. */
function pair(name: string, kind: number, forward: Loop, gradient: Loop): EltwiseKernel {
  return {
    name,
    forward,
    gradient,
    native: () => {
      const nat = nativeAddonOnHeap();
      return nat?.hardAct && nat.hardActGrad ? { forward: ([x], y) => nat.hardAct!(x, y, kind), gradient: ([dy, x], dx) => nat.hardActGrad!(dy, x, dx, kind) } : null;
    },
    calls: hardActCalls,
  };
}

const KERNELS = [
  pair(
    HARD_SWISH_KERNEL,
    0,
    ([x], y) => {
      for (let i = 0; i < y.length; i++) {
        const v = x[i];
        y[i] = f(v * relu6(f(v + 3))) / 6;
      }
    },
    ([dy, x], dx) => {
      for (let i = 0; i < dx.length; i++) {
        const v = x[i];
        const a = f(v + 3);
        const g = f(dy[i] / 6);
        dx[i] = f(g * relu6(a)) + f(f(g * v) * mask(a));
      }
    },
  ),
  pair(
    HARD_SIGMOID_KERNEL,
    1,
    ([x], y) => {
      for (let i = 0; i < y.length; i++) y[i] = relu6(f(x[i] + 3)) / 6;
    },
    ([dy, x], dx) => {
      for (let i = 0; i < dx.length; i++) dx[i] = f(dy[i] / 6) * mask(f(x[i] + 3));
    },
  ),
];

let enabled = process.env.TFKD_HARD_ACT !== 'composed';

/** Turns the one-kernel path on or off for the whole process (default on; for A/B runs and tests). */
export function setFusedHardActivations(on: boolean): void {
  enabled = on;
}

/** `name` applied to x as one kernel, or null where that is not the faster path (the caller composes ops). */
function fused(name: string, x: tf.Tensor): tf.Tensor | null {
  if (!enabled || x.dtype !== 'float32') return null;
  registerEltwiseKernels(KERNELS);
  const b = tf.getBackend();
  if (b !== 'cpu' && !(b === 'wasm' && KERNELS[0].native())) return null;
  return tf.engine().runKernel(name, { x }, {}) as tf.Tensor;
}

export const fusedHardSwish = (x: tf.Tensor): tf.Tensor | null => fused(HARD_SWISH_KERNEL, x);
export const fusedHardSigmoid = (x: tf.Tensor): tf.Tensor | null => fused(HARD_SIGMOID_KERNEL, x);
