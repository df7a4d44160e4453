// oneDNN convolutions for tfkd_native (see dnnl_conv.h). Compiled only when the build found
// oneDNN (scripts/build-native.mjs sets TFKD_DNNL=1 for node-gyp).
//
// Why oneDNN: it is what PyTorch runs these convolutions on here. Its JIT kernels work on NHWC
// directly (no im2col matrix, 9× the activation, written and read per call) and measured 1.5–2.5×
// faster than im2col + OpenBLAS on the 16–64-channel 3×3 layers of the CIFAR ResNets
// (docs/PERFORMANCE.md).
//
// Activations stay in tfjs' buffers (memory objects over the caller's pointers, no copies); the
// weights go through a reorder into the layout the chosen kernel wants (tiny). Primitives are
// cached per thread by shape (creating one JIT-compiles code: ≈ ms).
#include "dnnl_conv.h"

#include <dnnl.hpp>
#include <omp.h>

#include <atomic>
#include <initializer_list>
#include <unordered_map>
#include <map>
#include <memory>
#include <tuple>

namespace tfkd_dnnl {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

std::atomic<bool> g_enabled{true};

struct Ctx {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream st{eng};
};

Ctx& ctx() {
  thread_local Ctx c;
  return c;
}

enum Kind { FWD = 0, FWD_BIAS = 1, FWD_BIAS_RELU = 2, FWD_RELU = 3, BWD_DATA = 4, BWD_WEIGHTS = 5 };
// The thread count oneDNN sees when a primitive is made is part of its key: a primitive keeps the
// split it was made for, so one made for another count is not reused.
using Key = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

struct Entry {
  bool ok = false;  // false: oneDNN refused this shape (remembered, so it is not retried)
  memory::desc src, dst, wuser, wprim, bias;
  dnnl::primitive prim;
  dnnl::reorder wreorder;  // user HWIO ↔ the primitive's weights layout (unset when equal)
  memory wbuf;             // weights in the primitive's layout
  bool reorder_needed = false;
};

memory::dims dims_src(const ConvShape& c) { return {c.B, c.CI, c.H, c.W}; }
memory::dims dims_dst(const ConvShape& c) { return {c.B, c.CO, c.OH, c.OW}; }
memory::dims dims_wei(const ConvShape& c) { return {c.CO, c.CI, c.KH, c.KW}; }

// Right/bottom padding: dst = (src + pl + pr − k) / s + 1 exactly. tfjs' floor-rounded outputs can
// make it negative (e.g. 1×1 stride 2 on 8×8: the last row is never read). oneDNN 2.6 accepts
// that and computes the forward pass and the data gradient right, but its weight gradient came
// out wrong (native.test.ts grid, 1×1 stride 2): backward_weights refuses such shapes.
memory::dims pad_r(const ConvShape& c) {
  return {(c.OH - 1) * c.sh + c.KH - c.H - c.pt, (c.OW - 1) * c.sw + c.KW - c.W - c.pl};
}

Entry make(const ConvShape& c, int kind) {
  Ctx& x = ctx();
  Entry e;
  e.src = memory::desc(dims_src(c), dt::f32, tag::nhwc);
  e.dst = memory::desc(dims_dst(c), dt::f32, tag::nhwc);
  e.wuser = memory::desc(dims_wei(c), dt::f32, tag::hwio);
  const memory::desc wany(dims_wei(c), dt::f32, tag::any);
  const memory::dims strides{c.sh, c.sw}, pl{c.pt, c.pl}, pr = pad_r(c);
  const bool bias = kind == FWD_BIAS || kind == FWD_BIAS_RELU;
  if (bias) e.bias = memory::desc({c.CO}, dt::f32, tag::x);
  const auto fd = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, e.src, wany, e.bias, e.dst, strides, pl, pr)
                       : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, e.src, wany, e.dst, strides, pl, pr);
  dnnl::primitive_attr attr;
  if (kind == FWD_RELU || kind == FWD_BIAS_RELU) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  const dnnl::convolution_forward::primitive_desc fpd(fd, attr, x.eng);
  if (kind <= FWD_RELU) {
    e.wprim = fpd.weights_desc();
    e.prim = dnnl::convolution_forward(fpd);
  } else if (kind == BWD_DATA) {
    const dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, e.src, wany, e.dst, strides, pl, pr);
    const dnnl::convolution_backward_data::primitive_desc pd(bd, x.eng, fpd);
    e.wprim = pd.weights_desc();
    e.prim = dnnl::convolution_backward_data(pd);
  } else {
    const dnnl::convolution_backward_weights::desc bw(dnnl::algorithm::convolution_direct, e.src, wany, e.dst, strides, pl, pr);
    const dnnl::convolution_backward_weights::primitive_desc pd(bw, x.eng, fpd);
    e.wprim = pd.diff_weights_desc();
    e.prim = dnnl::convolution_backward_weights(pd);
  }
  e.reorder_needed = e.wprim != e.wuser;
  if (e.reorder_needed) {
    e.wbuf = memory(e.wprim, x.eng);
    const memory::desc& from = kind == BWD_WEIGHTS ? e.wprim : e.wuser;
    const memory::desc& to = kind == BWD_WEIGHTS ? e.wuser : e.wprim;
    e.wreorder = dnnl::reorder(dnnl::reorder::primitive_desc(x.eng, from, x.eng, to));
  }
  e.ok = true;
  return e;
}

