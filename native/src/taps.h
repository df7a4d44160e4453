// The window walk that col2im (conv.cc) and the depthwise input gradient (depthwise.cc) share:
// for output rows r = (b, oh, ow) in [r0, r1), then the window's taps (kh, kw), every tap that
// lands inside the input, in that order. A template, so the caller's per-tap loop is inlined
// (and vectorised) as if written in place.
#pragma once
#include <cstdint>

namespace tfkd {

// f(r, k, pixel) for each tap inside the input: r the output row, k = kh·KW + kw the tap, pixel
// = (b·H + ih)·W + iw the input pixel it reads (ih = oh·sh + kh − pt, iw = ow·sw + kw − pl).
// Shape: a convolution's B, H, W, KH, KW, OH, OW, sh, sw, pt, pl (conv.cc's Conv, depthwise.cc's Dw).
template <class Shape, class F>
inline void for_taps(const Shape& c, int64_t r0, int64_t r1, F f) {
  if (r0 >= r1) return;
  // (b, oh, ow) of r0 by division once, then counted on (a division per row measured ≈ 4 % of the
  // depthwise input gradient at 32 channels).
  int64_t b = r0 / (c.OH * c.OW), oh = r0 % (c.OH * c.OW) / c.OW, ow = r0 % c.OW;
  for (int64_t r = r0; r < r1; r++) {
    for (int64_t kh = 0; kh < c.KH; kh++) {
      const int64_t ih = oh * c.sh + kh - c.pt;
      if (ih < 0 || ih >= c.H) continue;
      for (int64_t kw = 0; kw < c.KW; kw++) {
        const int64_t iw = ow * c.sw + kw - c.pl;
        if (iw < 0 || iw >= c.W) continue;
        f(r, kh * c.KW + kw, (b * c.H + ih) * c.W + iw);
      }
    }
    if (++ow == c.OW) {
      ow = 0;
      if (++oh == c.OH) {
        oh = 0;
        b++;
      }
    }
  }
}

}  // namespace tfkd
