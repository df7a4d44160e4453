// tfkd_native's training BatchNorm, forward (bnTrain) and backward (bnTrainGrad): the JS loops of
// src/student/kernels/batchnorm.ts in C.
#include <algorithm>
#include <cmath>
#include <vector>

#include "args.h"
#include "parallel.h"

namespace tfkd {

// ---- Training BatchNorm over the last (channel) axis, x viewed as [M, C] -------------------------
// The same arithmetic as src/student/kernels/batchnorm.ts (float64 per-channel sums shifted by a
// value near the mean, same summation order, float64 affine pass rounded once to float32), so the
// native and JS paths agree to the last bit or nearly; what changes is the speed (the JS loops
// were ≈ 21 % of a resnet8 step). Rows are split across threads for the element-wise passes
// and the sums (partial sums per row unit, added in unit order: see bn_sums_all).
namespace {

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

}  // namespace

// bnTrain(x, gamma, beta, y, mean, variance, dims[M, C], epsilon)
napi_value BnTrain(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 6, 2);
  const int64_t M = d[0], C = d[1];
  const double eps = get_f64(env, argv[7]);
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
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 8, 2);
  const int64_t M = d[0], C = d[1];
  const double eps = get_f64(env, argv[9]);
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

}  // namespace tfkd
