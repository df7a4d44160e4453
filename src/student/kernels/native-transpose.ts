/**
 * Transpose on the native add-on (native/src/transpose.cc), cache-blocked. Why: an ONNX student
 * (zoo/onnx-ops/conv.ts) transposes every convolution weight OIHW → HWIO in its forward pass and
 * the gradient HWIO → OIHW; tfjs-backend-wasm's kernel reads the input at the output's innermost
 * stride, 8 ns an element for the gradient's [3,2,0,1] on a 512×512×3×3 weight — 11 % of an ONNX
 * ResNet-18 step (docs/PERFORMANCE.md, "Transposes of ONNX students").
 *
 * Here the permutation is first reduced (size-1 axes dropped, axes that stay adjacent merged: the
 * weight's [2,3,1,0] becomes [2,1,0] over [O, I, H·W]) and handed to the add-on when something is
 * left to permute. A copy is exact whatever the split, so the result is the wasm kernel's bit for
 * bit. Small tensors (below NATIVE_TRANSPOSE_MIN elements, where the wasm kernel is already quick),
 * non-4-byte dtypes, a rank above 6 after the reduction, the identity and add-ons built before this
 * kernel go to the kernel it replaced.
 */
import type { KernelArgs, TensorInfo, WasmBackendLike } from './wasm-util.js';

/** The add-on's entry point: dims = [r, shape[0..5], perm[0..5]] of the reduced permutation. */
export interface TransposeAddon {
  transposeF32?(x: Float32Array, y: Float32Array, dims: Int32Array): void;
}

const MAX_RANK = 6;
const NATIVE_TRANSPOSE_MIN = 1 << 12;

/** How many Transposes ran in the add-on (tests check which path ran). */
export const transposeCalls = { native: 0 };

/**
 * The same permutation over fewer axes: size-1 axes dropped, then every run of output axes that
 * reads consecutive input axes merged into one. Returns the reduced input shape and permutation.
 */
export function reducePermutation(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  // Input axes kept (size > 1), renumbered in input order.
  const kept = shape.map((n, a) => (n > 1 ? a : -1)).filter((a) => a >= 0);
  const index = new Map(kept.map((a, i) => [a, i]));
  const p = perm.filter((a) => index.has(a)).map((a) => index.get(a)!);
  const s = kept.map((a) => shape[a]);
  // Groups of output axes whose input axes are consecutive: each becomes one axis.
  const groups: number[][] = [];
  for (const a of p) {
    const g = groups[groups.length - 1];
    if (g && g[g.length - 1] + 1 === a) g.push(a);
    else groups.push([a]);
  }
  // The merged input axes in input order, and the output order as indices into them.
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  const merged = byInput.map((g) => g.reduce((n, a) => n * s[a], 1));
  return { shape: merged, perm: groups.map((g) => byInput.indexOf(g)) };
}

/** A float32 view of a 4-byte tensor's bytes on the wasm heap (int32 too: the add-on copies words). */
function words(b: WasmBackendLike, t: TensorInfo): Float32Array {
  const v = b.typedArrayFromHeap(t);
  return new Float32Array(v.buffer, v.byteOffset, v.length);
}

/** The kernel, given the add-on and the fallback to the kernel it replaces. */
export function transposeKernel(addon: () => TransposeAddon, fallback: (name: string, args: unknown) => TensorInfo): { name: string; fn: (args: never) => TensorInfo } {
  function transpose(args: KernelArgs<{ x: TensorInfo }, { perm: number[] }>): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { x } = inputs;
    const a = addon();
    const n = x.shape.reduce((p, v) => p * v, 1);
    if (!a.transposeF32 || (x.dtype !== 'float32' && x.dtype !== 'int32') || n < NATIVE_TRANSPOSE_MIN) return fallback('Transpose', args);
    const r = reducePermutation(x.shape, attrs.perm);
    if (r.shape.length < 2 || r.shape.length > MAX_RANK) return fallback('Transpose', args);
    const y = backend.makeOutput(attrs.perm.map((k) => x.shape[k]), x.dtype);
    const dims = new Int32Array(1 + 2 * MAX_RANK);
    dims[0] = r.shape.length;
    dims.set(r.shape, 1);
    dims.set(r.perm, 1 + MAX_RANK);
    transposeCalls.native++;
    a.transposeF32(words(backend, x), words(backend, y), dims);
    return y;
  }
  return { name: 'Transpose', fn: transpose as (args: never) => TensorInfo };
}
