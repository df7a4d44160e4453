/**
 * The optional native fast path for the wasm backend: tfkd's N-API addon (native/, built at install
 * by scripts/build-native.mjs when OpenBLAS is present) runs the hot training kernels — Conv2D,
 * FusedConv2D, Conv2DBackpropFilter, Conv2DBackpropInput on oneDNN when the add-on was built with
 * it (libdnnl-dev; TFKD_DNNL=0 switches it off), else as im2col/col2im + OpenBLAS sgemm;
 * BatchMatMul and _FusedMatMul as sgemm; Sum over leading axes (bias gradients), MaxPoolGrad and
 * large float32 Add / Relu, the depthwise gradients (native-depthwise.ts) and Transpose
 * (native-transpose.ts) as C loops — working on the wasm heap in place (Float32Array views handed
 * to the addon, no copies). Every split runs on one OpenMP team of TFKD_THREADS threads (default: the number of
 * cores), shared with oneDNN; OpenBLAS itself stays single-threaded (its spinning workers slowed
 * the next kernels). TFKD_KERNEL_THREADS overrides tfkd's splits alone (A/B runs). While
 * registered, the training BatchNorm kernels (batchnorm.ts) and the ReLU gradient (relu-grad.ts)
 * also run in C (`nativeAddonOnHeap`).
 *
 * Why: tfjs-backend-wasm runs one thread in Node (XNNPACK, ≈ 8 GMAC/s); PyTorch's step on the
 * same machine uses OpenBLAS/oneDNN on every core (docs/PERFORMANCE.md, "Native BLAS kernels",
 * "Second session").
 *
 * Fallback is automatic: without the built addon (or with TFKD_NATIVE=0) nothing is registered and
 * tfkd's wasm kernels run; a native kernel hands any case it does not cover (dilation, NCHW,
 * non-float32, prelu/leaky/elu activations, broadcast biases) to the kernel it replaced.
 * Views of the heap are taken only after every output is allocated, since an allocation may grow
 * the wasm memory and detach earlier views; the addon itself never allocates on the heap.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { tf } from '../tf.js';
import { depthwiseKernels, type DepthwiseAddon } from './native-depthwise.js';
import { transposeKernel, type TransposeAddon } from './native-transpose.js';
import { f32, pair, type ConvAttrs, type KernelArgs, type Pad, type TensorInfo } from './wasm-util.js';
import { cpuKernelsProblem, settingsEnv, type CpuKernels } from '../../settings.js';

/** The addon's exports (native/src/module.cc registers them; the kernels live in conv.cc, gemm.cc, batchnorm.cc, pool_eltwise.cc, hard_act.cc). */
export interface NativeAddon extends DepthwiseAddon, TransposeAddon {
  /** dims: [B,H,W,CI,KH,KW,CO,OH,OW,sh,sw,pt,pl]; act 0 linear, 1 relu. */
  conv2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, dims: Int32Array, act: number): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: Int32Array): void;
  /** dims: [batchA, batchB, M, N, K, transA, transB]; a batch of 1 broadcasts. */
  matmul(a: Float32Array, b: Float32Array, bias: Float32Array | null, out: Float32Array, dims: Int32Array, act: number): void;
  /** dims: [rows, cols]; out[c] = Σ_r x[r·cols + c], accumulated in double. */
  sumRows(x: Float32Array, out: Float32Array, dims: Int32Array): void;
  /** dims: [B,H,W,C,OH,OW,fh,fw,sh,sw,pt,pl]. */
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, dims: Int32Array): void;
  /** Training BatchNorm over the last axis, x as [M, C] (dims [M, C]); float64 sums as batchnorm.ts. */
  bnTrain(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, dims: Int32Array, epsilon: number): void;
  bnTrainGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, dims: Int32Array, epsilon: number): void;
  /** dims [rows, cols, mode]: mode 0 out = a + b; 1 b ([cols]) broadcast over rows; 2 the same with a. */
  addF32(a: Float32Array, b: Float32Array, out: Float32Array, dims: Int32Array): void;
  /** out = max(x, 0) as tfjs (NaN stays, −0 → +0). */
  reluF32(x: Float32Array, out: Float32Array): void;
  /** In place y = relu?(y + bias) (dims [rows, cols], bias [cols]), addF32's add and reluF32's compare; absent from add-ons built before it. */
  biasReluF32?(y: Float32Array, bias: Float32Array | null, dims: Int32Array, act: number): void;
  /** out = dy·step(x) (the ReLU gradient, tfjs' arithmetic), split across threads from 1 M elements. */
  reluGrad(dy: Float32Array, x: Float32Array, out: Float32Array): void;
  /** kind 0: hardswish, 1: hardsigmoid (tfjs' composed ops' float32 arithmetic, hard-activations.ts); absent from add-ons built before them. */
  hardAct?(x: Float32Array, y: Float32Array, kind: number): void;
  hardActGrad?(dy: Float32Array, x: Float32Array, dx: Float32Array, kind: number): void;
  gelu?(x: Float32Array, y: Float32Array): void;
  geluGrad?(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  /** tfkd's own threads (convolutions split by batch, BatchNorm passes by rows); setThreads sets it too. */
  setKernelThreads(n: number): void;
  setThreads(n: number): number;
  getThreads(): number;
  setChunkBytes(n: number): void;
  blasConfig(): string;
  /** Convolutions on oneDNN when compiled in (returns whether it is on now). */
  setDnnl(on: boolean): boolean;
  /** 'oneDNN x.y.z' when the add-on was built with it, else ''. */
  dnnlVersion(): string;
  /** The kernels the libraries chose at load: OpenBLAS's core, oneDNN's instruction set ('' without it); absent from add-ons built before it. */
  cpuKernels?(): { blas: string; convolutions: string };
}

