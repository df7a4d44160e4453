// tfkd_native's 2-D convolutions (conv2dForward, conv2dBackpropFilter, conv2dBackpropInput) as
// im2col/col2im + OpenBLAS sgemm, or on oneDNN when built with it (dnnl_conv.cc), and
// setChunkBytes, the size of the im2col scratch.
//
// Layouts (tfjs NHWC): x [B,H,W,CI], filter [KH,KW,CI,CO] = a row-major [K = KH·KW·CI, CO] matrix,
// y / dy [B,OH,OW,CO] = [rows = B·OH·OW, CO]. im2col row r = (b,oh,ow), column (kh,kw,ci):
//   col[r, (kh·KW + kw)·CI + ci] = x[b, oh·sh + kh − pt, ow·sw + kw − pl, ci]   (0 outside)
// so  y = col · W,  dW = colᵀ · dy,  dcol = dy · Wᵀ then col2im (scatter-add) gives dx.
// Rows are processed in chunks whose col block fits `chunk_bytes` (cache-sized scratch); the
// batch is split into work units run by an OpenMP team (see parallel_units).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "args.h"
#include "dnnl_conv.h"
#include "gemm.h"
#include "parallel.h"
#include "taps.h"

namespace tfkd {

namespace {

std::atomic<size_t> g_chunk_bytes{4u << 20};

struct Conv {
  int64_t B, H, W, CI, KH, KW, CO, OH, OW, sh, sw, pt, pl;
  int64_t K() const { return KH * KW * CI; }
  int64_t rows() const { return B * OH * OW; }
  // 1×1, stride 1, no padding: col is x itself.
  bool pointwise() const { return KH == 1 && KW == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && OH == H && OW == W; }
  tfkd_dnnl::ConvShape dnnl() const { return {B, H, W, CI, KH, KW, CO, OH, OW, sh, sw, pt, pl}; }
  int64_t chunk_rows() const {
    int64_t r = static_cast<int64_t>(g_chunk_bytes.load() / sizeof(float)) / std::max<int64_t>(1, K());
    return std::max<int64_t>(1, std::min(r, rows()));
  }
};

Conv conv_from(const std::vector<int64_t>& d) {
  Conv c{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]};
  if (c.sh < 1 || c.sw < 1) throw Err{"dims: stride < 1"};
  return c;
}

// col[(r − r0), :] for rows r in [r0, r1)
void im2col(const Conv& c, const float* x, float* col, int64_t r0, int64_t r1) {
  const int64_t K = c.K();
  const size_t run = static_cast<size_t>(c.CI) * sizeof(float);
  for (int64_t r = r0; r < r1; r++) {
    const int64_t b = r / (c.OH * c.OW), rem = r % (c.OH * c.OW), oh = rem / c.OW, ow = rem % c.OW;
    float* dst = col + (r - r0) * K;
    for (int64_t kh = 0; kh < c.KH; kh++) {
      const int64_t ih = oh * c.sh + kh - c.pt;
      if (ih < 0 || ih >= c.H) {
        std::memset(dst + kh * c.KW * c.CI, 0, run * c.KW);
        continue;
      }
      for (int64_t kw = 0; kw < c.KW; kw++) {
        const int64_t iw = ow * c.sw + kw - c.pl;
        float* d = dst + (kh * c.KW + kw) * c.CI;
        if (iw < 0 || iw >= c.W) std::memset(d, 0, run);
        else std::memcpy(d, x + ((b * c.H + ih) * c.W + iw) * c.CI, run);
      }
    }
  }
}

void col2im_add(const Conv& c, const float* col, float* dx, int64_t r0, int64_t r1) {
  const int64_t K = c.K(), CI = c.CI;
  for_taps(c, r0, r1, [&](int64_t r, int64_t k, int64_t pixel) {
    const float* s = col + (r - r0) * K + k * CI;
    float* d = dx + pixel * CI;
    for (int64_t ci = 0; ci < CI; ci++) d[ci] += s[ci];
  });
}

// Work units of a convolution: the batch in up to 16 contiguous image ranges, a number fixed by
// the shape alone (1 when the work is tiny), never by the thread count: each unit's rows are
// chunked from its own start and its weight-gradient partial is summed in unit order, so the
// numbers do not depend on TFKD_THREADS (tested). Threads take units in turn.
constexpr int kMaxUnits = 16;
int conv_units(const Conv& c) {
  const double macs = static_cast<double>(c.rows()) * static_cast<double>(c.K()) * static_cast<double>(c.CO);
  if (c.B < 2 || macs < 4e6) return 1;
  return static_cast<int>(std::min<int64_t>(kMaxUnits, c.B));
}

// The im2col paths' shared loop: the batch in conv_units(c) units on the kernel threads, each
// unit's rows [b0·OH·OW, b1·OH·OW) in chunks of chunk_rows() from the unit's own start (fixed by the
// shape, so the numbers do not depend on the thread count). chunk(r0, r1, u, col) gets the running
// thread's scratch of chunk_rows()·K floats; unit(b0, b1, u) runs once per unit before its chunks.
template <class Unit, class Chunk>
void conv_chunks(const Conv& c, Unit unit, Chunk chunk) {
  const int64_t step = c.chunk_rows(), per_b = c.OH * c.OW;
  const int U = conv_units(c), n = std::min(U, threads_now());
  const std::vector<float*> cols = slots(n, step * c.K());
  parallel_units(c.B, U, n, [&](int64_t b0, int64_t b1, int u, int t) {
    unit(b0, b1, u);
    const int64_t end = b1 * per_b;
    for (int64_t r0 = b0 * per_b; r0 < end; r0 += step) chunk(r0, std::min(end, r0 + step), u, cols[t]);
  });
}

// y = conv(x, w) (+ bias, act): im2col + sgemm per row chunk, the batch split across kernel threads.
void conv_forward(const Conv& c, const float* x, const float* w, const float* bias, float* y, int act) {
  const int64_t K = c.K(), rows = c.rows();
  if (c.pointwise()) {
    sgemm_split(CblasNoTrans, CblasNoTrans, rows, c.CO, K, x, K, w, c.CO, 0.f, y, c.CO);
    bias_act(y, rows, c.CO, bias, act);
    return;
  }
  conv_chunks(c, [](int64_t, int64_t, int) {}, [&](int64_t r0, int64_t r1, int, float* col) {
    im2col(c, x, col, r0, r1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, c.CO, K, 1.f, col, K, w, c.CO, 0.f, y + r0 * c.CO, c.CO);
    bias_act(y + r0 * c.CO, r1 - r0, c.CO, bias, act);
  });
}

}  // namespace

