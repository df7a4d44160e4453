// tfkd_native's depthwise convolution gradients (depthwiseBackpropFilter, depthwiseBackpropInput):
// the mobilenet / efficientnet / ONNX-student layers, whose gradients are tfkd's JS loops on wasm
// (src/student/kernels/depthwise.ts; tfjs-backend-wasm has none). The forward pass of small
// windows (3×3, 5×5) stays on XNNPACK: a C forward saved only ~2 % of an ONNX mobilenet_v3_small
// step (112×112, batch 16, 1 thread; the gradients here took it from 467 to 186 CPU ms), and it
// rounds differently from XNNPACK in the last bit, which small-batch BatchNorm nets amplify over
// steps. Large windows (≥ 49 taps: ConvNeXt's 7×7) run depthwiseForward here: XNNPACK took 42 ms
// of a 64×64 convnext_atto step's 199 (src/student/kernels/native-depthwise.ts, DEPTHWISE_FORWARD_TAPS).
//
//   y[b,oh,ow,c·M+q]  = Σ_{kh,kw} x[b, oh·sh+kh−pt, ow·sw+kw−pl, c] · W[kh,kw,c,q]   (taps in (kh, kw) order, float32)
//
// Layouts (tfjs NHWC): x [B,H,W,C], filter [KH,KW,C,M] (M = channel multiplier), dy
// [B,OH,OW,C·M], output channel of (c, q) = c·M + q:
//   dW[kh,kw,c,q]     = Σ_{b,oh,ow} x[b, oh·sh+kh−pt, ow·sw+kw−pl, c] · dy[b,oh,ow,c·M+q]
//   dx[b,ih,iw,c]     = Σ dy[b,oh,ow,c·M+q] · W[kh,kw,c,q] over the (oh,ow,kh,kw,q) that reach (ih,iw)
// Direct loops with channels innermost (contiguous, vectorised by the compiler): a depthwise layer
// carries ~1/C of a dense convolution's multiply-adds, so it is memory-bound and im2col would only
// add traffic. The batch is split into work units fixed by the shape (as conv.cc), each unit writes
// its own images of dx, and dW sums each unit's float64 partial in unit order: the numbers do
// not depend on the thread count. dW (a sum over B·OH·OW terms) is accumulated in float64 as the cpu
// backend and the JS kernel do, rounded to float32 once; dx (at most KH·KW·M terms an element) in
// float32.
#include <algorithm>
#include <vector>

#include "args.h"
#include "kernels.h"
#include "parallel.h"
#include "taps.h"

namespace tfkd {

namespace {

struct Dw {
  int64_t B, H, W, C, KH, KW, M, OH, OW, sh, sw, pt, pl;
  int64_t CO() const { return C * M; }
  double work() const { return static_cast<double>(B) * OH * OW * KH * KW * CO(); }
};

Dw dw_from(const std::vector<int64_t>& d) {
  Dw c{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]};
  if (c.sh < 1 || c.sw < 1) throw Err{"dims: stride < 1"};
  if (c.M < 1) throw Err{"dims: channel multiplier < 1"};
  return c;
}

// Units of the batch, by shape only (1 when the work is tiny): see the file comment.
int dw_units(const Dw& c) {
  if (c.B < 2 || c.work() < 1e6) return 1;
  return static_cast<int>(std::min<int64_t>(16, c.B));
}

template <class F>
void over_units(const Dw& c, F f) {
  const int U = dw_units(c);
  parallel_units(c.B, U, std::min(U, threads_now()), f);
}

// Not for_taps' order (taps.h): kh outside ow keeps the dW rows of one kh in cache while ow sweeps.
void backprop_filter(const Dw& c, const float* x, const float* dy, double* acc, int64_t b0, int64_t b1) {
  const int64_t CO = c.CO(), C = c.C, M = c.M;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t oh = 0; oh < c.OH; oh++)
      for (int64_t kh = 0; kh < c.KH; kh++) {
        const int64_t ih = oh * c.sh + kh - c.pt;
        if (ih < 0 || ih >= c.H) continue;
        for (int64_t ow = 0; ow < c.OW; ow++) {
          const float* dyo = dy + ((b * c.OH + oh) * c.OW + ow) * CO;
          for (int64_t kw = 0; kw < c.KW; kw++) {
            const int64_t iw = ow * c.sw + kw - c.pl;
            if (iw < 0 || iw >= c.W) continue;
            const float* xi = x + ((b * c.H + ih) * c.W + iw) * C;
            double* a = acc + (kh * c.KW + kw) * CO;
            if (M == 1) {
              for (int64_t ch = 0; ch < C; ch++) a[ch] += static_cast<double>(xi[ch]) * dyo[ch];
            } else {
              for (int64_t ch = 0; ch < C; ch++)
                for (int64_t q = 0; q < M; q++) a[ch * M + q] += static_cast<double>(xi[ch]) * dyo[ch * M + q];
            }
          }
        }
      }
}

