// tfkd_image: the N-API side that jpeg.cc, png.cc and webp.cc share. One decode: the header is read
// on the calling (JS) thread, which then allocates the output of the right size; the pixels are
// decoded straight into it — on the libuv pool (napi async work) for decodeX, on the calling thread
// for decodeXSync (render workers) — no intermediate buffer, no copy. A file the decoder does not
// take (its read_header returns false), or one whose pixels fail, resolves to / returns null, and
// decode.ts takes the sharp path.
//
// A decoder supplies its Job (deriving from Image, default-constructible, its destructor freeing
// the library's state), read_header(job, bytes, length, maxPixels) → bool, which sets width, height
// and channels, and decode_pixels(job), which fills job->dst and sets ok; then
//   using Png = tfkd_decode::Decoder<Job, read_header, decode_pixels>;
//   napi_value DecodePng(napi_env e, napi_callback_info i) { return Png::async(e, i, kUsage, "tfkd_png"); }
//   napi_value DecodePngSync(napi_env e, napi_callback_info i) { return Png::sync(e, i, kUsage); }
#ifndef TFKD_DECODE_ASYNC_H
#define TFKD_DECODE_ASYNC_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace tfkd_decode {

// What the result needs of every decoder's Job.
struct Image {
  uint32_t width = 0, height = 0;
  int channels = 0;
  uint8_t* dst = nullptr;  // the output's memory, set by make_result before decode_pixels runs
  bool ok = false;         // set by decode_pixels: false resolves to null
};

// {data, width, height, channels} with `data` a new Uint8Array over a new ArrayBuffer; dst set.
inline napi_value make_result(napi_env env, Image* j) {
  void* bytes = nullptr;
  napi_value buf, ab, arr, v, result;
  const size_t n = static_cast<size_t>(j->width) * j->height * j->channels;
  // napi_create_buffer's memory is not zero-filled (napi_create_arraybuffer's is, a memset of the
  // whole image that every pixel then overwrites); the result is a plain Uint8Array over its
  // ArrayBuffer, not a Buffer (whose slice() would not copy).
  size_t offset = 0;
  if (napi_create_buffer(env, n, &bytes, &buf) != napi_ok) return nullptr;
  if (napi_get_typedarray_info(env, buf, nullptr, nullptr, nullptr, &ab, &offset) != napi_ok) return nullptr;
  j->dst = static_cast<uint8_t*>(bytes);
  if (napi_create_typedarray(env, napi_uint8_array, n, ab, offset, &arr) != napi_ok) return nullptr;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", arr);
  napi_create_int32(env, static_cast<int32_t>(j->width), &v);
  napi_set_named_property(env, result, "width", v);
  napi_create_int32(env, static_cast<int32_t>(j->height), &v);
  napi_set_named_property(env, result, "height", v);
  napi_create_int32(env, j->channels, &v);
  napi_set_named_property(env, result, "channels", v);
  return result;
}

// (bytes: Uint8Array, maxPixels: number), or a TypeError with `usage` and false.
inline bool bytes_arg(napi_env env, napi_callback_info info, const char* usage, napi_value* input, const uint8_t** src, size_t* len, double* maxPixels) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool is = false;
  napi_typedarray_type type;
  void* data = nullptr;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is || napi_get_typedarray_info(env, argv[0], &type, len, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array || napi_get_value_double(env, argv[1], maxPixels) != napi_ok) {
    napi_throw_type_error(env, nullptr, usage);
    return false;
  }
  *input = argv[0];
  *src = static_cast<const uint8_t*>(data);
  return true;
}

template <class Job, bool (*ReadHeader)(Job*, const uint8_t*, size_t, double), void (*DecodePixels)(Job*)>
struct Decoder {
  // One async decode: the Job and what keeps its promise and its memory alive.
  struct Pending {
    Job job;
    napi_async_work work = nullptr;
    napi_deferred deferred = nullptr;
    napi_ref input = nullptr;   // the source bytes, alive while the pool reads them
    napi_ref output = nullptr;  // the result object
  };

  static void execute(napi_env, void* data) { DecodePixels(&static_cast<Pending*>(data)->job); }

  static void complete(napi_env env, napi_status, void* data) {
    Pending* p = static_cast<Pending*>(data);
    napi_value result;
    if (p->job.ok) napi_get_reference_value(env, p->output, &result);
    else napi_get_null(env, &result);
    napi_resolve_deferred(env, p->deferred, result);
    napi_delete_reference(env, p->input);
    napi_delete_reference(env, p->output);
    napi_delete_async_work(env, p->work);
    delete p;
  }

  // decodeX(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
  static napi_value async(napi_env env, napi_callback_info info, const char* usage, const char* name) {
    napi_value input, promise, resource, result;
    const uint8_t* src;
    size_t len;
    double maxPixels;
    if (!bytes_arg(env, info, usage, &input, &src, &len, &maxPixels)) return nullptr;
    Pending* p = new Pending();
    napi_create_promise(env, &p->deferred, &promise);
    if (!ReadHeader(&p->job, src, len, maxPixels) || (result = make_result(env, &p->job)) == nullptr) {
      napi_value null;
      napi_get_null(env, &null);
      napi_resolve_deferred(env, p->deferred, null);
      delete p;
      return promise;
    }
    napi_create_reference(env, input, 1, &p->input);
    napi_create_reference(env, result, 1, &p->output);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
    napi_create_async_work(env, nullptr, resource, execute, complete, p, &p->work);
    napi_queue_async_work(env, p->work);
    return promise;
  }

  // decodeXSync(bytes, maxPixels): the same, on the calling thread (render workers).
  static napi_value sync(napi_env env, napi_callback_info info, const char* usage) {
    napi_value input, result;
    const uint8_t* src;
    size_t len;
    double maxPixels;
    if (!bytes_arg(env, info, usage, &input, &src, &len, &maxPixels)) return nullptr;
    Job j;
    if (ReadHeader(&j, src, len, maxPixels) && (result = make_result(env, &j)) != nullptr) {
      DecodePixels(&j);
      if (j.ok) return result;
    }
    napi_get_null(env, &result);
    return result;
  }
};

}  // namespace tfkd_decode

#endif  // TFKD_DECODE_ASYNC_H
