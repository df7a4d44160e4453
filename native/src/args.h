// tfkd_native's argument checking, shared by every entry point: the error type the entry points
// throw (module.cc's Guard turns it into a JS error), Float32Array / Int32Array views with their
// lengths, and need(), which every kernel calls on each view before it reads or writes anything,
// so a wrong call throws instead of touching memory outside the tensors.
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tfkd {

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

bool is_null_or_undefined(napi_env env, napi_value v);
// The Float32Array v (its data and length); `what` names it in the error.
F32 get_f32(napi_env env, napi_value v, const char* what);
// An Int32Array of exactly `want` non-negative values (a kernel's shape).
std::vector<int64_t> get_dims(napi_env env, napi_value v, size_t want);
int32_t get_i32(napi_env env, napi_value v);
double get_f64(napi_env env, napi_value v);
// Throws unless view a holds at least n elements.
void need(const F32& a, int64_t n, const char* what);
// The fused activation argument: 0 linear, 1 relu.
int get_act(napi_env env, napi_value v);

// argv[0..N) from the call, at least `min` given; the missing ones undefined.
template <size_t N>
void get_args(napi_env env, napi_callback_info info, napi_value (&argv)[N], size_t min) {
  size_t argc = N;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < min) throw Err{"expected " + std::to_string(min) + " arguments"};
  for (size_t i = argc; i < N; i++) NAPI_OK(napi_get_undefined(env, &argv[i]));
}

// A kernel's call: argv[0..N), every one required, and its shape, the Int32Array argv[at] of
// `want` values (get_dims).
template <size_t N>
std::vector<int64_t> get_shaped_args(napi_env env, napi_callback_info info, napi_value (&argv)[N], size_t at, size_t want) {
  get_args(env, info, argv, N);
  return get_dims(env, argv[at], want);
}

// A setter's one argument (setThreads, setChunkBytes, …): an int32 of at least `min`, else Err{err}.
int32_t get_setting(napi_env env, napi_callback_info info, int32_t min, const char* err);

}  // namespace tfkd
