// tfkd_native: the hot convolution / matmul kernels of the student's training step as
// im2col/col2im + OpenBLAS sgemm (multi-threaded), for tfjs-backend-wasm tensors.
//
// Every function takes Float32Array views of the wasm heap (no copies): the caller allocates the
// outputs first and takes the views afterwards (the heap may grow and detach old views on
// allocation; nothing here allocates on the wasm heap). Shapes come in an Int32Array; every view's
// length is checked against the shape before anything is read or written, so a wrong call throws
// instead of touching memory outside the tensors.
//
// Layouts (tfjs NHWC): x [B,H,W,CI], filter [KH,KW,CI,CO] = a row-major [K = KH·KW·CI, CO] matrix,
// y / dy [B,OH,OW,CO] = [rows = B·OH·OW, CO]. im2col row r = (b,oh,ow), column (kh,kw,ci):
//   col[r, (kh·KW + kw)·CI + ci] = x[b, oh·sh + kh − pt, ow·sw + kw − pl, ci]   (0 outside)
// so  y = col · W,  dW = colᵀ · dy,  dcol = dy · Wᵀ then col2im (scatter-add) gives dx.
// Rows are processed in chunks whose col block fits `chunk_bytes` (cache-sized scratch); the
// batch is split into work units run by an OpenMP team (see parallel_units).
// Also: training BatchNorm forward/backward (bnTrain, bnTrainGrad), the JS loops of
// src/student/kernels/batchnorm.ts in C.
#define NAPI_VERSION 8
#include <node_api.h>
#include <cblas.h>

#include "dnnl_conv.h"
#ifndef TFKD_HAVE_DNNL
// Built without oneDNN: every convolution takes the im2col + OpenBLAS path.
namespace tfkd_dnnl {
bool available() { return false; }
void set_enabled(bool) {}
void set_threads(int) {}
std::string version() { return ""; }
bool forward(const ConvShape&, const float*, const float*, const float*, float*, bool) { return false; }
bool backward_data(const ConvShape&, const float*, const float*, float*) { return false; }
bool backward_weights(const ConvShape&, const float*, const float*, float*) { return false; }
}  // namespace tfkd_dnnl
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <exception>
#include <mutex>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <vector>

