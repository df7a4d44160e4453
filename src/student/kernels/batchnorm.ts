/**
 * Fused BatchNorm for training: one kernel forward (batch statistics + normalisation), one kernel
 * backward (the closed-form gradient), on the cpu and wasm backends, registered together with the
 * gradient that ties them.
 *
 * Why: tfjs-layers' BatchNormalization in training mode is `moments` + `batchNorm` composed of
 * ~10 forward ops, and autodiff through them is ~25 small broadcast ops per BN layer (Sum,
 * Multiply, Mean, Sub, Tile, …) — ≈ 30 % of a resnet8 training step on wasm — and the gradient
 * tape keeps every one of those intermediates (the RSS gap to PyTorch). Here the tape keeps only
 * x and γ (inputs) and the per-channel mean and variance (outputs); x̂ is recomputed in backward.
 *
 * Math (Ioffe & Szegedy 2015, §3; the same as PyTorch's `batch_norm_backward`), x viewed as
 * [M, C] with C the last (channel) axis and M = N·H·W:
 *   μ = Σx / M,  σ² = Σ(x − μ)² / M (biased, as tfjs' `moments`),  s = 1/√(σ² + ε),
 *   x̂ = (x − μ)·s,  y = γ·x̂ + β;
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = (γ·s / M)·(M·dy − Σdy − x̂·Σ(dy·x̂)).
 * Per-channel sums are accumulated in float64 (shifted by a value near the mean, so no
 * cancellation in σ² = E[(x−K)²] − (E[x−K])²), the
 * outputs rounded once to float32; tfjs' own path accumulates in float32, so the two agree to
 * float32 rounding (test/student/kernels/batchnorm.test.ts prints the max difference).
 *
 * On wasm with tfkd's native kernels registered (native.ts), the same two passes run in C
 * (native/src/batchnorm.cc bnTrain/bnTrainGrad: same float64 arithmetic and order, the
 * element-wise passes and sums split across threads from 1 M elements); the JS loops below are the
 * fallback and the cpu backend's path. test/student/kernels/native.test.ts compares the two.
 *
 * Kernel `TfkdBatchNormTrain`: inputs {x, gamma, beta}, attrs {epsilon} → [y, mean, variance].
 * Kernel `TfkdBatchNormTrainGrad`: inputs {dy, x, mean, variance, gamma}, attrs {epsilon} →
 * [dx, dgamma, dbeta]. The gradient treats `mean` and `variance` as not differentiated: they
 * only feed the moving statistics (a variable write), never the loss.
 */
import { tf } from '../tf.js';
import { nativeAddonOnHeap } from './native.js';
import { withViews, type BackendLike } from './views.js';

export const BN_TRAIN_KERNEL = 'TfkdBatchNormTrain';
const BN_TRAIN_GRAD_KERNEL = 'TfkdBatchNormTrainGrad';

/** The backends the fused kernels are registered for. */
const BN_BACKENDS = ['cpu', 'wasm'] as const;

type TensorInfo = tf.TensorInfo;

function check(kernel: string, x: TensorInfo, ...perChannel: TensorInfo[]): number {
  for (const t of [x, ...perChannel]) {
    if (t.dtype !== 'float32') throw new Error(`${kernel}: float32 only, got ${t.dtype}`);
  }
  const C = x.shape[x.shape.length - 1];
  for (const t of perChannel) {
    if (t.shape.length !== 1 || t.shape[0] !== C) throw new Error(`${kernel}: expected per-channel [${C}], got [${t.shape}]`);
  }
  return C;
}

/*
 * The loops below are shaped for V8 (measured on 128×32×32×16, see docs/PERFORMANCE.md):
 * both the per-channel sums and the element-wise passes run over blocks of 4 channels with
 * accumulators / coefficients in locals (registers) rather than Float64Arrays indexed per
 * element — up to 2× faster at C = 16, never slower at 32/64.
 */

/**
 * Per-channel Σ(a − shift) and Σ(a − shift)·(b − shift2) over a, b viewed as [M, C], float64
 * (b = a for the sum of squares). Shifting by a value near the mean (the first row for x, μ for
 * the backward sums) keeps the float64 sums free of cancellation.
 */
