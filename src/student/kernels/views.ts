/**
 * Float32 views of kernel inputs and outputs on the two backends tfkd's JS kernels run on: the
 * wasm heap (views into linear memory) or the cpu backend's JS arrays. Shared by the BatchNorm and
 * ReLU-gradient kernels, which run the same loops on either.
 */
import { tf } from '../tf.js';

type TensorInfo = tf.TensorInfo;

/** The few backend methods used here: wasm's heap views, or cpu's JS arrays. */
export interface BackendLike {
  // wasm
  makeOutput?(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap?(t: TensorInfo): Float32Array;
  // cpu
  readSync?(dataId: object): Float32Array;
  makeTensorInfo?(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

/**
 * Allocates the outputs (all before any view is taken: a wasm allocation may grow the heap and
 * detach earlier views), then calls `body` with float32 views of inputs and outputs; `onHeap`
 * tells it the views are wasm memory (where the native add-on may work on them in place).
 */
export function withViews(
  backend: BackendLike,
  inputs: TensorInfo[],
  outShapes: number[][],
  body: (ins: Float32Array[], outs: Float32Array[], onHeap: boolean) => void,
): TensorInfo[] {
  if (typeof backend.typedArrayFromHeap === 'function' && typeof backend.makeOutput === 'function') {
    const outs = outShapes.map((s) => backend.makeOutput!(s, 'float32'));
    body(
      inputs.map((t) => backend.typedArrayFromHeap!(t)),
      outs.map((t) => backend.typedArrayFromHeap!(t)),
      true,
    );
    return outs;
  }
  const outVals = outShapes.map((s) => new Float32Array(s.reduce((a, d) => a * d, 1)));
  body(
    inputs.map((t) => backend.readSync!(t.dataId)),
    outVals,
    false,
  );
  return outShapes.map((s, i) => backend.makeTensorInfo!(s, 'float32', outVals[i]));
}
