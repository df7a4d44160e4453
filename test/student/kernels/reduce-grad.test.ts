/**
 * The Sum and Mean gradients without a tensor of ones (src/student/kernels/reduce-grad.ts) against
 * tfjs-core's own formulas — reshape(dy) · ones(x.shape) and that / n — bit for bit (NaN as NaN,
 * the sign of zero kept), on cpu and wasm: no axis, one, several, negative, all, the empty list,
 * keepDims both ways, and dy holding NaN, ±0, ±∞ and subnormals.
 */
import { expect } from 'chai';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { registerReduceGrads } from '../../../src/student/kernels/reduce-grad.js';
import { tf } from '../../../src/student/tf.js';
import { randn } from '../compare-backends.js';
import { expectBitIdentical } from '../../helpers/bit-identical.js';

const SPECIAL = [Number.NaN, 0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3, -3];

/** tfjs' axis rule: none given = every axis, [] = none; negative counts from the end. */
function keptShape(shape: number[], axis: number | number[] | undefined): { kept: number[]; n: number } {
  const axes = axis === undefined ? shape.map((_, i) => i) : ([] as number[]).concat(axis).map((a) => (a < 0 ? a + shape.length : a));
  const kept = shape.slice();
  let n = 1;
  for (const a of axes) {
    n *= shape[a];
    kept[a] = 1;
  }
  return { kept, n };
}

describe('student/kernels: Sum / Mean gradients without ones (reduce-grad.ts)', () => {
  before(() => {
    registerReduceGrads();
    registerWasmKernels();
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Array<[number[], number | number[] | undefined, boolean]> = [
    [[4, 5], undefined, false], [[4, 5], 1, false], [[4, 5], -1, true], [[2, 3, 4, 5], [1, 2], true], [[2, 3, 4, 5], [-1, 0], false],
    [[2, 3, 4, 5], [0, 1, 2, 3], false], [[3, 4], [], false], [[16, 49, 96], -1, true], [[1, 7, 7, 8], [1, 2], true],
  ];
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: tf.grad of sum and mean equals reshape(dy)·ones (÷ n) bit for bit, for every axis form, keepDims, special values in dy`, async () => {
      await tf.setBackend(backend);
      let checked = 0;
      for (const [shape, axis, keepDims] of cases) {
        const x = tf.tensor(randn(shape, shape.length * 7 + checked).data, shape);
        const { kept, n } = keptShape(shape, axis);
        const outShape = keepDims ? kept : tf.sum(x, axis, keepDims).shape;
        const dyData = randn(outShape.length ? outShape : [1], 40 + checked).data.slice(0, tf.util.sizeFromShape(outShape));
        SPECIAL.forEach((v, i) => i < dyData.length && (dyData[i] = v));
        const dy = tf.tensor(dyData, outShape);
        for (const op of ['sum', 'mean'] as const) {
          const f = (u: tf.Tensor) => (op === 'sum' ? tf.sum(u, axis, keepDims) : tf.mean(u, axis, keepDims));
          const got = tf.grad(f)(x, dy);
          const prod = tf.mul(tf.reshape(dy, kept), tf.ones(shape, 'float32'));
          const want = op === 'sum' ? prod : tf.div(prod, n);
          expect(got.shape, `${op} ${shape} axis ${JSON.stringify(axis)}`).to.deep.equal(shape);
          expectBitIdentical(got.dataSync() as Float32Array, want.dataSync() as Float32Array, `${backend} ${op} ${shape} axis ${JSON.stringify(axis)} keepDims ${keepDims}`, "tfjs' reshape(dy)·ones (÷ n)");
          tf.dispose([got, prod, want]);
        }
        tf.dispose([x, dy]);
        checked++;
      }
      expect(checked).to.equal(cases.length);
    });
  }

  it("the replacement is the one that runs: a broadcast (Tile), not tfjs' full-size Multiply by ones", async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(randn([8, 16, 12], 5).data, [8, 16, 12]);
    for (const op of [(u: tf.Tensor) => tf.sum(u, -1), (u: tf.Tensor) => tf.mean(u, [0, 2])]) {
      const p = await tf.profile(() => tf.grad(op)(x));
      const names = p.kernels.map((k) => k.name);
      expect(names, names.join(', ')).to.include('Tile');
      expect(names, names.join(', ')).to.not.include('Multiply');
      tf.dispose(p.result as tf.Tensor);
    }
    x.dispose();
  });

  it('no tensor is left behind by a gradient step through sum and mean', async () => {
    await tf.setBackend('wasm');
    const x = tf.variable(tf.tensor(randn([8, 16, 12], 3).data, [8, 16, 12]));
    const step = () => tf.tidy(() => Object.values(tf.variableGrads(() => tf.add(tf.sum(tf.square(tf.mean(x, -1, true))), tf.mean(tf.sum(x, [0, 1])))).grads)[0].clone());
    tf.dispose(step());
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(step());
    expect(tf.memory().numTensors).to.equal(before);
    x.dispose();
  });
});
