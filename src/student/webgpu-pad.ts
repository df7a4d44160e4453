/**
 * PadV2 of rank > 4 on tfjs-backend-webgpu 4.22: its shader indexes a `vec5`, which WGSL does not
 * have, so the pipeline is invalid and the kernel returns zeros without an error. A pad is the
 * gradient of a slice, so a rank-5 slice — an ONNX student's Split of a [3, B, heads, N, d] qkv
 * tensor (timm's unbind) — trained with zero gradients, silently.
 *
 * tfkd wraps the kernel: runs of adjacent axes without padding are merged (a reshape: the same
 * memory order), and a pad that then has rank ≤ 4 runs as such; anything else is an error naming
 * the shape instead of zeros. test/student/webgpu-pad.test.ts checks both on the device.
 */
import { tf } from './tf.js';

interface KernelArgs {
  inputs: { x: tf.TensorInfo };
  attrs: { paddings: Array<[number, number]>; constantValue: number };
  backend: { disposeData(id: unknown): void };
}

/** Merges adjacent unpadded axes: the shape and paddings of the same pad at the lowest rank. */
export function collapsePad(shape: readonly number[], paddings: ReadonlyArray<readonly [number, number]>): { shape: number[]; paddings: Array<[number, number]> } {
  const out: number[] = [];
  const pads: Array<[number, number]> = [];
  let prevFlat = false;
  shape.forEach((d, i) => {
    const [a, b] = paddings[i];
    const flat = a === 0 && b === 0;
    if (flat && prevFlat) out[out.length - 1] *= d;
    else {
      out.push(d);
      pads.push([a, b]);
    }
    prevFlat = flat;
  });
  return { shape: out, paddings: pads };
}

let wrapped = false;

/** Wraps webgpu's PadV2 (once per process, after the backend is registered). */
export function safeWebgpuPad(): void {
  if (wrapped) return;
  const k = tf.getKernel('PadV2', 'webgpu');
  const reshape = tf.getKernel('Reshape', 'webgpu');
  if (!k || !reshape) return;
  wrapped = true;
  const inner = k.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo;
  const view = (x: tf.TensorInfo, shape: number[], backend: KernelArgs['backend']) =>
    (reshape.kernelFunc as unknown as (a: unknown) => tf.TensorInfo)({ inputs: { x }, attrs: { shape }, backend });
  const kernelFunc = ((args: KernelArgs) => {
    const { x } = args.inputs;
    if (x.shape.length <= 4) return inner(args);
    const c = collapsePad(x.shape, args.attrs.paddings);
    if (c.shape.length > 4) {
      throw new Error(
        `tfkd: a pad of [${x.shape}] by ${JSON.stringify(args.attrs.paddings)} on webgpu: tfjs-backend-webgpu 4.22 pads at most 4 axes (it would return zeros); use --backend wasm`,
      );
    }
    const out = x.shape.map((d, i) => d + args.attrs.paddings[i][0] + args.attrs.paddings[i][1]);
    const xr = view(x, c.shape, args.backend);
    const yr = inner({ ...args, inputs: { x: xr }, attrs: { ...args.attrs, paddings: c.paddings } });
    const y = view(yr, out, args.backend);
    args.backend.disposeData(xr.dataId);
    args.backend.disposeData(yr.dataId);
    return y;
  }) as unknown as tf.KernelFunc;
  tf.unregisterKernel('PadV2', 'webgpu');
  tf.registerKernel({ ...k, kernelFunc });
}
