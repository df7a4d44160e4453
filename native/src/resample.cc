// tfkd_image: the two passes of Pillow's separable fixed-point resampler (libImaging/Resample.c,
// ImagingResampleHorizontal_8bpc / ImagingResampleVertical_8bpc) on uint8 L / RGB images, for
// src/data/pil/resample.ts. The coefficient tables (22-bit fixed point, Resample.c's
// precompute_coeffs + normalize_coeffs_8bpc) are computed in JS and handed in, so both paths use
// the same integers; each output sample is clip8((1 << 21 + Σ pixel · k) >> 22) with int32 sums,
// exactly as Resample.c (255 · Σ|k| < 2³¹ for every filter, so no sum overflows and the order of
// the additions cannot change a result: the SIMD paths are byte-identical to the scalar ones).
//
// Dispatch is at run time: AVX2 code is compiled with __attribute__((target("avx2"))) and chosen
// when __builtin_cpu_supports("avx2") says the CPU has it (x86-64 GCC/clang); everywhere else, or
// after setSimd(false) (tests, A/B runs), the portable scalar loops run. No -march flag is needed,
// so one build runs on any x86-64 (and the scalar path on any CPU).
//
// Why SIMD: the vertical pass is a weighted sum of whole rows (every byte of a row independent),
// 8 int32 lanes per instruction; the horizontal pass sums two taps' RGB per instruction. Pillow's
// C is scalar (one multiply-add per sample and tap).
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "image_napi.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TFKD_X86 1
#include <immintrin.h>
#endif

namespace tfkd_policy {
napi_value AffineEntry(napi_env env, napi_callback_info info);  // policy.cc
napi_value BlendEntry(napi_env env, napi_callback_info info);
napi_value SmoothEntry(napi_env env, napi_callback_info info);
napi_value LutEntry(napi_env env, napi_callback_info info);
}  // namespace tfkd_policy

#ifdef TFKD_HAVE_JPEG
namespace tfkd_jpeg {
napi_value DecodeJpeg(napi_env env, napi_callback_info info);  // jpeg.cc
napi_value DecodeJpegSync(napi_env env, napi_callback_info info);
}
#endif
#ifdef TFKD_HAVE_PNG
namespace tfkd_png {
napi_value DecodePng(napi_env env, napi_callback_info info);  // png.cc
napi_value DecodePngSync(napi_env env, napi_callback_info info);
}
#endif
#ifdef TFKD_HAVE_WEBP
namespace tfkd_webp {
napi_value DecodeWebp(napi_env env, napi_callback_info info);  // webp.cc
napi_value DecodeWebpSync(napi_env env, napi_callback_info info);
}
#endif

