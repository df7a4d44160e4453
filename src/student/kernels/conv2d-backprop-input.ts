/**
 * A faster Conv2DBackpropInput for the wasm backend. The shipped kernel is a direct C loop nest
 * (no XNNPACK); the input gradient is a plain convolution of dy with the spatially flipped,
 * in/out-swapped filter, which XNNPACK runs as an IGEMM:
 *
 *   dx = conv2d(dilate(dy, s), W̃, stride 1, pad (KH−1−pt, H − Hd + pt, KW−1−pl, W − Wd + pl))
 *   W̃[kh,kw,co,ci] = W[KH−1−kh, KW−1−kw, ci, co],   Hd = (OH−1)·sh + 1 (zeros between dy rows)
 *
 * For stride > 1 the zero-inserted dy costs sh·sw× the multiply-adds of the ideal transposed
 * convolution; we keep the shipped kernel where that is measured slower (see `useShipped`), and
 * wherever the padding above would be negative.
 */
import { tf } from '../tf.js';
import { assertChannelsLast, f32, free, run, type ConvAttrs, type KernelArgs, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

type Args = KernelArgs<{ dy: TensorInfo; filter: TensorInfo }, ConvAttrs & { inputShape: [number, number, number, number] }>;

/** Spatially flipped filter with in/out channels swapped: [KH,KW,CI,CO] → [KH,KW,CO,CI]. */
function flipSwapFilter(backend: WasmBackendLike, filter: TensorInfo): TensorInfo {
  const [KH, KW, CI, CO] = filter.shape;
  const out = backend.makeOutput([KH, KW, CO, CI], 'float32');
  const w = f32(backend, filter);
  const o = f32(backend, out);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * CI * CO;
      const dst = (kh * KW + kw) * CO * CI;
      for (let ci = 0; ci < CI; ci++) for (let co = 0; co < CO; co++) o[dst + co * CI + ci] = w[src + ci * CO + co];
    }
  }
  return out;
}

/** dy with (s−1) zero rows/columns inserted between its rows/columns. */
function dilateSpatial(backend: WasmBackendLike, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [B, OH, OW, C] = dy.shape;
  const Hd = (OH - 1) * sh + 1;
  const Wd = (OW - 1) * sw + 1;
  const out = backend.makeOutput([B, Hd, Wd, C], 'float32');
  const src = f32(backend, dy);
  const dst = f32(backend, out);
  dst.fill(0);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const s = ((b * OH + oh) * OW + ow) * C;
        dst.set(src.subarray(s, s + C), ((b * Hd + oh * sh) * Wd + ow * sw) * C);
      }
    }
  }
  return out;
}

export function conv2DBackpropInputWasm(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertChannelsLast('Conv2DBackpropInput', attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
  );
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const Hd = (OH - 1) * sh + 1;
  const Wd = (OW - 1) * sw + 1;
  const t = KH - 1 - pt;
  const l = KW - 1 - pl;
  const b = H - Hd + pt;
  const r = W - Wd + pl;
  if (t < 0 || l < 0 || b < 0 || r < 0 || useShipped(info)) return run(backend, 'Conv2DBackpropInput', inputs, attrs as unknown as Record<string, unknown>);

  const wT = flipSwapFilter(backend, filter);
  const src = sh === 1 && sw === 1 ? dy : dilateSpatial(backend, dy, sh, sw);
  const dx = run(backend, 'Conv2D', { x: src, filter: wT }, { strides: [1, 1], dilations: [1, 1], pad: [[0, 0], [t, b], [l, r], [0, 0]], dataFormat: 'NHWC' });
  free(backend, wT);
  if (src !== dy) free(backend, src);
  return dx;
}

/**
 * Strided cases where the shipped direct loop wins over conv-of-zero-inserted-dy (measured:
 * docs/PERFORMANCE.md). Overridable for the kernel tests, which exercise both paths.
 */
export const backpropInputPolicy = { stridedViaConv: true };
function useShipped(info: tf.backend_util.Conv2DInfo): boolean {
  return (info.strideHeight > 1 || info.strideWidth > 1) && !backpropInputPolicy.stridedViaConv;
}
