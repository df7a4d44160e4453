/**
 * Slice and PadV2 as contiguous-run copies on the wasm heap.
 *
 * The shipped wasm Slice copies a 4-D slice one innermost row at a time through
 * `subarray().set()`: slicing H and W of an NHWC tensor (the gradient of a spatial pad) allocates
 * one view per pixel — 100 352 views for one 8×112×112×16 gradient; 63 ms CPU of a 224² batch-8
 * mobilenet_v3_small step for its four ZeroPadding2D gradients, plus the garbage collection after
 * them (docs/PERFORMANCE.md, "mobilenet_v3_small: zoo vs ONNX graph"). The shipped PadV2 walks every output element through
 * a generic N-d index. Here both merge the trailing dimensions the op leaves whole into one run
 * (for a spatial slice or pad of NHWC: a whole row of W·C values) and copy run by run; the
 * values are copies, so the results are bit-identical to the shipped kernels'. Other dtypes than
 * float32 / int32 / bool go to the shipped kernels.
 */
import { tf } from '../tf.js';
import { run, runMany, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

type Heap = Float32Array | Int32Array | Uint8Array;

const copyable = (dtype: string): dtype is 'float32' | 'int32' | 'bool' => dtype === 'float32' || dtype === 'int32' || dtype === 'bool';

/** Below this run length a plain loop beats creating a subarray view per run. */
const SHORT_RUN = 32;

function copyRun(dst: Heap, dOff: number, src: Heap, sOff: number, n: number): void {
  if (n < SHORT_RUN) {
    for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i];
  } else {
    dst.set(src.subarray(sOff, sOff + n) as never, dOff);
  }
}

/**
 * Calls `each(srcOffset, dstOffset)` for every run of `run` contiguous elements: `outer` is the
 * index space of the dimensions above the run (row-major), srcStride / dstStride their strides
 * in the source and destination, srcBase / dstBase the offsets of index 0.
 */
function forEachRun(outer: number[], srcStride: number[], dstStride: number[], srcBase: number, dstBase: number, each: (s: number, d: number) => void): void {
  const rank = outer.length;
  if (outer.some((n) => n === 0)) return;
  const idx = new Array<number>(rank).fill(0);
  let s = srcBase;
  let d = dstBase;
  for (;;) {
    each(s, d);
    let k = rank - 1;
    for (; k >= 0; k--) {
      idx[k]++;
      s += srcStride[k];
      d += dstStride[k];
      if (idx[k] < outer[k]) break;
      s -= srcStride[k] * outer[k];
      d -= dstStride[k] * outer[k];
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

const stridesOf = (shape: number[]): number[] => {
  const st = new Array<number>(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) st[d] = st[d + 1] * shape[d + 1];
  return st;
};

/**
 * The innermost dimension j that the op changes (dimensions below it are whole); −1 when none is.
 * The contiguous run is then inner[j] elements of the source.
 */
function lastChanged(rank: number, whole: (d: number) => boolean): number {
  let j = rank - 1;
  while (j >= 0 && whole(j)) j--;
  return j;
}

export function sliceWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { begin: number | number[]; size: number | number[] } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const shape = x.shape;
  const rank = shape.length;
  if (!copyable(x.dtype) || !Array.isArray(attrs.begin) || !Array.isArray(attrs.size) || attrs.begin.length !== rank || attrs.size.length !== rank) {
    return run(backend, 'Slice', inputs, attrs);
  }
  const begin = attrs.begin;
  // size −1: to the end of the dimension (tfjs' parseSliceParams).
  const size = attrs.size.map((n, d) => (n === -1 ? shape[d] - begin[d] : n));
  const out = backend.makeOutput(size, x.dtype);
  if (size.some((n) => n === 0)) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const xs = stridesOf(shape);
  const os = stridesOf(size);
  const j = lastChanged(rank, (d) => begin[d] === 0 && size[d] === shape[d]);
  const base = begin.reduce((a, b, d) => a + b * xs[d], 0);
  if (j < 0) {
    dst.set(src.subarray(0, dst.length) as never);
    return out;
  }
  const runLen = size[j] * xs[j];
  forEachRun(size.slice(0, j), xs.slice(0, j), os.slice(0, j), base, 0, (s, d) => copyRun(dst, d, src, s, runLen));
  return out;
}

export function padWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { paddings: Array<[number, number]>; constantValue: number } }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const shape = x.shape;
  const rank = shape.length;
  const { paddings, constantValue } = attrs;
  if (!copyable(x.dtype) || paddings.length !== rank || paddings.some(([a, b]) => a < 0 || b < 0)) return run(backend, 'PadV2', inputs, attrs);
  const outShape = shape.map((n, d) => paddings[d][0] + n + paddings[d][1]);
  const out = backend.makeOutput(outShape, x.dtype);
  const dst = backend.typedArrayFromHeap(out);
  if (dst.length === 0) return out;
  // bool stores 0 / 1; int32 truncates the fill value as the shipped kernel's C cast does.
  const value = x.dtype === 'bool' ? Number(Boolean(constantValue)) : x.dtype === 'int32' ? Math.trunc(constantValue) : constantValue;
  if (shape.some((n) => n === 0)) {
    dst.fill(value);
    return out;
  }
  const src = backend.typedArrayFromHeap(x);
  const xs = stridesOf(shape);
  const os = stridesOf(outShape);
  const j = lastChanged(rank, (d) => paddings[d][0] === 0 && paddings[d][1] === 0);
  if (j < 0) {
    dst.set(src as never);
    return out;
  }
  const base = paddings.reduce((a, [p], d) => a + p * os[d], 0);
  const runLen = shape[j] * xs[j];
  // Runs come in increasing output order: fill the gap before each, so every element is written once.
  let done = 0;
  forEachRun(shape.slice(0, j), xs.slice(0, j), os.slice(0, j), 0, base, (s, d) => {
    if (d > done) dst.fill(value, done, d);
    copyRun(dst, d, src, s, runLen);
    done = d + runLen;
  });
  if (done < dst.length) dst.fill(value, done);
  return out;
}

/**
 * SplitV as one sliceWasm per piece. The shipped kernel calls wasm's own slice, which reads the
 * whole input back from the heap (readSync: a copy) once per piece — the gradient of every Concat
 * (tfjs' is a split of dy) paid it: ≈ 6 % of a Swin step, whose cyclic shift is concatenations
 * (docs/PERFORMANCE.md, "Reductions' gradients"). The pieces are copies, so the same bits.
 */
export function splitVWasm(args: { inputs: { x: TensorInfo }; backend: WasmBackendLike; attrs: { numOrSizeSplits: number | number[]; axis: number | number[] } }): TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (!copyable(x.dtype)) return runMany(backend, 'SplitV', inputs, attrs);
  const rank = x.shape.length;
  // tfjs' own axis and size rules (one −1 takes what the others leave), as the shipped kernel uses them.
  const ax = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, ax);
  const begin = new Array<number>(rank).fill(0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[ax] = s;
    const piece = sliceWasm({ inputs: { x }, backend, attrs: { begin: begin.slice(), size } });
    begin[ax] += s;
    return piece;
  });
}