namespace {

using namespace tfkd_image;

constexpr int PRECISION_BITS = 32 - 8 - 2;
constexpr int32_t ROUNDING = 1 << (PRECISION_BITS - 1);

inline uint8_t clip8(int32_t s) {
  s >>= PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : static_cast<uint8_t>(s);
}

struct Coeffs {
  int ksize;
  const int32_t* start;
  const int32_t* size;
  const int32_t* k;
  size_t n;  // outputs
};

// ---- portable (scalar) -------------------------------------------------------------------------

void horizontal_scalar(const uint8_t* src, size_t inStride, int ch, int firstRow, int rows, uint8_t* out, int outWidth, const Coeffs& c) {
  size_t o = 0;
  for (int y = 0; y < rows; y++) {
    const uint8_t* row = src + static_cast<size_t>(y + firstRow) * inStride;
    for (int xx = 0; xx < outWidth; xx++) {
      const int32_t* k = c.k + static_cast<size_t>(xx) * c.ksize;
      const int n = c.size[xx];
      const uint8_t* p = row + static_cast<size_t>(c.start[xx]) * ch;
      if (ch == 3) {
        int32_t s0 = ROUNDING, s1 = ROUNDING, s2 = ROUNDING;
        for (int x = 0; x < n; x++, p += 3) {
          s0 += p[0] * k[x];
          s1 += p[1] * k[x];
          s2 += p[2] * k[x];
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      } else {
        int32_t s0 = ROUNDING;
        for (int x = 0; x < n; x++) s0 += p[x] * k[x];
        out[o++] = clip8(s0);
      }
    }
  }
}

void vertical_scalar(const uint8_t* src, size_t stride, uint8_t* out, int outHeight, const Coeffs& c, int32_t* acc) {
  for (int yy = 0; yy < outHeight; yy++) {
    for (size_t i = 0; i < stride; i++) acc[i] = ROUNDING;
    const int32_t* k = c.k + static_cast<size_t>(yy) * c.ksize;
    for (int y = 0; y < c.size[yy]; y++) {
      const uint8_t* p = src + static_cast<size_t>(c.start[yy] + y) * stride;
      const int32_t kv = k[y];
      for (size_t i = 0; i < stride; i++) acc[i] += p[i] * kv;
    }
    uint8_t* q = out + static_cast<size_t>(yy) * stride;
    for (size_t i = 0; i < stride; i++) q[i] = clip8(acc[i]);
  }
}

// ---- AVX2 --------------------------------------------------------------------------------------

#ifdef TFKD_X86
// 8 int32 sums → 8 bytes: >> 22, then the saturating packs clip to [0, 255] exactly as clip8.
__attribute__((target("avx2"))) inline __m128i pack8(__m256i s) {
  s = _mm256_srai_epi32(s, PRECISION_BITS);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  return _mm_packus_epi16(w, w);
}

__attribute__((target("avx2"))) void vertical_avx2(const uint8_t* src, size_t stride, uint8_t* out, int outHeight, const Coeffs& c) {
  const __m256i round = _mm256_set1_epi32(ROUNDING);
  for (int yy = 0; yy < outHeight; yy++) {
    const int32_t* k = c.k + static_cast<size_t>(yy) * c.ksize;
    const int n = c.size[yy];
    const uint8_t* base = src + static_cast<size_t>(c.start[yy]) * stride;
    uint8_t* q = out + static_cast<size_t>(yy) * stride;
    size_t i = 0;
    // 32 bytes of the row at a time: four 8-lane int32 sums.
    for (; i + 32 <= stride; i += 32) {
      __m256i a0 = round, a1 = round, a2 = round, a3 = round;
      const uint8_t* p = base + i;
      for (int y = 0; y < n; y++, p += stride) {
        const __m256i kv = _mm256_set1_epi32(k[y]);
        const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
        a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), kv));
        a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), kv));
        a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), kv));
        a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), kv));
      }
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), pack8(a0));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i + 8), pack8(a1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i + 16), pack8(a2));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i + 24), pack8(a3));
    }
    for (; i + 8 <= stride; i += 8) {
      __m256i a0 = round;
      const uint8_t* p = base + i;
      for (int y = 0; y < n; y++, p += stride) {
        a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))), _mm256_set1_epi32(k[y])));
      }
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), pack8(a0));
    }
    for (; i < stride; i++) {
      int32_t s = ROUNDING;
      const uint8_t* p = base + i;
      for (int y = 0; y < n; y++, p += stride) s += *p * k[y];
      q[i] = clip8(s);
    }
  }
}

// The 4 sums [R G B 0] of one row's pixel: both halves of (hi << 11) + lo, rounded, >> 22.
__attribute__((target("avx2"))) inline __m128i reduce_rgb(__m256i hi, __m256i lo, __m128i round) {
  const __m256i acc = _mm256_add_epi32(_mm256_slli_epi32(hi, 11), lo);
  return _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1)), round), PRECISION_BITS);
}

