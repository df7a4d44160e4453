/**
 * The one-kernel GELU (src/student/kernels/gelu.ts, native/src/gelu.cc):
 *   - the C kernels (wasm + native add-on, 2^20 elements split across threads) and the JS loops
 *     (cpu) give the same bits, forward and gradient, incl. NaN, ±0, ±∞, the erf clamp at ±4·√2
 *     and its float32 neighbours;
 *   - against GELU and its derivative in float64 (Math.exp, and erf by its Taylor series below 3 and
 *     erfc's continued fraction above): |Δy| ≤ 5e-7·max(1, |x|) and |Δdx| ≤ 5e-7·|dy| on a grid
 *     of 200 000 points over [−12, 12] (measured 2.4e-7 and 2.7e-7; PyTorch's own float32 GELU is
 *     the reference of test/student/zoo/onnx-ops/elementwise.test.ts);
 *   - without the add-on, wasm composes tfjs ops (no kernel call);
 *   - the graph reader folds torch's GELU chain (Div, Erf, Add, Mul, Mul) into one Gelu node and a
 *     training step of a ViT runs it in C (test/student/zoo/onnx-import.test.ts holds those steps
 *     to PyTorch's).
 */
import { expect } from 'chai';
import { fusedGelu, geluCalls, setFusedGelu } from '../../../src/student/kernels/gelu.js';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { loadNative, registerNativeKernels, unregisterNativeKernels } from '../../../src/student/kernels/native.js';
import { tf } from '../../../src/student/tf.js';
import { readOnnxGraph } from '../../../src/student/zoo/onnx-graph.js';
import { expectBitIdentical } from '../../helpers/bit-identical.js';
import { needsNativeAddon } from '../../helpers/needs.js';
import { requireTorch, studentOnnx } from '../zoo/torchvision-students.js';

const bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];
const fromBits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];
const EDGE = 4 * Math.SQRT2;
const SPECIAL = [NaN, 0, -0, Infinity, -Infinity, 1e-45, -1e-45, EDGE, -EDGE, fromBits(bits(EDGE) + 1), fromBits(bits(EDGE) - 1), 87, -87, 13.2, -13.2, 1e30, -1e30];

/** x: a grid over [−12, 12] with the special values at the front; dy: seeded in [−1, 1). */
function inputs(n: number): [Float32Array, Float32Array] {
  const x = new Float32Array(n);
  const dy = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    x[i] = i < SPECIAL.length ? SPECIAL[i] : -12 + (24 * i) / n;
    s = (s * 16807) % 2147483647;
    dy[i] = (2 * s) / 2147483647 - 1;
  }
  return [x, dy];
}

/** [y, dx] of the fused kernel (forward, and tf.grad through its registered gradient). */
function fused(x: Float32Array, dy: Float32Array): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const xt = tf.tensor1d(x);
    const y = fusedGelu(xt);
    expect(y, 'the fused kernel runs here').to.not.equal(null);
    const g = tf.grad((u: tf.Tensor) => fusedGelu(u)!)(xt, tf.tensor1d(dy));
    return [y!.dataSync() as Float32Array, g.dataSync() as Float32Array];
  });
}

/** erf in float64: its Taylor series below 3, erfc's continued fraction above. */
function erf64(x: number): number {
  const a = Math.abs(x);
  let r: number;
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let k = 1; k < 200; k++) {
      term *= (-a * a) / k;
      const t = term / (2 * k + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let cf = 0;
    for (let k = 60; k >= 1; k--) cf = k / 2 / (a + cf);
    r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + cf);
  }
  return x < 0 ? -r : r;
}

describe('student/kernels: one-kernel GELU (gelu.ts, native/src/gelu.cc)', function () {
  this.timeout(120000);
  before(() => registerWasmKernels());
  after(async () => {
    unregisterNativeKernels();
    setFusedGelu(true);
    await tf.setBackend('cpu');
  });

  it('C (wasm + add-on, split across threads) and JS (cpu) give the same bits, forward and gradient', async function () {
    needsNativeAddon(this, loadNative());
    for (const n of [700, 1 << 20]) {
      const [x, dy] = inputs(n);
      await tf.setBackend('cpu');
      const js0 = geluCalls.js;
      const [yJs, gJs] = fused(x, dy);
      expect(geluCalls.js - js0, 'JS loops ran (forward, forward + gradient in tf.grad)').to.equal(3);
      registerNativeKernels();
      await tf.setBackend('wasm');
      const nat0 = geluCalls.native;
      const [yC, gC] = fused(x, dy);
      expect(geluCalls.native - nat0, 'the C path ran').to.equal(3);
      unregisterNativeKernels();
      expectBitIdentical(yC, yJs, `forward, ${n}`, 'the JS loop');
      expectBitIdentical(gC, gJs, `gradient, ${n}`, 'the JS loop');
    }
  });

  it('within the stated accuracy of float64 GELU and its derivative over [−12, 12]', async () => {
    await tf.setBackend('cpu');
    const n = 200000;
    const [x, dy] = inputs(n);
    const [y, g] = fused(x, dy);
    let worstY = 0;
    let worstG = 0;
    for (let i = SPECIAL.length; i < n; i++) {
      const v = x[i];
      const cdf = 0.5 * (1 + erf64(v / Math.SQRT2));
      const ref = v * cdf;
      const dref = dy[i] * (cdf + (v * Math.exp((-v * v) / 2)) / Math.sqrt(2 * Math.PI));
      worstY = Math.max(worstY, Math.abs(y[i] - ref) / Math.max(1, Math.abs(v)));
      worstG = Math.max(worstG, Math.abs(g[i] - dref) / Math.max(1e-30, Math.abs(dy[i])));
    }
    console.log(`      max |Δy| / max(1, |x|) ${worstY.toExponential(2)}, max |Δdx| / |dy| ${worstG.toExponential(2)}`);
    expect(worstY).to.be.at.most(5e-7);
    expect(worstG).to.be.at.most(5e-7);
    // The specials: NaN stays NaN, GELU(±0) = ±0 · 0.5, GELU(+∞) = +∞.
    expect(Number.isNaN(y[0])).to.equal(true);
    expect(Object.is(y[1], 0) && Object.is(y[2], -0)).to.equal(true);
    expect(y[3]).to.equal(Infinity);
  });

  it('wasm without the add-on, or TFKD_GELU=composed: no fused kernel (the caller composes)', async () => {
    unregisterNativeKernels();
    await tf.setBackend('wasm');
    expect(tf.tidy(() => fusedGelu(tf.tensor1d([1, 2])) === null)).to.equal(true);
    await tf.setBackend('cpu');
    setFusedGelu(false);
    expect(tf.tidy(() => fusedGelu(tf.tensor1d([1, 2])) === null)).to.equal(true);
    setFusedGelu(true);
  });

  it("the graph reader folds torch's GELU chain into one Gelu node (timm_vit: 4 blocks, no Erf left)", function () {
    requireTorch(this);
    const g = readOnnxGraph(studentOnnx('timm_vit'));
    expect(g.nodes.filter((n) => n.op === 'Gelu')).to.have.length(4);
    expect(g.nodes.filter((n) => n.op === 'Erf')).to.have.length(0);
  });
});