const NATIVE_ADDON_PATH = '../../../native/build/Release/tfkd_native.node';

export interface NativeStatus {
  /** The addon, when it loaded and is enabled. */
  addon: NativeAddon | null;
  /** One line: why it is (not) used, e.g. 'OpenBLAS … on 2 threads' or 'TFKD_NATIVE=0'. */
  why: string;
  /**
   * The CPU kernels the libraries chose (OpenBLAS's core, oneDNN's instruction set) and the
   * TFKD_CPU_KERNELS choice in force; absent without the add-on or with one built before it.
   */
  cpu?: { blas: string; convolutions: string; choice: CpuKernels };
}

let status: NativeStatus | null = null;

/** Threads from TFKD_THREADS (a positive integer), else the number of cores. */
export function defaultThreads(env: NodeJS.ProcessEnv = settingsEnv()): number {
  const v = env.TFKD_THREADS;
  if (v !== undefined && /^\d+$/.test(v) && Number(v) >= 1) return Number(v);
  return Math.max(1, availableParallelism());
}

/** Whether the addon has been probed in this process (after which TFKD_NATIVE no longer matters). */
export const nativeLoaded = (): boolean => status !== null;

/** Loads the addon once per process (cached; the environment is read on the first call). */
export function loadNative(env: NodeJS.ProcessEnv = settingsEnv()): NativeStatus {
  return (status ??= probeNative(env));
}

/**
 * Why this CPU cannot run TFKD_CPU_KERNELS=avx2 (OpenBLAS's Haswell kernels would stop on an
 * illegal instruction without AVX2 and FMA), or null when it can.
 */
export function avx2Missing(): string | null {
  if (process.arch !== 'x64') return `an x86-64 CPU is needed, this is ${process.arch}`;
  let info: string;
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return 'cannot read /proc/cpuinfo to check for AVX2 and FMA';
  }
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
  const missing = ['avx2', 'fma'].filter((f) => !flags.has(f));
  return missing.length ? `this CPU lacks ${missing.join(' and ')}` : null;
}