namespace {

std::atomic<size_t> g_chunk_bytes{4u << 20};

struct Err {
  std::string msg;
};

#define NAPI_OK(call)                                   \
  do {                                                  \
    if ((call) != napi_ok) throw Err{"N-API call failed: " #call}; \
  } while (0)

struct F32 {
  float* p = nullptr;
  size_t n = 0;
};

bool is_null_or_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  NAPI_OK(napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

F32 get_f32(napi_env env, napi_value v, const char* what) {
  bool is_ta = false;
  NAPI_OK(napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) throw Err{std::string(what) + ": expected a Float32Array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t off;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &off));
  if (type != napi_float32_array) throw Err{std::string(what) + ": expected a Float32Array"};
  if (data == nullptr && length > 0) throw Err{std::string(what) + ": detached buffer"};
  return F32{static_cast<float*>(data), length};
}

std::vector<int64_t> get_dims(napi_env env, napi_value v, size_t want) {
  bool is_ta = false;
  NAPI_OK(napi_is_typedarray(env, v, &is_ta));
  if (!is_ta) throw Err{"dims: expected an Int32Array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t off;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &off));
  if (type != napi_int32_array || length != want) throw Err{"dims: expected an Int32Array of " + std::to_string(want)};
  const int32_t* d = static_cast<const int32_t*>(data);
  std::vector<int64_t> out(d, d + length);
  for (int64_t x : out)
    if (x < 0) throw Err{"dims: negative value"};
  return out;
}

int32_t get_i32(napi_env env, napi_value v) {
  int32_t x;
  NAPI_OK(napi_get_value_int32(env, v, &x));
  return x;
}

void need(const F32& a, int64_t n, const char* what) {
  if (static_cast<int64_t>(a.n) < n) throw Err{std::string(what) + ": view has " + std::to_string(a.n) + " elements, shape needs " + std::to_string(n)};
}

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
  const int64_t K = c.K();
  for (int64_t r = r0; r < r1; r++) {
    const int64_t b = r / (c.OH * c.OW), rem = r % (c.OH * c.OW), oh = rem / c.OW, ow = rem % c.OW;
    const float* src = col + (r - r0) * K;
    for (int64_t kh = 0; kh < c.KH; kh++) {
      const int64_t ih = oh * c.sh + kh - c.pt;
      if (ih < 0 || ih >= c.H) continue;
      for (int64_t kw = 0; kw < c.KW; kw++) {
        const int64_t iw = ow * c.sw + kw - c.pl;
        if (iw < 0 || iw >= c.W) continue;
        const float* s = src + (kh * c.KW + kw) * c.CI;
        float* d = dx + ((b * c.H + ih) * c.W + iw) * c.CI;
        for (int64_t ci = 0; ci < c.CI; ci++) d[ci] += s[ci];
      }
    }
  }
}

// act: 0 linear, 1 relu
void bias_act(float* y, int64_t rows, int64_t n, const float* bias, int act) {
  if (!bias && act == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    float* row = y + r * n;
    if (bias)
      for (int64_t j = 0; j < n; j++) row[j] += bias[j];
    if (act == 1)
      for (int64_t j = 0; j < n; j++) row[j] = row[j] > 0.f ? row[j] : 0.f;
  }
}

int get_act(napi_env env, napi_value v) {
  int32_t a = get_i32(env, v);
  if (a != 0 && a != 1) throw Err{"activation: 0 (linear) or 1 (relu)"};
  return a;
}

template <size_t N>
void get_args(napi_env env, napi_callback_info info, napi_value (&argv)[N], size_t min) {
  size_t argc = N;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < min) throw Err{"expected " + std::to_string(min) + " arguments"};
  for (size_t i = argc; i < N; i++) NAPI_OK(napi_get_undefined(env, &argv[i]));
}

// ---- Threads ----------------------------------------------------------------------------------
// OpenBLAS itself always runs on one thread; every split is tfkd's (an OpenMP team, see
// parallel_units), because:
//  - OpenBLAS does not split the skinny GEMMs of narrow layers (16–64 output channels) well, and
//    im2col/col2im are single loops, so a convolution splits its batch into units (contiguous
//    image ranges), each doing im2col/col2im + sgemm on its own rows with its thread's scratch;
//  - OpenBLAS's worker threads spin-wait after each multi-threaded call; on a 2-core machine the
//    next kernel's threads then share the cores with spinning ones (kernels measured up to 2×
//    slower right after a BatchMatMul), so the plain GEMMs (matmul, 1×1 convolutions) split their
//    rows (or columns) across tfkd's threads too (sgemm_split).
// How work is split into units depends on the shape only, never on the thread count, and
// partial sums (dW, BatchNorm statistics) are added in unit order: the numbers are the same for
// any TFKD_THREADS (tested), so runs with different thread counts, or experiments with
// different --jobs, agree bit for bit. Every output row (y, dx) is written by one unit only.
std::atomic<int> g_threads{1};
// The thread count setThreads was given (getThreads reports it; setKernelThreads changes only g_threads).
std::atomic<int> g_configured{1};

// Scratch per kernel thread, owned by the calling JS thread (each worker_thread has its own);
// taken on the calling thread before the workers start (they must not touch thread_locals).
thread_local std::vector<std::vector<float>> g_slots;

std::vector<float*> slots(int n, size_t each) {
  if (g_slots.size() < static_cast<size_t>(n)) g_slots.resize(n);
  std::vector<float*> out(n);
  for (int t = 0; t < n; t++) {
    if (g_slots[t].size() < each) g_slots[t].resize(each);
    out[t] = g_slots[t].data();
  }
  return out;
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

int threads_now() { return std::max(1, g_threads.load()); }

// Runs f(r0, r1, u, tid) for the units u = 0..U−1 of [0, M) — contiguous ranges
// [u·step, (u+1)·step) ∩ [0, M), fixed by the caller from the shape — on up to n threads; `tid`
// (< min(n, U)) indexes per-thread scratch. Which thread runs a unit never changes what the unit
// computes. The threads are an OpenMP team: one persistent pool shared with oneDNN, whose threads
// would otherwise spin-wait on the cores while tfkd's own threads work (measured: kernels up to 2×
// slower when two thread pools alternate on 2 cores), and no thread start per call. A team smaller
// than asked (nested call, thread limit) runs more units per thread. The first exception thrown
// by any unit is rethrown here.
template <class F>
void parallel_units(int64_t M, int U, int n, F f) {
  U = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(U, M)));
  const int64_t step = (M + U - 1) / U;
  n = std::max(1, std::min(n, U));
  if (n == 1) {
    for (int u = 0; u < U; u++) f(std::min(M, u * step), std::min(M, (u + 1) * step), u, 0);
    return;
  }
  std::exception_ptr err;
  std::mutex m;
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
#endif
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int tid = 0, nt = 1;  // built without OpenMP (compiler lacks it): the units run in turn
#endif
    for (int u = tid; u < U; u += nt) {
      try {
        f(std::min(M, u * step), std::min(M, (u + 1) * step), u, tid);
      } catch (...) {
        std::lock_guard<std::mutex> g(m);
        if (!err) err = std::current_exception();
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// Element-wise passes (ReLU gradient, MaxPoolGrad per image, BatchNorm's affine pass): any split
// gives the same numbers, so one unit per thread.
template <class F>
void parallel_rows(int64_t M, int n, F f) {
  parallel_units(M, n, n, [&](int64_t r0, int64_t r1, int, int) { f(r0, r1); });
}

// C = op(A)·op(B) (+ beta·C), row-major, on the kernel threads: rows of C split into blocks when
// M ≥ N, else columns, each block one sgemm (OpenBLAS single-threaded). The number of blocks
// depends on the shape only (1 below 4 M MAC, then 2, up to 8 for the largest), never on the
// thread count: OpenBLAS rounds an element differently depending on where it falls in a block
// (edge kernels), so a thread-count split would make results depend on TFKD_THREADS.
void sgemm_split(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const double macs = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const int blocks = macs < 4e6 ? 1 : static_cast<int>(std::min(8.0, std::max(2.0, std::floor(macs / 64e6))));
  if (blocks == 1 || (M < 2 && N < 2)) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.f, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  if (M >= N) {
    parallel_units(M, blocks, threads_now(), [&](int64_t m0, int64_t m1, int, int) {
      const float* ap = ta == CblasNoTrans ? a + m0 * lda : a + m0;
      cblas_sgemm(CblasRowMajor, ta, tb, m1 - m0, N, K, 1.f, ap, lda, b, ldb, beta, c + m0 * ldc, ldc);
    });
  } else {
    parallel_units(N, blocks, threads_now(), [&](int64_t n0, int64_t n1, int, int) {
      const float* bp = tb == CblasNoTrans ? b + n0 : b + n0 * ldb;
      cblas_sgemm(CblasRowMajor, ta, tb, M, n1 - n0, K, 1.f, a, lda, bp, ldb, beta, c + n0, ldc);
    });
  }
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

// conv2dForward(x, w, bias|null, y, dims[13], act)
napi_value Conv2DForward(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  get_args(env, info, argv, 6);
  const Conv c = conv_from(get_dims(env, argv[4], 13));
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
  get_args(env, info, argv, 4);
  const Conv c = conv_from(get_dims(env, argv[3], 13));
  F32 x = get_f32(env, argv[0], "x"), dy = get_f32(env, argv[1], "dy"), dw = get_f32(env, argv[2], "dw");
  const int64_t K = c.K(), rows = c.rows();
  need(x, c.B * c.H * c.W * c.CI, "x");
  need(dy, rows * c.CO, "dy");
  need(dw, K * c.CO, "dw");
  // oneDNN's weight gradient wins on narrow layers only (measured, interleaved A/B at batch 128:
  // 16→16 3×3 4.5–6.6 vs 8.0–9.5 ms, 32→32 ≈ 10 % faster; 32→64 and 64→64 10–30 % slower than
  // im2col + sgemm). A fixed rule, not a timing-based choice, so runs stay reproducible.
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
  get_args(env, info, argv, 4);
  const Conv c = conv_from(get_dims(env, argv[3], 13));
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

// matmul(a, b, bias|null, out, dims[batchA, batchB, M, N, K, transA, transB], act)
// a: [batchA, M, K] (or [batchA, K, M] when transA), b: [batchB, K, N] (or [batchB, N, K]);
// a batch of 1 broadcasts; out: [max(batchA, batchB), M, N].
napi_value MatMul(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  get_args(env, info, argv, 6);
  const std::vector<int64_t> d = get_dims(env, argv[4], 7);
  const int64_t bA = d[0], bB = d[1], M = d[2], N = d[3], K = d[4];
  const bool tA = d[5] != 0, tB = d[6] != 0;
  if (bA != bB && bA != 1 && bB != 1) throw Err{"matmul: batch sizes do not broadcast"};
  const int64_t batch = std::max(bA, bB);
  F32 a = get_f32(env, argv[0], "a"), b = get_f32(env, argv[1], "b"), out = get_f32(env, argv[3], "out");
  F32 bias;
  if (!is_null_or_undefined(env, argv[2])) bias = get_f32(env, argv[2], "bias");
  const int act = get_act(env, argv[5]);
  need(a, bA * M * K, "a");
  need(b, bB * K * N, "b");
  need(out, batch * M * N, "out");
  if (bias.p) need(bias, N, "bias");
  for (int64_t i = 0; i < batch; i++) {
    float* o = out.p + i * M * N;
    if (K == 0) {
      std::fill(o, o + M * N, 0.f);
    } else if (M > 0 && N > 0) {
      const float* pa = a.p + (bA == 1 ? 0 : i) * M * K;
      const float* pb = b.p + (bB == 1 ? 0 : i) * K * N;
      sgemm_split(tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, pa, tA ? M : K, pb, tB ? K : N, 0.f, o, N);
    }
  }
  bias_act(out.p, batch * M, N, bias.p, act);
  return nullptr;
}

// sumRows(x, out, dims[rows, cols]): out[c] = Σ_r x[r·cols + c] (reduction over the leading axes),
// accumulated in double (tfjs's cpu backend sums in JS doubles).
napi_value SumRows(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, argv, 3);
  const std::vector<int64_t> d = get_dims(env, argv[2], 2);
  const int64_t rows = d[0], cols = d[1];
  F32 x = get_f32(env, argv[0], "x"), out = get_f32(env, argv[1], "out");
  need(x, rows * cols, "x");
  need(out, cols, "out");
  if (cols == 1) {
    double acc = 0;
    for (int64_t r = 0; r < rows; r++) acc += x.p[r];
    out.p[0] = static_cast<float>(acc);
    return nullptr;
  }
  std::vector<double> acc(static_cast<size_t>(cols), 0.0);
  double* a = acc.data();
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x.p + r * cols;
    for (int64_t c = 0; c < cols; c++) a[c] += row[c];
  }
  for (int64_t c = 0; c < cols; c++) out.p[c] = static_cast<float>(a[c]);
  return nullptr;
}

// maxPoolGrad(x, dy, dx, dims[B,H,W,C,OH,OW,fh,fw,sh,sw,pt,pl]): dx gets dy at each window's first
// strict maximum in row-major window order (as tfjs's cpu backend); all −∞/NaN windows pass nothing.
// Images are independent (a window never leaves its image), so the batch splits across the kernel
// threads. When the windows tile the input exactly (window = stride, no padding, nothing left
// over: the usual 2×2/2 pool) every dx element belongs to one window and is written once, with
// no zero-fill pass and no scatter; otherwise dx is zeroed and the maxima scatter-add.
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

napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, argv, 4);
  const std::vector<int64_t> d = get_dims(env, argv[3], 12);
  const Pool p{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]};
  if (p.sh < 1 || p.sw < 1) throw Err{"dims: stride < 1"};
  F32 x = get_f32(env, argv[0], "x"), dy = get_f32(env, argv[1], "dy"), dx = get_f32(env, argv[2], "dx");
  const int64_t total = p.B * p.H * p.W * p.C;
  need(x, total, "x");
  need(dy, p.B * p.OH * p.OW * p.C, "dy");
  need(dx, total, "dx");
  // Threads only pay above ≈ 1 MB of input (thread start ≈ 50 µs).
  const int n = p.B < 2 || total < (int64_t{1} << 18) ? 1 : static_cast<int>(std::min<int64_t>(std::max(1, g_threads.load()), p.B));
  const bool tiled = p.tiles();
  parallel_rows(p.B, n, [&](int64_t b0, int64_t b1) {
    if (tiled) max_pool_grad_tiled(p, x.p, dy.p, dx.p, b0, b1);
    else max_pool_grad_scatter(p, x.p, dy.p, dx.p, b0, b1);
  });
  return nullptr;
}

// ---- Training BatchNorm over the last (channel) axis, x viewed as [M, C] -------------------------
// The same arithmetic as src/student/kernels/batchnorm.ts (float64 per-channel sums shifted by a
// value near the mean, same summation order, float64 affine pass rounded once to float32), so the
// native and JS paths agree to the last bit or nearly; what changes is the speed (the JS loops
// were ≈ 21 % of a resnet8 step). Rows are split across threads for the element-wise passes
// and the sums (partial sums per thread, added in thread order: deterministic for a given count).

// Per-channel Σ(a − ka) and Σ(a − ka)·(b − kb) over rows [r0, r1).
void bn_sums(const float* a, const double* ka, const float* b, const double* kb, int64_t r0, int64_t r1, int64_t C, double* s, double* p) {
  for (int64_t c = 0; c < C; c++) s[c] = p[c] = 0.0;
  for (int64_t r = r0; r < r1; r++) {
    const float* ar = a + r * C;
    const float* br = b + r * C;
    for (int64_t c = 0; c < C; c++) {
      const double d = static_cast<double>(ar[c]) - ka[c];
      s[c] += d;
      p[c] += d * (static_cast<double>(br[c]) - kb[c]);
    }
  }
}

// out = u·a + v·b + w per channel (b null: no v·b term), rows [r0, r1), in float64.
void bn_affine(const float* a, const double* u, const float* b, const double* v, const double* w, float* out, int64_t r0, int64_t r1, int64_t C) {
  for (int64_t r = r0; r < r1; r++) {
    const float* ar = a + r * C;
    float* o = out + r * C;
    if (b) {
      const float* br = b + r * C;
      for (int64_t c = 0; c < C; c++) o[c] = static_cast<float>(u[c] * ar[c] + v[c] * br[c] + w[c]);
    } else {
      for (int64_t c = 0; c < C; c++) o[c] = static_cast<float>(u[c] * ar[c] + w[c]);
    }
  }
}

// Threads for an element-wise pass (BatchNorm's affine pass, ReLU and its gradient, Add): they pay
// from ≈ 1 M elements (measured: 128×16×16×32 1.6 → 1.4 ms, 128×8×8×64 0.5 → 0.6 ms).
int pass_threads(int64_t M, int64_t C) { return M * C < (int64_t{1} << 20) ? 1 : threads_now(); }

// Per-channel sums over all rows: from 1 M elements in 8 row units (fixed, whatever the thread
// count) whose partials are added in unit order, so the sums do not depend on TFKD_THREADS.
void bn_sums_all(const float* a, const double* ka, const float* b, const double* kb, int64_t M, int64_t C, double* s, double* p) {
  const int U = M * C < (int64_t{1} << 20) ? 1 : 8;
  if (U == 1) {
    bn_sums(a, ka, b, kb, 0, M, C, s, p);
    return;
  }
  std::vector<double> part(static_cast<size_t>(2 * U * C));
  parallel_units(M, U, threads_now(), [&](int64_t r0, int64_t r1, int u, int) { bn_sums(a, ka, b, kb, r0, r1, C, part.data() + 2 * u * C, part.data() + (2 * u + 1) * C); });
  for (int64_t c = 0; c < C; c++) s[c] = p[c] = 0.0;
  for (int u = 0; u < U; u++)
    for (int64_t c = 0; c < C; c++) {
      s[c] += part[2 * u * C + c];
      p[c] += part[(2 * u + 1) * C + c];
    }
}

// bnTrain(x, gamma, beta, y, mean, variance, dims[M, C], epsilon)
napi_value BnTrain(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  get_args(env, info, argv, 8);
  const std::vector<int64_t> d = get_dims(env, argv[6], 2);
  const int64_t M = d[0], C = d[1];
  double eps;
  NAPI_OK(napi_get_value_double(env, argv[7], &eps));
  F32 x = get_f32(env, argv[0], "x"), g = get_f32(env, argv[1], "gamma"), b = get_f32(env, argv[2], "beta");
  F32 y = get_f32(env, argv[3], "y"), mo = get_f32(env, argv[4], "mean"), vo = get_f32(env, argv[5], "variance");
  if (M < 1 || C < 1) throw Err{"bnTrain: empty batch"};
  need(x, M * C, "x");
  need(y, M * C, "y");
  need(g, C, "gamma");
  need(b, C, "beta");
  need(mo, C, "mean");
  need(vo, C, "variance");
  std::vector<double> buf(static_cast<size_t>(4 * C));
  double *k = buf.data(), *s = k + C, *p = s + C, *sc = p + C;
  for (int64_t c = 0; c < C; c++) k[c] = x.p[c];
  bn_sums_all(x.p, k, x.p, k, M, C, s, p);
  std::vector<double> sh(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; c++) {
    const double dm = s[c] / static_cast<double>(M);
    const double mean = k[c] + dm;
    const double var = std::max(0.0, p[c] / static_cast<double>(M) - dm * dm);
    sc[c] = g.p[c] / std::sqrt(var + eps);
    sh[c] = b.p[c] - mean * sc[c];
    mo.p[c] = static_cast<float>(mean);
    vo.p[c] = static_cast<float>(var);
  }
  parallel_rows(M, pass_threads(M, C), [&](int64_t r0, int64_t r1) { bn_affine(x.p, sc, nullptr, sc, sh.data(), y.p, r0, r1, C); });
  return nullptr;
}

// bnTrainGrad(dy, x, mean, variance, gamma, dx, dgamma, dbeta, dims[M, C], epsilon)
napi_value BnTrainGrad(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  get_args(env, info, argv, 10);
  const std::vector<int64_t> d = get_dims(env, argv[8], 2);
  const int64_t M = d[0], C = d[1];
  double eps;
  NAPI_OK(napi_get_value_double(env, argv[9], &eps));
  F32 dy = get_f32(env, argv[0], "dy"), x = get_f32(env, argv[1], "x"), mu = get_f32(env, argv[2], "mean");
  F32 v = get_f32(env, argv[3], "variance"), g = get_f32(env, argv[4], "gamma");
  F32 dx = get_f32(env, argv[5], "dx"), dg = get_f32(env, argv[6], "dgamma"), db = get_f32(env, argv[7], "dbeta");
  if (M < 1 || C < 1) throw Err{"bnTrainGrad: empty batch"};
  need(dy, M * C, "dy");
  need(x, M * C, "x");
  need(dx, M * C, "dx");
  need(mu, C, "mean");
  need(v, C, "variance");
  need(g, C, "gamma");
  need(dg, C, "dgamma");
  need(db, C, "dbeta");
  std::vector<double> buf(static_cast<size_t>(7 * C));
  double *m = buf.data(), *zero = m + C, *sdy = zero + C, *sp = sdy + C, *kk = sp + C, *q = kk + C, *r = q + C;
  for (int64_t c = 0; c < C; c++) {
    m[c] = mu.p[c];
    zero[c] = 0.0;
  }
  bn_sums_all(dy.p, zero, x.p, m, M, C, sdy, sp);
  const double Md = static_cast<double>(M);
  for (int64_t c = 0; c < C; c++) {
    const double s = 1.0 / std::sqrt(static_cast<double>(v.p[c]) + eps);
    const double dgamma = sp[c] * s;
    dg.p[c] = static_cast<float>(dgamma);
    db.p[c] = static_cast<float>(sdy[c]);
    kk[c] = g.p[c] * s;
    q[c] = (-kk[c] * s * dgamma) / Md;
    r[c] = (-kk[c] * sdy[c]) / Md - q[c] * m[c];
  }
  parallel_rows(M, pass_threads(M, C), [&](int64_t r0, int64_t r1) { bn_affine(dy.p, kk, x.p, q, r, dx.p, r0, r1, C); });
  return nullptr;
}

// ---- ReLU gradient ------------------------------------------------------------------------------
// reluGrad(dy, x, out): out = dy·step(x) exactly as tfjs' composed gradient mul(dy, cast(step(x)))
// computes it, in one pass instead of three: dy·1 where x > 0, dy·NaN where x is NaN
// (step(NaN) = NaN), else dy·0 (±0, or NaN for an infinite dy).
void relu_grad(const float* __restrict dy, const float* __restrict x, float* __restrict out, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    // step(x) as tfjs defines it (1 for x > 0, NaN for NaN, else 0), then the same product: this
    // form vectorises; selecting between dy and dy·0 did not (control flow).
    const float v = x[i];
    const float s = v > 0.f ? 1.f : 0.f;
    out[i] = dy[i] * (v == v ? s : v);
  }
}

napi_value ReluGrad(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, argv, 3);
  F32 dy = get_f32(env, argv[0], "dy"), x = get_f32(env, argv[1], "x"), out = get_f32(env, argv[2], "out");
  const int64_t n = static_cast<int64_t>(x.n);
  need(dy, n, "dy");
  need(out, n, "out");
  parallel_rows(n, pass_threads(n, 1), [&](int64_t i0, int64_t i1) { relu_grad(dy.p, x.p, out.p, i0, i1); });
  return nullptr;
}

