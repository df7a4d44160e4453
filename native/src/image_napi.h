// What the tfkd_image add-on's N-API entry points share (resample.cc, policy.cc): argument
// checking that throws Err (turned into one JS exception by Guard), typed-array views.
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <new>
#include <string>

namespace tfkd_image {

// ---- N-API -------------------------------------------------------------------------------------

struct Err {
  std::string msg;
};

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) throw Err{"N-API call failed: " #call};   \
  } while (0)

template <typename T>
struct View {
  T* p = nullptr;
  size_t n = 0;
};

template <typename T>
View<T> typed(napi_env env, napi_value v, napi_typedarray_type want, const char* what) {
  bool is = false;
  CHECK(napi_is_typedarray(env, v, &is));
  if (!is) throw Err{std::string(what) + ": expected a typed array"};
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  CHECK(napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (type != want) throw Err{std::string(what) + ": wrong typed array type"};
  return {static_cast<T*>(data), length};
}

inline int64_t int_arg(napi_env env, napi_value v, const char* what) {
  int64_t x = 0;
  if (napi_get_value_int64(env, v, &x) != napi_ok) throw Err{std::string(what) + ": expected a number"};
  return x;
}

template <size_t N>
void args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc != N) throw Err{"expected " + std::to_string(N) + " arguments"};
}


template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value Guard(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Err& e) {
    napi_throw_error(env, nullptr, ("tfkd_image: " + e.msg).c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, "tfkd_image: out of memory");
  }
  return nullptr;
}


}  // namespace tfkd_image
