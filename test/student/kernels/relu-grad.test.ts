/**
 * The one-kernel ReLU gradient (src/student/kernels/relu-grad.ts) against tfjs' own composition
 * mul(dy, cast(step(x))), bit for bit (NaN compared as NaN), on cpu, on wasm with the JS loop, and
 * on wasm in C when the native add-on is built — including NaN, ±0, ±∞ in x and dy, and a tensor
 * large enough (2^20 elements) that the add-on splits it across threads.
 */
import { expect } from 'chai';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { loadNative, registerNativeKernels, unregisterNativeKernels } from '../../../src/student/kernels/native.js';
import { RELU_GRAD_KERNEL, registerReluGrad, reluGradCalls } from '../../../src/student/kernels/relu-grad.js';
import { tf } from '../../../src/student/tf.js';
import { randn, type Arr } from '../compare-backends.js';
import { needsNativeAddon } from '../../helpers/needs.js';
import { expectBitIdentical } from '../../helpers/bit-identical.js';

const SPECIAL = [Number.NaN, 0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3, -3];

/** x and dy of `n` elements: seeded values with every special value paired with every other. */
function inputs(n: number, seed: number): [Arr, Arr] {
  const x = randn([n], seed);
  const dy = randn([n], seed + 1);
  let i = 0;
  for (const a of SPECIAL) {
    for (const b of SPECIAL) {
      if (i >= n) break;
      x.data[i] = a;
      dy.data[i++] = b;
    }
  }
  return [x, dy];
}

/** [fused gradient via tf.grad, stock composition] for x, dy on the current backend. */
function both(x: Arr, dy: Arr): [Float32Array, Float32Array] {
  const xt = tf.tensor(x.data, x.shape);
  const dyt = tf.tensor(dy.data, dy.shape);
  const g = tf.grad((u: tf.Tensor) => tf.relu(u))(xt, dyt);
  const stock = tf.mul(dyt, tf.cast(tf.step(xt), 'float32'));
  const out: [Float32Array, Float32Array] = [g.dataSync() as Float32Array, stock.dataSync() as Float32Array];
  tf.dispose([xt, dyt, g, stock]);
  return out;
}

describe('student/kernels: one-kernel ReLU gradient (relu-grad.ts)', () => {
  before(async () => {
    registerReluGrad();
    registerWasmKernels();
  });
  after(async () => {
    unregisterNativeKernels();
    await tf.setBackend('cpu');
  });

  it('is registered on cpu and wasm and replaces the Relu gradient', () => {
    for (const b of ['cpu', 'wasm']) expect(tf.getKernel(RELU_GRAD_KERNEL, b), b).to.not.equal(undefined);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: bit-identical to mul(dy, cast(step(x))) incl. NaN, ±0, ±∞, subnormals (JS loop)`, async () => {
      unregisterNativeKernels();
      await tf.setBackend(backend);
      const before = reluGradCalls.js;
      const [x, dy] = inputs(1000, 7);
      const [got, want] = both(x, dy);
      expect(reluGradCalls.js - before, 'the JS loop ran').to.equal(1);
      expectBitIdentical(got, want, backend, 'the stock gradient');
    });
  }

  it('wasm + native add-on: bit-identical, split across threads for 2^20 elements', async function () {
    needsNativeAddon(this, loadNative());
    registerNativeKernels();
    await tf.setBackend('wasm');
    const before = reluGradCalls.native;
    for (const n of [1000, 1 << 20]) {
      const [x, dy] = inputs(n, 11);
      const [got, want] = both(x, dy);
      expectBitIdentical(got, want, `native ${n}`, 'the stock gradient');
    }
    expect(reluGradCalls.native - before, 'the C path ran').to.equal(2);
  });

  it('falls back to the stock composition where the kernel is missing', async () => {
    unregisterNativeKernels();
    await tf.setBackend('cpu');
    const k = tf.getKernel(RELU_GRAD_KERNEL, 'cpu')!;
    tf.unregisterKernel(RELU_GRAD_KERNEL, 'cpu');
    try {
      const before = reluGradCalls.js;
      const [x, dy] = inputs(200, 3);
      const [got, want] = both(x, dy);
      expect(reluGradCalls.js).to.equal(before);
      expectBitIdentical(got, want, 'fallback', 'the stock gradient');
    } finally {
      tf.registerKernel(k);
    }
  });
});