// ---- Element-wise Add and Relu ------------------------------------------------------------------
// The two element-wise ops of every training step that tfjs-backend-wasm runs on one thread (the
// bias and residual adds, gradient accumulation; the activations), split across the threads
// from 1 M elements. One IEEE add or compare per element, so the results are the same bits as
// wasm's or the cpu backend's.

// addF32(a, b, out, dims[rows, cols, mode]): mode 0 out = a + b (rows·cols each); mode 1 b has
// cols values broadcast over the rows; mode 2 the same with a.
napi_value AddF32(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, argv, 4);
  const std::vector<int64_t> d = get_dims(env, argv[3], 3);
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
  napi_value argv[2];
  get_args(env, info, argv, 2);
  F32 x = get_f32(env, argv[0], "x"), out = get_f32(env, argv[1], "out");
  const int64_t n = static_cast<int64_t>(x.n);
  need(out, n, "out");
  const float* __restrict px = x.p;
  float* __restrict po = out.p;
  parallel_rows(n, pass_threads(n, 1), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const float v = px[i];
      po[i] = v <= 0.f ? 0.f : v;  // NaN <= 0 is false: NaN passes; −0 <= 0: +0
    }
  });
  return nullptr;
}

napi_value SetKernelThreads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  const int32_t n = get_i32(env, argv[0]);
  if (n < 1) throw Err{"threads must be ≥ 1"};
  g_threads.store(n);
  tfkd_dnnl::set_threads(n);  // the same OpenMP team runs oneDNN's convolutions
  return nullptr;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  const int32_t n = get_i32(env, argv[0]);
  if (n < 1) throw Err{"threads must be ≥ 1"};
  openblas_set_num_threads(1);  // tfkd's threads do the splitting (see "Threads" above)
  tfkd_dnnl::set_threads(n);
  g_threads.store(n);
  g_configured.store(n);
  napi_value r;
