// tfkd_native's pooling and element-wise kernels: maxPoolGrad, reluGrad, addF32, reluF32.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "eltwise.h"
#include "parallel.h"

namespace tfkd {

// ---- MaxPool gradient ---------------------------------------------------------------------------
namespace {

struct Pool {
  int64_t B, H, W, C, OH, OW, fh, fw, sh, sw, pt, pl;
  bool tiles() const { return fh == sh && fw == sw && pt == 0 && pl == 0 && OH * sh == H && OW * sw == W; }
};

void max_pool_grad_tiled(const Pool& p, const float* x, const float* dy, float* dx, int64_t b0, int64_t b1) {
  const int64_t C = p.C, n = p.fh * p.fw;
  std::vector<int64_t> off(static_cast<size_t>(n));
  // "First strict maximum, NaN never, all −∞ passes nothing", in a form without branches so each
  // channel loop vectorises (the branchy form was 6× slower): m = the window's maximum over
  // non-NaN values; the winner is the first position equal to m, and only when m > −∞.
  std::vector<float> mx(static_cast<size_t>(C));
  std::vector<int32_t> taken(static_cast<size_t>(C));
  float* __restrict m = mx.data();
  int32_t* __restrict tk = taken.data();
  for (int64_t b = b0; b < b1; b++)
    for (int64_t oh = 0; oh < p.OH; oh++)
      for (int64_t ow = 0; ow < p.OW; ow++) {
        for (int64_t r = 0, k = 0; r < p.fh; r++)
          for (int64_t q = 0; q < p.fw; q++, k++) off[k] = ((b * p.H + oh * p.sh + r) * p.W + ow * p.sw + q) * C;
        const float* __restrict dv = dy + ((b * p.OH + oh) * p.OW + ow) * C;
        for (int64_t c = 0; c < C; c++) m[c] = -INFINITY;
        for (int64_t k = 0; k < n; k++) {
          const float* __restrict xv = x + off[k];
          for (int64_t c = 0; c < C; c++) m[c] = xv[c] > m[c] ? xv[c] : m[c];
        }
        for (int64_t c = 0; c < C; c++) {
          const float mc = m[c];
          tk[c] = mc > -INFINITY ? 0 : 1;
        }
        for (int64_t k = 0; k < n; k++) {
          const float* __restrict xv = x + off[k];
          float* __restrict o = dx + off[k];
          for (int64_t c = 0; c < C; c++) {
            const float v = xv[c], mc = m[c], g = dv[c];
            const int32_t t = tk[c];
            const int32_t win = static_cast<int32_t>(v == mc) & static_cast<int32_t>(t == 0);
            o[c] = win ? g : 0.f;
            tk[c] = t | win;
          }
        }
      }
}

void max_pool_grad_scatter(const Pool& p, const float* x, const float* dy, float* dx, int64_t b0, int64_t b1) {
  const int64_t C = p.C, img = p.H * p.W * C;
  std::fill(dx + b0 * img, dx + b1 * img, 0.f);
  std::vector<float> best(static_cast<size_t>(C));
  std::vector<int64_t> pos(static_cast<size_t>(C));
  for (int64_t b = b0; b < b1; b++)
    for (int64_t oh = 0; oh < p.OH; oh++) {
      const int64_t r0 = std::max<int64_t>(0, oh * p.sh - p.pt), r1 = std::min<int64_t>(p.H, oh * p.sh - p.pt + p.fh);
      for (int64_t ow = 0; ow < p.OW; ow++) {
        const int64_t c0 = std::max<int64_t>(0, ow * p.sw - p.pl), c1 = std::min<int64_t>(p.W, ow * p.sw - p.pl + p.fw);
        std::fill(best.begin(), best.end(), -INFINITY);
        std::fill(pos.begin(), pos.end(), -1);
        for (int64_t r = r0; r < r1; r++)
          for (int64_t q = c0; q < c1; q++) {
            const int64_t off = ((b * p.H + r) * p.W + q) * C;
            const float* xv = x + off;
            for (int64_t c = 0; c < C; c++)
              if (xv[c] > best[c]) {
                best[c] = xv[c];
                pos[c] = off + c;
              }
          }
        const float* dv = dy + ((b * p.OH + oh) * p.OW + ow) * C;
        for (int64_t c = 0; c < C; c++)
          if (pos[c] >= 0) dx[pos[c]] += dv[c];
      }
    }
}

}  // namespace

// maxPoolGrad(x, dy, dx, dims[B,H,W,C,OH,OW,fh,fw,sh,sw,pt,pl]): dx gets dy at each window's first
// strict maximum in row-major window order (as tfjs's cpu backend); all −∞/NaN windows pass nothing.
// Images are independent (a window never leaves its image), so the batch splits across the kernel
// threads. When the windows tile the input exactly (window = stride, no padding, nothing left
// over: the usual 2×2/2 pool) every dx element belongs to one window and is written once, with
// no zero-fill pass and no scatter; otherwise dx is zeroed and the maxima scatter-add.
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 3, 12);
  const Pool p{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]};
  if (p.sh < 1 || p.sw < 1) throw Err{"dims: stride < 1"};
  F32 x = get_f32(env, argv[0], "x"), dy = get_f32(env, argv[1], "dy"), dx = get_f32(env, argv[2], "dx");
  const int64_t total = p.B * p.H * p.W * p.C;
  need(x, total, "x");
  need(dy, p.B * p.OH * p.OW * p.C, "dy");
  need(dx, total, "dx");
  // Threads only pay above ≈ 1 MB of input (thread start ≈ 50 µs).
  const int n = p.B < 2 || total < (int64_t{1} << 18) ? 1 : static_cast<int>(std::min<int64_t>(threads_now(), p.B));
  const bool tiled = p.tiles();
  parallel_rows(p.B, n, [&](int64_t b0, int64_t b1) {
    if (tiled) max_pool_grad_tiled(p, x.p, dy.p, dx.p, b0, b1);
    else max_pool_grad_scatter(p, x.p, dy.p, dx.p, b0, b1);
  });
  return nullptr;
}

