// tfkd_native's argument checking (see args.h): typed-array views, shapes, lengths.
#include "args.h"

namespace tfkd {

bool is_null_or_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  NAPI_OK(napi_typeof(env, v, &t));
  return t == napi_null || t == napi_undefined;
}

namespace {

// v's typed-array type, length and data; is_ta false (the rest unset) when v is no typed array.
struct TypedArray {
  bool is_ta = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
};

TypedArray typed_array(napi_env env, napi_value v) {
  TypedArray a;
  NAPI_OK(napi_is_typedarray(env, v, &a.is_ta));
  if (!a.is_ta) return a;
  napi_value ab;
  size_t off;
  NAPI_OK(napi_get_typedarray_info(env, v, &a.type, &a.length, &a.data, &ab, &off));
  return a;
}

}  // namespace

F32 get_f32(napi_env env, napi_value v, const char* what) {
  const TypedArray a = typed_array(env, v);
  if (!a.is_ta || a.type != napi_float32_array) throw Err{std::string(what) + ": expected a Float32Array"};
  if (a.data == nullptr && a.length > 0) throw Err{std::string(what) + ": detached buffer"};
  return F32{static_cast<float*>(a.data), a.length};
}

std::vector<int64_t> get_dims(napi_env env, napi_value v, size_t want) {
  const TypedArray a = typed_array(env, v);
  if (!a.is_ta) throw Err{"dims: expected an Int32Array"};
  if (a.type != napi_int32_array || a.length != want) throw Err{"dims: expected an Int32Array of " + std::to_string(want)};
  const int32_t* d = static_cast<const int32_t*>(a.data);
  std::vector<int64_t> out(d, d + a.length);
  for (int64_t x : out)
    if (x < 0) throw Err{"dims: negative value"};
  return out;
}

int32_t get_i32(napi_env env, napi_value v) {
  int32_t x;
  NAPI_OK(napi_get_value_int32(env, v, &x));
  return x;
}

double get_f64(napi_env env, napi_value v) {
  double x;
  NAPI_OK(napi_get_value_double(env, v, &x));
  return x;
}

int32_t get_setting(napi_env env, napi_callback_info info, int32_t min, const char* err) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  const int32_t n = get_i32(env, argv[0]);
  if (n < min) throw Err{err};
  return n;
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
