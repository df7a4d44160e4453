// tfkd_image: the pixel loops of RandAugment / TrivialAugmentWide's operations (src/data/pil/
// geometry.ts, enhance.ts, image-ops.ts) in C, with Pillow 9.4's own arithmetic — the JS versions
// are the reference and the tests compare both paths with torchvision byte for byte:
//   affine  Geometry.c's three nearest-neighbour loops (ImagingScaleAffine in doubles,
//           affine_fixed in 16.16 int, ImagingTransformAffine's float loop in doubles), picked as
//           ImagingTransformAffine picks them;
//   blend   Blend.c ImagingBlend in C float (the degenerate image, or one grey level);
//   smooth  Filter.c ImagingFilter3x3 with SMOOTH (kernel / 13 in float, + 0.5, clip8);
//   lut     image.point(lut) with one table per band.
// Built with -ffp-contract=off (binding.gyp): a fused multiply-add would round differently from
// Pillow's separate float multiply and add.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "image_napi.h"

namespace tfkd_policy {

using namespace tfkd_image;

namespace {

inline int coord(double v) { return v < 0.0 ? -1 : static_cast<int>(v); }
inline int fix16(double v) { return static_cast<int>(std::floor(v * 65536.0 + 0.5)); }

// map[p] = source pixel of output pixel p, or -1 (fill 0).
void affine_map(int W, int H, const double* a, int32_t* map) {
  std::fill(map, map + static_cast<size_t>(W) * H, -1);
  if (a[1] == 0 && a[3] == 0) {
    std::vector<int32_t> xintab(W, 0);
    double xo = a[2] + a[0] * 0.5, yo = a[5] + a[4] * 0.5;
    int xmin = W, xmax = 0;
    for (int x = 0; x < W; x++) {
      const int xin = coord(xo);
      if (xin >= 0 && xin < W) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xin;
      }
      xo += a[0];
    }
    for (int y = 0; y < H; y++) {
      const int yi = coord(yo);
      if (yi >= 0 && yi < H)
        for (int x = xmin; x < xmax; x++) map[static_cast<size_t>(y) * W + x] = yi * W + xintab[x];
      yo += a[4];
    }
    return;
  }
  auto fits = [&](double x, double y) { return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0; };
  if (fits(0, 0) && fits(W, H) && fits(0, H) && fits(W, 0)) {
    const int a0 = fix16(a[0]), a1 = fix16(a[1]), a3 = fix16(a[3]), a4 = fix16(a[4]);
    int a2 = fix16(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix16(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < H; y++) {
      int xx = a2, yy = a5;
      int32_t* row = map + static_cast<size_t>(y) * W;
      for (int x = 0; x < W; x++) {
        const int xin = xx >> 16;
        if (xin >= 0 && xin < W) {
          const int yin = yy >> 16;
          if (yin >= 0 && yin < H) row[x] = yin * W + xin;
        }
        xx += a0;
        yy += a3;
      }
      a2 += a1;
      a5 += a4;
    }
    return;
  }
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < H; y++) {
    double xx = xo, yy = yo;
    int32_t* row = map + static_cast<size_t>(y) * W;
    for (int x = 0; x < W; x++) {
      const int xin = coord(xx);
      if (xin >= 0 && xin < W) {
        const int yin = coord(yy);
        if (yin >= 0 && yin < H) row[x] = yin * W + xin;
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
}

inline uint8_t clip8f(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v); }

struct Image {
  View<uint8_t> data;
  int W, H, C;
};

Image image_args(napi_env env, napi_value* a, const char* what) {
  Image im{typed<uint8_t>(env, a[0], napi_uint8_array, what), static_cast<int>(int_arg(env, a[1], "width")), static_cast<int>(int_arg(env, a[2], "height")),
           static_cast<int>(int_arg(env, a[3], "channels"))};
  if ((im.C != 1 && im.C != 3) || im.W < 1 || im.H < 1) throw Err{"bad image arguments"};
  if (static_cast<size_t>(im.W) * im.H * im.C > im.data.n) throw Err{std::string(what) + " too short"};
  return im;
}

// affine(src, width, height, channels, a: Float64Array(6), out)
napi_value Affine(napi_env env, napi_callback_info info) {
  napi_value a[6];
  args(env, info, a);
  const Image im = image_args(env, a, "src");
  const auto m = typed<double>(env, a[4], napi_float64_array, "matrix");
  const auto out = typed<uint8_t>(env, a[5], napi_uint8_array, "out");
  const size_t n = static_cast<size_t>(im.W) * im.H;
  if (m.n < 6) throw Err{"matrix: need 6 coefficients"};
  if (out.n < n * im.C) throw Err{"out too short"};
  std::vector<int32_t> map(n);
  affine_map(im.W, im.H, m.p, map.data());
  const uint8_t* s = im.data.p;
  uint8_t* d = out.p;
  if (im.C == 3) {
    for (size_t p = 0; p < n; p++, d += 3) {
      const int32_t q = map[p];
      if (q < 0) {
        d[0] = d[1] = d[2] = 0;
      } else {
        d[0] = s[3 * q];
        d[1] = s[3 * q + 1];
        d[2] = s[3 * q + 2];
      }
    }
  } else {
    for (size_t p = 0; p < n; p++) d[p] = map[p] < 0 ? 0 : s[map[p]];
  }
  return nullptr;
}

// blend(a: Uint8Array | grey level, b, alpha, out): Blend.c, (float)alpha.
napi_value Blend(napi_env env, napi_callback_info info) {
  napi_value a[4];
  args(env, info, a);
  const auto b = typed<uint8_t>(env, a[1], napi_uint8_array, "b");
  double alpha_d = 0;
  CHECK(napi_get_value_double(env, a[2], &alpha_d));
  const auto out = typed<uint8_t>(env, a[3], napi_uint8_array, "out");
  if (out.n < b.n) throw Err{"out too short"};
  const float alpha = static_cast<float>(alpha_d);
  napi_valuetype t;
  CHECK(napi_typeof(env, a[0], &t));
  std::vector<uint8_t> grey;
  const uint8_t* in1;
  size_t stride1 = 1;
  if (t == napi_number) {
    const int64_t g = int_arg(env, a[0], "grey");
    if (g < 0 || g > 255) throw Err{"grey level outside [0, 255]"};
    grey.assign(1, static_cast<uint8_t>(g));
    in1 = grey.data();
    stride1 = 0;
  } else {
    const auto v = typed<uint8_t>(env, a[0], napi_uint8_array, "a");
    if (v.n < b.n) throw Err{"a too short"};
    in1 = v.p;
  }
  const uint8_t* in2 = b.p;
  uint8_t* o = out.p;
  const size_t n = b.n;
  if (alpha == 0.0f) {
    for (size_t i = 0; i < n; i++) o[i] = in1[i * stride1];
  } else if (alpha == 1.0f) {
    std::memcpy(o, in2, n);
  } else if (alpha >= 0 && alpha <= 1.0f) {
    for (size_t i = 0; i < n; i++) {
      const int x = in1[i * stride1];
      o[i] = static_cast<uint8_t>(x + alpha * (static_cast<int>(in2[i]) - x));
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const int x = in1[i * stride1];
      o[i] = clip8f(static_cast<float>(x + alpha * (static_cast<int>(in2[i]) - x)));
    }
  }
  return nullptr;
}

// smooth(src, width, height, channels, out): Filter.c ImagingFilter3x3 with SMOOTH.
napi_value Smooth(napi_env env, napi_callback_info info) {
  napi_value a[5];
  args(env, info, a);
  const Image im = image_args(env, a, "src");
  const auto out = typed<uint8_t>(env, a[4], napi_uint8_array, "out");
  const size_t row = static_cast<size_t>(im.W) * im.C;
  if (out.n < row * im.H) throw Err{"out too short"};
  std::memcpy(out.p, im.data.p, row * im.H);
  if (im.W < 3 || im.H < 3) return nullptr;
  // _imaging.c _filter: kerneldata[i] /= divisor, in float.
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  const int C = im.C;
  const uint8_t* s = im.data.p;
  for (int y = 1; y < im.H - 1; y++) {
    const size_t end = y * row + static_cast<size_t>(im.W - 1) * C;
    for (size_t o = y * row + C; o < end; o++) {
      const uint8_t* lo = s + o + row;
      const uint8_t* mid = s + o;
      const uint8_t* hi = s + o - row;
      float ss = 0.5f;
      ss += static_cast<float>(lo[-C]) * k1 + static_cast<float>(lo[0]) * k1 + static_cast<float>(lo[C]) * k1;
      ss += static_cast<float>(mid[-C]) * k1 + static_cast<float>(mid[0]) * k5 + static_cast<float>(mid[C]) * k1;
      ss += static_cast<float>(hi[-C]) * k1 + static_cast<float>(hi[0]) * k1 + static_cast<float>(hi[C]) * k1;
      out.p[o] = clip8f(ss);
    }
  }
  return nullptr;
}

// lut(src, channels, luts: Uint8Array(256 · channels), out)
napi_value Lut(napi_env env, napi_callback_info info) {
  napi_value a[4];
  args(env, info, a);
  const auto src = typed<uint8_t>(env, a[0], napi_uint8_array, "src");
  const int64_t C = int_arg(env, a[1], "channels");
  const auto luts = typed<uint8_t>(env, a[2], napi_uint8_array, "luts");
  const auto out = typed<uint8_t>(env, a[3], napi_uint8_array, "out");
  if (C != 1 && C != 3) throw Err{"channels must be 1 or 3"};
  if (luts.n < static_cast<size_t>(256 * C)) throw Err{"luts too short"};
  if (out.n < src.n || src.n % C) throw Err{"out too short"};
  const uint8_t* l = luts.p;
  if (C == 1) {
    for (size_t i = 0; i < src.n; i++) out.p[i] = l[src.p[i]];
  } else {
    for (size_t i = 0; i < src.n; i += 3) {
      out.p[i] = l[src.p[i]];
      out.p[i + 1] = l[256 + src.p[i + 1]];
      out.p[i + 2] = l[512 + src.p[i + 2]];
    }
  }
  return nullptr;
}

}  // namespace

napi_value AffineEntry(napi_env env, napi_callback_info info) { return Guard<Affine>(env, info); }
napi_value BlendEntry(napi_env env, napi_callback_info info) { return Guard<Blend>(env, info); }
napi_value SmoothEntry(napi_env env, napi_callback_info info) { return Guard<Smooth>(env, info); }
napi_value LutEntry(napi_env env, napi_callback_info info) { return Guard<Lut>(env, info); }

}  // namespace tfkd_policy
