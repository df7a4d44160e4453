// tfkd_native's GELU (the exact, erf form: PyTorch's nn.GELU() / F.gelu, which torch.onnx.export
// writes as Div, Erf, Add, Mul, Mul below opset 20): gelu and geluGrad, one vectorised pass each way
// instead of tfjs' composed ops (5 forward, ≈ 10 backward with an Exp; src/student/kernels/gelu.ts).
//
//   y  = (0.5·x) · (1 + erf(x·√½))
//   dx = dy · (Φ + x·φ),  Φ = 0.5·(1 + erf(x·√½)),  φ = exp(−x²/2)·(1/√(2π))
//
// erf is TensorFlow's / Eigen's rational approximation (odd degree-13 numerator over even degree-8
// denominator on [−4, 4], ±1 outside: max |error| 4.2e-7 against libm's erf in double), exp of a
// non-positive argument Cephes' expf (n·ln2 + r, degree-6 polynomial in r, × 2ⁿ by the exponent
// bits: max relative error 8.1e-8 down to −87, where it clamps). Both are plain float arithmetic, so
// the loops vectorise, and the JS loop of kernels/gelu.ts (every step rounded with Math.fround)
// computes the same bits: no contraction into fused multiply-adds, and "no-trapping-math" only
// lets GCC turn the clamps' selects into vector min/max (it changes no result).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off", "no-trapping-math")
#endif

#include <cstring>

#include "eltwise.h"

namespace tfkd {

namespace {

inline float erf_approx(float a) {
  const float lo = a > -4.f ? a : -4.f;  // two selects (max, min), so the loop vectorises
  const float x = lo < 4.f ? lo : 4.f;
  const float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  p = x * p;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return p / q;
}

// e^a for a ≤ 0 (clamped at −87, above float's smallest normal).
inline float exp_nonpositive(float a) {
  const float x = a > -87.f ? a : -87.f;
  const float t = x * 1.44269504088896341f - 0.5f;
  const int32_t n = static_cast<int32_t>(t);  // toward zero = ceil for t < 0: n = round(x·log₂e)
  const float fn = static_cast<float>(n);
  const float r = (x - fn * 0.693359375f) - fn * -2.12194440e-4f;
  const float z = r * r;
  float y = r * 1.9875691500e-4f + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = (y * z + r) + 1.f;
  const int32_t bits = (n + 127) << 23;
  float s;
  std::memcpy(&s, &bits, sizeof s);
  return y * s;
}

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

void forward(const float* __restrict x, float* __restrict y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    const float v = x[i];
    y[i] = (0.5f * v) * (1.f + erf_approx(v * kSqrtHalf));
  }
}

void backward(const float* __restrict dy, const float* __restrict x, float* __restrict dx, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    const float v = x[i];
    const float cdf = 0.5f * (1.f + erf_approx(v * kSqrtHalf));
    const float pdf = exp_nonpositive((-0.5f * v) * v) * kInvSqrt2Pi;
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

}  // namespace

// gelu(x, y)
napi_value Gelu(napi_env env, napi_callback_info info) { return eltwise_pass(env, info, "y", forward); }

// geluGrad(dy, x, dx)
napi_value GeluGrad(napi_env env, napi_callback_info info) { return eltwise_grad_pass(env, info, "dx", backward); }

}  // namespace tfkd