// RGB: four taps per step with 16-bit multiply-adds. Each 22-bit coefficient is split as
// k = kh · 2¹¹ + kl (kl = k & 0x7ff, kh = k >> 11, both fit int16), so Σ p·k = 2¹¹ · Σ p·kh + Σ p·kl
// exactly (every partial sum fits int32). The coefficients are laid out once per call in the
// order the multiply-adds want them: per output pixel and group of four taps, 32 bytes of kh pairs
// and 32 of kl pairs, [k0 k1]×4 | [k2 k3]×4. 16 bytes are read per group, so a pixel whose taps end
// within 16 bytes of the buffer's end takes the scalar loop.
__attribute__((target("avx2"))) void horizontal_rgb_avx2(const uint8_t* src, size_t srcLen, size_t inStride, int firstRow, int rows, uint8_t* out, int outWidth, const Coeffs& c) {
  const int groups = (c.ksize + 3) / 4;
  std::vector<int16_t> table(static_cast<size_t>(outWidth) * groups * 32);
  for (int xx = 0; xx < outWidth; xx++) {
    const int32_t* k = c.k + static_cast<size_t>(xx) * c.ksize;
    for (int g = 0; g < groups; g++) {
      int16_t* t = table.data() + (static_cast<size_t>(xx) * groups + g) * 32;
      for (int half = 0; half < 2; half++) {
        for (int tap = 0; tap < 2; tap++) {
          const int j = 4 * g + 2 * half + tap;
          const int32_t kv = j < c.size[xx] ? k[j] : 0;
          for (int lane = 0; lane < 4; lane++) {
            t[half * 8 + lane * 2 + tap] = static_cast<int16_t>(kv >> 11);
            t[16 + half * 8 + lane * 2 + tap] = static_cast<int16_t>(kv & 0x7ff);
          }
        }
      }
    }
  }
  // 16-bit lanes [R_j R_j+1 G_j G_j+1 B_j B_j+1 0 0] for taps (0, 1) in the low half, (2, 3) in the high.
  const __m256i spread = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1, 6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
  const __m128i round = _mm_set1_epi32(ROUNDING);
  const size_t outStride = static_cast<size_t>(outWidth) * 3;
  auto scalar = [&](size_t p0, int xx, uint8_t* q) {
    const int32_t* k = c.k + static_cast<size_t>(xx) * c.ksize;
    const uint8_t* p = src + p0;
    int32_t s0 = ROUNDING, s1 = ROUNDING, s2 = ROUNDING;
    for (int x = 0; x < c.size[xx]; x++, p += 3) {
      s0 += p[0] * k[x];
      s1 += p[1] * k[x];
      s2 += p[2] * k[x];
    }
    q[0] = clip8(s0);
    q[1] = clip8(s1);
    q[2] = clip8(s2);
  };
  // Four rows per step share the coefficient loads (the table row of a pixel is the same in every
  // row); a last group of fewer rows repeats its last row and stores only the real ones.
  for (int y = 0; y < rows; y += 4) {
    const int live = rows - y < 4 ? rows - y : 4;
    size_t r[4];
    uint8_t* q[4];
    for (int i = 0; i < 4; i++) {
      const int yi = y + (i < live ? i : live - 1);
      r[i] = static_cast<size_t>(yi + firstRow) * inStride;
      q[i] = out + static_cast<size_t>(yi) * outStride;
    }
    for (int xx = 0; xx < outWidth; xx++) {
      const int n = c.size[xx];
      const size_t off = static_cast<size_t>(c.start[xx]) * 3;
      const size_t o = static_cast<size_t>(xx) * 3;
      if (r[3] + off + static_cast<size_t>((n + 3) / 4) * 12 + 4 > srcLen) {
        for (int i = 0; i < live; i++) scalar(r[i] + off, xx, q[i] + o);
        continue;
      }
      const uint8_t* p0 = src + r[0] + off;
      const uint8_t* p1 = src + r[1] + off;
      const uint8_t* p2 = src + r[2] + off;
      const uint8_t* p3 = src + r[3] + off;
      const int16_t* t = table.data() + static_cast<size_t>(xx) * groups * 32;
      __m256i hi0 = _mm256_setzero_si256(), lo0 = hi0, hi1 = hi0, lo1 = hi0, hi2 = hi0, lo2 = hi0, hi3 = hi0, lo3 = hi0;
      for (int x = 0; x < n; x += 4, p0 += 12, p1 += 12, p2 += 12, p3 += 12, t += 32) {
        const __m256i th = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t));
        const __m256i tl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + 16));
        const __m256i a = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0))), spread);
        const __m256i b = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p1))), spread);
        const __m256i d = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p2))), spread);
        const __m256i e = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p3))), spread);
        hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(a, th));
        lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(a, tl));
        hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(b, th));
        lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(b, tl));
        hi2 = _mm256_add_epi32(hi2, _mm256_madd_epi16(d, th));
        lo2 = _mm256_add_epi32(lo2, _mm256_madd_epi16(d, tl));
        hi3 = _mm256_add_epi32(hi3, _mm256_madd_epi16(e, th));
        lo3 = _mm256_add_epi32(lo3, _mm256_madd_epi16(e, tl));
      }
      // int32 → int16 → uint8 with saturation (clip8 of each sum): [R G B 0] of rows 0, 1, 2, 3.
      const __m128i w01 = _mm_packs_epi32(reduce_rgb(hi0, lo0, round), reduce_rgb(hi1, lo1, round));
      const __m128i w23 = _mm_packs_epi32(reduce_rgb(hi2, lo2, round), reduce_rgb(hi3, lo3, round));
      const __m128i px = _mm_packus_epi16(w01, w23);
      uint32_t v[4];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(v), px);
      if (xx + 1 < outWidth) {
        // 4-byte stores: the fourth byte lands on the next pixel's first, written next.
        for (int i = 0; i < live; i++) std::memcpy(q[i] + o, &v[i], 4);
      } else {
        for (int i = 0; i < live; i++) std::memcpy(q[i] + o, &v[i], 3);
      }
    }
  }
}

