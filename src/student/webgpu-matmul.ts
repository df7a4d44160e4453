/**
 * Bit-identical re-runs on webgpu: tfjs-backend-webgpu's matrix product picks, by shape, a "split-K"
 * program that sums partial products into its output with float atomics (a compare-and-swap loop),
 * in whatever order the GPU's threads get there — so the same step twice on the same adapter can
 * differ in the last bits (measured on Mesa 25 lavapipe: `cnn` at batch 4, whose 9216 → 128 dense
 * layer takes that path; 2e-7 relative after one step). It is chosen only when the output needs few
 * workgroups, batch = 1 and the shared dimension is ≥ 2000 (BatchMatMul_impl.ts, tfjs 4.22).
 * tfkd wraps the two kernels that use it (BatchMatMul, _FusedMatMul) and, for exactly those shapes,
 * asks for the program tfjs takes for other few-workgroup products (small output tiles, no atomics)
 * through its own flag, WEBGPU_MATMUL_PROGRAM_TYPE, for that one call. Everything else is unchanged.
 * Pinned to the tfjs version in use (package.json): the rule mirrors its selection code.
 */
import { tf } from './tf.js';

// tfjs-backend-webgpu's MatMulProgramType (webgpu_util.ts).
const SMALL_OUTPUT_SIZE = 2;
const FLAG = 'WEBGPU_MATMUL_PROGRAM_TYPE';
const KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;

interface MatMulArgs {
  inputs: { a: tf.TensorInfo; b: tf.TensorInfo };
  attrs: { transposeA?: boolean; transposeB?: boolean };
  backend: { thresholdToIncreaseWorkgroups?: number };
}

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

/** Wraps the webgpu matrix-product kernels once per process (after the backend is registered). */
export function deterministicWebgpuMatMul(): void {
  if (wrapped) return;
  wrapped = true;
  for (const name of KERNELS) {
    const k = tf.getKernel(name, 'webgpu');
    if (!k) continue;
    const inner = k.kernelFunc;
    const kernelFunc = ((args: MatMulArgs) => {
      const env = tf.env();
      const { a, b } = args.inputs;
      const split =
        env.getNumber(FLAG) < 0 &&
        usesSplitK(a.shape, b.shape, Boolean(args.attrs.transposeA), Boolean(args.attrs.transposeB), args.backend.thresholdToIncreaseWorkgroups ?? 8, env.getNumber('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL'));
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
