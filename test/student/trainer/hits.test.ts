/**
 * Training hits under mixing equal mixup's authors' accuracy, λ·[pred = a] + (1 − λ)·[pred = b]
 * (facebookresearch/mixup-cifar10, train.py), computed here in plain JS from the same logits; and
 * the unmixed count is argmax = label.
 */
import { expect } from 'chai';
import { tf } from '../../../src/student/tf.js';
import { trainingHits } from '../../../src/student/trainer/hits.js';
import { Rng } from '../../../src/data/rng.js';

describe('student/trainer/hits: training accuracy on mixed labels', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  const n = 64;
  const K = 7;
  const rng = new Rng(11);
  const rnd = () => rng.next();
  const logits = Float32Array.from({ length: n * K }, () => rnd() * 4 - 2);
  const a = Int32Array.from({ length: n }, () => Math.floor(rnd() * K));
  const b = Int32Array.from({ length: n }, () => Math.floor(rnd() * K));
  // Half the rows predict the partner's class, a quarter the first image's: the cases that matter.
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) logits[i * K + b[i]] += 10;
    else if (i % 4 === 1) logits[i * K + a[i]] += 10;
  }
  const lam = Float32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : rnd()));
  const argmax = (i: number) => {
    let best = 0;
    for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + best]) best = k;
    return best;
  };

  it('mixed: Σ λ·[pred = a] + (1 − λ)·[pred = b]', () => {
    const mixed = new Float32Array(n * K);
    let expected = 0;
    for (let i = 0; i < n; i++) {
      mixed[i * K + a[i]] += lam[i];
      mixed[i * K + b[i]] += 1 - lam[i];
      const p = argmax(i);
      expected += lam[i] * Number(p === a[i]) + (1 - lam[i]) * Number(p === b[i]);
    }
    const got = tf.tidy(() => trainingHits(tf.tensor2d(logits, [n, K]), tf.tensor1d(a, 'int32'), tf.tensor2d(mixed, [n, K])).dataSync()[0]);
    console.log(`      mixed hits ${got.toFixed(6)} vs JS ${expected.toFixed(6)}, |diff| ${Math.abs(got - expected).toExponential(2)}`);
    expect(Math.abs(got - expected)).to.be.below(1e-4);
  });

  it('a 30/70 mixture predicted as its partner scores 0.7 a row, not 0 (the first label alone)', () => {
    const m = 8;
    const lg = new Float32Array(m * K);
    const mixed = new Float32Array(m * K);
    const first = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      first[i] = i % K;
      const partner = (i + 1) % K;
      lg[i * K + partner] = 5;
      mixed[i * K + first[i]] = 0.3;
      mixed[i * K + partner] = 0.7;
    }
    const got = tf.tidy(() => trainingHits(tf.tensor2d(lg, [m, K]), tf.tensor1d(first, 'int32'), tf.tensor2d(mixed, [m, K])).dataSync()[0]);
    expect(got).to.be.closeTo(0.7 * m, 1e-5);
  });

  it('unmixed: rows whose argmax is the label', () => {
    let expected = 0;
    for (let i = 0; i < n; i++) expected += Number(argmax(i) === a[i]);
    const got = tf.tidy(() => trainingHits(tf.tensor2d(logits, [n, K]), tf.tensor1d(a, 'int32'), null).dataSync()[0]);
    expect(got).to.equal(expected);
  });
});