/**
 * TFKD_CPU_KERNELS=avx2: OpenBLAS and oneDNN read these variables when they load (OpenBLAS in its
 * constructor, oneDNN at its first primitive), so they are set in this process before the add-on
 * loads; child processes inherit them. Like Intel MKL's MKL_CBWR=AVX2 (conditional numerical
 * reproducibility): one instruction set's kernels everywhere, the same bits on every such CPU.
 */
function pinCpuKernels(env: NodeJS.ProcessEnv): string | null {
  const problem = cpuKernelsProblem(env);
  if (problem || env.TFKD_CPU_KERNELS !== 'avx2') return problem;
  const missing = avx2Missing();
  if (missing) return `TFKD_CPU_KERNELS=avx2: ${missing}`;
  process.env.OPENBLAS_CORETYPE = 'Haswell';
  process.env.ONEDNN_MAX_CPU_ISA = 'AVX2';
  return null;
}

/**
 * 'OpenBLAS 0.3.21 Haswell kernels + oneDNN 2.6.3 avx2 convolutions' and whether
 * TFKD_CPU_KERNELS=avx2 took hold (not when the libraries were loaded before it was set), with
 * the kernels as a record.
 */
function kernelsLine(addon: NativeAddon, dnnl: string, dnnlOn: boolean, env: NodeJS.ProcessEnv): { line: string; cpu?: NativeStatus['cpu'] } {
  const blas = addon.blasConfig().trim().split(/\s+/).slice(0, 2).join(' ');
  const k = addon.cpuKernels?.();
  const isa = k?.convolutions ? ` ${k.convolutions}` : '';
  const convs = dnnl === '' ? '' : dnnlOn ? ` + ${dnnl}${isa} convolutions` : ` (${dnnl} off: TFKD_DNNL=0)`;
  let line = `${blas}${k ? ` ${k.blas} kernels` : ''}${convs}`;
  const pinned = k !== undefined && k.blas === 'Haswell' && (dnnl === '' || k.convolutions === 'avx2');
  if (env.TFKD_CPU_KERNELS === 'avx2') line += pinned ? ' (TFKD_CPU_KERNELS=avx2)' : ' (TFKD_CPU_KERNELS=avx2 NOT in force: the libraries loaded before it was set)';
  const choice: CpuKernels = env.TFKD_CPU_KERNELS === 'avx2' && pinned ? 'avx2' : 'best';
  return { line, cpu: k ? { ...k, choice } : undefined };
}

/** Loads the addon (uncached). Never throws: a missing or broken addon is a status line. */
export function probeNative(env: NodeJS.ProcessEnv = settingsEnv()): NativeStatus {
  if (env.TFKD_NATIVE === '0') return { addon: null, why: 'native kernels disabled (TFKD_NATIVE=0)' };
  const unpinned = pinCpuKernels(env);
  if (unpinned) return { addon: null, why: `native kernels not used: ${unpinned}` };
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
    const threads = addon.setThreads(defaultThreads(env));
    // TFKD_KERNEL_THREADS: tfkd's own threads only (batch-split convolutions, BatchNorm passes), for A/B runs.
    const kt = env.TFKD_KERNEL_THREADS;
    if (kt !== undefined && /^\d+$/.test(kt) && Number(kt) >= 1) addon.setKernelThreads(Number(kt));
    // TFKD_DNNL=0: convolutions on im2col + OpenBLAS even when oneDNN is compiled in (A/B runs).
    const dnnl = addon.dnnlVersion();
    const dnnlOn = dnnl !== '' && addon.setDnnl(env.TFKD_DNNL !== '0');
    const { line, cpu } = kernelsLine(addon, dnnl, dnnlOn, env);
    return { addon, why: `native addon: ${line}, ${threads} thread${threads === 1 ? '' : 's'}`, ...(cpu ? { cpu } : {}) };
  } catch (err) {
    const m = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    const missing = /Cannot find module/.test(m);
    return { addon: null, why: missing ? 'native addon not built (apt-get install libopenblas-dev, then node scripts/build-native.mjs)' : `native addon failed to load: ${m}` };
  }
}

