/**
 * The one-kernel Hardswish / Hardsigmoid (src/student/kernels/hard-activations.ts) against the
 * tfjs composition they replace in zoo/mobilenetv3-layers.ts — forward values and gradients via
 * tf.grad, bit for bit (NaN compared as NaN) — on cpu (JS loops) and on wasm in C when the native
 * add-on is built; inputs include ±0, ±∞, NaN, the kinks ±3 and their float32 neighbours, and a
 * tensor of 2^20 elements (split across the add-on's threads). Without the add-on, wasm keeps
 * the composition (a JS loop on the heap is slower than it).
 */
import { expect } from 'chai';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { hardActCalls, setFusedHardActivations } from '../../../src/student/kernels/hard-activations.js';
import { loadNative, registerNativeKernels, unregisterNativeKernels } from '../../../src/student/kernels/native.js';
import { tf } from '../../../src/student/tf.js';
import { hardSigmoid, hardSwish } from '../../../src/student/zoo/mobilenetv3-layers.js';
import { needsNativeAddon } from '../../helpers/needs.js';
import { randn, type Arr } from '../compare-backends.js';
import { expectBitIdentical } from '../../helpers/bit-identical.js';

const up = (v: number) => new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([v]).buffer)[0] + 1]).buffer)[0];
const SPECIAL = [NaN, 0, -0, Infinity, -Infinity, 1e-45, 3, -3, up(3), up(-3), 2.9999998, -2.9999998, 6, -6, 1e30, -1e30];

/** x (seeded values in [−6, 6), the special values at the front) and dy (seeded, with specials). */
function inputs(n: number, seed: number): [Arr, Arr] {
  const x = randn([n], seed);
  const dy = randn([n], seed + 1);
  for (let i = 0; i < n; i++) x.data[i] *= 6;
  let i = 0;
  for (const a of SPECIAL) {
    for (const b of [1, -0.5, 0, NaN, Infinity]) {
      if (i >= n) break;
      x.data[i] = a;
      dy.data[i++] = b;
    }
  }
  return [x, dy];
}

/** [y, dx] of `f` for x, dy on the current backend, with the fused path on or off. */
function run(f: (x: tf.Tensor) => tf.Tensor, x: Arr, dy: Arr, fused: boolean): [Float32Array, Float32Array] {
  setFusedHardActivations(fused);
  try {
    const xt = tf.tensor(x.data, x.shape);
    const dyt = tf.tensor(dy.data, dy.shape);
    const y = f(xt);
    const g = tf.grad((u: tf.Tensor) => f(u))(xt, dyt);
    const out: [Float32Array, Float32Array] = [y.dataSync() as Float32Array, g.dataSync() as Float32Array];
    tf.dispose([xt, dyt, y, g]);
    return out;
  } finally {
    setFusedHardActivations(true);
  }
}

const FNS = [['hardswish', hardSwish], ['hardsigmoid', hardSigmoid]] as const;

/** Checks both functions at the sizes given; returns how many fused kernel calls ran (forward + gradient). */
function checkAll(sizes: number[], where: string): void {
  for (const n of sizes) {
    const [x, dy] = inputs(n, 5 + n);
    for (const [name, f] of FNS) {
      const [y, dx] = run(f, x, dy, true);
      const [y0, dx0] = run(f, x, dy, false);
      expectBitIdentical(y, y0, `${where} ${name} forward, ${n}`, 'the composition');
      expectBitIdentical(dx, dx0, `${where} ${name} gradient, ${n}`, 'the composition');
    }
  }
}

describe('student/kernels: one-kernel Hardswish / Hardsigmoid (hard-activations.ts)', function () {
  this.timeout(120000);
  before(() => {
    registerWasmKernels();
  });
  after(async () => {
    unregisterNativeKernels();
    await tf.setBackend('cpu');
  });

  it('cpu: forward and gradient bit-identical to the composed ops (JS loops), incl. NaN, ±0, ±∞, ±3 and neighbours', async () => {
    await tf.setBackend('cpu');
    const before = hardActCalls.js;
    checkAll([500, 4096], 'cpu');
    expect(hardActCalls.js - before, 'the JS loops ran (2 sizes × 2 functions × forward, forward + gradient)').to.equal(12);
  });

  it('wasm + native add-on: bit-identical in C, split across threads for 2^20 elements', async function () {
    needsNativeAddon(this, loadNative());
    registerNativeKernels();
    await tf.setBackend('wasm');
    const before = { ...hardActCalls };
    checkAll([500, 1 << 20], 'native');
    expect(hardActCalls.native - before.native, 'the C path ran').to.equal(12);
    expect(hardActCalls.js, 'no JS loop').to.equal(before.js);
  });

  it('wasm without the add-on: keeps the composed ops (no fused kernel call)', async () => {
    unregisterNativeKernels();
    await tf.setBackend('wasm');
    const before = { ...hardActCalls };
    checkAll([300], 'wasm');
    expect(hardActCalls).to.deep.equal(before);
  });
});