// ---- ReLU gradient ------------------------------------------------------------------------------
// reluGrad(dy, x, out): out = dy·step(x) exactly as tfjs' composed gradient mul(dy, cast(step(x)))
// computes it, in one pass instead of three: dy·1 where x > 0, dy·NaN where x is NaN
// (step(NaN) = NaN), else dy·0 (±0, or NaN for an infinite dy).
namespace {

void relu_grad(const float* __restrict dy, const float* __restrict x, float* __restrict out, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    // step(x) as tfjs defines it (1 for x > 0, NaN for NaN, else 0), then the same product: this
    // form vectorises; selecting between dy and dy·0 did not (control flow).
    const float v = x[i];
    const float s = v > 0.f ? 1.f : 0.f;
    out[i] = dy[i] * (v == v ? s : v);
  }
}

}  // namespace

napi_value ReluGrad(napi_env env, napi_callback_info info) { return eltwise_grad_pass(env, info, "out", relu_grad); }

// ---- Element-wise Add and Relu ------------------------------------------------------------------
// The two element-wise ops of every training step that tfjs-backend-wasm runs on one thread (the
// bias and residual adds, gradient accumulation; the activations), split across the threads
// from 1 M elements. One IEEE add or compare per element, so the results are the same bits as
// wasm's or the cpu backend's.

// addF32(a, b, out, dims[rows, cols, mode]): mode 0 out = a + b (rows·cols each); mode 1 b has
// cols values broadcast over the rows; mode 2 the same with a.
napi_value AddF32(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 3, 3);
  const int64_t rows = d[0], cols = d[1], mode = d[2];
  if (mode > 2) throw Err{"add: mode must be 0, 1 or 2"};
  F32 a = get_f32(env, argv[0], "a"), b = get_f32(env, argv[1], "b"), out = get_f32(env, argv[2], "out");
  const int64_t n = rows * cols;
  need(a, mode == 2 ? cols : n, "a");
  need(b, mode == 1 ? cols : n, "b");
  need(out, n, "out");
  const float* __restrict pa = a.p;
  const float* __restrict pb = b.p;
  float* __restrict po = out.p;
  parallel_rows(rows, pass_threads(rows, cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* x = mode == 2 ? pa : pa + r * cols;
      const float* y = mode == 1 ? pb : pb + r * cols;
      float* o = po + r * cols;
      for (int64_t c = 0; c < cols; c++) o[c] = x[c] + y[c];
    }
  });
  return nullptr;
}

// reluF32(x, out): max(x, 0) as tfjs defines it: NaN stays NaN, −0 becomes +0.
napi_value ReluF32(napi_env env, napi_callback_info info) {
  return eltwise_pass(env, info, "out", [](const float* __restrict x, float* __restrict out, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const float v = x[i];
      out[i] = v <= 0.f ? 0.f : v;  // NaN <= 0 is false: NaN passes; −0 <= 0: +0
    }
  });
}

// biasReluF32(y, bias|null, dims[rows, cols], act): in place, y = relu?(y + bias) with addF32's
// add (mode 1) and reluF32's compare per element — the epilogue of tfkd's training conv
// (TfkdConv2DBiasAct), kept out of the convolution: oneDNN's AVX2 kernels start their sums from the
// bias, which rounds differently from adding it after the sum (as the separate Add does).
napi_value BiasReluF32(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 2, 2);
  const int64_t rows = d[0], cols = d[1];
  F32 y = get_f32(env, argv[0], "y");
  F32 bias;
  if (!is_null_or_undefined(env, argv[1])) bias = get_f32(env, argv[1], "bias");
  const int act = get_act(env, argv[3]);
  need(y, rows * cols, "y");
  if (bias.p) need(bias, cols, "bias");
  float* __restrict py = y.p;
  const float* __restrict pb = bias.p;
  parallel_rows(rows, pass_threads(rows, cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      float* o = py + r * cols;
      if (pb)
        for (int64_t c = 0; c < cols; c++) o[c] = o[c] + pb[c];
      if (act == 1)
        for (int64_t c = 0; c < cols; c++) o[c] = o[c] <= 0.f ? 0.f : o[c];  // as reluF32
    }
  });
  return nullptr;
}

}  // namespace tfkd
