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

#include "decode_async.h"

namespace tfkd_png {

namespace {

struct Job : tfkd_decode::Image {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* src = nullptr;
  size_t len = 0;
  size_t pos = 0;
  bool warned = false;
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

const char kUsage[] = "tfkd_image: decodePng(bytes: Uint8Array, maxPixels: number)";

using Png = tfkd_decode::Decoder<Job, read_header, decode_pixels>;

}  // namespace

// decodePng(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodePng(napi_env env, napi_callback_info info) { return Png::async(env, info, kUsage, "tfkd_png"); }

// decodePngSync(bytes, maxPixels): the same, on the calling thread (render workers).
napi_value DecodePngSync(napi_env env, napi_callback_info info) { return Png::sync(env, info, kUsage); }

}  // namespace tfkd_png
