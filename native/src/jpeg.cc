// tfkd_image: JPEG decoding on Debian's libjpeg-turbo (libjpeg62-turbo, the library Pillow links),
// one open per image: header and pixels from the same jpeg_decompress_struct, on the libuv pool
// (napi async work), for src/data/pil/decode.ts. Only what PIL decodes the same way is handled:
// 1 component (grey → mode L), 3 components (YCbCr or Adobe RGB → mode RGB) and 4 (CMYK or YCCK →
// mode CMYK, inverted as PIL's "CMYK;I") with libjpeg's defaults, which are PIL's (ISLOW DCT, fancy
// upsampling, no scaling). Everything else resolves to null and decode.ts takes the sharp path: more pixels than the caller's limit, any
// libjpeg error, and a truncated file (libjpeg's JWRN_JPEG_EOF: PIL refuses those, and sharp's
// path raises PIL's message). Corrupt-data warnings are ignored, as PIL ignores them.
#define NAPI_VERSION 8
#include <node_api.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <jpeglib.h>
#include <jerror.h>

namespace tfkd_jpeg {

namespace {

struct ErrMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  bool truncated;
};

void on_error(j_common_ptr c) { longjmp(reinterpret_cast<ErrMgr*>(c->err)->jump, 1); }

void on_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<ErrMgr*>(c->err)->truncated = true;
}

// One decode: the header is read on the calling (JS) thread, which then allocates the output
// ArrayBuffer of the right size; the scanlines are decoded straight into it (on the libuv pool,
// or on the calling thread for decodeJpegSync) — no intermediate buffer, no copy.
struct Job {
  jpeg_decompress_struct cinfo;
  ErrMgr err;
  bool created = false;
  int channels = 0;
  uint8_t* dst = nullptr;
  bool ok = false;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref input = nullptr;   // the source bytes, alive while the pool reads them
  napi_ref output = nullptr;  // the result object
  ~Job() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

// The header: true when this decoder takes the image (module comment), the output colour space set.
bool read_header(Job* j, const uint8_t* src, size_t len, double maxPixels) {
  j->cinfo.err = jpeg_std_error(&j->err.pub);
  j->err.pub.error_exit = on_error;
  j->err.pub.emit_message = on_message;
  j->err.truncated = false;
  if (setjmp(j->err.jump)) return false;
  jpeg_create_decompress(&j->cinfo);
  j->created = true;
  jpeg_mem_src(&j->cinfo, const_cast<unsigned char*>(src), static_cast<unsigned long>(len));
  if (jpeg_read_header(&j->cinfo, TRUE) != JPEG_HEADER_OK) return false;
  if (j->cinfo.num_components == 1 && j->cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    j->cinfo.out_color_space = JCS_GRAYSCALE;
    j->channels = 1;
  } else if (j->cinfo.num_components == 3 && (j->cinfo.jpeg_color_space == JCS_YCbCr || j->cinfo.jpeg_color_space == JCS_RGB)) {
    j->cinfo.out_color_space = JCS_RGB;
    j->channels = 3;
  } else if (j->cinfo.num_components == 4 && (j->cinfo.jpeg_color_space == JCS_CMYK || j->cinfo.jpeg_color_space == JCS_YCCK)) {
    // PIL reads every CMYK JPEG with rawmode "CMYK;I" (Adobe's inverted samples, marker or not):
    // libjpeg's CMYK (YCCK converted by libjpeg, as for PIL), inverted after decoding.
    j->cinfo.out_color_space = JCS_CMYK;
    j->channels = 4;
  } else {
    return false;
  }
  return static_cast<double>(j->cinfo.image_width) * j->cinfo.image_height <= maxPixels;
}

void decode_pixels(Job* j) {
  if (setjmp(j->err.jump)) {
    j->ok = false;
    return;
  }
  jpeg_start_decompress(&j->cinfo);
  const size_t stride = static_cast<size_t>(j->cinfo.output_width) * j->channels;
  if (j->cinfo.output_width != j->cinfo.image_width || j->cinfo.output_height != j->cinfo.image_height) {
    j->ok = false;
    return;
  }
  while (j->cinfo.output_scanline < j->cinfo.output_height) {
    JSAMPROW row = j->dst + stride * j->cinfo.output_scanline;
    jpeg_read_scanlines(&j->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&j->cinfo);  // reads up to EOI: a file lacking only its EOI is truncated too
  j->ok = !j->err.truncated;
  if (j->channels == 4) {
    const size_t n = stride * j->cinfo.output_height;
    for (size_t i = 0; i < n; i++) j->dst[i] = static_cast<uint8_t>(255 - j->dst[i]);
  }
}

// {data, width, height, channels} with `data` a new Uint8Array over a new ArrayBuffer; dst set.
napi_value make_result(napi_env env, Job* j) {
  void* bytes = nullptr;
  napi_value buf, ab, arr, v, result;
  const size_t n = static_cast<size_t>(j->cinfo.image_width) * j->cinfo.image_height * j->channels;
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
  napi_create_int32(env, static_cast<int32_t>(j->cinfo.image_width), &v);
  napi_set_named_property(env, result, "width", v);
  napi_create_int32(env, static_cast<int32_t>(j->cinfo.image_height), &v);
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
    napi_throw_type_error(env, nullptr, "tfkd_image: decodeJpeg(bytes: Uint8Array, maxPixels: number)");
    return false;
  }
  *input = argv[0];
  *src = static_cast<const uint8_t*>(data);
  return true;
}

}  // namespace

// decodeJpeg(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodeJpeg(napi_env env, napi_callback_info info) {
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
  napi_create_string_utf8(env, "tfkd_jpeg", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

// decodeJpegSync(bytes, maxPixels): the same, on the calling thread (render workers).
napi_value DecodeJpegSync(napi_env env, napi_callback_info info) {
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

}  // namespace tfkd_jpeg
