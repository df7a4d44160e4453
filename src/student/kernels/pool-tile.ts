/**
 * Two memory-bound kernels whose shipped wasm versions were measured 8–40× slower than a plain
 * JavaScript loop over the wasm heap (docs/PERFORMANCE.md, "Training"):
 *
 * - MaxPoolGrad: dx gets dy at the position of each window's maximum (the first strict maximum in
 *   row-major window order, as the cpu backend's `maxPoolPositions` picks it; windows whose values
 *   are all −∞/NaN pass no gradient). Scatter form, channels innermost.
 * - Tile: out[i] = x[i mod shape]; built by copying contiguous runs and then doubling whole blocks
 *   with copyWithin, so the work is one memcpy-like pass over the output. BatchNorm's gradient in
 *   tfjs-core tiles per-channel vectors to the activation shape, so this runs several times per
 *   BN layer per step.
 */
import { tf } from '../tf.js';
import { run, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

export function maxPoolGradWasm(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  backend: WasmBackendLike;
  attrs: { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  if (input.dtype !== 'float32') return run(backend, 'MaxPoolGrad', inputs, attrs);
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const out = backend.makeOutput(input.shape, 'float32');
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  const xv = backend.typedArrayFromHeap(input) as Float32Array;
  const dv = backend.typedArrayFromHeap(dy) as Float32Array;
  dx.fill(0);
  const best = new Float32Array(C);
  const pos = new Int32Array(C);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = Math.max(0, oh * sh - pt);
      const r1 = Math.min(H, oh * sh - pt + fh);
      for (let ow = 0; ow < OW; ow++) {
        const c0 = Math.max(0, ow * sw - pl);
        const c1 = Math.min(W, ow * sw - pl + fw);
        best.fill(-Infinity);
        pos.fill(-1);
        for (let r = r0; r < r1; r++) {
          for (let q = c0; q < c1; q++) {
            const off = ((b * H + r) * W + q) * C;
            for (let c = 0; c < C; c++) {
              const v = xv[off + c];
              if (v > best[c]) {
                best[c] = v;
                pos[c] = off + c;
              }
            }
          }
        }
        const dOff = ((b * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) if (pos[c] >= 0) dx[pos[c]] += dv[dOff + c];
      }
    }
  }
  return out;
}

export function tileWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { reps: number[] } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const shape = x.shape;
  const reps = attrs.reps;
  if ((x.dtype as string) === 'string' || x.dtype === 'complex64' || reps.length !== shape.length) return run(backend, 'Tile', inputs, attrs);
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype as 'float32' | 'int32' | 'bool');
  const size = outShape.reduce((p, d) => p * d, 1);
  if (size === 0) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = shape.length;
  // inner[d] / outInner[d]: elements of x / out below dimension d.
  const inner = new Array<number>(rank + 1).fill(1);
  const outInner = new Array<number>(rank + 1).fill(1);
  for (let d = rank - 1; d >= 0; d--) {
    inner[d] = inner[d + 1] * shape[d];
    outInner[d] = outInner[d + 1] * outShape[d];
  }
  const fill = (d: number, xOff: number, oOff: number): void => {
    if (d === rank) {
      dst[oOff] = src[xOff];
      return;
    }
    const block = outInner[d + 1]; // one tiled sub-block below d
    if (d === rank - 1 && shape[d] === 1) {
      // A broadcast of the last axis ([M, 1] → [M, C]: the gradient of a reduction over it, as
      // LayerNorm's mean): one fill per row instead of a view and log₂ C copyWithin calls.
      dst.fill(src[xOff], oOff, oOff + reps[d]);
      return;
    }
    if (d === rank - 1) {
      dst.set(src.subarray(xOff, xOff + shape[d]) as never, oOff);
    } else {
      for (let i = 0; i < shape[d]; i++) fill(d + 1, xOff + i * inner[d + 1], oOff + i * block);
    }
    // Replicate the first copy of this dimension reps[d] − 1 times, doubling the copied span.
    const span = shape[d] * block;
    let have = span;
    const total = span * reps[d];
    while (have < total) {
      const n = Math.min(have, total - have);
      dst.copyWithin(oOff + have, oOff, oOff + n);
      have += n;
    }
  };
  fill(0, 0, 0);
  return out;
}

/**
 * Identity without a copy: the output shares x's buffer (the backend's reference count goes up),
 * as the cpu backend and wasm's own Reshape do. The shipped wasm Identity copies every time; a
 * resnet8 training step calls it 222 times (gradient bookkeeping, clones), ≈ 5 % of the step with
 * the native kernels. Safe because no wasm kernel (shipped or tfkd's) writes into its inputs.
 */
export function identityWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike & { incRef(dataId: object): void } }): TensorInfo {
  const { inputs, backend } = args;
  const { x } = inputs;
  if ((x.dtype as string) === 'string') return run(backend, 'Identity', inputs);
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
