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
import { assertNoDilation, f32, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

interface Attrs {
  strides: number | [number, number];
  dilations: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function depthwiseBackpropFilterWasm(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: WasmBackendLike;
  attrs: Attrs & { filterShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertNoDilation('DepthwiseConv2dNativeBackpropFilter', attrs.dilations);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const M = info.outChannels / C;
  const CO = info.outChannels;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const acc = new Float64Array(KH * KW * CO);
  const xv = f32(backend, x);
  const dv = f32(backend, dy);
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
            const aOff = (kh * KW + kw) * CO;
            if (M === 1) {
              for (let c = 0; c < C; c++) acc[aOff + c] += xv[xOff + c] * dv[dOff + c];
            } else {
              for (let c = 0; c < C; c++) {
                const xc = xv[xOff + c];
                for (let q = 0; q < M; q++) acc[aOff + c * M + q] += xc * dv[dOff + c * M + q];
              }
            }
          }
        }
      }
    }
  }
  const out = backend.makeOutput([KH, KW, C, M], 'float32');
  f32(backend, out).set(acc);
  return out;
}

export function depthwiseBackpropInputWasm(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: WasmBackendLike;
  attrs: Attrs & { inputShape: [number, number, number, number] };
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertNoDilation('DepthwiseConv2dNativeBackpropInput', attrs.dilations);
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const M = info.outChannels / C;
  const CO = info.outChannels;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const acc = new Float64Array(B * H * W * C);
  const dv = f32(backend, dy);
  const wv = f32(backend, filter);
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
            const wOff = (kh * KW + kw) * CO;
            if (M === 1) {
              for (let c = 0; c < C; c++) acc[xOff + c] += dv[dOff + c] * wv[wOff + c];
            } else {
              for (let c = 0; c < C; c++) {
                let s = 0;
                for (let q = 0; q < M; q++) s += dv[dOff + c * M + q] * wv[wOff + c * M + q];
                acc[xOff + c] += s;
              }
            }
          }
        }
      }
    }
  }
  const out = backend.makeOutput([B, H, W, C], 'float32');
  f32(backend, out).set(acc);
  return out;
}
