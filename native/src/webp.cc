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

#include "decode_async.h"

namespace tfkd_webp {

namespace {

struct Job : tfkd_decode::Image {
  const uint8_t* src = nullptr;
  size_t len = 0;
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

const char kUsage[] = "tfkd_image: decodeWebp(bytes: Uint8Array, maxPixels: number)";

using Webp = tfkd_decode::Decoder<Job, read_header, decode_pixels>;

}  // namespace

// decodeWebp(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodeWebp(napi_env env, napi_callback_info info) { return Webp::async(env, info, kUsage, "tfkd_webp"); }

// decodeWebpSync(bytes, maxPixels): the same, on the calling thread (render workers).
napi_value DecodeWebpSync(napi_env env, napi_callback_info info) { return Webp::sync(env, info, kUsage); }

}  // namespace tfkd_webp