/** Sets the addon's BLAS threads (returns what OpenBLAS reports), or null without the addon. */
export function setNativeThreads(n: number): number | null {
  const a = loadNative().addon;
  return a ? a.setThreads(n) : null;
}


const size = (shape: number[]): number => shape.reduce((p, v) => p * v, 1);
/** A shape without its leading 1s ([] when all are 1): how broadcasting lines shapes up. */
const dropLeadingOnes = (s: number[]): number[] => {
  const i = s.findIndex((v) => v !== 1);
  return i < 0 ? [] : s.slice(i);
};
const isNHWC = (f: string | undefined): boolean => f === undefined || f === 'NHWC' || f === 'channelsLast';
const noDilation = (d: number | [number, number] | undefined): boolean => d === undefined || pair(d).every((v) => v === 1);

function convDims(info: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth, info.outChannels,
    info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  ]);
}

/** Kernel functions the native ones replaced (fallbacks), filled by registerNativeKernels. */
const previous = new Map<string, { kernelFunc: tf.KernelFunc; setupFunc?: tf.KernelSetupFunc; disposeFunc?: tf.KernelDisposeFunc }>();

function fallback(name: string, args: unknown): TensorInfo {
  // Only the kernel we replaced: looking it up in the registry now would find ourselves.
  const k = previous.get(name);
  if (!k) throw new Error(`tfkd native ${name}: no wasm kernel to fall back to (register tfkd's wasm kernels first)`);
  const out = k.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}

function addon(): NativeAddon {
  const a = status?.addon;
  if (!a) throw new Error('tfkd native kernels called without the addon loaded');
  return a;
}

/** Activation code for the addon, or null when it is not one the addon applies. */
function actCode(activation: string | undefined): number | null {
  if (activation === undefined || activation === 'linear') return 0;
  if (activation === 'relu') return 1;
  return null;
}

function conv2dImpl(args: KernelArgs<{ x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }, ConvAttrs & { activation?: string }>, name: string): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs;
  const act = actCode(attrs.activation);
  const CO = filter.shape[3];
  const ok = isNHWC(attrs.dataFormat) && noDilation(attrs.dilations) && act !== null && !preluActivationWeights &&
    x.dtype === 'float32' && filter.dtype === 'float32' && (!bias || (bias.dtype === 'float32' && size(bias.shape) === CO));
  if (!ok || size(x.shape) === 0 || size(filter.shape) === 0) return fallback(name, args);
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const y = backend.makeOutput(info.outShape, 'float32');
  if (size(info.outShape) > 0) addon().conv2dForward(f32(backend, x), f32(backend, filter), bias ? f32(backend, bias) : null, f32(backend, y), convDims(info), act);
  return y;
}

const conv2DNative = (args: KernelArgs<{ x: TensorInfo; filter: TensorInfo }, ConvAttrs>): TensorInfo => conv2dImpl(args, 'Conv2D');

/** The kernel of tfkd's training conv (kernels/conv-bias-act.ts, which registers its gradient). */
export const CONV_BIAS_ACT_KERNEL = 'TfkdConv2DBiasAct';

/**
 * tfkd's training conv: what `Conv2D` runs (conv2dImpl without bias or activation), then bias and
 * ReLU in one in-place pass with the separate `Add`'s and `Relu`'s arithmetic — not in the
 * convolution's epilogue, where oneDNN's AVX2 kernels start the sums from the bias (other bits).
 * conv-bias-act.ts calls it only for the cases it fuses (float32, linear or ReLU, a bias of CO).
 */
