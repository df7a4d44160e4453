// tfkd_image: JPEG decoding on Debian's libjpeg-turbo (libjpeg62-turbo, the library Pillow links),
// one open per image: header and pixels from the same jpeg_decompress_struct, on the libuv pool
// (napi async work), for src/data/pil/decode.ts. Only what PIL decodes the same way is handled:
// 1 component (grey → mode L) and 3 components (YCbCr or Adobe RGB → mode RGB) with libjpeg's
// defaults, which are PIL's (ISLOW DCT, fancy upsampling, no scaling). Everything else resolves to
// null and decode.ts takes the sharp path: CMYK/YCCK, more pixels than the caller's limit, any
// libjpeg error, and a truncated file (libjpeg's JWRN_JPEG_EOF: PIL refuses those, and sharp's
// path raises PIL's message). Corrupt-data warnings are ignored, as PIL ignores them.
#define NAPI_VERSION 8
#include <node_api.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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

struct Work {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref input = nullptr;  // keeps the source bytes alive while the pool reads them
  const uint8_t* src = nullptr;
  size_t len = 0;
  double maxPixels = 0;
  // results
  bool ok = false;
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

void decode(Work* w) {
  jpeg_decompress_struct cinfo;
  ErrMgr err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.truncated = false;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    w->ok = false;
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(w->src), static_cast<unsigned long>(w->len));
  if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  int ch = 0;
  if (cinfo.num_components == 1 && cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    cinfo.out_color_space = JCS_GRAYSCALE;
    ch = 1;
  } else if (cinfo.num_components == 3 && (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB)) {
    cinfo.out_color_space = JCS_RGB;
    ch = 3;
  }
  if (ch == 0 || static_cast<double>(cinfo.image_width) * cinfo.image_height > w->maxPixels) {
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_start_decompress(&cinfo);
  const size_t stride = static_cast<size_t>(cinfo.output_width) * ch;
  w->pixels.resize(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = w->pixels.data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);  // reads up to EOI: a file lacking only its EOI is truncated too
  w->width = static_cast<int>(cinfo.output_width);
  w->height = static_cast<int>(cinfo.output_height);
  w->channels = ch;
  w->ok = !err.truncated;
  jpeg_destroy_decompress(&cinfo);
}

void execute(napi_env, void* data) { decode(static_cast<Work*>(data)); }

void complete(napi_env env, napi_status, void* data) {
  Work* w = static_cast<Work*>(data);
  napi_value result;
  if (!w->ok) {
    napi_get_null(env, &result);
  } else {
    void* bytes = nullptr;
    napi_value ab, arr, v;
    napi_create_arraybuffer(env, w->pixels.size(), &bytes, &ab);
    std::memcpy(bytes, w->pixels.data(), w->pixels.size());
    napi_create_typedarray(env, napi_uint8_array, w->pixels.size(), ab, 0, &arr);
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "data", arr);
    napi_create_int32(env, w->width, &v);
    napi_set_named_property(env, result, "width", v);
    napi_create_int32(env, w->height, &v);
    napi_set_named_property(env, result, "height", v);
    napi_create_int32(env, w->channels, &v);
    napi_set_named_property(env, result, "channels", v);
  }
  napi_resolve_deferred(env, w->deferred, result);
  napi_delete_reference(env, w->input);
  napi_delete_async_work(env, w->work);
  delete w;
}

}  // namespace

// decodeJpeg(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodeJpeg(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool is = false;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is) {
    napi_throw_type_error(env, nullptr, "tfkd_image: decodeJpeg(bytes: Uint8Array, maxPixels: number)");
    return nullptr;
  }
  Work* w = new Work();
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr);
  if (type != napi_uint8_array || napi_get_value_double(env, argv[1], &w->maxPixels) != napi_ok) {
    delete w;
    napi_throw_type_error(env, nullptr, "tfkd_image: decodeJpeg(bytes: Uint8Array, maxPixels: number)");
    return nullptr;
  }
  w->src = static_cast<const uint8_t*>(data);
  w->len = length;
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_reference(env, argv[0], 1, &w->input);
  napi_create_string_utf8(env, "tfkd_jpeg", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, execute, complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

}  // namespace tfkd_jpeg
