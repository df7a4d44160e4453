/**
 * Soft targets as the trainer reads them (a cache's `softTargets`, the ensemble mean of
 * `cacheSoftTargets`) vs numpy: the `softTargets` block of test/fixtures/golden/losses.json, written
 * by scripts/golden_losses.py in float64. Tolerance: float32 outputs, so |diff| ≤ 1e-7 + 1e-6·|ref|.
 * The virtual teacher and the uniform prior are the losses' own tensors (losses/virtual-teacher.ts).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { uniformPrior, virtualTeacher, virtualTeacherProbs } from '../../src/student/losses/virtual-teacher.js';
import { tf } from '../../src/student/tf.js';
import { readerSoftTargets } from '../helpers/soft-targets.js';

interface SoftGolden {
  n: number;
  K: number;
  teachers: number[][];
  tempered: { temperature: number; each: number[][]; ensemble: number[] }[];
  virtual: { K: number; correctProb: number; temperature: number; labels: number[]; paper: [number, number]; official: [number, number] }[];
}
const golden = (JSON.parse(readFileSync(new URL('../fixtures/golden/losses.json', import.meta.url), 'utf8')) as { softTargets: SoftGolden }).softTargets;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1e-7 + 1e-6 * Math.abs(b[i])));
  return m;
}

describe('soft targets through the cache reader (vs numpy)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const t of golden.tempered) {
    it(`tempered probabilities and their ensemble mean at τ = ${t.temperature}`, () => {
      let worst = 0;
      golden.teachers.forEach((logits, i) => {
        const r = maxDiff(readerSoftTargets([logits], golden.K, t.temperature), t.each[i]);
        worst = Math.max(worst, r);
        expect(r, `teacher ${i}: worst |diff|/tol ${r}`).to.be.at.most(1);
      });
      const e = readerSoftTargets(golden.teachers, golden.K, t.temperature);
      const r = maxDiff(e, t.ensemble);
      console.log(`      τ = ${t.temperature}: worst |diff|/tol ${Math.max(worst, r).toExponential(2)} (teachers and ensemble)`);
      expect(r, `ensemble: worst |diff|/tol ${r}`).to.be.at.most(1);
      for (let row = 0; row < golden.n; row++) expect(e.slice(row * golden.K, (row + 1) * golden.K).reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
    });
  }

  it('a confident teacher at τ = 1 underflows to exact zeros in float32 (what the KL must handle)', () => {
    const p = readerSoftTargets([golden.teachers[1]], golden.K, 1);
    expect(Array.from(p.slice(2 * golden.K + 1, 3 * golden.K))).to.deep.equal([0, 0, 0, 0]);
    expect(p[2 * golden.K]).to.equal(1);
  });

  for (const v of golden.virtual) {
    it(`virtual teacher K = ${v.K}, a = ${v.correctProb}, τ = ${v.temperature}: paper and official`, () => {
      for (const f of ['paper', 'official'] as const) {
        const { target, other } = virtualTeacherProbs(v.K, v.correctProb, v.temperature, f);
        expect(target, `${f} target`).to.be.closeTo(v[f][0], 1e-9 + 1e-8 * v[f][0]);
        expect(other, `${f} other`).to.be.closeTo(v[f][1], 1e-9 + 1e-8 * v[f][1]);
        const lt = tf.tensor1d(v.labels, 'int32');
        const ten = virtualTeacher(lt, v.K, v.correctProb, v.temperature, f);
        const tv = ten.dataSync();
        v.labels.forEach((c, row) => {
          for (let k = 0; k < v.K; k++) expect(tv[row * v.K + k]).to.be.closeTo(k === c ? v[f][0] : v[f][1], 1e-7);
        });
        tf.dispose([lt, ten]);
      }
    });
  }

  it('uniform prior: 1/K everywhere', () => {
    const u = uniformPrior(3, 5);
    expect(u.shape).to.deep.equal([3, 5]);
    expect(Array.from(u.dataSync()).every((x) => x === Math.fround(0.2))).to.equal(true);
    u.dispose();
  });

  it('BAD CALL - τ ≤ 0, K < 2 for the virtual teacher', () => {
    expect(() => readerSoftTargets([new Float32Array(10)], 5, 0)).to.throw(/temperature must be a positive number/);
    expect(() => virtualTeacherProbs(1, 0.9, 1, 'paper')).to.throw(/K ≥ 2/);
  });
});
