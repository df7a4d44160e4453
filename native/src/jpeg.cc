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

#include "decode_async.h"

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

// One decode (decode_async.h): the header read on the calling thread, the scanlines decoded
// straight into the output.
struct Job : tfkd_decode::Image {
  jpeg_decompress_struct cinfo;
  ErrMgr err;
  bool created = false;
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
  j->width = j->cinfo.image_width;
  j->height = j->cinfo.image_height;
  return static_cast<double>(j->width) * j->height <= maxPixels;
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

const char kUsage[] = "tfkd_image: decodeJpeg(bytes: Uint8Array, maxPixels: number)";

using Jpeg = tfkd_decode::Decoder<Job, read_header, decode_pixels>;

}  // namespace

// decodeJpeg(bytes: Uint8Array, maxPixels: number): Promise<{data, width, height, channels} | null>
napi_value DecodeJpeg(napi_env env, napi_callback_info info) { return Jpeg::async(env, info, kUsage, "tfkd_jpeg"); }

// decodeJpegSync(bytes, maxPixels): the same, on the calling thread (render workers).
napi_value DecodeJpegSync(napi_env env, napi_callback_info info) { return Jpeg::sync(env, info, kUsage); }

}  // namespace tfkd_jpeg
