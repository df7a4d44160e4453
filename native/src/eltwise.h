// The N-API form the element-wise passes share: (x, y) forward and (dy, x, dx) gradient over n
// floats, split into element ranges on the kernel threads from ≈ 1 M elements (pass_threads). An
// element-wise result does not depend on the split, so neither does it on TFKD_THREADS.
#pragma once
#include "args.h"
#include "parallel.h"

namespace tfkd {

// f(x, y, i0, i1) for (x, y), y as long as x.
template <class F>
napi_value eltwise_pass(napi_env env, napi_callback_info info, const char* yname, F f) {
  napi_value argv[2];
  get_args(env, info, argv, 2);
  F32 x = get_f32(env, argv[0], "x"), y = get_f32(env, argv[1], yname);
  const int64_t n = static_cast<int64_t>(x.n);
  need(y, n, yname);
  parallel_rows(n, pass_threads(n, 1), [&](int64_t i0, int64_t i1) { f(x.p, y.p, i0, i1); });
  return nullptr;
}

// f(dy, x, dx, i0, i1) for (dy, x, dx), dy and dx as long as x.
template <class F>
napi_value eltwise_grad_pass(napi_env env, napi_callback_info info, const char* dxname, F f) {
  napi_value argv[3];
  get_args(env, info, argv, 3);
  F32 dy = get_f32(env, argv[0], "dy"), x = get_f32(env, argv[1], "x"), dx = get_f32(env, argv[2], dxname);
  const int64_t n = static_cast<int64_t>(x.n);
  need(dy, n, "dy");
  need(dx, n, dxname);
  parallel_rows(n, pass_threads(n, 1), [&](int64_t i0, int64_t i1) { f(dy.p, x.p, dx.p, i0, i1); });
  return nullptr;
}

}  // namespace tfkd
