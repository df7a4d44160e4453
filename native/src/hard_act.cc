// tfkd_native's Hardswish / Hardsigmoid (PyTorch's, for zoo mobilenet_v3_small): hardAct and
// hardActGrad, one pass each way instead of tfjs' composed ops (4 forward, ≈ 10 backward,
// src/student/kernels/hard-activations.ts). Every operation is the composed ops' own float32
// operation in the same order, so the bits are theirs:
//
//   a = x + 3,  r = min(max(a, 0), 6) (0 for NaN a),  m = 1 if 0 < a ≤ 6 else 0 (NaN for NaN a)
//   kind 0 hardswish:   y = (x · r) / 6        dx = (dy/6) · r + ((dy/6) · x) · m
//   kind 1 hardsigmoid: y = r / 6              dx = (dy/6) · m
//
// No contraction into fused multiply-adds (that would round once where the ops round twice).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "args.h"
#include "parallel.h"

namespace tfkd {

namespace {

// Selects without short-circuits, so the loops vectorise (as reluGrad in pool_eltwise.cc).
// relu6 as wasm's Relu6 (XNNPACK's clamp) computes it: NaN → 0 (tfjs' cpu backend keeps NaN, and
// so does the JS loop that serves it).
inline float relu6(float a) {
  const float lo = a > 0.f ? a : 0.f;
  return lo < 6.f ? lo : 6.f;
}
inline float mask(float a) {
  const float s = (a > 0.f) & (a <= 6.f) ? 1.f : 0.f;
  return a == a ? s : a;
}

void forward(int kind, const float* __restrict x, float* __restrict y, int64_t i0, int64_t i1) {
  if (kind == 0) {
    for (int64_t i = i0; i < i1; i++) {
      const float v = x[i];
      const float p = v * relu6(v + 3.f);
      y[i] = p / 6.f;
    }
  } else {
    for (int64_t i = i0; i < i1; i++) {
      const float r = relu6(x[i] + 3.f);
      y[i] = r / 6.f;
    }
  }
}

void backward(int kind, const float* __restrict dy, const float* __restrict x, float* __restrict dx, int64_t i0, int64_t i1) {
  if (kind == 0) {
    for (int64_t i = i0; i < i1; i++) {
      const float v = x[i];
      const float a = v + 3.f;
      const float g = dy[i] / 6.f;
      const float t1 = g * relu6(a);
      const float t2 = g * v;
      const float t3 = t2 * mask(a);
      dx[i] = t1 + t3;
    }
  } else {
    for (int64_t i = i0; i < i1; i++) {
      const float g = dy[i] / 6.f;
      dx[i] = g * mask(x[i] + 3.f);
    }
  }
}

int get_kind(napi_env env, napi_value v) {
  const int32_t k = get_i32(env, v);
  if (k != 0 && k != 1) throw Err{"hardAct: kind must be 0 (hardswish) or 1 (hardsigmoid)"};
  return k;
}

}  // namespace

// hardAct(x, y, kind)
napi_value HardAct(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, argv, 3);
  F32 x = get_f32(env, argv[0], "x"), y = get_f32(env, argv[1], "y");
  const int kind = get_kind(env, argv[2]);
  const int64_t n = static_cast<int64_t>(x.n);
  need(y, n, "y");
  parallel_rows(n, pass_threads(n, 1), [&](int64_t i0, int64_t i1) { forward(kind, x.p, y.p, i0, i1); });
  return nullptr;
}

// hardActGrad(dy, x, dx, kind)
napi_value HardActGrad(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, argv, 4);
  F32 dy = get_f32(env, argv[0], "dy"), x = get_f32(env, argv[1], "x"), dx = get_f32(env, argv[2], "dx");
  const int kind = get_kind(env, argv[3]);
  const int64_t n = static_cast<int64_t>(x.n);
  need(dy, n, "dy");
  need(dx, n, "dx");
  parallel_rows(n, pass_threads(n, 1), [&](int64_t i0, int64_t i1) { backward(kind, dy.p, x.p, dx.p, i0, i1); });
  return nullptr;
}

}  // namespace tfkd
