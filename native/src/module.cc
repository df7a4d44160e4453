// tfkd_native: the hot kernels of the student's training step (convolutions, matmul, BatchNorm,
// pooling and element-wise passes) for tfjs-backend-wasm tensors, on OpenBLAS sgemm or oneDNN and
// one OpenMP team. This file is the module: its init (the exports), the guard that turns C++
// errors into JS ones, and the build facts (oneDNN on/off and version, OpenBLAS config).
//
// Every function takes Float32Array views of the wasm heap (no copies): the caller allocates the
// outputs first and takes the views afterwards (the heap may grow and detach old views on
// allocation; nothing here allocates on the wasm heap). Shapes come in an Int32Array; every view's
// length is checked against the shape before anything is read or written, so a wrong call throws
// instead of touching memory outside the tensors.
//
// The kernels, by concern: conv.cc (convolutions), depthwise.cc (depthwise gradients), gemm.cc (matmul, sumRows), batchnorm.cc,
// pool_eltwise.cc (maxPoolGrad, ReLU, Add), transpose.cc, parallel.cc (threads), args.cc (argument checks),
// dnnl_conv.cc (the oneDNN convolutions, when built with it).
#include "kernels.h"

#include <cblas.h>

#include <new>
#include <string>

#include "dnnl_conv.h"

#ifndef TFKD_HAVE_DNNL
// Built without oneDNN: every convolution takes the im2col + OpenBLAS path.
namespace tfkd_dnnl {
bool available() { return false; }
void set_enabled(bool) {}
void set_threads(int) {}
std::string version() { return ""; }
std::string isa() { return ""; }
bool forward(const ConvShape&, const float*, const float*, const float*, float*, bool) { return false; }
bool backward_data(const ConvShape&, const float*, const float*, float*) { return false; }
bool backward_weights(const ConvShape&, const float*, const float*, float*) { return false; }
}  // namespace tfkd_dnnl
#endif

namespace tfkd {

// setDnnl(on): use oneDNN for the convolutions when compiled in (TFKD_DNNL=0 turns it off).
napi_value SetDnnl(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, argv, 1);
  bool on = false;
  NAPI_OK(napi_get_value_bool(env, argv[0], &on));
  tfkd_dnnl::set_enabled(on);
  napi_value r;
  NAPI_OK(napi_get_boolean(env, tfkd_dnnl::available(), &r));
  return r;
}

// dnnlVersion(): "oneDNN x.y.z" when compiled in, else "".
napi_value DnnlVersion(napi_env env, napi_callback_info) {
  napi_value r;
  const std::string v = tfkd_dnnl::version();
  NAPI_OK(napi_create_string_utf8(env, v.c_str(), v.size(), &r));
  return r;
}

napi_value BlasConfig(napi_env env, napi_callback_info) {
  napi_value r;
  NAPI_OK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &r));
  return r;
}

// cpuKernels(): which CPU kernels the libraries chose at load — { blas: OpenBLAS's core
// ("Haswell", "Zen", "Cooperlake"…), convolutions: oneDNN's instruction set ("" without it)}.
// Kernels for different instruction sets round differently: the run record keeps these.
napi_value CpuKernels(napi_env env, napi_callback_info) {
  napi_value r, blas, convs;
  const std::string isa = tfkd_dnnl::isa();
  NAPI_OK(napi_create_object(env, &r));
  NAPI_OK(napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &blas));
  NAPI_OK(napi_create_string_utf8(env, isa.c_str(), isa.size(), &convs));
  NAPI_OK(napi_set_named_property(env, r, "blas", blas));
  NAPI_OK(napi_set_named_property(env, r, "convolutions", convs));
  return r;
}

namespace {

// Turns C++ exceptions into JS errors (N-API callbacks must not throw across the boundary).
template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value Guard(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Err& e) {
    napi_throw_error(env, nullptr, ("tfkd_native: " + e.msg).c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, "tfkd_native: out of memory");
  }
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"conv2dForward", nullptr, Guard<Conv2DForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropFilter", nullptr, Guard<Conv2DBackpropFilter>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2dBackpropInput", nullptr, Guard<Conv2DBackpropInput>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"depthwiseForward", nullptr, Guard<DepthwiseForward>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"depthwiseBackpropFilter", nullptr, Guard<DepthwiseBackpropFilter>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"depthwiseBackpropInput", nullptr, Guard<DepthwiseBackpropInput>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, Guard<MatMul>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumRows", nullptr, Guard<SumRows>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maxPoolGrad", nullptr, Guard<MaxPoolGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, Guard<SetThreads>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"getThreads", nullptr, Guard<GetThreads>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"cpuKernels", nullptr, Guard<CpuKernels>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setChunkBytes", nullptr, Guard<SetChunkBytes>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnTrain", nullptr, Guard<BnTrain>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnTrainGrad", nullptr, Guard<BnTrainGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setKernelThreads", nullptr, Guard<SetKernelThreads>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addF32", nullptr, Guard<AddF32>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reluF32", nullptr, Guard<ReluF32>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"biasReluF32", nullptr, Guard<BiasReluF32>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transposeF32", nullptr, Guard<TransposeF32>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reluGrad", nullptr, Guard<ReluGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"hardAct", nullptr, Guard<HardAct>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"hardActGrad", nullptr, Guard<HardActGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, Guard<Gelu>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, Guard<GeluGrad>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setDnnl", nullptr, Guard<SetDnnl>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dnnlVersion", nullptr, Guard<DnnlVersion>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"blasConfig", nullptr, Guard<BlasConfig>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

}  // namespace tfkd

NAPI_MODULE(NODE_GYP_MODULE_NAME, tfkd::Init)
