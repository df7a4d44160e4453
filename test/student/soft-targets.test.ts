/**
 * Soft-target sources vs numpy (the `softTargets` block of test/fixtures/golden/losses.json, written
 * by scripts/golden_losses.py in float64). Tolerance: float32 outputs, so |diff| ≤ 1e-7 + 1e-6·|ref|.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { tf } from '../../src/student/tf.js';
import {
  ensembleProbs,
  temperedProbs,
  uniformPriorArray,
  uniformPriorTensor,
  virtualTeacherArray,
  virtualTeacherProbs,
  virtualTeacherTensor,
} from '../../src/student/soft-targets.js';

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

describe('student/soft-targets (vs numpy)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const t of golden.tempered) {
    it(`tempered probabilities and their ensemble mean at τ = ${t.temperature}`, () => {
      golden.teachers.forEach((logits, i) => {
        const p = temperedProbs(logits, golden.K, t.temperature);
        const r = maxDiff(p, t.each[i]);
        expect(r, `teacher ${i}: worst |diff|/tol ${r}`).to.be.at.most(1);
      });
      const e = ensembleProbs(golden.teachers, golden.K, t.temperature);
      const r = maxDiff(e, t.ensemble);
      expect(r, `ensemble: worst |diff|/tol ${r}`).to.be.at.most(1);
      for (let row = 0; row < golden.n; row++) expect(e.slice(row * golden.K, (row + 1) * golden.K).reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
    });
  }

  it('a confident teacher at τ = 1 underflows to exact zeros in float32 (what the KL must handle)', () => {
    const p = temperedProbs(golden.teachers[1], golden.K, 1);
    expect(Array.from(p.slice(2 * golden.K + 1, 3 * golden.K))).to.deep.equal([0, 0, 0, 0]);
    expect(p[2 * golden.K]).to.equal(1);
  });

  for (const v of golden.virtual) {
    it(`virtual teacher K = ${v.K}, a = ${v.correctProb}, τ = ${v.temperature}: paper and official`, () => {
      for (const f of ['paper', 'official'] as const) {
        const { target, other } = virtualTeacherProbs(v.K, v.correctProb, v.temperature, f);
        expect(target, `${f} target`).to.be.closeTo(v[f][0], 1e-9 + 1e-8 * v[f][0]);
        expect(other, `${f} other`).to.be.closeTo(v[f][1], 1e-9 + 1e-8 * v[f][1]);
        const arr = virtualTeacherArray(v.labels, v.K, v.correctProb, v.temperature, f);
        const lt = tf.tensor1d(v.labels, 'int32');
        const ten = virtualTeacherTensor(lt, v.K, v.correctProb, v.temperature, f);
        const tv = ten.dataSync();
        v.labels.forEach((c, row) => {
          for (let k = 0; k < v.K; k++) {
            const want = k === c ? v[f][0] : v[f][1];
            expect(arr[row * v.K + k]).to.equal(Math.fround(k === c ? target : other));
            expect(tv[row * v.K + k]).to.be.closeTo(want, 1e-7);
          }
        });
        tf.dispose([lt, ten]);
      }
    });
  }

  it('uniform prior: 1/K everywhere, array and tensor', () => {
    expect(Array.from(uniformPriorArray(2, 4))).to.deep.equal(new Array(8).fill(0.25));
    const u = uniformPriorTensor(3, 5);
    expect(u.shape).to.deep.equal([3, 5]);
    expect(Array.from(u.dataSync()).every((x) => x === Math.fround(0.2))).to.equal(true);
    u.dispose();
  });

  it('BAD CALL - ragged or mismatched inputs, τ ≤ 0, labels out of range, empty ensemble', () => {
    expect(() => temperedProbs(new Float32Array(7), 5, 1)).to.throw(/not a multiple of K = 5/);
    expect(() => temperedProbs(new Float32Array(10), 5, 0)).to.throw(/τ must be > 0/);
    expect(() => temperedProbs(Float32Array.of(Number.NaN, 1), 2, 1)).to.throw(/finite/);
    expect(() => ensembleProbs([], 5, 1)).to.throw(/at least one teacher/);
    expect(() => ensembleProbs([new Float32Array(10), new Float32Array(5)], 5, 1)).to.throw(/teacher 1 has 5 values/);
    expect(() => virtualTeacherArray([0, 5], 5, 0.9, 1, 'paper')).to.throw(/label 5 at row 1/);
    expect(() => virtualTeacherProbs(1, 0.9, 1, 'paper')).to.throw(/K ≥ 2/);
  });
});
