// tfkd_native's argument checking (see args.h): typed-array views, shapes, lengths.
#include "args.h"

namespace tfkd {

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

int get_act(napi_env env, napi_value v) {
  int32_t a = get_i32(env, v);
  if (a != 0 && a != 1) throw Err{"activation: 0 (linear) or 1 (relu)"};
  return a;
}

}  // namespace tfkd