function convBiasActNative(args: KernelArgs<{ x: TensorInfo; filter: TensorInfo; bias?: TensorInfo }, ConvAttrs & { activation?: string }>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias } = inputs;
  const act = actCode(attrs.activation);
  const epilogue = addon().biasReluF32;
  if (act === null || !epilogue) throw new Error(`${CONV_BIAS_ACT_KERNEL}: activation ${attrs.activation} or an add-on without biasReluF32 (conv-bias-act.ts checks before calling it)`);
  const y = conv2dImpl({ inputs: { x, filter }, backend, attrs: { ...attrs, activation: undefined } }, 'Conv2D');
  const n = size(y.shape);
  const CO = filter.shape[3];
  if (n > 0) epilogue(f32(backend, y), bias ? f32(backend, bias) : null, Int32Array.from([n / CO, CO]), act);
  return y;
}

/** Whether TfkdConv2DBiasAct can run now: the native kernels back wasm, with an add-on that has its epilogue. */
export function convBiasActReady(): boolean {
  return registered !== null && status?.addon?.biasReluF32 !== undefined;
}

const fusedConv2DNative = (args: KernelArgs<{ x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }, ConvAttrs & { activation?: string }>): TensorInfo =>
  conv2dImpl(args, 'FusedConv2D');

function conv2DBackpropFilterNative(args: KernelArgs<{ x: TensorInfo; dy: TensorInfo }, ConvAttrs & { filterShape: [number, number, number, number] }>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  if (!isNHWC(attrs.dataFormat) || !noDilation(attrs.dilations) || x.dtype !== 'float32' || dy.dtype !== 'float32' || size(x.shape) === 0 || size(dy.shape) === 0) {
    return fallback('Conv2DBackpropFilter', args);
  }
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const dw = backend.makeOutput([...attrs.filterShape], 'float32');
  addon().conv2dBackpropFilter(f32(backend, x), f32(backend, dy), f32(backend, dw), convDims(info));
  return dw;
}

function conv2DBackpropInputNative(args: KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, ConvAttrs & { inputShape: [number, number, number, number] }>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  if (!isNHWC(attrs.dataFormat) || !noDilation(attrs.dilations) || dy.dtype !== 'float32' || filter.dtype !== 'float32' || size(dy.shape) === 0 || size(filter.shape) === 0) {
    return fallback('Conv2DBackpropInput', args);
  }
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const dx = backend.makeOutput([...attrs.inputShape], 'float32');
  addon().conv2dBackpropInput(f32(backend, dy), f32(backend, filter), f32(backend, dx), convDims(info));
  return dx;
}

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
}

function matmulImpl(args: KernelArgs<{ a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }, MatMulAttrs>, name: string): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b, bias, preluActivationWeights } = inputs;
  const act = actCode(attrs.activation);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = attrs.transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = attrs.transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = attrs.transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const Kb = attrs.transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const bA = size(outerA);
  const bB = size(outerB);
  // Only batch layouts that are a flat loop: equal outer shapes (up to leading 1s) or one side unbatched.
  const flat = bA === 1 || bB === 1 || dropLeadingOnes(outerA).join() === dropLeadingOnes(outerB).join();
  const ok = ra >= 2 && rb >= 2 && K === Kb && flat && act !== null && !preluActivationWeights && a.dtype === 'float32' && b.dtype === 'float32' &&
    (!bias || (bias.dtype === 'float32' && size(bias.shape) === N && bias.shape[bias.shape.length - 1] === N));
  if (!ok || M * N * K === 0) return fallback(name, args);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const out = backend.makeOutput([...outer, M, N], 'float32');
  const dims = Int32Array.from([bA, bB, M, N, K, attrs.transposeA ? 1 : 0, attrs.transposeB ? 1 : 0]);
  addon().matmul(f32(backend, a), f32(backend, b), bias ? f32(backend, bias) : null, f32(backend, out), dims, act);
  return out;
}

const batchMatMulNative = (args: KernelArgs<{ a: TensorInfo; b: TensorInfo }, MatMulAttrs>): TensorInfo => matmulImpl(args, 'BatchMatMul');
const fusedMatMulNative = (args: KernelArgs<{ a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo }, MatMulAttrs>): TensorInfo =>
  matmulImpl(args, '_FusedMatMul');

