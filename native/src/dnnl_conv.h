// tfkd_native's optional oneDNN path for the 2-D convolutions (forward, backward data, backward
// weights) on NHWC float32 tensors, used in place of im2col + OpenBLAS when the add-on was built
// against oneDNN (Debian: libdnnl-dev). Every function returns false when oneDNN is not compiled
// in, is switched off, or refuses the shape; the caller then runs its own im2col path.
#pragma once
#include <cstdint>
#include <string>

namespace tfkd_dnnl {

// NHWC x [B,H,W,CI], filter [KH,KW,CI,CO] (HWIO), y [B,OH,OW,CO]; pt/pl: top/left padding.
struct ConvShape {
  int64_t B, H, W, CI, KH, KW, CO, OH, OW, sh, sw, pt, pl;
};

bool available();          // compiled in and enabled
void set_enabled(bool on);  // TFKD_DNNL=0 → off (A/B runs, fallback tests)
void set_threads(int n);   // OpenMP threads oneDNN uses
std::string version();     // "oneDNN 2.6.3" or "" when not compiled in
std::string isa();         // the instruction set its kernels use ("avx2", "avx512_core"…), or 

bool forward(const ConvShape& c, const float* x, const float* w, const float* bias, float* y, bool relu);
bool backward_data(const ConvShape& c, const float* dy, const float* w, float* dx);
// On the calling thread alone, with a primitive made for one thread: oneDNN's weight gradient
// splits the minibatch reduction by the thread count it was made for (measured: AVX-512 kernels
// from 2 threads on, AVX2 ones from 4), so with more threads the bits would change with TFKD_THREADS.
// One thread gives what 1 and 2 threads gave on AVX2 before: the recorded figures still hold.
bool backward_weights(const ConvShape& c, const float* x, const float* dy, float* dw);

}  // namespace tfkd_dnnl
