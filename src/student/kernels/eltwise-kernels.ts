/**
 * The form tfkd's one-pass element-wise kernels share (kernels/hard-activations.ts, kernels/gelu.ts):
 * a forward kernel `NAME` ({x}) and its gradient `NAMEGrad` ({dy, x}), float32, all of one shape,
 * registered on cpu and wasm — run in C on the wasm heap when the native add-on backs it, else as
 * the JS loop — with the gradient of `NAME` registered as `NAMEGrad` of the saved input.
 */
import { tf } from '../tf.js';
import { withViews, type BackendLike } from './views.js';

/** A kernel's loop over views: inputs ([x] or [dy, x]) → out. */
export type Loop = (ins: Float32Array[], out: Float32Array) => void;

export interface EltwiseKernel {
  /** The forward kernel's name; the gradient's is `${name}Grad`. */
  name: string;
  forward: Loop;
  gradient: Loop;
  /** The same two in C when the add-on backs wasm now (checked per call), else null. */
  native: () => { forward: Loop; gradient: Loop } | null;
  /** Counts the calls that ran in C and in JS (tests check the path). */
  calls: { native: number; js: number };
}

function kernelFunc(k: EltwiseKernel, grad: boolean) {
  const name = grad ? `${k.name}Grad` : k.name;
  return (args: { inputs: Record<string, tf.TensorInfo>; backend: unknown }): tf.TensorInfo => {
    const ins = grad ? [args.inputs.dy, args.inputs.x] : [args.inputs.x];
    if (ins.some((t) => t.dtype !== 'float32')) throw new Error(`${name}: float32 only`);
    const shape = args.inputs.x.shape;
    if (ins.some((t) => t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new Error(`${name}: dy [${ins[0].shape}] does not match x [${shape}]`);
    }
    return withViews(args.backend as BackendLike, ins, [shape], (views, [out], onHeap) => {
      const nat = onHeap ? k.native() : null;
      if (nat) k.calls.native++;
      else k.calls.js++;
      (nat ?? k)[grad ? 'gradient' : 'forward'](views, out);
    })[0];
  };
}

const BACKENDS = ['cpu', 'wasm'] as const;
const done = new Set<string>();

/** Registers each kernel pair on cpu and wasm and its gradient (once per name and process). */
export function registerEltwiseKernels(kernels: readonly EltwiseKernel[]): void {
  for (const k of kernels) {
    if (done.has(k.name)) continue;
    done.add(k.name);
    for (const backendName of BACKENDS) {
      for (const grad of [false, true]) {
        const kernelName = grad ? `${k.name}Grad` : k.name;
        if (!tf.getKernel(kernelName, backendName)) tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc(k, grad) as unknown as tf.KernelFunc });
      }
    }
    tf.registerGradient({
      kernelName: k.name,
      inputsToSave: ['x'],
      gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dy = Array.isArray(dys) ? dys[0] : dys;
        return { x: () => tf.engine().runKernel(`${k.name}Grad`, { dy, x: saved[0] }, {}) as tf.Tensor };
      },
    });
  }
}