/**
 * Sum over leading axes (e.g. [0,1,2] of an NHWC tensor: the bias and BatchNorm gradients), or over
 * all axes. The shipped wasm Sum transposes the reduced axes innermost first (a generic N-d copy),
 * then reduces; here it is one streaming pass. Other axis sets and non-float32 fall back.
 */
function sumNative(args: KernelArgs<{ x: TensorInfo }, { axis: number | number[]; keepDims: boolean }>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const axes = [...new Set(tf.util.parseAxisParam(attrs.axis, x.shape))].sort((p, q) => p - q);
  const leading = axes.length > 0 && axes.every((v, i) => v === i);
  if (x.dtype !== 'float32' || !leading || size(x.shape) === 0) return fallback('Sum', args);
  const rows = size(x.shape.slice(0, axes.length));
  const kept = x.shape.slice(axes.length);
  const cols = size(kept);
  const outShape = attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const out = backend.makeOutput(outShape, 'float32');
  addon().sumRows(f32(backend, x), f32(backend, out), Int32Array.from([rows, cols]));
  return out;
}

/** MaxPoolGrad as tfkd's JS loop (pool-tile.ts) in C: same tie rule (first strict maximum). */
function maxPoolGradNative(args: KernelArgs<{ dy: TensorInfo; input: TensorInfo; output: TensorInfo }, { filterSize: number | [number, number]; strides: number | [number, number]; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil' }>): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32' || size(input.shape) === 0) return fallback('MaxPoolGrad', args);
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const dx = backend.makeOutput(input.shape, 'float32');
  const dims = Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.effectiveFilterHeight, info.effectiveFilterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  ]);
  addon().maxPoolGrad(f32(backend, input), f32(backend, dy), f32(backend, dx), dims);
  return dx;
}

/**
 * Element-wise Add and Relu for large float32 tensors: tfjs-backend-wasm runs them on one thread
 * (≈ 8 % of a resnet20 step, ≈ 10 % of cnn's: bias and residual adds, gradient accumulation,
 * activations). One IEEE add / compare per element, so the same bits as wasm's kernels. Below
 * NATIVE_ELEMENTWISE_MIN elements (the optimizer's many small tensors) and for any other dtype or
 * broadcast than "same shape" or "one side is the other's trailing dims" (a bias), the wasm kernel
 * runs.
 */
export const NATIVE_ELEMENTWISE_MIN = 1 << 16;

/** How many Add / Relu calls ran in the add-on (tests check which path ran). */
export const elementwiseCalls = { add: 0, relu: 0 };

function addNative(args: KernelArgs<{ a: TensorInfo; b: TensorInfo }, Record<string, never>>): TensorInfo {
  const { inputs, backend } = args;
  const { a, b } = inputs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback('Add', args);
  const na = size(a.shape);
  const nb = size(b.shape);
  const n = Math.max(na, nb);
  if (n < NATIVE_ELEMENTWISE_MIN) return fallback('Add', args);
  // "small" broadcasts over the rows of "big" when its shape without leading 1s is big's tail.
  const tailOf = (big: number[], small: number[]) => {
    const t = dropLeadingOnes(small);
    return small.length <= big.length && t.length > 0 && t.every((v, i) => v === big[big.length - t.length + i]);
  };
  let mode: number;
  let outShape: number[];
  let cols: number;
  if (a.shape.length === b.shape.length && a.shape.every((v, i) => v === b.shape[i])) [mode, outShape, cols] = [0, a.shape, na];
  else if (nb < na && tailOf(a.shape, b.shape)) [mode, outShape, cols] = [1, a.shape, nb];
  else if (na < nb && tailOf(b.shape, a.shape)) [mode, outShape, cols] = [2, b.shape, na];
  else return fallback('Add', args);
  const out = backend.makeOutput([...outShape], 'float32');
  elementwiseCalls.add++;
  addon().addF32(f32(backend, a), f32(backend, b), f32(backend, out), Int32Array.from([n / cols, cols, mode]));
  return out;
}

