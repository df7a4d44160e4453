/**
 * GELU (the erf form: PyTorch's nn.GELU() / F.gelu) as one kernel each way, for the ONNX students'
 * Gelu nodes — opset 20's op, and the Div → Erf → Add → Mul → Mul chain torch.onnx.export writes
 * below opset 20, which the graph reader folds into one (zoo/onnx-graph.ts).
 *
 * Composed of tfjs ops, GELU is five forward kernels and about ten backward ones, Exp among them
 * (wasm's Erf and Exp are scalar: ≈ 5 and 7 ns an element); in a 64×64 ViT step that was ≈ 50 ms of
 * 286 (docs/PERFORMANCE.md, "Transformer students").
 *
 *   y  = (0.5·x) · (1 + erf(x·√½))
 *   dx = dy · (Φ + x·φ),  Φ = 0.5·(1 + erf(x·√½)),  φ = exp(−x²/2)/√(2π)
 *
 * with erf and exp as polynomials (native/src/gelu.cc: TensorFlow's erf approximation, max |error|
 * 4.2e-7; Cephes' expf, 8.1e-8 relative) in float32, vectorised in C on wasm (the native add-on's
 * gelu / geluGrad) and as JS loops on cpu, every operation rounded with Math.fround — the same bits
 * on both (tested). Without the add-on on wasm, on other backends, or with TFKD_GELU=composed, the
 * caller composes tfjs ops (zoo/onnx-ops/elementwise.ts).
 *
 * Kernels `TfkdGelu` ({x}) and `TfkdGeluGrad` ({dy, x}), float32 (kernels/eltwise-kernels.ts).
 */
import { tf } from '../tf.js';
import { nativeAddonOnHeap } from './native.js';
import { registerEltwiseKernels, type EltwiseKernel } from './eltwise-kernels.js';

const GELU_KERNEL = 'TfkdGelu';

const f = Math.fround;
// The float32 constants of native/src/gelu.cc, rounded as C rounds its float literals.
const A = [-2.72614225801306e-10, 2.77068142495902e-8, -2.10102402082508e-6, -5.69250639462346e-5, -7.34990630326855e-4, -2.95459980854025e-3, -1.60960333262415e-2].map(f);
const B = [-1.45660718464996e-5, -2.13374055278905e-4, -1.68282697438203e-3, -7.37332916720468e-3, -1.42647390514189e-2].map(f);
const E = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(f);
const LOG2E = f(1.44269504088896341);
const LN2_HI = f(0.693359375);
const LN2_LO = f(-2.1219444e-4);
const SQRT_HALF = f(0.70710678118654752);
const INV_SQRT_2PI = f(0.39894228040143268);

/** erf_approx of gelu.cc, step by step. */
function erfApprox(a: number): number {
  const lo = a > -4 ? a : -4;
  const x = lo < 4 ? lo : 4;
  const x2 = f(x * x);
  let p = f(f(x2 * A[0]) + A[1]);
  for (let k = 2; k < A.length; k++) p = f(f(x2 * p) + A[k]);
  p = f(x * p);
  let q = f(f(x2 * B[0]) + B[1]);
  for (let k = 2; k < B.length; k++) q = f(f(x2 * q) + B[k]);
  return f(p / q);
}

/** exp_nonpositive of gelu.cc, step by step (2ⁿ exact in float64 for n ≥ −126). */
function expNonpositive(a: number): number {
  const x = a > -87 ? a : -87;
  const t = f(f(x * LOG2E) - 0.5);
  const n = Math.trunc(t);
  const r = f(f(x - f(n * LN2_HI)) - f(n * LN2_LO));
  const z = f(r * r);
  let y = f(f(r * E[0]) + E[1]);
  for (let k = 2; k < E.length; k++) y = f(f(y * r) + E[k]);
  y = f(f(f(y * z) + r) + 1);
  return f(y * 2 ** n);
}

function forwardLoop([x]: Float32Array[], y: Float32Array): void {
  for (let i = 0; i < y.length; i++) {
    const v = x[i];
    y[i] = f(0.5 * v) * f(1 + erfApprox(f(v * SQRT_HALF)));
  }
}

function backwardLoop([dy, x]: Float32Array[], dx: Float32Array): void {
  for (let i = 0; i < dx.length; i++) {
    const v = x[i];
    const cdf = f(0.5 * f(1 + erfApprox(f(v * SQRT_HALF))));
    const pdf = f(expNonpositive(f(f(-0.5 * v) * v)) * INV_SQRT_2PI);
    dx[i] = dy[i] * f(cdf + f(v * pdf));
  }
}

/** How many kernel calls ran in C vs JS (tests check the path). */
export const geluCalls = { native: 0, js: 0 };

const GELU: EltwiseKernel = {
  name: GELU_KERNEL,
  forward: forwardLoop,
  gradient: backwardLoop,
  native: () => {
    const nat = nativeAddonOnHeap();
    return nat?.gelu && nat.geluGrad ? { forward: ([x], y) => nat.gelu!(x, y), gradient: ([dy, x], dx) => nat.geluGrad!(dy, x, dx) } : null;
  },
  calls: geluCalls,
};

let enabled = process.env.TFKD_GELU !== 'composed';

/** Turns the one-kernel path on or off for the whole process (default on; for A/B runs and tests). */
export function setFusedGelu(on: boolean): void {
  enabled = on;
}

/** GELU (erf form) of x as one kernel, or null where that is not the path (the caller composes ops). */
export function fusedGelu(x: tf.Tensor): tf.Tensor | null {
  if (!enabled || x.dtype !== 'float32') return null;
  const b = tf.getBackend();
  if (b !== 'cpu' && !(b === 'wasm' && GELU.native())) return null;
  registerEltwiseKernels([GELU]);
  return tf.engine().runKernel(GELU_KERNEL, { x }, {}) as tf.Tensor;
}
