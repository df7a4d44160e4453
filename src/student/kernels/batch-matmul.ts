/**
 * BatchMatMul for the wasm backend without its slow path. tfjs-backend-wasm 4.22 sends a matmul to
 * XNNPACK's fully-connected operator only when neither side is transposed and the batch is 1;
 * anything else (every backward matmul of a dense layer: dx = dy·Wᵀ, dW = xᵀ·dy) runs a scalar
 * blocked triple loop. Transposing the operand explicitly (wasm Transpose, O(n) memory traffic)
 * and then taking the fast path is much cheaper than O(n³) scalar work.
 */
import { free, run, transpose, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

export function batchMatMulWasm(args: {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: WasmBackendLike;
  attrs: { transposeA: boolean; transposeB: boolean };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const outer = (s: number[]) => s.slice(0, -2).reduce((p, v) => p * v, 1);
  const fast = a.dtype === 'float32' && b.dtype === 'float32' && outer(a.shape) === 1 && outer(b.shape) === 1;
  if (!fast || (!attrs.transposeA && !attrs.transposeB)) return run(backend, 'BatchMatMul', inputs, attrs);
  const swapLast = (rank: number) => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
  const aa = attrs.transposeA ? transpose(backend, a, swapLast(a.shape.length)) : a;
  const bb = attrs.transposeB ? transpose(backend, b, swapLast(b.shape.length)) : b;
  const out = run(backend, 'BatchMatMul', { a: aa, b: bb }, { transposeA: false, transposeB: false });
  if (aa !== a) free(backend, aa);
  if (bb !== b) free(backend, bb);
  return out;
}