function reluNative(args: KernelArgs<{ x: TensorInfo }, Record<string, never>>): TensorInfo {
  const { inputs, backend } = args;
  const { x } = inputs;
  if (x.dtype !== 'float32' || size(x.shape) < NATIVE_ELEMENTWISE_MIN) return fallback('Relu', args);
  const out = backend.makeOutput([...x.shape], 'float32');
  elementwiseCalls.relu++;
  addon().reluF32(f32(backend, x), f32(backend, out));
  return out;
}

type AnyKernel = (args: never) => TensorInfo;
export const NATIVE_KERNELS: ReadonlyArray<{ name: string; fn: AnyKernel }> = [
  { name: 'Conv2D', fn: conv2DNative },
  { name: 'FusedConv2D', fn: fusedConv2DNative },
  { name: CONV_BIAS_ACT_KERNEL, fn: convBiasActNative }, // kernels/conv-bias-act.ts
  { name: 'Conv2DBackpropFilter', fn: conv2DBackpropFilterNative },
  { name: 'Conv2DBackpropInput', fn: conv2DBackpropInputNative },
  { name: 'BatchMatMul', fn: batchMatMulNative },
  { name: '_FusedMatMul', fn: fusedMatMulNative },
  { name: 'Sum', fn: sumNative },
  { name: 'MaxPoolGrad', fn: maxPoolGradNative },
  { name: 'Add', fn: addNative },
  { name: 'Relu', fn: reluNative },
  ...depthwiseKernels(addon, fallback),
  transposeKernel(addon, fallback),
];

let registered: string[] | null = null;

/**
 * Registers the native kernels on wasm over whatever is registered now (call it after
 * registerWasmKernels, so tfkd's wasm kernels are the fallbacks). Idempotent. Returns the status
 * and the kernel names (empty when the addon is absent or disabled).
 */
export function registerNativeKernels(env: NodeJS.ProcessEnv = settingsEnv()): NativeStatus & { names: string[] } {
  const s = loadNative(env);
  if (!s.addon) return { ...s, names: [] };
  if (registered) return { ...s, names: registered };
  for (const k of NATIVE_KERNELS) {
    const cur = tf.getKernel(k.name, 'wasm');
    if (cur) {
      previous.set(k.name, { kernelFunc: cur.kernelFunc, setupFunc: cur.setupFunc, disposeFunc: cur.disposeFunc });
      tf.unregisterKernel(k.name, 'wasm');
    }
    // Keep the replaced kernel's setupFunc: it binds the C function the fallback calls.
    tf.registerKernel({ kernelName: k.name, backendName: 'wasm', kernelFunc: k.fn as unknown as tf.KernelFunc, setupFunc: cur?.setupFunc, disposeFunc: cur?.disposeFunc });
  }
  registered = NATIVE_KERNELS.map((k) => k.name);
  return { ...s, names: registered };
}

/** Puts the replaced kernels back (tests compare both paths in one process). */
/** Whether the native kernels currently back the wasm backend. */
export function nativeKernelsRegistered(): boolean {
  return registered !== null;
}

/**
 * The addon for tfkd's own JS kernels that can run in C on wasm-heap views (BatchNorm training,
 * batchnorm.ts; the ReLU gradient, relu-grad.ts), when the native kernels back wasm now; null
 * otherwise (their JS loops run). Tied to the registration so TFKD_NATIVE=0 and
 * unregisterNativeKernels switch those paths too.
 */
export function nativeAddonOnHeap(): NativeAddon | null {
  return registered !== null ? (status?.addon ?? null) : null;
}

export function unregisterNativeKernels(): void {
  if (!registered) return;
  for (const name of registered) {
    tf.unregisterKernel(name, 'wasm');
    const p = previous.get(name);
    if (p) tf.registerKernel({ kernelName: name, backendName: 'wasm', ...p });
  }
  previous.clear();
  registered = null;
}