void forward(const Dw& c, const float* x, const float* w, float* y, int64_t b0, int64_t b1) {
  const int64_t CO = c.CO(), C = c.C, M = c.M;
  const int64_t rows = c.OH * c.OW;
  std::fill(y + b0 * rows * CO, y + b1 * rows * CO, 0.f);
  for_taps(c, b0 * rows, b1 * rows, [&](int64_t r, int64_t k, int64_t pixel) {
    float* yo = y + r * CO;
    const float* xi = x + pixel * C;
    const float* wk = w + k * CO;
    if (M == 1) {
      for (int64_t ch = 0; ch < C; ch++) yo[ch] += xi[ch] * wk[ch];
    } else {
      for (int64_t ch = 0; ch < C; ch++)
        for (int64_t q = 0; q < M; q++) yo[ch * M + q] += xi[ch] * wk[ch * M + q];
    }
  });
}

void backprop_input(const Dw& c, const float* dy, const float* w, float* dx, int64_t b0, int64_t b1) {
  const int64_t CO = c.CO(), C = c.C, M = c.M;
  std::fill(dx + b0 * c.H * c.W * C, dx + b1 * c.H * c.W * C, 0.f);
  const int64_t rows = c.OH * c.OW;
  for_taps(c, b0 * rows, b1 * rows, [&](int64_t r, int64_t k, int64_t pixel) {
    const float* dyo = dy + r * CO;
    float* dxi = dx + pixel * C;
    const float* wk = w + k * CO;
    if (M == 1) {
      for (int64_t ch = 0; ch < C; ch++) dxi[ch] += dyo[ch] * wk[ch];
    } else {
      for (int64_t ch = 0; ch < C; ch++) {
        float s = 0.f;
        for (int64_t q = 0; q < M; q++) s += dyo[ch * M + q] * wk[ch * M + q];
        dxi[ch] += s;
      }
    }
  });
}

}  // namespace

// depthwiseForward(x, w, y, dims[13])
napi_value DepthwiseForward(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const Dw c = dw_from(get_shaped_args(env, info, argv, 3, 13));
  F32 x = get_f32(env, argv[0], "x"), w = get_f32(env, argv[1], "filter"), y = get_f32(env, argv[2], "y");
  need(x, c.B * c.H * c.W * c.C, "x");
  need(w, c.KH * c.KW * c.CO(), "filter");
  need(y, c.B * c.OH * c.OW * c.CO(), "y");
  over_units(c, [&](int64_t b0, int64_t b1, int, int) { forward(c, x.p, w.p, y.p, b0, b1); });
  return nullptr;
}

// depthwiseBackpropFilter(x, dy, dw, dims[13])
napi_value DepthwiseBackpropFilter(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const Dw c = dw_from(get_shaped_args(env, info, argv, 3, 13));
  F32 x = get_f32(env, argv[0], "x"), dy = get_f32(env, argv[1], "dy"), dw = get_f32(env, argv[2], "dw");
  const int64_t KC = c.KH * c.KW * c.CO();
  need(x, c.B * c.H * c.W * c.C, "x");
  need(dy, c.B * c.OH * c.OW * c.CO(), "dy");
  need(dw, KC, "dw");
  const int U = dw_units(c);
  std::vector<double> parts(static_cast<size_t>(U) * KC, 0.0);
  over_units(c, [&](int64_t b0, int64_t b1, int u, int) { backprop_filter(c, x.p, dy.p, parts.data() + u * KC, b0, b1); });
  for (int64_t i = 0; i < KC; i++) {
    double s = 0.0;
    for (int u = 0; u < U; u++) s += parts[u * KC + i];
    dw.p[i] = static_cast<float>(s);
  }
  return nullptr;
}

// depthwiseBackpropInput(dy, w, dx, dims[13])
napi_value DepthwiseBackpropInput(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const Dw c = dw_from(get_shaped_args(env, info, argv, 3, 13));
  F32 dy = get_f32(env, argv[0], "dy"), w = get_f32(env, argv[1], "filter"), dx = get_f32(env, argv[2], "dx");
  need(dy, c.B * c.OH * c.OW * c.CO(), "dy");
  need(w, c.KH * c.KW * c.CO(), "filter");
  need(dx, c.B * c.H * c.W * c.C, "dx");
  over_units(c, [&](int64_t b0, int64_t b1, int, int) { backprop_input(c, dy.p, w.p, dx.p, b0, b1); });
  return nullptr;
}

}  // namespace tfkd