// L: eight taps per instruction, a horizontal sum per output.
__attribute__((target("avx2"))) void horizontal_l_avx2(const uint8_t* src, size_t inStride, int firstRow, int rows, uint8_t* out, int outWidth, const Coeffs& c) {
  size_t o = 0;
  for (int y = 0; y < rows; y++) {
    const uint8_t* row = src + static_cast<size_t>(y + firstRow) * inStride;
    for (int xx = 0; xx < outWidth; xx++) {
      const int32_t* k = c.k + static_cast<size_t>(xx) * c.ksize;
      const int n = c.size[xx];
      const uint8_t* p = row + c.start[xx];
      __m256i acc = _mm256_setzero_si256();
      int x = 0;
      for (; x + 8 <= n; x += 8) {
        const __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + x)));
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + x))));
      }
      __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
      s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
      int32_t sum = ROUNDING + _mm_cvtsi128_si32(s);
      for (; x < n; x++) sum += p[x] * k[x];
      out[o++] = clip8(sum);
    }
  }
}

bool cpu_avx2() { return __builtin_cpu_supports("avx2"); }
#else
bool cpu_avx2() { return false; }
#endif

bool g_simd = true;

// ---- N-API -------------------------------------------------------------------------------------

// (ksize, start, size, k) for `outputs` outputs, every window inside [0, inSize): checked before
// any pixel is read, so a wrong call throws instead of reading outside the image.
Coeffs coeffs(napi_env env, napi_value* a, size_t outputs, int64_t inSize) {
  const int64_t ksize = int_arg(env, a[0], "ksize");
  const auto start = typed<int32_t>(env, a[1], napi_int32_array, "start");
  const auto size = typed<int32_t>(env, a[2], napi_int32_array, "size");
  const auto k = typed<int32_t>(env, a[3], napi_int32_array, "k");
  if (ksize < 1 || start.n < outputs || size.n < outputs || k.n < outputs * static_cast<size_t>(ksize)) throw Err{"coefficient tables too short"};
  for (size_t i = 0; i < outputs; i++) {
    if (start.p[i] < 0 || size.p[i] < 0 || size.p[i] > ksize || start.p[i] + static_cast<int64_t>(size.p[i]) > inSize) throw Err{"coefficient window outside the image"};
  }
  return {static_cast<int>(ksize), start.p, size.p, k.p, outputs};
}

// horizontal(src, inWidth, channels, firstRow, rows, out, outWidth, ksize, start, size, k)
napi_value Horizontal(napi_env env, napi_callback_info info) {
  napi_value a[11];
  args(env, info, a);
  const auto src = typed<uint8_t>(env, a[0], napi_uint8_array, "src");
  const int64_t inWidth = int_arg(env, a[1], "inWidth"), ch = int_arg(env, a[2], "channels");
  const int64_t firstRow = int_arg(env, a[3], "firstRow"), rows = int_arg(env, a[4], "rows");
  const auto out = typed<uint8_t>(env, a[5], napi_uint8_array, "out");
  const int64_t outWidth = int_arg(env, a[6], "outWidth");
  if ((ch != 1 && ch != 3) || inWidth < 1 || firstRow < 0 || rows < 0 || outWidth < 1) throw Err{"bad image arguments"};
  const size_t inStride = static_cast<size_t>(inWidth * ch);
  if (static_cast<size_t>(firstRow + rows) * inStride > src.n) throw Err{"src too short"};
  if (static_cast<size_t>(rows * outWidth * ch) > out.n) throw Err{"out too short"};
  const Coeffs c = coeffs(env, a + 7, static_cast<size_t>(outWidth), inWidth);
#ifdef TFKD_X86
  if (g_simd && ch == 3) return horizontal_rgb_avx2(src.p, src.n, inStride, firstRow, rows, out.p, outWidth, c), nullptr;
  if (g_simd && ch == 1) return horizontal_l_avx2(src.p, inStride, firstRow, rows, out.p, outWidth, c), nullptr;
#endif
  horizontal_scalar(src.p, inStride, static_cast<int>(ch), firstRow, rows, out.p, outWidth, c);
  return nullptr;
}

