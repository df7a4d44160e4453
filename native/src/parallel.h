// tfkd_native's threads: how every kernel splits its work across one OpenMP team (parallel_units,
// parallel_rows), the per-thread scratch, and the thread count the JS side sets (parallel.cc).
//
// OpenBLAS itself always runs on one thread; every split is tfkd's (an OpenMP team, see
// parallel_units), because:
//  - OpenBLAS does not split the skinny GEMMs of narrow layers (16–64 output channels) well, and
//    im2col/col2im are single loops, so a convolution splits its batch into units (contiguous
//    image ranges), each doing im2col/col2im + sgemm on its own rows with its thread's scratch;
//  - OpenBLAS's worker threads spin-wait after each multi-threaded call; on a 2-core machine the
//    next kernel's threads then share the cores with spinning ones (kernels measured up to 2×
//    slower right after a BatchMatMul), so the plain GEMMs (matmul, 1×1 convolutions) split their
//    rows (or columns) across tfkd's threads too (sgemm_split).
// How work is split into units depends on the shape only, never on the thread count, and
// partial sums (dW, BatchNorm statistics) are added in unit order: the numbers are the same for
// any TFKD_THREADS (tested), so runs with different thread counts, or experiments with
// different --jobs, agree bit for bit. Every output row (y, dx) is written by one unit only.
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <vector>

namespace tfkd {

// The kernel threads now (setThreads / setKernelThreads; at least 1).
int threads_now();

// n scratch buffers of at least `each` floats, one per kernel thread, owned by the calling JS
// thread; call it on that thread before the workers start (they must not touch thread_locals).
std::vector<float*> slots(int n, size_t each);

// Threads for an element-wise pass over M·C elements: 1 below ≈ 1 M elements, else threads_now().
int pass_threads(int64_t M, int64_t C);

// Runs f(r0, r1, u, tid) for the units u = 0..U−1 of [0, M) — contiguous ranges
// [u·step, (u+1)·step) ∩ [0, M), fixed by the caller from the shape — on up to n threads; `tid`
// (< min(n, U)) indexes per-thread scratch. Which thread runs a unit never changes what the unit
// computes. The threads are an OpenMP team: one persistent pool shared with oneDNN, whose threads
// would otherwise spin-wait on the cores while tfkd's own threads work (measured: kernels up to 2×
// slower when two thread pools alternate on 2 cores), and no thread start per call. A team smaller
// than asked (nested call, thread limit) runs more units per thread. The first exception thrown
// by any unit is rethrown here.
template <class F>
void parallel_units(int64_t M, int U, int n, F f) {
  U = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(U, M)));
  const int64_t step = (M + U - 1) / U;
  n = std::max(1, std::min(n, U));
  if (n == 1) {
    for (int u = 0; u < U; u++) f(std::min(M, u * step), std::min(M, (u + 1) * step), u, 0);
    return;
  }
  std::exception_ptr err;
  std::mutex m;
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
#endif
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int tid = 0, nt = 1;  // built without OpenMP (compiler lacks it): the units run in turn
#endif
    for (int u = tid; u < U; u += nt) {
      try {
        f(std::min(M, u * step), std::min(M, (u + 1) * step), u, tid);
      } catch (...) {
        std::lock_guard<std::mutex> g(m);
        if (!err) err = std::current_exception();
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// Element-wise passes (ReLU gradient, MaxPoolGrad per image, BatchNorm's affine pass): any split
// gives the same numbers, so one unit per thread.
template <class F>
void parallel_rows(int64_t M, int n, F f) {
  parallel_units(M, n, n, [&](int64_t r0, int64_t r1, int, int) { f(r0, r1); });
}

}  // namespace tfkd