Entry* entry(const ConvShape& c, int kind) {
  thread_local std::map<Key, std::unique_ptr<Entry>> cache;
  const Key k{kind, omp_get_max_threads(), c.B, c.H, c.W, c.CI, c.KH, c.KW, c.CO, c.OH, c.OW, c.sh, c.sw, c.pt, c.pl};
  auto it = cache.find(k);
  if (it == cache.end()) {
    auto e = std::make_unique<Entry>();
    try {
      *e = make(c, kind);
    } catch (const dnnl::error&) {
      e->ok = false;
    }
    // Bounded: a run sees a handful of shapes (train + eval batch sizes); beyond that start over.
    if (cache.size() >= 256) cache.clear();
    it = cache.emplace(k, std::move(e)).first;
  }
  return it->second->ok ? it->second.get() : nullptr;
}

memory view(const memory::desc& d, const float* p) { return memory(d, ctx().eng, const_cast<float*>(p)); }

}  // namespace

bool available() { return g_enabled.load(); }
void set_enabled(bool on) { g_enabled.store(on); }
void set_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }

// The instruction set oneDNN's kernels use: the CPU's best, or less with ONEDNN_MAX_CPU_ISA
// (TFKD_CPU_KERNELS=avx2 sets it). Kernels of different instruction sets round differently.
std::string isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

std::string version() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

namespace {

struct Arg {
  int id;
  const memory::desc& md;
  const float* p;
};

// Runs a cached primitive on the caller's buffers. The weights (`w`, user HWIO layout) go through
// the entry's reorder: into the primitive's layout before (forward, backward data), or out of it
// after (`weights_out`: backward weights).
bool execute(Entry* e, int warg, const float* w, bool weights_out, std::initializer_list<Arg> args) {
  try {
    Ctx& k = ctx();
    memory wu = view(e->wuser, w);
    if (e->reorder_needed && !weights_out) e->wreorder.execute(k.st, wu, e->wbuf);
    std::unordered_map<int, memory> m{{warg, e->reorder_needed ? e->wbuf : wu}};
    for (const Arg& a : args) m.emplace(a.id, view(a.md, a.p));
    e->prim.execute(k.st, m);
    if (e->reorder_needed && weights_out) e->wreorder.execute(k.st, e->wbuf, wu);
    k.st.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace

bool forward(const ConvShape& c, const float* x, const float* w, const float* bias, float* y, bool relu) {
  if (!available()) return false;
  Entry* e = entry(c, bias ? (relu ? FWD_BIAS_RELU : FWD_BIAS) : (relu ? FWD_RELU : FWD));
  if (!e) return false;
  if (bias) return execute(e, DNNL_ARG_WEIGHTS, w, false, {{DNNL_ARG_SRC, e->src, x}, {DNNL_ARG_BIAS, e->bias, bias}, {DNNL_ARG_DST, e->dst, y}});
  return execute(e, DNNL_ARG_WEIGHTS, w, false, {{DNNL_ARG_SRC, e->src, x}, {DNNL_ARG_DST, e->dst, y}});
}

bool backward_data(const ConvShape& c, const float* dy, const float* w, float* dx) {
  if (!available()) return false;
  Entry* e = entry(c, BWD_DATA);
  return e && execute(e, DNNL_ARG_WEIGHTS, w, false, {{DNNL_ARG_DIFF_DST, e->dst, dy}, {DNNL_ARG_DIFF_SRC, e->src, dx}});
}

bool backward_weights(const ConvShape& c, const float* x, const float* dy, float* dw) {
  if (!available()) return false;
  const memory::dims pr = pad_r(c);
  if (pr[0] < 0 || pr[1] < 0) return false;
  // One thread while the primitive is made (its minibatch split: none) and runs (this thread's
  // own ICV; inside a kernel team it only affects this unit), then the caller's count again.
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  Entry* e = entry(c, BWD_WEIGHTS);
  const bool ok = e && execute(e, DNNL_ARG_DIFF_WEIGHTS, dw, true, {{DNNL_ARG_SRC, e->src, x}, {DNNL_ARG_DIFF_DST, e->dst, dy}});
  omp_set_num_threads(before);
  return ok;
}

}  // namespace tfkd_dnnl
