/**
 * Bit-identical re-runs on webgpu: tfjs-backend-webgpu's matrix product picks, by shape, a "split-K"
 * program that sums partial products into its output with float atomics (a compare-and-swap loop),
 * in whatever order the GPU's threads get there — so the same step twice on the same adapter can
 * differ in the last bits (measured on Mesa 25 lavapipe: `cnn` at batch 4, whose 9216 → 128 dense
 * layer takes that path; 2e-7 relative after one step). It is chosen only when the output needs few
 * workgroups, batch = 1 and the shared dimension is ≥ 2000 (BatchMatMul_impl.ts, tfjs 4.22).
 * tfkd wraps the kernels that reach it — BatchMatMul, _FusedMatMul, and Conv2D / FusedConv2D, which
 * run 1×1 convolutions and those whose filter covers the whole input as a product — and, for exactly
 * those shapes, asks for the program tfjs takes for other few-workgroup products (small output tiles,
 * no atomics) through its own flag, WEBGPU_MATMUL_PROGRAM_TYPE, for that one call. Everything else
 * is unchanged.
 * Pinned to the tfjs version in use (package.json): the rule mirrors its selection code.
 */
import { tf } from './tf.js';

// tfjs-backend-webgpu's MatMulProgramType (webgpu_util.ts).
const SMALL_OUTPUT_SIZE = 2;
const FLAG = 'WEBGPU_MATMUL_PROGRAM_TYPE';

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  attrs: Record<string, unknown>;
  backend: { thresholdToIncreaseWorkgroups?: number };
}

/** The product a kernel call runs: (a shape, b shape, transposeA, transposeB), or null when it runs none. */
type ProductOf = (args: KernelArgs) => [number[], number[], boolean, boolean] | null;

const matMul: ProductOf = ({ inputs, attrs }) => [[...inputs.a.shape], [...inputs.b.shape], Boolean(attrs.transposeA), Boolean(attrs.transposeB)];

/** Conv2D_impl.ts's conv2dByMatMul: the convolutions it runs as a product, and that product's shapes. */
const conv: ProductOf = ({ inputs, attrs }) => {
  const x = inputs.x.shape as [number, number, number, number];
  const f = inputs.filter.shape as [number, number, number, number];
  const format = tf.backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC');
  const ci = tf.backend_util.computeConv2DInfo(
    x,
    f,
    attrs.strides as [number, number],
    attrs.dilations as [number, number],
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
    false,
    format,
  );
  const last = ci.dataFormat === 'channelsLast';
  const same = last && ci.filterHeight === ci.inHeight && ci.filterWidth === ci.inWidth && ci.padInfo.type === 'VALID';
  const pointwise =
    ci.filterHeight === 1 && ci.filterWidth === 1 && ci.dilationHeight === 1 && ci.dilationWidth === 1 && ci.strideHeight === 1 && ci.strideWidth === 1 && (ci.padInfo.type === 'SAME' || ci.padInfo.type === 'VALID');
  if (same) {
    const k = ci.inHeight * ci.inWidth * ci.inChannels;
    return [[1, ci.batchSize, k], [1, k, ci.outChannels], false, false];
  }
  if (!pointwise) return null;
  const hw = ci.inHeight * ci.inWidth;
  return last ? [[ci.batchSize, hw, ci.inChannels], [1, ci.inChannels, ci.outChannels], false, false] : [[1, ci.inChannels, ci.outChannels], [ci.batchSize, ci.inChannels, hw], true, false];
};

const KERNELS: ReadonlyArray<[string, ProductOf]> = [
  ['BatchMatMul', matMul],
  ['_FusedMatMul', matMul],
  ['Conv2D', conv],
  ['FusedConv2D', conv],
];

/** Whether tfjs-backend-webgpu 4.22 would run this product with its split-K (atomic) program. */
export function usesSplitK(a: readonly number[], b: readonly number[], transposeA: boolean, transposeB: boolean, threshold: number, flagThreshold = -1): boolean {
  const ra = a.length;
  const rb = b.length;
  const inner = transposeB ? b[rb - 1] : b[rb - 2];
  const outerA = transposeA ? a[ra - 1] : a[ra - 2];
  const outerB = transposeB ? b[rb - 2] : b[rb - 1];
  const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
  const batch = Math.max(size(a.slice(0, -2)), size(b.slice(0, -2)));
  const t = flagThreshold > 0 ? flagThreshold : threshold;
  const wg = batch * Math.ceil(outerA / 32) * Math.ceil(outerB / 32);
  const few = wg <= t || (outerA <= 8 && wg <= t * 2);
  return few && batch * outerA * outerB > 128 && batch === 1 && inner >= 2000;
}

let wrapped = false;

/** Wraps the webgpu kernels that run matrix products, once per process (after the backend is registered). */
export function deterministicWebgpuMatMul(): void {
  if (wrapped) return;
  wrapped = true;
  for (const [name, productOf] of KERNELS) {
    const k = tf.getKernel(name, 'webgpu');
    if (!k) continue;
    const inner = k.kernelFunc;
    const kernelFunc = ((args: KernelArgs) => {
      const env = tf.env();
      const p = env.getNumber(FLAG) < 0 ? productOf(args) : null;
      const split = p !== null && usesSplitK(p[0], p[1], p[2], p[3], args.backend.thresholdToIncreaseWorkgroups ?? 8, env.getNumber('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL'));
      if (!split) return inner(args as unknown as Parameters<tf.KernelFunc>[0]);
      env.set(FLAG, SMALL_OUTPUT_SIZE);
      try {
        return inner(args as unknown as Parameters<tf.KernelFunc>[0]);
      } finally {
        env.set(FLAG, -1);
      }
    }) as unknown as tf.KernelFunc;
    tf.unregisterKernel(name, 'webgpu');
    tf.registerKernel({ ...k, kernelFunc });
  }
}