// conv2dForward(x, w, bias|null, y, dims[13], act)
napi_value Conv2DForward(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  const Conv c = conv_from(get_shaped_args(env, info, argv, 4, 13));
  F32 x = get_f32(env, argv[0], "x"), w = get_f32(env, argv[1], "filter"), y = get_f32(env, argv[3], "y");
  F32 bias;
  if (!is_null_or_undefined(env, argv[2])) bias = get_f32(env, argv[2], "bias");
  const int act = get_act(env, argv[5]);
  const int64_t K = c.K(), rows = c.rows();
  need(x, c.B * c.H * c.W * c.CI, "x");
  need(w, K * c.CO, "filter");
  need(y, rows * c.CO, "y");
  if (bias.p) need(bias, c.CO, "bias");
  if (rows == 0 || c.CO == 0) return nullptr;
  if (tfkd_dnnl::forward(c.dnnl(), x.p, w.p, bias.p, y.p, act == 1)) return nullptr;
  conv_forward(c, x.p, w.p, bias.p, y.p, act);
  return nullptr;
}

// conv2dBackpropFilter(x, dy, dw, dims[13])
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const Conv c = conv_from(get_shaped_args(env, info, argv, 3, 13));
  F32 x = get_f32(env, argv[0], "x"), dy = get_f32(env, argv[1], "dy"), dw = get_f32(env, argv[2], "dw");
  const int64_t K = c.K(), rows = c.rows();
  need(x, c.B * c.H * c.W * c.CI, "x");
  need(dy, rows * c.CO, "dy");
  need(dw, K * c.CO, "dw");
  // oneDNN's weight gradient wins on narrow layers only (measured, interleaved A/B at batch 128:
  // 16→16 3×3 4.5–6.6 vs 8.0–9.5 ms, 32→32 ≈ 10 % faster; 32→64 and 64→64 10–30 % slower than
  // im2col + sgemm). A fixed rule, not a timing-based choice, so runs stay reproducible. It runs on
  // one thread (tfkd_dnnl::backward_weights): oneDNN would split the batch by its thread count.
  if (rows > 0 && c.CO > 0 && K > 0 && c.CI * c.CO <= 1024 && tfkd_dnnl::backward_weights(c.dnnl(), x.p, dy.p, dw.p)) return nullptr;
  std::fill(dw.p, dw.p + K * c.CO, 0.f);
  if (rows == 0 || c.CO == 0 || K == 0) return nullptr;
  if (c.pointwise()) {
    sgemm_split(CblasTrans, CblasNoTrans, K, c.CO, rows, x.p, K, dy.p, c.CO, 0.f, dw.p, c.CO);
    return nullptr;
  }
  const int64_t KC = K * c.CO;
  const int U = conv_units(c);
  // Unit 0 accumulates into dw (zeroed above), unit u > 0 into its own partial; dw = P0 + P1 + …
  // in unit order.
  thread_local std::vector<float> parts;
  if (parts.size() < static_cast<size_t>((U - 1) * KC)) parts.resize(static_cast<size_t>((U - 1) * KC));
  float* pp = parts.data();
  const auto acc = [&](int u) { return u == 0 ? dw.p : pp + (u - 1) * KC; };
  conv_chunks(
      c, [&](int64_t, int64_t, int u) { if (u > 0) std::fill(acc(u), acc(u) + KC, 0.f); },
      [&](int64_t r0, int64_t r1, int u, float* col) {
        im2col(c, x.p, col, r0, r1);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, c.CO, r1 - r0, 1.f, col, K, dy.p + r0 * c.CO, c.CO, 1.f, acc(u), c.CO);
      });
  for (int u = 1; u < U; u++) {
    const float* part = pp + (u - 1) * KC;
    for (int64_t i = 0; i < KC; i++) dw.p[i] += part[i];
  }
  return nullptr;
}