#ifdef _OPENMP
  NAPI_OK(napi_create_int32(env, n, &r));
#else
  // Without OpenMP the n ranges still split the work the same way (same numbers as with n
  // threads) but run one after another: report the one thread that runs them.
  NAPI_OK(napi_create_int32(env, 1, &r));
#endif
  return r;
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value r;
  NAPI_OK(napi_create_int32(env, g_configured.load(), &r));
  return r;
}

napi_value SetChunkBytes(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  const int32_t n = get_i32(env, argv[0]);
  if (n < 4096) throw Err{"chunk bytes must be ≥ 4096"};
  g_chunk_bytes.store(static_cast<size_t>(n));
  return nullptr;
}

// setDnnl(on): use oneDNN for the convolutions when compiled in (TFKD_DNNL=0 turns it off).
napi_value SetDnnl(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  bool on = false;
  NAPI_OK(napi_get_value_bool(env, argv[0], &on));
  tfkd_dnnl::set_enabled(on);
  napi_value r;
  NAPI_OK(napi_get_boolean(env, tfkd_dnnl::available(), &r));
  return r;
}

// dnnlVersion(): "oneDNN x.y.z" when compiled in, else "".
napi_value DnnlVersion(napi_env env, napi_callback_info) {
  napi_value r;
  const std::string v = tfkd_dnnl::version();
  NAPI_OK(napi_create_string_utf8(env, v.c_str(), v.size(), &r));
  return r;
}

