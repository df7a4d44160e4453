// tfkd_image: PNG decoding on Debian's libpng16, one open per image, for src/data/pil/decode.ts —
// what sharp/libvips did with two opens (header, then pixels) and a pipeline per image, ~2 ms of
// fixed cost on a small photograph. PNG is lossless, so the samples are the file's; only the ones
// PIL opens as 8-bit modes are taken, laid out as convert.ts expects them:
//   grey 1/2/4/8-bit → L (1/2/4-bit scaled to 0..255: PIL's "1", "L;2", "L;4" unpackers), grey +
//   alpha → LA, RGB → RGB, RGBA → RGBA, palette → RGB, or RGBA when it has tRNS (convert.ts then
//   drops the alpha: P → RGB / L are the palette colour and its luma, as in PIL). A tRNS chunk on
//   grey or RGB is ignored (PIL keeps it in info, pixels untouched).
// Everything else resolves to null and decode.ts takes the sharp path, which gives PIL's bytes or
// its errors: 16-bit samples, more pixels than the caller's limit, and any file libpng reads with
// an error *or a warning* (benign errors are errors here) — a bad CRC, a missing IEND, trailing
// data, a palette index past the palette. So only pristine files are decoded here, and damaged
// ones behave exactly as before. PIL's own header-chunk CRC check runs in decode.ts first.
#define NAPI_VERSION 8
#include <node_api.h>

#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <vector>

#include <png.h>

namespace tfkd_png {

namespace {

struct Job {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* src = nullptr;
  size_t len = 0;
  size_t pos = 0;
  bool warned = false;
  int channels = 0;
  uint32_t width = 0, height = 0;
  uint8_t* dst = nullptr;
  bool ok = false;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref input = nullptr;
  napi_ref output = nullptr;
  ~Job() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void on_error(png_structp p, png_const_charp) { png_longjmp(p, 1); }

void on_warning(png_structp p, png_const_charp) { static_cast<Job*>(png_get_error_ptr(p))->warned = true; }

void read_bytes(png_structp p, png_bytep out, png_size_t n) {
  Job* j = static_cast<Job*>(png_get_io_ptr(p));
  if (n > j->len - j->pos) png_error(p, "truncated");
  std::memcpy(out, j->src + j->pos, n);
  j->pos += n;
}

// The header and the transforms; true when this decoder takes the image (module comment).
bool read_header(Job* j, const uint8_t* src, size_t len, double maxPixels) {
  j->src = src;
  j->len = len;
  j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, on_error, on_warning);
  if (!j->png) return false;
  j->info = png_create_info_struct(j->png);
  if (!j->info) return false;
  if (setjmp(png_jmpbuf(j->png))) return false;
  png_set_benign_errors(j->png, 0);
  png_set_read_fn(j->png, j, read_bytes);
  png_read_info(j->png, j->info);
  if (j->warned) return false;
  int depth = 0, type = 0, interlace = 0;
  png_get_IHDR(j->png, j->info, &j->width, &j->height, &depth, &type, &interlace, nullptr, nullptr);
  if (depth == 16) return false;
  if (static_cast<double>(j->width) * j->height > maxPixels) return false;
  if (type == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(j->png);  // with tRNS: RGBA (libpng's PNG_EXPAND_tRNS)
  } else if (type == PNG_COLOR_TYPE_GRAY && depth < 8) {
    png_set_expand_gray_1_2_4_to_8(j->png);  // tRNS is not expanded to alpha: stays L
  }
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(j->png);
  png_read_update_info(j->png, j->info);
  j->channels = png_get_channels(j->png, j->info);
  if (png_get_bit_depth(j->png, j->info) != 8 || j->channels < 1 || j->channels > 4) return false;
  return png_get_rowbytes(j->png, j->info) == static_cast<size_t>(j->width) * j->channels;
}

void decode_pixels(Job* j) {
  std::vector<png_bytep> rows(j->height);
  const size_t stride = static_cast<size_t>(j->width) * j->channels;
  for (uint32_t y = 0; y < j->height; y++) rows[y] = j->dst + stride * y;
  if (setjmp(png_jmpbuf(j->png))) {
    j->ok = false;
    return;
  }
  png_read_image(j->png, rows.data());
  png_read_end(j->png, nullptr);  // up to IEND: CRCs and order of the chunks after the pixels
  j->ok = !j->warned;
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
  napi_create_int32(env, static_cast<int32_t>(j->width), &v);
  napi_set_named_property(env, result, "width", v);
  napi_create_int32(env, static_cast<int32_t>(j->height), &v);
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
    napi_throw_type_error(env, nullptr, "tfkd_image: decodePng(bytes: Uint8Array, maxPixels: number)");
    return false;
  }
  *input = argv[0];
  *src = static_cast<const uint8_t*>(data);
  return true;
}

}  // namespace

// decodePng(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodePng(napi_env env, napi_callback_info info) {
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
  napi_create_string_utf8(env, "tfkd_png", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

// decodePngSync(bytes, maxPixels): the same, on the calling thread (render workers).
napi_value DecodePngSync(napi_env env, napi_callback_info info) {
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

}  // namespace tfkd_png
