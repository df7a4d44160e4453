/**
 * Conv2DBackpropFilter for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 *   dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·sh + kh − pt, ow·sw + kw − pl, ci] · dy[b, oh, ow, co]
 *
 * Read with the batch as the reduction ("channel") axis this is itself a convolution, so we let
 * XNNPACK's Conv2D do it instead of materialising im2col patches:
 *   input  x' = transpose(x,  [3,1,2,0])  : [CI, H, W, B]      (CI plays the batch)
 *   filter f' = transpose(dy, [1,2,0,3])  : [OH, OW, B, CO]    (dy plays the filter)
 *   out      = conv2d(x', f', stride 1, dilation (sh,sw), pad (pt, ·, pl, ·)) : [CI, KH, KW, CO]
 *   dW       = transpose(out, [1,2,0,3])  : [KH, KW, CI, CO]
 * The bottom/right padding is chosen so the output is exactly KH×KW; when 'valid' padding left rows
 * of x unused the output is larger and we slice it. Measured against an im2col + matmul variant
 * in docs/PERFORMANCE.md.
 */
import { tf } from '../tf.js';
import { assertChannelsLast, f32, free, run, transpose, transposeOuterInner, transposeOuterMiddle, type ConvAttrs, type TensorInfo, type WasmBackendLike } from './wasm-util.js';

type Attrs = ConvAttrs & { filterShape: [number, number, number, number] };

/** Budget for one batch chunk's packed dy panel (OH·OW·chunk·8 floats); Infinity = no chunking. */
export const chunkPolicy = { bytes: 256 * 1024 };

export function conv2DBackpropFilterWasm(args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WasmBackendLike; attrs: Attrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertChannelsLast('Conv2DBackpropFilter', attrs.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    throw new Error(`tfkd wasm Conv2DBackpropFilter: dilation ${info.dilationHeight}x${info.dilationWidth} is not supported (only 1)`);
  }
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  // Output rows of the swapped conv: H + pt + pb − (OH−1)·sh; we want KH.
  const pb = Math.max(0, KH + (OH - 1) * sh - H - pt);
  const pr = Math.max(0, KW + (OW - 1) * sw - W - pl);

  const [B, , , CI] = x.shape;
  const CO = dy.shape[3];
  const KH2 = H + pt + pb - (OH - 1) * sh;
  const KW2 = W + pl + pr - (OW - 1) * sw;
  // The swapped conv is a GEMM with a huge reduction (OH·OW·batch) that XNNPACK does not block:
  // every 4-row tile of the output re-streams the whole packed dy. Splitting the batch into chunks
  // whose packed dy panel stays in L2 and summing the partial dW's was measured faster
  // (docs/PERFORMANCE.md); `chunkPolicy.bytes` is that panel budget.
  const chunk = Math.max(1, Math.min(B, Math.floor(chunkPolicy.bytes / (OH * OW * 8 * 4))));
  const sums = new Float32Array(CI * KH2 * KW2 * CO);
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const bc = Math.min(chunk, B - b0);
    // Both reshuffles by JS loops on the heap (see transposeOuterInner: the wasm Transpose is slow here).
    const xT = transposeOuterInner(backend, x, bc, H * W, CI, [CI, H, W, bc], b0 * H * W * CI);
    const dyT = transposeOuterMiddle(backend, dy, bc, OH * OW, CO, [OH, OW, bc, CO], b0 * OH * OW * CO);
    const part = run(backend, 'Conv2D', { x: xT, filter: dyT }, {
      strides: [1, 1], dilations: [sh, sw], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC',
    });
    const pv = f32(backend, part);
    for (let i = 0; i < sums.length; i++) sums[i] += pv[i];
    free(backend, xT, dyT, part);
  }
  let out = backend.makeOutput([CI, KH2, KW2, CO], 'float32');
  f32(backend, out).set(sums);
  if (KH2 !== KH || KW2 !== KW) {
    const cut = run(backend, 'Slice', { x: out }, { begin: [0, 0, 0, 0], size: [-1, KH, KW, -1] });
    free(backend, out);
    out = cut;
  }
  const dW = transpose(backend, out, [1, 2, 0, 3]);
  free(backend, out);
  return dW;
}
