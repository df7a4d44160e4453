/**
 * Shared fixtures of the kernel tests (tfkd's wasm kernels, the native add-on, fused BatchNorm):
 * seeded random arrays, running a function on a backend, the relative max-diff check against
 * the cpu backend that prints the worst case, and the cases more than one kernel suite runs.
 */
import { expect } from 'chai';
import type { LossOptions } from '../../src/student/losses/index.js';
import { callLoss } from './losses/helpers.js';
import { tf } from '../../src/student/tf.js';
import { buildModel } from '../../src/student/zoo/index.js';
import { expectTensorsClose } from '../helpers/close.js';
import { expectNoLeakedTensors } from '../helpers/tf-memory.js';
import { needsNativeAddon } from '../helpers/needs.js';
import { registerWasmKernels } from '../../src/student/kernels/index.js';
import { registerNativeKernels, unregisterNativeKernels, type NativeStatus } from '../../src/student/kernels/native.js';

/** mulberry32: a tiny seeded PRNG for test fixtures (no Math.random in tfkd). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Arr = { shape: number[]; data: Float32Array };

/** Uniform values in [-1, 1) of `shape`, from `seed`. */
export function randn(shape: number[], seed: number): Arr {
  const r = rng(seed);
  const data = new Float32Array(shape.reduce((p, v) => p * v, 1));
  for (let i = 0; i < data.length; i++) data[i] = r() * 2 - 1;
  return { shape, data };
}

/** Runs `fn` on a backend with fresh tensors made from `ins`, returns the outputs' values. */
export async function on(backend: 'cpu' | 'wasm', ins: Arr[], fn: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Arr[]> {
  await tf.setBackend(backend);
  const ts = ins.map((a) => tf.tensor(a.data, a.shape));
  const out = fn(...ts);
  const outs = Array.isArray(out) ? out : [out];
  const res = outs.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
  tf.dispose([...ts, ...outs]);
  return res;
}

/**
 * `expectClose` asserts max |got − want| ≤ tol · max |want| (printing both), `compare` runs `fn`
 * on cpu then wasm and checks every output; `worst` keeps the largest relative diff seen.
 * `label` names the wasm side in messages ('wasm', 'native').
 */
export function backendComparer(label: string, tol: number) {
  const worst = { rel: 0, where: '' };
  function expectClose(got: Arr, want: Arr, what: string): void {
    expect(got.shape, `${what}: shape`).to.deep.equal(want.shape);
    const { rel } = expectTensorsClose(got.data, want.data, tol, `${what}: ${label} vs cpu`);
    if (rel > worst.rel) Object.assign(worst, { rel, where: what });
  }
  async function compare(ins: Arr[], fn: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[], what: string): Promise<void> {
    const want = await on('cpu', ins, fn);
    const got = await on('wasm', ins, fn);
    want.forEach((w, i) => expectClose(got[i], w, `${what}[${i}]`));
  }
  return { worst, expectClose, compare };
}

/** One kernel by name on the current backend, bypassing the op layer (to reach a kernel's own attributes). */
export const runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;

/** The convolution grid the conv-kernel suites run: k 1/3/5 × stride 1/2 × same/valid × 8/9 px. */
export const CONV_CASES: ReadonlyArray<{ k: number; s: number; pad: 'same' | 'valid'; hw: number }> = [1, 3, 5].flatMap((k) =>
  [1, 2].flatMap((s) => (['same', 'valid'] as const).flatMap((pad) => [8, 9].map((hw) => ({ k, s, pad, hw })))),
);

/**
 * For `compare`: tf.grads of a small net's loss sum((flatten(body(x, …w)) · wd)²) with respect to
 * every input — the image x, the body's weights w and the dense wd, which comes last.
 */
export const netGrads = (body: (x: tf.Tensor, ...w: tf.Tensor[]) => tf.Tensor) => (...t: tf.Tensor[]): tf.Tensor[] =>
  tf.grads((...u: tf.Tensor[]) => {
    const h = body(u[0], ...u.slice(1, -1));
    return tf.sum(tf.square(tf.matMul(tf.reshape(h, [h.shape[0], -1]), u[u.length - 1] as tf.Tensor2D)));
  })(t);

/**
 * Counts the calls of the registered wasm kernels `names` while `fn` runs (what proves that a
 * replacing kernel, e.g. the native add-on's, really ran); the kernels are put back afterwards.
 */
export async function kernelCalls(names: readonly string[], fn: () => Promise<void>): Promise<number> {
  let n = 0;
  const saved = names.map((name) => tf.getKernel(name, 'wasm')!);
  for (const k of saved) {
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({ ...k, kernelFunc: (a) => (n++, k.kernelFunc(a)) });
  }
  try {
    await fn();
  } finally {
    for (const k of saved) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel(k);
    }
  }
  return n;
}