function sums(
  a: Float32Array,
  aShift: Float64Array,
  b: Float32Array,
  bShift: Float64Array,
  M: number,
  C: number,
): { s: Float64Array; p: Float64Array } {
  const s = new Float64Array(C);
  const p = new Float64Array(C);
  const n = M * C;
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const k0 = aShift[c], k1 = aShift[c + 1], k2 = aShift[c + 2], k3 = aShift[c + 3];
    const m0 = bShift[c], m1 = bShift[c + 1], m2 = bShift[c + 2], m3 = bShift[c + 3];
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, p0 = 0, p1 = 0, p2 = 0, p3 = 0;
    for (let i = c; i < n; i += C) {
      const a0 = a[i] - k0, a1 = a[i + 1] - k1, a2 = a[i + 2] - k2, a3 = a[i + 3] - k3;
      s0 += a0; s1 += a1; s2 += a2; s3 += a3;
      p0 += a0 * (b[i] - m0); p1 += a1 * (b[i + 1] - m1); p2 += a2 * (b[i + 2] - m2); p3 += a3 * (b[i + 3] - m3);
    }
    s[c] = s0; s[c + 1] = s1; s[c + 2] = s2; s[c + 3] = s3;
    p[c] = p0; p[c + 1] = p1; p[c + 2] = p2; p[c + 3] = p3;
  }
  for (; c < C; c++) {
    const k = aShift[c], m = bShift[c];
    let s0 = 0, p0 = 0;
    for (let i = c; i < n; i += C) {
      const a0 = a[i] - k;
      s0 += a0;
      p0 += a0 * (b[i] - m);
    }
    s[c] = s0;
    p[c] = p0;
  }
  return { s, p };
}

/**
 * out = u·a + v·b + w with u, v, w per channel, over a, b viewed as [M, C] (b = null: v·b
 * omitted). Blocks of 4 channels with the coefficients in locals.
 */
function affine(a: Float32Array, u: Float64Array, b: Float32Array | null, v: Float64Array, w: Float64Array, out: Float32Array, M: number, C: number): void {
  const n = M * C;
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const u0 = u[c], u1 = u[c + 1], u2 = u[c + 2], u3 = u[c + 3];
    const w0 = w[c], w1 = w[c + 1], w2 = w[c + 2], w3 = w[c + 3];
    if (b === null) {
      for (let i = c; i < n; i += C) {
        out[i] = u0 * a[i] + w0;
        out[i + 1] = u1 * a[i + 1] + w1;
        out[i + 2] = u2 * a[i + 2] + w2;
        out[i + 3] = u3 * a[i + 3] + w3;
      }
    } else {
      const v0 = v[c], v1 = v[c + 1], v2 = v[c + 2], v3 = v[c + 3];
      for (let i = c; i < n; i += C) {
        out[i] = u0 * a[i] + v0 * b[i] + w0;
        out[i + 1] = u1 * a[i + 1] + v1 * b[i + 1] + w1;
        out[i + 2] = u2 * a[i + 2] + v2 * b[i + 2] + w2;
        out[i + 3] = u3 * a[i + 3] + v3 * b[i + 3] + w3;
      }
    }
  }
  for (; c < C; c++) {
    const u0 = u[c], v0 = v[c], w0 = w[c];
    if (b === null) for (let i = c; i < n; i += C) out[i] = u0 * a[i] + w0;
    else for (let i = c; i < n; i += C) out[i] = u0 * a[i] + v0 * b[i] + w0;
  }
}

/** Per-channel mean and biased variance of x viewed as [M, C], float64, one pass (shifted sums). */
function stats(x: Float32Array, M: number, C: number): { mean: Float64Array; variance: Float64Array } {
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) shift[c] = x[c];
  const { s, p } = sums(x, shift, x, shift, M, C);
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const d = s[c] / M; // mean − shift
    mean[c] = shift[c] + d;
    variance[c] = Math.max(0, p[c] / M - d * d);
  }
  return { mean, variance };
}

function batchNormTrainKernel(args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: Record<string, unknown> }): TensorInfo[] {
  const { x, gamma, beta } = args.inputs;
  const eps = Number(args.attrs?.epsilon);
  const C = check(BN_TRAIN_KERNEL, x, gamma, beta);
  const M = x.shape.reduce((a, d) => a * d, 1) / C;
  if (M < 1) throw new Error(`${BN_TRAIN_KERNEL}: empty batch`);
  return withViews(args.backend as BackendLike, [x, gamma, beta], [x.shape, [C], [C]], ([xv, g, b], [y, meanOut, varOut], onHeap) => {
    // wasm with tfkd's native kernels: the same arithmetic in C (native/src/batchnorm.cc, bnTrain).
    const nat = onHeap ? nativeAddonOnHeap() : null;
    if (nat) return void (bnKernelCalls.native++, nat.bnTrain(xv, g, b, y, meanOut, varOut, Int32Array.from([M, C]), eps));
    bnKernelCalls.js++;
    const { mean, variance } = stats(xv, M, C);
    // y = x·scale + shift with scale = γ·s, shift = β − μ·scale, both float64.
    const scale = new Float64Array(C);
    const shift = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      scale[c] = g[c] / Math.sqrt(variance[c] + eps);
      shift[c] = b[c] - mean[c] * scale[c];
      meanOut[c] = mean[c];
      varOut[c] = variance[c];
    }
    affine(xv, scale, null, scale, shift, y, M, C);
  });
}

