// The N-API entry points of tfkd_native, by the file that holds them; module.cc exports them
// (src/student/kernels/native.ts's NativeAddon types them on the JS side).
#pragma once
#include "args.h"

namespace tfkd {

// conv.cc
napi_value Conv2DForward(napi_env env, napi_callback_info info);
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info);
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info);
napi_value SetChunkBytes(napi_env env, napi_callback_info info);

// depthwise.cc
napi_value DepthwiseForward(napi_env env, napi_callback_info info);
napi_value DepthwiseBackpropFilter(napi_env env, napi_callback_info info);
napi_value DepthwiseBackpropInput(napi_env env, napi_callback_info info);

// gemm.cc
napi_value MatMul(napi_env env, napi_callback_info info);
napi_value SumRows(napi_env env, napi_callback_info info);

// batchnorm.cc
napi_value BnTrain(napi_env env, napi_callback_info info);
napi_value BnTrainGrad(napi_env env, napi_callback_info info);

// pool_eltwise.cc
napi_value MaxPoolGrad(napi_env env, napi_callback_info info);
napi_value ReluGrad(napi_env env, napi_callback_info info);
napi_value AddF32(napi_env env, napi_callback_info info);
napi_value ReluF32(napi_env env, napi_callback_info info);
napi_value BiasReluF32(napi_env env, napi_callback_info info);

// transpose.cc
napi_value TransposeF32(napi_env env, napi_callback_info info);

// hard_act.cc
napi_value HardAct(napi_env env, napi_callback_info info);
napi_value HardActGrad(napi_env env, napi_callback_info info);

// gelu.cc
napi_value Gelu(napi_env env, napi_callback_info info);
napi_value GeluGrad(napi_env env, napi_callback_info info);

// parallel.cc
napi_value SetThreads(napi_env env, napi_callback_info info);
napi_value SetKernelThreads(napi_env env, napi_callback_info info);
napi_value GetThreads(napi_env env, napi_callback_info info);

// module.cc
napi_value SetDnnl(napi_env env, napi_callback_info info);
napi_value DnnlVersion(napi_env env, napi_callback_info info);
napi_value BlasConfig(napi_env env, napi_callback_info info);

}  // namespace tfkd
