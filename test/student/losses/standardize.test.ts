/**
 * standardizeLogits' std carries torch's gradient (masked where a row's std is 0). Where the std
 * is positive its gradient must be the bits tfjs' own autodiff of the plain formula gave, so that a
 * run with --logit-standardization made before the masked gradient reproduces bit for bit (tfkd
 * repro compares with tolerance 0).
 */
import { expect } from 'chai';
import { tf } from '../../../src/student/tf.js';
import { standardizeLogits } from '../../../src/student/losses/standardize.js';
import { Rng } from '../../../src/data/rng.js';

/** The formula as it was written before the custom gradient (autodiff through sqrt). */
function plain(z: tf.Tensor2D): tf.Tensor2D {
  const k = z.shape[1];
  const centred = tf.sub(z, tf.mean(z, 1, true));
  const variance = tf.div(tf.sum(tf.square(centred), 1, true), k - 1);
  return tf.div(centred, tf.add(tf.sqrt(variance), 1e-7)) as tf.Tensor2D;
}

describe('student/losses/standardize: the std with torch\'s gradient', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('rows with std > 0: value and gradient bit-identical to autodiff of the plain formula (K = 2 … 100)', () => {
    const rng = new Rng(7);
    let differing = 0;
    let total = 0;
    for (const k of [2, 3, 10, 100]) {
      const data = Float32Array.from({ length: 16 * k }, () => (rng.next() - 0.5) * 20);
      const z = tf.tensor2d(data, [16, k]);
      const w = tf.tensor2d(Float32Array.from({ length: 16 * k }, () => rng.next() - 0.5), [16, k]);
      const f = (g: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor) => tf.sum(tf.mul(g(x as tf.Tensor2D), w));
      const [a, b] = [tf.grad(f(standardizeLogits))(z), tf.grad(f(plain))(z)];
      const [ga, gb] = [a.dataSync(), b.dataSync()];
      for (let i = 0; i < ga.length; i++) differing += Number(!Object.is(ga[i], gb[i]));
      total += ga.length;
      expect(Array.from(standardizeLogits(z).dataSync())).to.deep.equal(Array.from(plain(z).dataSync()));
    }
    console.log(`      ${total} gradient elements, ${differing} differing from autodiff's bits`);
    expect(differing).to.equal(0);
  });

  it('a row of equal logits (std 0): a finite gradient, where autodiff of the plain formula gives NaN', () => {
    const z = tf.tensor2d([[1.5, 1.5, 1.5, 1.5], [0.1, -2, 3, 0.5]]);
    const w = tf.tensor2d([[1, -2, 0.5, 3], [0.3, 0.2, -1, 2]]);
    const f = (g: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor) => tf.sum(tf.mul(g(x as tf.Tensor2D), w));
    const ours = tf.grad(f(standardizeLogits))(z).dataSync();
    const auto = tf.grad(f(plain))(z).dataSync();
    expect(Array.from(ours).every(Number.isFinite), String(ours)).to.equal(true);
    expect(Array.from(auto.slice(0, 4)).some(Number.isNaN)).to.equal(true);
    // The zero-std row: (dy − mean dy) / 1e-7, as torch gives.
    const mean = (1 - 2 + 0.5 + 3) / 4;
    [1, -2, 0.5, 3].forEach((dy, i) => expect(ours[i]).to.be.closeTo((dy - mean) / 1e-7, 1e-7 * Math.abs((dy - mean) / 1e-7) + 1));
  });
});