function batchNormTrainGradKernel(args: { inputs: Record<string, TensorInfo>; backend: unknown; attrs?: Record<string, unknown> }): TensorInfo[] {
  const { dy, x, mean, variance, gamma } = args.inputs;
  const eps = Number(args.attrs?.epsilon);
  const C = check(BN_TRAIN_GRAD_KERNEL, x, mean, variance, gamma);
  if (dy.shape.length !== x.shape.length || dy.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`${BN_TRAIN_GRAD_KERNEL}: dy [${dy.shape}] does not match x [${x.shape}]`);
  }
  const M = x.shape.reduce((a, d) => a * d, 1) / C;
  return withViews(args.backend as BackendLike, [dy, x, mean, variance, gamma], [x.shape, [C], [C]], ([dyv, xv, mu, v, g], [dx, dg, db], onHeap) => {
    const nat = onHeap ? nativeAddonOnHeap() : null;
    if (nat) return void (bnKernelCalls.native++, nat.bnTrainGrad(dyv, xv, mu, v, g, dx, dg, db, Int32Array.from([M, C]), eps));
    bnKernelCalls.js++;
    const m = Float64Array.from(mu);
    // s = Σ dy, p = Σ dy·(x − μ)
    const { s: sdy, p: sdyxc } = sums(dyv, new Float64Array(C), xv, m, M, C);
    // dx = k·dy + q·x + r per channel: k = γ·s, q = −k·s·dγ/M, r = −k·Σdy/M − q·μ.
    const k = new Float64Array(C);
    const q = new Float64Array(C);
    const r = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const s = 1 / Math.sqrt(v[c] + eps);
      const dgamma = sdyxc[c] * s; // Σ dy·x̂
      dg[c] = dgamma;
      db[c] = sdy[c];
      k[c] = g[c] * s;
      q[c] = (-k[c] * s * dgamma) / M;
      r[c] = (-k[c] * sdy[c]) / M - q[c] * m[c];
    }
    affine(dyv, k, xv, q, r, dx, M, C);
  });
}

/** How many BN kernel calls ran in C (the native addon) vs the JS loops: tests check the path. */
export const bnKernelCalls = { native: 0, js: 0 };

let registered = false;

/** Registers both kernels on cpu and wasm and the gradient of the forward one (once per process). */
function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of BN_BACKENDS) {
    if (!tf.getKernel(BN_TRAIN_KERNEL, backendName)) {
      tf.registerKernel({ kernelName: BN_TRAIN_KERNEL, backendName, kernelFunc: batchNormTrainKernel as unknown as tf.KernelFunc });
    }
    if (!tf.getKernel(BN_TRAIN_GRAD_KERNEL, backendName)) {
      tf.registerKernel({ kernelName: BN_TRAIN_GRAD_KERNEL, backendName, kernelFunc: batchNormTrainGradKernel as unknown as tf.KernelFunc });
    }
  }
  tf.registerGradient({
    kernelName: BN_TRAIN_KERNEL,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [false, true, true],
    gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x, gamma, mean, variance] = saved;
      // One backward kernel yields all three gradients; the engine asks for each input separately.
      const [dx, dgamma, dbeta] = tf.engine().runKernel(BN_TRAIN_GRAD_KERNEL, { dy, x, mean, variance, gamma }, attrs) as tf.Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  });
}

/** True when the fused kernels run on the current backend (else callers use tfjs' composed path). */
export function fusedBatchNormAvailable(): boolean {
  registerBatchNormKernels();
  const b = tf.getBackend();
  return b !== undefined && tf.getKernel(BN_TRAIN_KERNEL, b) !== undefined && tf.getKernel(BN_TRAIN_GRAD_KERNEL, b) !== undefined;
}

/**
 * Training-mode BatchNorm over every axis but the last: [y, batch mean, biased batch variance].
 * Differentiable in x, γ and β (one backward kernel); the statistics are not differentiated.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  registerBatchNormKernels();
  const out = tf.engine().runKernel(BN_TRAIN_KERNEL, { x, gamma, beta }, { epsilon }) as tf.Tensor[];
  return [out[0], out[1] as tf.Tensor1D, out[2] as tf.Tensor1D];
}
