// tfkd_native's thread count and per-thread scratch (see parallel.h for how work is split), and
// the entry points that set them: setThreads, setKernelThreads, getThreads.
#include "parallel.h"

#include <cblas.h>

#include <atomic>

#include "args.h"
#include "dnnl_conv.h"

namespace tfkd {

namespace {

std::atomic<int> g_threads{1};
// The thread count setThreads was given (getThreads reports it; setKernelThreads changes only g_threads).
std::atomic<int> g_configured{1};

// Scratch per kernel thread, owned by the calling JS thread (each worker_thread has its own);
// taken on the calling thread before the workers start (they must not touch thread_locals).
thread_local std::vector<std::vector<float>> g_slots;

}  // namespace

std::vector<float*> slots(int n, size_t each) {
  if (g_slots.size() < static_cast<size_t>(n)) g_slots.resize(n);
  std::vector<float*> out(n);
  for (int t = 0; t < n; t++) {
    if (g_slots[t].size() < each) g_slots[t].resize(each);
    out[t] = g_slots[t].data();
  }
  return out;
}

int threads_now() { return std::max(1, g_threads.load()); }

// Threads for an element-wise pass (BatchNorm's affine pass, ReLU and its gradient, Add): they pay
// from ≈ 1 M elements (measured: 128×16×16×32 1.6 → 1.4 ms, 128×8×8×64 0.5 → 0.6 ms).
int pass_threads(int64_t M, int64_t C) { return M * C < (int64_t{1} << 20) ? 1 : threads_now(); }

napi_value SetKernelThreads(napi_env env, napi_callback_info info) {
  const int32_t n = get_setting(env, info, 1, "threads must be ≥ 1");
  g_threads.store(n);
  tfkd_dnnl::set_threads(n);  // the same OpenMP team runs oneDNN's convolutions
  return nullptr;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  const int32_t n = get_setting(env, info, 1, "threads must be ≥ 1");
  openblas_set_num_threads(1);  // tfkd's threads do the splitting (see parallel.h)
  tfkd_dnnl::set_threads(n);
  g_threads.store(n);
  g_configured.store(n);
  napi_value r;
#ifdef _OPENMP
  NAPI_OK(napi_create_int32(env, n, &r));
#else
  // Without OpenMP the n ranges still split the work the same way (same numbers as with n
  // threads) but run one after another: report the one thread that runs them.
  NAPI_OK(napi_create_int32(env, 1, &r));
#endif
  return r;
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value r;
  NAPI_OK(napi_create_int32(env, g_configured.load(), &r));
  return r;
}

}  // namespace tfkd
