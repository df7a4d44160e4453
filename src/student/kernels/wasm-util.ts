/**
 * The small part of tfjs-backend-wasm's `BackendWasm` our kernels use (structural, so no import of
 * the backend package outside tf.ts), and helpers to run the backend's own kernels on TensorInfos.
 *
 * Kernels here compose kernels wasm already runs fast (XNNPACK Conv2D / fully-connected,
 * Transpose) by calling their `kernelFunc`s directly: no engine bookkeeping, no tensors; every
 * intermediate TensorInfo is released with `free` before returning.
 */
import { tf } from '../tf.js';

export type TensorInfo = tf.TensorInfo;

export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32' | 'int32' | 'bool'): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Kernel functions as they were before tfkd replaced any (so replacements can call the originals). */
const originals = new Map<string, tf.KernelFunc>();

export function rememberOriginal(name: string): void {
  if (originals.has(name)) return;
  const k = tf.getKernel(name, 'wasm');
  if (k) originals.set(name, k.kernelFunc);
}

export function run(
  backend: WasmBackendLike,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown> = {},
): TensorInfo {
  const out = runAny(backend, name, inputs, attrs);
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}

/** `run` for a kernel with several outputs (SplitV). */
export function runMany(backend: WasmBackendLike, name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown> = {}): TensorInfo[] {
  const out = runAny(backend, name, inputs, attrs);
  return Array.isArray(out) ? out : [out];
}

function runAny(backend: WasmBackendLike, name: string, inputs: Record<string, TensorInfo>, attrs: Record<string, unknown>): TensorInfo | TensorInfo[] {
  const fn = originals.get(name) ?? tf.getKernel(name, 'wasm')?.kernelFunc;
  if (!fn) throw new Error(`wasm kernel ${name} is not registered`);
  return fn({ inputs, backend: backend as unknown as tf.KernelBackend, attrs: attrs as tf.NamedAttrMap });
}

/** A kernel function's argument, as tfjs passes it: the named inputs, the backend, the op's attributes. */
export type KernelArgs<I, A> = { inputs: I; backend: WasmBackendLike; attrs: A };

export type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/** The attributes every 2-D convolution kernel gets (its gradients add filterShape or inputShape). */
export interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function free(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

export const transpose = (b: WasmBackendLike, x: TensorInfo, perm: number[]): TensorInfo => run(b, 'Transpose', { x }, { perm });

/** A float32 view of a tensor's bytes on the wasm heap. Re-take after any allocation (the heap may grow). */
export function f32(b: WasmBackendLike, t: TensorInfo): Float32Array {
  return b.typedArrayFromHeap(t) as Float32Array;
}

export function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

export function assertNoDilation(kernel: string, dilations: number | [number, number] | undefined): void {
  if (dilations === undefined) return;
  const [dh, dw] = pair(dilations);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`tfkd wasm ${kernel}: dilation ${dh}x${dw} is not supported (only 1); use --backend cpu for dilated convolutions`);
  }
}

export function assertChannelsLast(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`tfkd wasm ${kernel}: data format ${dataFormat} is not supported (NHWC only)`);
  }
}

/**
 * Transposes a float32 tensor viewed as [A, M, C] into [C, M, A] (perm [2,1,0]) with a JS loop on
 * the heap. The shipped wasm Transpose computes every index through a generic N-d path and was
 * measured ~10× slower for the [B,H,W,C] → [C,H,W,B] reshuffle Conv2DBackpropFilter needs.
 */
export function transposeOuterInner(b: WasmBackendLike, x: TensorInfo, A: number, M: number, C: number, outShape: number[], offset = 0): TensorInfo {
  const out = b.makeOutput(outShape, 'float32');
  const src = f32(b, x).subarray(offset);
  const dst = f32(b, out);
  const MA = M * A;
  for (let m = 0; m < M; m++) {
    for (let a = 0; a < A; a++) {
      const s = (a * M + m) * C;
      const d = m * A + a;
      for (let c = 0; c < C; c++) dst[c * MA + d] = src[s + c];
    }
  }
  return out;
}

/** Transposes a float32 tensor viewed as [A, M, C] into [M, A, C] (perm [1,0,2]): copies runs of C. `offset`: first element of x to read (both helpers). */
export function transposeOuterMiddle(b: WasmBackendLike, x: TensorInfo, A: number, M: number, C: number, outShape: number[], offset = 0): TensorInfo {
  const out = b.makeOutput(outShape, 'float32');
  const src = f32(b, x).subarray(offset);
  const dst = f32(b, out);
  for (let m = 0; m < M; m++) {
    for (let a = 0; a < A; a++) {
      const s = (a * M + m) * C;
      const d = (m * A + a) * C;
      for (let c = 0; c < C; c++) dst[d + c] = src[s + c];
    }
  }
  return out;
}
