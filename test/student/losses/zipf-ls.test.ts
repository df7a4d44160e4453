/**
 * zipf-ls ranks on the device (zipfTargetsTensor: TopK + SearchSorted, float32) and must give the
 * host reference's targets (zipfTargets: a sort per row in double, scipy's "min" ranks): ties
 * (whole rows equal, pairs, −0 next to 0), K = 2 … 1000, power 0, 1 and 2.5, the target class at
 * either end of the ranking. Max |Δ| ≤ 1e-6 (the targets are ≤ 1: float32 rounding of the
 * normalisation and of rank^(−power)); the ranks themselves must match exactly, which the power-0
 * check (all weights 1) does not see and the power-1 check (1/rank) does.
 */
import { expect } from 'chai';
import { tf } from '../../../src/student/tf.js';
import { zipfTargets, zipfTargetsTensor } from '../../../src/student/losses/index.js';
import { rng } from '../compare-backends.js';
import { maxAbsDiff } from '../../helpers/close.js';

describe('student/losses/zipf-ls: targets ranked on the device equal the host reference', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const rows = (B: number, K: number, seed: number, levels?: number): Float32Array => {
    const r = rng(seed);
    // `levels` draws from a few values only: many ties.
    return Float32Array.from({ length: B * K }, () => (levels ? Math.floor(r() * levels) - levels / 2 : (r() * 2 - 1) * 8));
  };
  const cases: Array<[string, number, number, Float32Array]> = [
    ['K 2', 3, 2, rows(3, 2, 1)],
    ['K 10, many ties', 8, 10, rows(8, 10, 2, 3)],
    ['K 100', 4, 100, rows(4, 100, 3)],
    ['K 1000, ties', 2, 1000, rows(2, 1000, 4, 50)],
    ['a whole row tied, −0 and 0', 2, 5, Float32Array.from([0, -0, 0, -0, 0, 1, 1, -1, -1, 1])],
  ];
  for (const [what, B, K, z] of cases) {
    for (const power of [0, 1, 2.5]) {
      it(`${what}, power ${power}`, () => {
        const labels = Int32Array.from({ length: B }, (_, b) => (b * 7) % K);
        const want = zipfTargets(z, labels, K, power);
        const got = tf.tidy(() => zipfTargetsTensor(tf.tensor2d(z, [B, K]), tf.tensor1d(labels, 'int32'), power).dataSync());
        const d = maxAbsDiff(got, want);
        expect(d, `max |Δ| ${d}`).to.be.at.most(1e-6);
        for (let b = 0; b < B; b++) expect(got[b * K + labels[b]], 'no mass on the label').to.equal(0);
      });
    }
  }

  it('carries no gradient to the logits', () => {
    const z = tf.tensor2d(rows(2, 6, 9), [2, 6]);
    const y = tf.tensor1d([1, 4], 'int32');
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(zipfTargetsTensor(x as tf.Tensor2D, y, 1), x)))(z);
    // d/dx Σ P·x with P constant is P itself.
    expect(maxAbsDiff(g.dataSync(), zipfTargets(z.dataSync(), y.dataSync(), 6, 1))).to.be.at.most(1e-6);
    tf.dispose([z, y, g]);
  });
});
