/**
 * tfkd's kernels for tfjs-backend-wasm 4.22, registered once (idempotent) before the backend is
 * used. Three fill gaps (conv nets cannot train on wasm without them), eight replace slow paths.
 * Every one is checked against the cpu backend in test/student/kernels/kernels.test.ts.
 */
import { tf } from '../tf.js';
import { batchMatMulWasm } from './batch-matmul.js';
import { conv2DBackpropFilterWasm } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputWasm } from './conv2d-backprop-input.js';
import { depthwiseBackpropFilterWasm, depthwiseBackpropInputWasm } from './depthwise.js';
import { identityWasm, maxPoolGradWasm, tileWasm } from './pool-tile.js';
import { padWasm, sliceWasm, splitVWasm } from './slice-pad.js';
import { rememberOriginal } from './wasm-util.js';

export { backpropInputPolicy } from './conv2d-backprop-input.js';

type AnyKernel = (args: never) => tf.TensorInfo | tf.TensorInfo[];

/** Kernel name → implementation; `replaces` marks kernels wasm ships that we override. */
const WASM_KERNELS: ReadonlyArray<{ name: string; fn: AnyKernel; replaces: boolean }> = [
  { name: 'Conv2DBackpropFilter', fn: conv2DBackpropFilterWasm, replaces: false },
  { name: 'DepthwiseConv2dNativeBackpropFilter', fn: depthwiseBackpropFilterWasm, replaces: false },
  { name: 'DepthwiseConv2dNativeBackpropInput', fn: depthwiseBackpropInputWasm, replaces: false },
  { name: 'Conv2DBackpropInput', fn: conv2DBackpropInputWasm, replaces: true },
  { name: 'BatchMatMul', fn: batchMatMulWasm, replaces: true },
  { name: 'MaxPoolGrad', fn: maxPoolGradWasm, replaces: true },
  { name: 'Tile', fn: tileWasm, replaces: true },
  { name: 'Identity', fn: identityWasm, replaces: true },
  { name: 'Slice', fn: sliceWasm, replaces: true },
  { name: 'PadV2', fn: padWasm, replaces: true },
  { name: 'SplitV', fn: splitVWasm, replaces: true },
];

let registered: string[] | null = null;

/**
 * Registers tfkd's wasm kernels (once per process); returns their names. `minimal` registers only
 * the three missing gradient kernels (the baseline of the measurements in docs/PERFORMANCE.md);
 * the environment variable TFKD_WASM_KERNELS=minimal selects it for a whole run.
 */
export function registerWasmKernels(set: 'all' | 'minimal' = process.env.TFKD_WASM_KERNELS === 'minimal' ? 'minimal' : 'all'): string[] {
  if (registered) return registered;
  const chosen = WASM_KERNELS.filter((k) => set === 'all' || !k.replaces);
  for (const k of chosen) {
    const shipped = tf.getKernel(k.name, 'wasm');
    if (shipped) {
      if (!k.replaces) continue; // a future tfjs ships it: keep theirs
      rememberOriginal(k.name);
      tf.unregisterKernel(k.name, 'wasm');
    }
    // The shipped kernel's setupFunc (binding its C function) must still run at backend init,
    // since our replacement calls the original.
    tf.registerKernel({ kernelName: k.name, backendName: 'wasm', kernelFunc: k.fn as unknown as tf.KernelFunc, setupFunc: shipped?.setupFunc });
  }
  registered = chosen.map((k) => k.name);
  return registered;
}
