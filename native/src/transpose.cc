// tfkd_native's transpose: any permutation of a 4-byte tensor, cache-blocked, for the wasm backend's
// Transpose (src/student/kernels/native.ts). Why: an ONNX student transposes every convolution
// weight OIHW → HWIO in its forward pass and the gradient back (HWIO → OIHW); the shipped wasm
// kernel walks the output in order and reads the input at the output's innermost stride, which
// for the gradient's permutation is 1 MiB apart on a 512×512×3×3 weight (8 ns an element there,
// 11 % of an ONNX ResNet-18 step; docs/PERFORMANCE.md "Transposes of ONNX students").
//
// The caller has already dropped size-1 axes and merged axes that stay adjacent (native.ts), so
// here rank ≥ 2 and the permutation is not the identity. Two cases:
//  - the innermost input axis stays innermost: the output is runs of that axis, each one copy;
//  - otherwise the two axes that matter — the input's innermost (contiguous when read) and the
//    one that becomes the output's innermost (contiguous when written) — are walked in TILE×TILE
//    tiles, so both the reads and the writes of a tile stay in L1, for every combination of the
//    other axes.
// Elements are copied as 32-bit words, so any 4-byte dtype's bits (NaN payloads included) come out
// unchanged; work is split over tiles (or rows) with parallel_units, and any split writes the same
// bytes.
#include <cstring>

#include "args.h"
#include "parallel.h"

namespace tfkd {

namespace {

constexpr int kMaxRank = 6;
constexpr int64_t kTile = 16;

struct Perm {
  int r = 0;
  int64_t shape[kMaxRank] = {};  // input shape
  int perm[kMaxRank] = {};       // output axis k is input axis perm[k]
  int64_t in_stride[kMaxRank] = {};
  int64_t out_stride[kMaxRank] = {};
};

Perm parse(const std::vector<int64_t>& d) {
  Perm p;
  p.r = static_cast<int>(d[0]);
  if (p.r < 2 || p.r > kMaxRank) throw Err{"transpose: rank must be 2.." + std::to_string(kMaxRank)};
  bool seen[kMaxRank] = {};
  for (int k = 0; k < p.r; k++) {
    p.shape[k] = d[1 + k];
    const int64_t a = d[1 + kMaxRank + k];
    if (a >= p.r || seen[a]) throw Err{"transpose: perm is not a permutation"};
    seen[a] = true;
    p.perm[k] = static_cast<int>(a);
  }
  int64_t s = 1;
  for (int k = p.r - 1; k >= 0; k--) {
    p.in_stride[k] = s;
    s *= p.shape[k];
  }
  s = 1;
  for (int k = p.r - 1; k >= 0; k--) {
    p.out_stride[k] = s;
    s *= p.shape[p.perm[k]];
  }
  return p;
}

// The output axes other than `skip_a` / `skip_b` (a mixed radix over which the outer loops count).
struct Outer {
  int n = 0;
  int64_t size[kMaxRank] = {}, in_stride[kMaxRank] = {}, out_stride[kMaxRank] = {};
  int64_t total = 1;
  Outer(const Perm& p, int skip_a, int skip_b) {
    for (int k = 0; k < p.r; k++) {
      if (k == skip_a || k == skip_b) continue;
      size[n] = p.shape[p.perm[k]];
      in_stride[n] = p.in_stride[p.perm[k]];
      out_stride[n] = p.out_stride[k];
      total *= size[n];
      n++;
    }
  }
  // Input and output offsets of outer index o (its digits, last axis fastest).
  void offsets(int64_t o, int64_t& in, int64_t& out) const {
    in = 0;
    out = 0;
    for (int j = n - 1; j >= 0; j--) {
      const int64_t q = o % size[j];
      o /= size[j];
      in += q * in_stride[j];
      out += q * out_stride[j];
    }
  }
};

void copy_runs(const Perm& p, const uint32_t* x, uint32_t* y) {
  const int last = p.r - 1;
  const Outer outer(p, last, -1);
  const int64_t run = p.shape[last];
  parallel_rows(outer.total, pass_threads(outer.total, run), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; o++) {
      int64_t in, out;
      outer.offsets(o, in, out);
      std::memcpy(y + out, x + in, static_cast<size_t>(run) * sizeof(uint32_t));
    }
  });
}

void copy_tiles(const Perm& p, const uint32_t* x, uint32_t* y) {
  const int last = p.r - 1;
  int kb = 0;  // the output position of the input's innermost axis
  while (p.perm[kb] != last) kb++;
  const int64_t na = p.shape[p.perm[last]], sa = p.in_stride[p.perm[last]];  // output-innermost: read stride sa
  const int64_t nb = p.shape[last], sb = p.out_stride[kb];                    // input-innermost: write stride sb
  const Outer outer(p, last, kb);
  const int64_t ta = (na + kTile - 1) / kTile, tb = (nb + kTile - 1) / kTile;
  const int64_t units = outer.total * ta * tb;
  parallel_rows(units, pass_threads(outer.total, na * nb), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; u++) {
      // Units run a-tile by a-tile, the other axes inside: with a short input-innermost axis (a
      // weight's 3×3 taps) the a-tile's input rows are then read on as one stream.
      const int64_t ia = u / (outer.total * tb), rest = u % (outer.total * tb);
      const int64_t o = rest / tb, a0 = ia * kTile, b0 = (rest % tb) * kTile;
      const int64_t a1 = std::min(na, a0 + kTile), b1 = std::min(nb, b0 + kTile);
      int64_t in, out;
      outer.offsets(o, in, out);
      for (int64_t b = b0; b < b1; b++) {
        const uint32_t* __restrict src = x + in + b;
        uint32_t* __restrict dst = y + out + b * sb;
        for (int64_t a = a0; a < a1; a++) dst[a] = src[a * sa];
      }
    }
  });
}

}  // namespace

// transposeF32(x, y, dims): y = x with its axes permuted; dims = [r, shape[0..5], perm[0..5]]
// (entries past r ignored), the shape already reduced by the caller (no size-1 axes, no axes that
// stay adjacent, not the identity). The views are Float32Array, copied as 32-bit words.
napi_value TransposeF32(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  const std::vector<int64_t> d = get_shaped_args(env, info, argv, 2, 1 + 2 * kMaxRank);
  const Perm p = parse(d);
  F32 x = get_f32(env, argv[0], "x"), y = get_f32(env, argv[1], "y");
  int64_t n = 1;
  for (int k = 0; k < p.r; k++) n *= p.shape[k];
  need(x, n, "x");
  need(y, n, "y");
  const uint32_t* px = reinterpret_cast<const uint32_t*>(x.p);
  uint32_t* py = reinterpret_cast<uint32_t*>(y.p);
  if (p.perm[p.r - 1] == p.r - 1)
    copy_runs(p, px, py);
  else
    copy_tiles(p, px, py);
  return nullptr;
}

}  // namespace tfkd
