/**
 * The depthwise convolution gradients on the native add-on (native/src/depthwise.cc):
 * DepthwiseConv2dNativeBackpropFilter and …BackpropInput, which tfjs-backend-wasm lacks and tfkd
 * otherwise runs as JS loops (depthwise.ts) — the slowest part of a mobilenet / efficientnet /
 * ONNX-student step (measured: an ONNX mobilenet_v3_small step at 112×112, batch 16, 1 thread, from
 * 467 to 186 CPU ms). The add-on splits the batch over its threads (the numbers do not depend on how
 * many) and accumulates dW in float64 as the JS loops do. The forward pass stays XNNPACK's for
 * windows below DEPTHWISE_FORWARD_TAPS (why: native/src/depthwise.cc), and runs in C above.
 *
 * Registered with the other native kernels (native.ts); a case the add-on does not take (dilation,
 * NCHW, non-float32) goes to the kernel it replaced. Checked against the cpu backend in
 * test/student/kernels/native-depthwise.test.ts.
 */
import { tf } from '../tf.js';
import { f32, type ConvAttrs, type KernelArgs, type TensorInfo } from './wasm-util.js';

/** The add-on's depthwise entry points. dims: [B,H,W,C,KH,KW,M,OH,OW,sh,sw,pt,pl], M the channel multiplier. */
export interface DepthwiseAddon {
  depthwiseForward?(x: Float32Array, w: Float32Array, y: Float32Array, dims: Int32Array): void;
  depthwiseBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims: Int32Array): void;
  depthwiseBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims: Int32Array): void;
}

type Shape4 = [number, number, number, number];

const size = (shape: readonly number[]): number => shape.reduce((p, v) => p * v, 1);
const nhwc = (f: string | undefined): boolean => f === undefined || f === 'NHWC' || f === 'channelsLast';
const undilated = (d: number | [number, number] | undefined): boolean => d === undefined || (Array.isArray(d) ? d : [d, d]).every((v) => v === 1);
const float = (...t: TensorInfo[]): boolean => t.every((v) => v.dtype === 'float32' && size(v.shape) > 0);

function dims(xShape: Shape4, filterShape: Shape4, a: ConvAttrs): Int32Array {
  const i = tf.backend_util.computeConv2DInfo(xShape, filterShape, a.strides, 1, a.pad, a.dimRoundingMode, true);
  return Int32Array.from([
    i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.filterHeight, i.filterWidth, i.outChannels / i.inChannels,
    i.outHeight, i.outWidth, i.strideHeight, i.strideWidth, i.padInfo.top, i.padInfo.left,
  ]);
}

/**
 * Windows of at least this many taps run their forward pass in C (ConvNeXt's 7×7: 49); smaller
 * ones stay on XNNPACK, whose rounding the recorded mobilenet / efficientnet / shufflenet figures
 * and their PyTorch parity rest on (native/src/depthwise.cc). A rule of the shape, not of timing.
 */
export const DEPTHWISE_FORWARD_TAPS = 49;

/** The three kernels, given the add-on and the fallback to the kernels they replace. */
export function depthwiseKernels(addon: () => DepthwiseAddon, fallback: (name: string, args: unknown) => TensorInfo): Array<{ name: string; fn: (args: never) => TensorInfo }> {
  function forward(args: KernelArgs<{ x: TensorInfo; filter: TensorInfo }, ConvAttrs>): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { x, filter } = inputs;
    const nat = addon();
    const taps = filter.shape[0] * filter.shape[1];
    if (!nat.depthwiseForward || taps < DEPTHWISE_FORWARD_TAPS || !nhwc(attrs.dataFormat) || !undilated(attrs.dilations) || !float(x, filter)) return fallback('DepthwiseConv2dNative', args);
    const d = dims(x.shape as Shape4, filter.shape as Shape4, attrs);
    const y = backend.makeOutput([d[0], d[7], d[8], d[3] * d[6]], 'float32');
    nat.depthwiseForward(f32(backend, x), f32(backend, filter), f32(backend, y), d);
    return y;
  }

  function backpropFilter(args: KernelArgs<{ x: TensorInfo; dy: TensorInfo }, ConvAttrs & { filterShape: Shape4 }>): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { x, dy } = inputs;
    if (!nhwc(attrs.dataFormat) || !undilated(attrs.dilations) || !float(x, dy)) return fallback('DepthwiseConv2dNativeBackpropFilter', args);
    const dw = backend.makeOutput([...attrs.filterShape], 'float32');
    addon().depthwiseBackpropFilter(f32(backend, x), f32(backend, dy), f32(backend, dw), dims(x.shape as Shape4, attrs.filterShape, attrs));
    return dw;
  }

  function backpropInput(args: KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, ConvAttrs & { inputShape: Shape4 }>): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    if (!nhwc(attrs.dataFormat) || !undilated(attrs.dilations) || !float(dy, filter)) return fallback('DepthwiseConv2dNativeBackpropInput', args);
    const dx = backend.makeOutput([...attrs.inputShape], 'float32');
    addon().depthwiseBackpropInput(f32(backend, dy), f32(backend, filter), f32(backend, dx), dims(attrs.inputShape, filter.shape as Shape4, attrs));
    return dx;
  }

  return [
    { name: 'DepthwiseConv2dNative', fn: forward as (args: never) => TensorInfo },
    { name: 'DepthwiseConv2dNativeBackpropFilter', fn: backpropFilter as (args: never) => TensorInfo },
    { name: 'DepthwiseConv2dNativeBackpropInput', fn: backpropInput as (args: never) => TensorInfo },
  ];
}
