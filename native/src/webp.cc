// tfkd_image: WebP decoding on Debian's libwebp (the library Pillow links), one open per image, for
// src/data/pil/decode.ts. Pillow 9.4 opens every WebP through WebPAnimDecoder, whose first frame of
// a still image is WebPDecode's MODE_RGBA output (non-premultiplied; fancy upsampling, libwebp's
// default); PIL's mode is RGB ("RGBX" rawmode) without alpha and RGBA with it. So: RGB through
// WebPDecodeRGB (the same per-pixel conversion as RGBA, without the alpha byte) when the file has
// no alpha, RGBA otherwise (convert.ts then drops the alpha, as PIL's convert does). Animated
// files, more pixels than the caller's limit and every decoding error resolve to null and
// decode.ts takes the sharp path, which gives PIL's bytes or its errors.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <cstring>

#include <webp/decode.h>

namespace tfkd_webp {

namespace {

struct Job {
  const uint8_t* src = nullptr;
  size_t len = 0;
  int width = 0, height = 0, channels = 0;
  uint8_t* dst = nullptr;
  bool ok = false;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref input = nullptr;
  napi_ref output = nullptr;
};

bool read_header(Job* j, const uint8_t* src, size_t len, double maxPixels) {
  j->src = src;
  j->len = len;
  WebPBitstreamFeatures f;
  if (WebPGetFeatures(src, len, &f) != VP8_STATUS_OK || f.has_animation || f.width < 1 || f.height < 1) return false;
  j->width = f.width;
  j->height = f.height;
  j->channels = f.has_alpha ? 4 : 3;
  return static_cast<double>(f.width) * f.height <= maxPixels;
}

void decode_pixels(Job* j) {
  const size_t stride = static_cast<size_t>(j->width) * j->channels;
  const size_t n = stride * j->height;
  const uint8_t* r = j->channels == 4 ? WebPDecodeRGBAInto(j->src, j->len, j->dst, n, static_cast<int>(stride))
                                      : WebPDecodeRGBInto(j->src, j->len, j->dst, n, static_cast<int>(stride));
  j->ok = r != nullptr;
}

// {data, width, height, channels}: data a plain Uint8Array over uninitialised memory (jpeg.cc).
napi_value make_result(napi_env env, Job* j) {
  void* bytes = nullptr;
  napi_value buf, ab, arr, v, result;
  const size_t n = static_cast<size_t>(j->width) * j->height * j->channels;
  size_t offset = 0;
  if (napi_create_buffer(env, n, &bytes, &buf) != napi_ok) return nullptr;
  if (napi_get_typedarray_info(env, buf, nullptr, nullptr, nullptr, &ab, &offset) != napi_ok) return nullptr;
  j->dst = static_cast<uint8_t*>(bytes);
  if (napi_create_typedarray(env, napi_uint8_array, n, ab, offset, &arr) != napi_ok) return nullptr;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", arr);
  napi_create_int32(env, j->width, &v);
  napi_set_named_property(env, result, "width", v);
  napi_create_int32(env, j->height, &v);
  napi_set_named_property(env, result, "height", v);
  napi_create_int32(env, j->channels, &v);
  napi_set_named_property(env, result, "channels", v);
  return result;
}

void execute(napi_env, void* data) { decode_pixels(static_cast<Job*>(data)); }

void complete(napi_env env, napi_status, void* data) {
  Job* j = static_cast<Job*>(data);
  napi_value result;
  if (j->ok) napi_get_reference_value(env, j->output, &result);
  else napi_get_null(env, &result);
  napi_resolve_deferred(env, j->deferred, result);
  napi_delete_reference(env, j->input);
  napi_delete_reference(env, j->output);
  napi_delete_async_work(env, j->work);
  delete j;
}

bool bytes_arg(napi_env env, napi_callback_info info, napi_value* input, const uint8_t** src, size_t* len, double* maxPixels) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool is = false;
  napi_typedarray_type type;
  void* data = nullptr;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is || napi_get_typedarray_info(env, argv[0], &type, len, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array || napi_get_value_double(env, argv[1], maxPixels) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tfkd_image: decodeWebp(bytes: Uint8Array, maxPixels: number)");
    return false;
  }
  *input = argv[0];
  *src = static_cast<const uint8_t*>(data);
  return true;
}

}  // namespace

// decodeWebp(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodeWebp(napi_env env, napi_callback_info info) {
  napi_value input, promise, name, result;
  const uint8_t* src;
  size_t len;
  double maxPixels;
  if (!bytes_arg(env, info, &input, &src, &len, &maxPixels)) return nullptr;
  Job* j = new Job();
  napi_create_promise(env, &j->deferred, &promise);
  if (!read_header(j, src, len, maxPixels) || (result = make_result(env, j)) == nullptr) {
    napi_value null;
    napi_get_null(env, &null);
    napi_resolve_deferred(env, j->deferred, null);
    delete j;
    return promise;
  }
  napi_create_reference(env, input, 1, &j->input);
  napi_create_reference(env, result, 1, &j->output);
  napi_create_string_utf8(env, "tfkd_webp", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

// decodeWebpSync(bytes, maxPixels): the same, on the calling thread (render workers).
napi_value DecodeWebpSync(napi_env env, napi_callback_info info) {
  napi_value input, result;
  const uint8_t* src;
  size_t len;
  double maxPixels;
  if (!bytes_arg(env, info, &input, &src, &len, &maxPixels)) return nullptr;
  Job j;
  if (read_header(&j, src, len, maxPixels) && (result = make_result(env, &j)) != nullptr) {
    decode_pixels(&j);
    if (j.ok) return result;
  }
  napi_get_null(env, &result);
  return result;
}

}  // namespace tfkd_webp