napi_value BlasConfig(napi_env env, napi_callback_info) {
  napi_value r;
  NAPI_OK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &r));
  return r;
}

// Turns C++ exceptions into JS errors (N-API callbacks must not throw across the boundary).
template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value Guard(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Err& e) {
    napi_throw_error(env, nullptr, ("tfkd_native: " + e.msg).c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, "tfkd_native: out of memory");
  }
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"conv2dForward", nullptr, Guard<Conv2DForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Guard<Conv2DBackpropFilter>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Guard<Conv2DBackpropInput>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, Guard<MatMul>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumRows", nullptr, Guard<SumRows>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, Guard<MaxPoolGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, Guard<SetThreads>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getThreads", nullptr, Guard<GetThreads>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setChunkBytes", nullptr, Guard<SetChunkBytes>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnTrain", nullptr, Guard<BnTrain>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnTrainGrad", nullptr, Guard<BnTrainGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setKernelThreads", nullptr, Guard<SetKernelThreads>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addF32", nullptr, Guard<AddF32>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reluF32", nullptr, Guard<ReluF32>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reluGrad", nullptr, Guard<ReluGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setDnnl", nullptr, Guard<SetDnnl>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dnnlVersion", nullptr, Guard<DnnlVersion>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"blasConfig", nullptr, Guard<BlasConfig>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
