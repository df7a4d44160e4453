/**
 * Mixed labels (Mixup/CutMix views, docs/MIXING.md): every loss of the registry either reads
 * LossContext.targets or says in one line why it cannot; the ones that read it compute, with a
 * one-hot `targets`, exactly what they compute from the labels, and with a mixed one the
 * λ-weighted combination their formula implies (timm's SoftTargetCrossEntropy for the CE term).
 */
import { expect } from 'chai';
import { builtinLosses, checkMixedTargets, lossContext, lossEntry } from '../../../src/student/losses/index.js';
import { UsageError } from '../../../src/errors.js';
import { tf } from '../../../src/student/tf.js';
import { defaultOptions } from './helpers.js';

const B = 4;
const K = 5;
const logits = () => tf.tensor2d(Array.from({ length: B * K }, (_, i) => Math.sin(i * 1.7) * 3), [B, K]) as tf.Tensor2D;
const teacher = () => tf.tensor2d(Array.from({ length: B * K }, (_, i) => Math.cos(i * 0.9) * 2), [B, K]) as tf.Tensor2D;
const yi = [0, 3, 2, 4];
const yj = [1, 3, 0, 2];
const lam = [0.7, 0.4, 1, 0.05];

function mixed(): tf.Tensor2D {
  const t = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    t[b * K + yi[b]] += lam[b];
    t[b * K + yj[b]] += 1 - lam[b];
  }
  return tf.tensor2d(t, [B, K]) as tf.Tensor2D;
}

const value = (name: string, targets: 'none' | 'onehot' | 'mixed', labels = yi): number =>
  tf.tidy(() => {
    const o = defaultOptions(name, 'paper', K);
    const y = tf.tensor1d(labels, 'int32');
    const t = targets === 'none' ? null : targets === 'onehot' ? (tf.oneHot(y, K).toFloat() as tf.Tensor2D) : mixed();
    const e = lossEntry(name);
    return e.fn(lossContext({ logits: logits(), labels: y, targets: t, teacherLogits: e.teacher === 'none' ? null : teacher(), options: o })).dataSync()[0];
  });

describe('student/losses: mixed labels (LossContext.targets)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  const readers = builtinLosses().filter((e) => e.mixedTargets === true).map((e) => e.name);
  it('every built-in loss reads mixed labels or says why not in one line', () => {
    expect(readers).to.deep.equal(['ce', 'lsr', 'kd', 'tfkd-self', 'tfkd-reg', 'dist', 'wsld', 'hard-kd']);
    for (const e of builtinLosses()) {
      if (e.mixedTargets === true) expect(() => checkMixedTargets(e)).to.not.throw();
      else {
        expect(() => checkMixedTargets(e)).to.throw(UsageError, new RegExp(`^loss ${e.name} cannot train on mixed views \\(mixup/cutmix\\): \\S`));
        try {
          checkMixedTargets(e);
        } catch (err) {
          expect((err as Error).message.split('\n')).to.have.length(1);
        }
      }
    }
    expect(() => checkMixedTargets({ ...lossEntry('ce'), name: 'mine', mixedTargets: undefined })).to.throw(UsageError, /loss mine cannot train on mixed views .*does not declare mixedTargets: true/);
  });
  for (const name of ['ce', 'lsr', 'kd', 'tfkd-self', 'tfkd-reg', 'dist', 'wsld', 'hard-kd']) {
    it(`${name}: one-hot targets give the labels' value; mixed targets differ from both samples' labels`, () => {
      const none = value(name, 'none');
      expect(value(name, 'onehot')).to.be.closeTo(none, 1e-6);
      const mix = value(name, 'mixed');
      expect(Math.abs(mix - none)).to.be.greaterThan(1e-4);
      expect(Math.abs(mix - value(name, 'none', yj))).to.be.greaterThan(1e-4);
    });
  }
  // (tfkd-reg's KL to the mixed virtual teacher is not linear in it — its entropy term — only its gradient is.)
  for (const name of ['ce', 'lsr']) {
    it(`${name}: linear in the label — the mixed value is λ·(value with y_i) + (1 − λ)·(value with y_j) per sample`, () => {
      // Per sample: run each row alone, so the batch mean does not hide the weights.
      for (let b = 0; b < B; b++) {
        const one = (labels: number[], t: 'none' | 'mixed') =>
          tf.tidy(() => {
            const o = defaultOptions(name, 'paper', K);
            const z = tf.slice(logits(), [b, 0], [1, K]) as tf.Tensor2D;
            const tt = t === 'mixed' ? (tf.slice(mixed(), [b, 0], [1, K]) as tf.Tensor2D) : null;
            return lossEntry(name).fn(lossContext({ logits: z, labels: tf.tensor1d([labels[b]], 'int32'), targets: tt, options: o })).dataSync()[0];
          });
        const want = lam[b] * one(yi, 'none') + (1 - lam[b]) * one(yj, 'none');
        expect(one(yi, 'mixed')).to.be.closeTo(want, 1e-5);
      }
    });
  }
});