// vertical(src, stride, out, outHeight, ksize, start, size, k)
napi_value Vertical(napi_env env, napi_callback_info info) {
  napi_value a[8];
  args(env, info, a);
  const auto src = typed<uint8_t>(env, a[0], napi_uint8_array, "src");
  const int64_t stride = int_arg(env, a[1], "stride");
  const auto out = typed<uint8_t>(env, a[2], napi_uint8_array, "out");
  const int64_t outHeight = int_arg(env, a[3], "outHeight");
  if (stride < 1 || outHeight < 1) throw Err{"bad image arguments"};
  if (static_cast<size_t>(stride * outHeight) > out.n) throw Err{"out too short"};
  const int64_t inRows = static_cast<int64_t>(src.n / static_cast<size_t>(stride));
  const Coeffs c = coeffs(env, a + 4, static_cast<size_t>(outHeight), inRows);
#ifdef TFKD_X86
  if (g_simd) return vertical_avx2(src.p, static_cast<size_t>(stride), out.p, static_cast<int>(outHeight), c), nullptr;
#endif
  int32_t* acc = new int32_t[stride];
  vertical_scalar(src.p, static_cast<size_t>(stride), out.p, static_cast<int>(outHeight), c, acc);
  delete[] acc;
  return nullptr;
}

// setSimd(on): use the AVX2 passes when the CPU has them; returns the path now in use.
napi_value Simd(napi_env env, napi_callback_info info);

napi_value path(napi_env env) {
  napi_value r;
  const char* s = g_simd ? "avx2" : "portable";
  CHECK(napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r));
  return r;
}

napi_value Simd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value v;
  CHECK(napi_get_cb_info(env, info, &argc, &v, nullptr, nullptr));
  if (argc >= 1) {
    bool on = false;
    CHECK(napi_get_value_bool(env, v, &on));
    g_simd = on && cpu_avx2();
  }
  return path(env);
}

napi_value HasJpeg(napi_env env, napi_callback_info) {
  napi_value r;
#ifdef TFKD_HAVE_JPEG
  CHECK(napi_get_boolean(env, true, &r));
#else
  CHECK(napi_get_boolean(env, false, &r));
#endif
  return r;
}

napi_value Init(napi_env env, napi_value exports) {
  g_simd = cpu_avx2();
  const napi_property_descriptor props[] = {
#ifdef TFKD_HAVE_JPEG
      {"decodeJpeg", nullptr, tfkd_jpeg::DecodeJpeg, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeJpegSync", nullptr, tfkd_jpeg::DecodeJpegSync, nullptr, nullptr, nullptr, napi_default, nullptr},
#endif
#ifdef TFKD_HAVE_PNG
      {"decodePng", nullptr, tfkd_png::DecodePng, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodePngSync", nullptr, tfkd_png::DecodePngSync, nullptr, nullptr, nullptr, napi_default, nullptr},
#endif
#ifdef TFKD_HAVE_WEBP
      {"decodeWebp", nullptr, tfkd_webp::DecodeWebp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeWebpSync", nullptr, tfkd_webp::DecodeWebpSync, nullptr, nullptr, nullptr, napi_default, nullptr},
#endif
      {"hasJpeg", nullptr, Guard<HasJpeg>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"horizontal", nullptr, Guard<Horizontal>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"vertical", nullptr, Guard<Vertical>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"simd", nullptr, Guard<Simd>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"affine", nullptr, tfkd_policy::AffineEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"blend", nullptr, tfkd_policy::BlendEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"smooth", nullptr, tfkd_policy::SmoothEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"lut", nullptr, tfkd_policy::LutEntry, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
