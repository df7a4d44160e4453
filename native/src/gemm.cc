// tfkd_native's dense kernels: the split sgemm and bias + activation pass (gemm.h) and the matmul
// and sumRows entry points (BatchMatMul / _FusedMatMul, bias gradients).
#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "parallel.h"

namespace tfkd {

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

// matmul(a, b, bias|null, out, dims[batchA, batchB, M, N, K, transA, transB], act)
// a: [batchA, M, K] (or [batchA, K, M] when transA), b: [batchB, K, N] (or [batchB, N, K]);
// a batch of 1 broadcasts; out: [max(batchA, batchB), M, N].
napi_value MatMul(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 4, 7);
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
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 2, 2);
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

}  // namespace tfkd