// conv2dBackpropInput(dy, w, dx, dims[13])
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const Conv c = conv_from(get_shaped_args(env, info, argv, 3, 13));
  F32 dy = get_f32(env, argv[0], "dy"), w = get_f32(env, argv[1], "filter"), dx = get_f32(env, argv[2], "dx");
  const int64_t K = c.K(), rows = c.rows();
  need(dy, rows * c.CO, "dy");
  need(w, K * c.CO, "filter");
  need(dx, c.B * c.H * c.W * c.CI, "dx");
  if (rows > 0 && K > 0 && tfkd_dnnl::backward_data(c.dnnl(), dy.p, w.p, dx.p)) return nullptr;
  if (c.pointwise()) {
    if (rows > 0 && K > 0) sgemm_split(CblasNoTrans, CblasTrans, rows, K, c.CO, dy.p, c.CO, w.p, c.CO, 0.f, dx.p, K);
    return nullptr;
  }
  const int64_t img = c.H * c.W * c.CI;
  if (rows == 0 || K == 0) {
    std::fill(dx.p, dx.p + c.B * img, 0.f);
    return nullptr;
  }
  if (c.sh == 1 && c.sw == 1 && c.H * c.W <= c.OH * c.OW) {
    // Stride 1 and 'same'-sized: dx is the "full" correlation of dy with the filter rotated 180° and its channel
    // axes swapped, i.e. a forward convolution (im2col + sgemm, no scatter-add):
    //   dx[b,i,j,ci] = Σ_{kh,kw,co} dy[b, i+pt−kh, j+pl−kw, co] · W[kh,kw,ci,co]
    //               = Σ_{kh',kw',co} dy[b, i+kh'−pt', j+kw'−pl', co] · Wr[kh',kw',co,ci]
    // with kh' = KH−1−kh, pt' = KH−1−pt (likewise for w) and Wr[kh',kw',co,ci] = W[kh,kw,ci,co].
    // Same MACs as the forward pass when H·W = OH·OW; 15–27 % faster than sgemm + col2im on the
    // resnet 3×3 layers (docs/PERFORMANCE.md). A 'valid' convolution would pay (H·W)/(OH·OW) more
    // MACs (cnn conv2: +17 %, measured slower), so it keeps col2im.
    const Conv r{c.B, c.OH, c.OW, c.CO, c.KH, c.KW, c.CI, c.H, c.W, 1, 1, c.KH - 1 - c.pt, c.KW - 1 - c.pl};
    std::vector<float> wr(static_cast<size_t>(K * c.CO));
    for (int64_t kh = 0; kh < c.KH; kh++)
      for (int64_t kw = 0; kw < c.KW; kw++)
        for (int64_t ci = 0; ci < c.CI; ci++)
          for (int64_t co = 0; co < c.CO; co++)
            wr[(((c.KH - 1 - kh) * c.KW + (c.KW - 1 - kw)) * c.CO + co) * c.CI + ci] = w.p[((kh * c.KW + kw) * c.CI + ci) * c.CO + co];
    conv_forward(r, dy.p, wr.data(), nullptr, dx.p, 0);
    return nullptr;
  }
  // Rows of images [b0, b1) scatter only into dx's images [b0, b1): units never share output.
  conv_chunks(
      c, [&](int64_t b0, int64_t b1, int) { std::fill(dx.p + b0 * img, dx.p + b1 * img, 0.f); },
      [&](int64_t r0, int64_t r1, int, float* col) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, K, c.CO, 1.f, dy.p + r0 * c.CO, c.CO, w.p, c.CO, 0.f, col, K);
        col2im_add(c, col, dx.p, r0, r1);
      });
  return nullptr;
}

napi_value SetChunkBytes(napi_env env, napi_callback_info info) {
  g_chunk_bytes.store(static_cast<size_t>(get_setting(env, info, 4096, "chunk bytes must be ≥ 4096")));
  return nullptr;
}

}  // namespace tfkd