type Compare = ReturnType<typeof backendComparer>['compare'];

/** MaxPoolGrad against cpu: 2×2/2 valid, 3×3/2 same (overlapping windows, padding), 3×3/1 same, odd sizes. */
export async function compareMaxPoolGrads(compare: Compare): Promise<void> {
  for (const [f, st, pad, hw] of [[2, 2, 'valid', 8], [2, 2, 'valid', 9], [3, 2, 'same', 9], [3, 1, 'same', 7], [2, 2, 'same', 7]] as const) {
    const x = randn([2, hw, hw, 5], 60 + f + hw);
    const info = tf.backend_util.computePool2DInfo([2, hw, hw, 5], f, st, 1, pad);
    const dy = randn([2, info.outHeight, info.outWidth, 5], 61 + st);
    await compare([x, dy], (xt, dyt) => tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(u as tf.Tensor4D, f, st, pad), dyt)))(xt), `maxPoolGrad f${f} s${st} ${pad} ${hw}`);
  }
}

/** MaxPoolGrad of a constant image (ties): the first maximum of each window gets the gradient, as on cpu. One kernel call. */
export function compareMaxPoolGradTies(compare: Compare): Promise<void> {
  const flat = { shape: [1, 4, 4, 2], data: new Float32Array(32).fill(1) };
  return compare([flat], (xt) => tf.grad((u: tf.Tensor) => tf.sum(tf.maxPool(u as tf.Tensor4D, 3, 1, 'same')))(xt), 'maxPoolGrad ties');
}

/**
 * Three KD (α 0.5, τ 4) + SGD-momentum steps of a zoo model on batch 4 of seeded data, K = 3:
 * returns the three losses followed by every trained weight, for comparing backends.
 */
export async function kdTrainSteps(model: string, input: [number, number, number], backend: 'cpu' | 'wasm'): Promise<Arr[]> {
  const opts: LossOptions = { numClasses: 3, fidelity: 'paper', logitStandardization: false, alpha: 0.5, temperature: 4 };
  const x = randn([4, ...input], 70);
  const z = randn([4, 3], 71);
  await tf.setBackend(backend);
  const m = buildModel(model, { inputShape: input, numClasses: 3, seed: 7 });
  const xt = tf.tensor(x.data, x.shape);
  const labels = tf.tensor1d([0, 1, 2, 1], 'int32');
  const soft = tf.softmax(tf.tensor2d(z.data, [4, 3]));
  const opt = tf.train.momentum(0.05, 0.9);
  const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const cost = opt.minimize(() => callLoss('kd', m.apply(xt, { training: true }) as tf.Tensor2D, labels, soft, opts), true, vars)!;
    losses.push(cost.dataSync()[0]);
    cost.dispose();
  }
  const out: Arr[] = [{ shape: [3], data: Float32Array.from(losses) }, ...vars.map((v) => ({ shape: v.shape, data: v.dataSync() as Float32Array }))];
  tf.dispose([xt, labels, soft]);
  opt.dispose();
  m.dispose();
  return out;
}

/**
 * Asserts that repeated conv gradient steps on wasm (tidy + dispose) leave no tensor and no wasm
 * buffer behind: run with whichever kernels are registered (tfkd's wasm ones, or the native add-on).
 */
export async function expectNoLeakAcrossConvGradSteps(): Promise<void> {
  await tf.setBackend('wasm');
  const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
  const w = tf.variable(tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2));
  const step = () => tf.tidy(() => tf.grad((ww: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, ww as tf.Tensor4D, 2, 'same')))(w));
  step().dispose();
  expectNoLeakedTensors(
    () => {
      for (let i = 0; i < 3; i++) step().dispose();
    },
    'tensors after 3 conv gradient steps',
    { buffers: true },
  );
  tf.dispose([x, w]);
}

/**
 * The hooks of a suite of native-kernel tests (call it inside `describe`): skipped, naming why,
 * without the add-on; tfkd's wasm kernels then the native ones registered on wasm before; `done`
 * (e.g. a summary line), the plain wasm kernels and the cpu backend back after, for the files
 * that follow in this process.
 */
export function onNativeKernels(st: NativeStatus, done: () => void = () => {}): void {
  before(async function () {
    needsNativeAddon(this, st);
    registerWasmKernels();
    registerNativeKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });
  after(async () => {
    if (st.addon) done();
    unregisterNativeKernels();
    await tf.setBackend('cpu');
  });
}
