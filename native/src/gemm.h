// tfkd_native's plain GEMM helpers, shared by the convolutions (conv.cc) and matmul (gemm.cc).
#pragma once
#include <cblas.h>

#include <cstdint>

namespace tfkd {

// C = op(A)·op(B) (+ beta·C), row-major, on the kernel threads: rows of C split into blocks when
// M ≥ N, else columns, each block one sgemm (OpenBLAS single-threaded). The number of blocks
// depends on the shape only (1 below 4 M MAC, then 2, up to 8 for the largest), never on the
// thread count: OpenBLAS rounds an element differently depending on where it falls in a block
// (edge kernels), so a thread-count split would make results depend on TFKD_THREADS.
void sgemm_split(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// y[r, :] += bias (when given), then the activation (act: 0 linear, 1 relu), over `rows` rows of n.
void bias_act(float* y, int64_t rows, int64_t n, const float* bias, int act);

}  // namespace tfkd
