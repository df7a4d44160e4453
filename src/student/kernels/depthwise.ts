/**
 * DepthwiseConv2dNativeBackpropFilter / …BackpropInput for the wasm backend (both missing in
 * tfjs-backend-wasm 4.22). Per-channel formulations, run as JavaScript loops directly on the wasm
 * heap (channels innermost, so every inner loop walks contiguous memory). XNNPACK has no grouped
 * convolution tfjs exposes for the swapped-axes trick Conv2DBackpropFilter uses, and depthwise
 * layers carry ~1/C of a dense conv's multiply-adds, so loops are a fair trade here.
 * Filter layout [KH, KW, C, M] (M = channel multiplier), output channel of (c, q) is c·M + q.
 *
 *   dW[kh,kw,c,q] = Σ_{b,oh,ow} x[b, oh·sh+kh−pt, ow·sw+kw−pl, c] · dy[b,oh,ow,c·M+q]
 *   dx[b,ih,iw,c] = Σ_{kh,kw,q} dy[b,oh,ow,c·M+q] · W[kh,kw,c,q]   over (oh,ow,kh,kw) with ih = oh·sh+kh−pt, iw = ow·sw+kw−pl
 * Sums are accumulated in float64 (as the cpu backend does) and rounded to float32 once.
 */
import { tf } from '../tf.js';
import { assertNoDilation, f32, type ConvAttrs, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

export function depthwiseBackpropFilterWasm(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: WasmBackendLike;
  attrs: ConvAttrs & { filterShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertNoDilation('DepthwiseConv2dNativeBackpropFilter', attrs.dilations);
  const g = geometry(x.shape as [number, number, number, number], attrs.filterShape, attrs);
  const acc = new Float64Array(g.KH * g.KW * g.CO);
  accumulate(g, true, acc, f32(backend, x), f32(backend, dy));
  const out = backend.makeOutput([g.KH, g.KW, g.C, g.M], 'float32');
  f32(backend, out).set(acc);
  return out;
}

export function depthwiseBackpropInputWasm(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: WasmBackendLike;
  attrs: ConvAttrs & { inputShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertNoDilation('DepthwiseConv2dNativeBackpropInput', attrs.dilations);
  const g = geometry(attrs.inputShape, filter.shape as [number, number, number, number], attrs);
  const acc = new Float64Array(g.B * g.H * g.W * g.C);
  accumulate(g, false, acc, f32(backend, filter), f32(backend, dy));
  const out = backend.makeOutput([g.B, g.H, g.W, g.C], 'float32');
  f32(backend, out).set(acc);
  return out;
}

type Geometry = ReturnType<typeof geometry>;

function geometry(xShape: [number, number, number, number], filterShape: [number, number, number, number], attrs: ConvAttrs) {
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  return { B, H, W, C, OH, OW, KH, KW, sh: info.strideHeight, sw: info.strideWidth, M: info.outChannels / C, CO: info.outChannels, pt: info.padInfo.top, pl: info.padInfo.left };
}

/**
 * The one loop nest of both gradients: every tap (b, oh, kh, ow, kw) that lands inside x, with its
 * offsets into x / dx (xOff), dy (dOff) and the filter / dW (kOff). The filter gradient
 * (`filterGrad`: acc = dW, src = x) adds x·dy into dW; the input gradient (acc = dx, src = W) adds
 * dy·W into dx. The per-tap work stays inline, each gradient's loops exactly as they were when the
 * two had their own loop nests (no callback in the hot loop; the mode is a loop-invariant branch),
 * in the same order, so the sums are unchanged.
 */
function accumulate(g: Geometry, filterGrad: boolean, acc: Float64Array, src: Float32Array, dv: Float32Array): void {
  const { B, H, W, C, OH, OW, KH, KW, sh, sw, M, CO, pt, pl } = g;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh - pt;
        if (ih < 0 || ih >= H) continue;
        for (let ow = 0; ow < OW; ow++) {
          const dOff = ((b * OH + oh) * OW + ow) * CO;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw - pl;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            const kOff = (kh * KW + kw) * CO;
            if (filterGrad) {
              if (M === 1) {
                for (let c = 0; c < C; c++) acc[kOff + c] += src[xOff + c] * dv[dOff + c];
              } else {
                for (let c = 0; c < C; c++) {
                  const xc = src[xOff + c];
                  for (let q = 0; q < M; q++) acc[kOff + c * M + q] += xc * dv[dOff + c * M + q];
                }
              }
            } else if (M === 1) {
              for (let c = 0; c < C; c++) acc[xOff + c] += dv[dOff + c] * src[kOff + c];
            } else {
              for (let c = 0; c < C; c++) {
                let s = 0;
                for (let q = 0; q < M; q++) s += dv[dOff + c * M + q] * src[kOff + c * M + q];
                acc[xOff + c] += s;
              }
            }
          }
        }
      }
    }
  }
}
