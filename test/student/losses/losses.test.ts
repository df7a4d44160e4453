/**
 * Loss registry, options, hand-checkable identities, 0·log 0, and tensor hygiene. The numerical
 * agreement with PyTorch for every loss × mode is in losses-golden.test.ts.
 */
import { expect } from 'chai';
import { tf } from '../../../src/student/tf.js';
import { UsageError } from '../../../src/errors.js';
import {
  describeLosses,
  entryOptionNames,
  klRows,
  lossContext,
  lossEntry,
  LOSS_NAMES,
  resolveLossOptions,
  uniformPrior,
  virtualTeacher,
  virtualTeacherProbs,
  type LossOptions,
} from '../../../src/student/losses/index.js';
import type { Fidelity } from '../../../src/catalog.js';
import { expectNoLeakedTensors } from '../../helpers/tf-memory.js';
import { callLoss, defaultOptions } from './helpers.js';

const K = 10;
const B = 4;

function inputs(seed = 1) {
  // Deterministic pseudo-random logits without Math.random (a fixed linear congruential sequence).
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 6 - 3;
  const logits = tf.tensor2d(Array.from({ length: B * K }, next), [B, K]);
  const teacher = tf.tidy(() => tf.softmax(tf.tensor2d(Array.from({ length: B * K }, next), [B, K]).div(4)) as tf.Tensor2D);
  const labels = tf.tensor1d([3, 0, 9, 5], 'int32');
  return { logits, teacher, labels };
}

const opts = (name: string, fidelity: Fidelity, over: Partial<LossOptions> = {}): LossOptions => ({
  ...defaultOptions(name, fidelity, K),
  ...over,
});
const needsTeacher = (name: string) => lossEntry(name).teacher !== 'none';
const defaults = (name: string, fidelity: Fidelity) => defaultOptions(name, fidelity, K);
const resolve = (name: string, fidelity: Fidelity, k: number, given: Partial<LossOptions> = {}) => resolveLossOptions(lossEntry(name), fidelity, k, false, given);

describe('student/losses', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('registry', () => {
    it('registers the losses of the paper and the modern logit losses by name', () => {
      expect([...LOSS_NAMES]).to.deep.equal(['ce', 'lsr', 'kd', 'tfkd-self', 'tfkd-reg', 'dkd', 'dist', 'nkd', 'wsld', 'ps-kd', 'zipf-ls', 'hard-kd']);
      for (const n of LOSS_NAMES) expect(lossEntry(n).fn).to.be.a('function');
      for (const n of LOSS_NAMES) expect(lossEntry(n).source, n).to.have.length.greaterThan(10);
    });
    it('knows which losses need a teacher cache', () => {
      expect(LOSS_NAMES.filter(needsTeacher)).to.deep.equal(['kd', 'tfkd-self', 'dkd', 'dist', 'nkd', 'wsld', 'hard-kd']);
    });
    it('has per-fidelity defaults: the official configs vs the paper (multiplier 1)', () => {
      expect(defaults('kd', 'paper')).to.include({ alpha: 0.95, temperature: 20 });
      expect(defaults('tfkd-self', 'official')).to.include({ alpha: 0.95, temperature: 6, multiplier: 50 });
      expect(defaults('tfkd-self', 'paper')).to.include({ multiplier: 1 });
      expect(defaults('tfkd-reg', 'official')).to.include({ alpha: 0.1, temperature: 20, multiplier: 100, correctProb: 0.99 });
      expect(defaults('tfkd-reg', 'paper')).to.include({ multiplier: 1, correctProb: 0.99 });
      expect(defaults('lsr', 'official')).to.include({ epsilon: 0.1 });
      expect(entryOptionNames(lossEntry('tfkd-reg'))).to.deep.equal(['alpha', 'temperature', 'multiplier', 'correctProb']);
      // The authors' CIFAR-100 configurations (issue 18).
      expect(defaults('dkd', 'paper')).to.deep.include({ alpha: 1, beta: 8, temperature: 4, ceWeight: 1, kdWarmup: 20 });
      expect(defaults('dist', 'paper')).to.deep.include({ beta: 1, lossGamma: 1, temperature: 4, kdWeight: 2, ceWeight: 1 });
      expect(defaults('nkd', 'paper')).to.deep.include({ temperature: 3, lossGamma: 3.5, ceWeight: 1 });
      expect(defaults('wsld', 'paper')).to.deep.include({ temperature: 4, alpha: 2.25, ceWeight: 1 });
      expect(defaults('ps-kd', 'paper')).to.deep.include({ alpha: 0.8 });
      expect(defaultOptions('kd', 'paper', K, {}, true)).to.deep.include({ temperature: 2, ceWeight: 0.1, kdWeight: 9 });
      expect(defaultOptions('dkd', 'paper', K, {}, true)).to.deep.include({ temperature: 2, alpha: 9, beta: 72 });
      expect(defaultOptions('kd', 'paper', K, {}, true)).to.not.have.property('alpha');
    });
    it('describes every loss and its defaults for --help', () => {
      const text = describeLosses();
      for (const n of LOSS_NAMES) expect(text).to.contain(`  ${n} `);
      expect(text).to.contain('official defaults: --alpha 0.95 --temperature 6 --multiplier 50');
    });
    it('resolves user values over the defaults', () => {
      const r = resolve('kd', 'official', K, { alpha: 0.5, temperature: undefined });
      expect(r).to.deep.equal({ alpha: 0.5, temperature: 20, numClasses: K, fidelity: 'official', logitStandardization: false });
    });
    it('BAD CALL - an option the loss does not read is an error, naming what it reads', () => {
      expect(() => resolve('kd', 'official', K, { alpha: 0.5, epsilon: 0.2 })).to.throw(UsageError, /loss kd does not read --epsilon/);
      expect(() => resolve('kd', 'paper', K, { multiplier: 2 })).to.throw(UsageError, /does not read --multiplier/);
      expect(() => resolveLossOptions(lossEntry('kd'), 'paper', K, true, { alpha: 0.5 })).to.throw(UsageError, /does not read --alpha/);
      expect(() => resolveLossOptions(lossEntry('dist'), 'paper', K, true, {})).to.throw(UsageError, /no --logit-standardization form/);
    });
    it('BAD CALL - unknown loss name → UsageError listing the names', () => {
      expect(() => lossEntry('kl')).to.throw(UsageError, /unknown loss "kl"/);
    });
    it('BAD CALL - α outside [0, 1], τ ≤ 0, negative multiplier, a or ε outside [0, 1], K < 2, bad fidelity', () => {
      expect(() => resolve('kd', 'paper', K, { alpha: 1.5 })).to.throw(UsageError, /--alpha 1.5: must be ≥ 0 and ≤ 1/);
      expect(() => resolve('kd', 'paper', K, { temperature: 0 })).to.throw(UsageError, /--temperature 0: must be > 0/);
      expect(() => resolve('kd', 'paper', K, { temperature: -2 })).to.throw(UsageError, /must be > 0/);
      expect(() => resolve('tfkd-self', 'paper', K, { multiplier: -1 })).to.throw(UsageError, /--multiplier/);
      expect(() => resolve('tfkd-reg', 'paper', K, { correctProb: 1.2 })).to.throw(UsageError, /--correct-prob/);
      expect(() => resolve('tfkd-reg', 'paper', K, { correctProb: 0.05 })).to.throw(UsageError, /--correct-prob 0.05: must be ≥ 1\/K/);
      expect(() => resolve('lsr', 'paper', K, { epsilon: Number.NaN })).to.throw(UsageError, /--epsilon/);
      expect(() => resolve('lsr', 'paper', K, { epsilon: 1 })).to.throw(UsageError, /--epsilon 1: must be ≥ 0 and < 1/);
      expect(() => resolve('dkd', 'paper', K, { beta: -1 })).to.throw(UsageError, /--beta -1/);
      expect(() => resolve('ce', 'paper', 1)).to.throw(UsageError, /K ≥ 2/);
      expect(() => resolve('ce', 'exact' as Fidelity, K)).to.throw(UsageError, /unknown fidelity/);
    });
  });

  describe('identities', () => {
    const value = (t: tf.Scalar) => {
      const v = t.dataSync()[0];
      t.dispose();
      return v;
    };

    it('ce equals −mean log softmax at the label', () => {
      const { logits, labels, teacher } = inputs();
      const lp = tf.tidy(() => tf.logSoftmax(logits).arraySync() as number[][]);
      const want = -[3, 0, 9, 5].reduce((a, y, b) => a + lp[b][y], 0) / B;
      expect(value(callLoss('ce', logits, labels, null, opts('ce', 'paper')))).to.be.closeTo(want, 1e-6);
      tf.dispose([logits, labels, teacher]);
    });

    it('kd with α = 0 is ce; official KL term is the paper one ÷ K', () => {
      const { logits, labels, teacher } = inputs();
      const ce = value(callLoss('ce', logits, labels, null, opts('ce', 'paper')));
      expect(value(callLoss('kd', logits, labels, teacher, opts('kd', 'paper', { alpha: 0 })))).to.be.closeTo(ce, 1e-6);
      const paper = value(callLoss('kd', logits, labels, teacher, opts('kd', 'paper', { alpha: 1, temperature: 4 })));
      const official = value(callLoss('kd', logits, labels, teacher, opts('kd', 'official', { alpha: 1, temperature: 4 })));
      expect(official).to.be.closeTo(paper / K, 1e-6);
      tf.dispose([logits, labels, teacher]);
    });

    it('tfkd-self is kd with the KL term × multiplier; kd ignores the multiplier', () => {
      const { logits, labels, teacher } = inputs();
      const o = { alpha: 1, temperature: 6 };
      const kd = value(callLoss('kd', logits, labels, teacher, opts('kd', 'official', { ...o, multiplier: 50 })));
      const self = value(callLoss('tfkd-self', logits, labels, teacher, opts('tfkd-self', 'official', { ...o, multiplier: 50 })));
      expect(self).to.be.closeTo(50 * kd, 1e-4);
      tf.dispose([logits, labels, teacher]);
    });

    it('paper lsr = kd against the uniform prior at τ = 1 plus the constant ε·log K (docs/PAPER.md: LSR is KD with a uniform teacher)', () => {
      const { logits, labels, teacher } = inputs();
      const eps = 0.3;
      const u = uniformPrior(B, K);
      const lsr = value(callLoss('lsr', logits, labels, null, opts('lsr', 'paper', { epsilon: eps })));
      const kd = value(callLoss('kd', logits, labels, u, opts('kd', 'paper', { alpha: eps, temperature: 1 })));
      expect(lsr).to.be.closeTo(kd + eps * Math.log(K), 1e-5);
      tf.dispose([logits, labels, teacher, u]);
    });

    it('official lsr puts 1−ε on the target and ε/(K−1) elsewhere (differs from paper)', () => {
      const { logits, labels, teacher } = inputs();
      const lp = tf.tidy(() => tf.logSoftmax(logits).arraySync() as number[][]);
      const eps = 0.1;
      let want = 0;
      [3, 0, 9, 5].forEach((y, b) => lp[b].forEach((l, k) => (want -= (k === y ? 1 - eps : eps / (K - 1)) * l)));
      want /= B;
      expect(value(callLoss('lsr', logits, labels, null, opts('lsr', 'official', { epsilon: eps })))).to.be.closeTo(want, 1e-5);
      expect(value(callLoss('lsr', logits, labels, null, opts('lsr', 'paper', { epsilon: eps })))).to.not.be.closeTo(want, 1e-4);
      tf.dispose([logits, labels, teacher]);
    });

    it('tfkd-reg paper equals kd against the paper virtual teacher; official uses an untempered student', () => {
      const { logits, labels, teacher } = inputs();
      const o = { alpha: 0.4, temperature: 20, multiplier: 1, correctProb: 0.99 };
      const vt = virtualTeacher(labels, K, 0.99, 20, 'paper');
      const reg = value(callLoss('tfkd-reg', logits, labels, null, opts('tfkd-reg', 'paper', o)));
      const kd = value(callLoss('kd', logits, labels, vt, opts('kd', 'paper', o)));
      expect(reg).to.be.closeTo(kd, 1e-5);
      // official: (1−α)CE + α·m·KL_mean(softmax(p^d/τ) ‖ softmax(z)); kd official at τ = 1 gives
      // (1−α)CE + α·KL_mean(same teacher ‖ softmax(z)), so its KL term is recoverable.
      const vto = virtualTeacher(labels, K, 0.99, 20, 'official');
      const rego = value(callLoss('tfkd-reg', logits, labels, null, opts('tfkd-reg', 'official', { ...o, multiplier: 3 })));
      const kdo = value(callLoss('kd', logits, labels, vto, opts('kd', 'official', { alpha: 0.4, temperature: 1 })));
      const ce = value(callLoss('ce', logits, labels, null, opts('ce', 'paper')));
      const klMean = (kdo - 0.6 * ce) / 0.4;
      expect(rego).to.be.closeTo(0.6 * ce + 0.4 * 3 * klMean, 1e-5);
      tf.dispose([logits, labels, teacher, vt, vto]);
    });

    it('virtual teacher: docs/PAPER.md figures (K = 100, a = 0.99, τ = 20 official: 0.0105 vs 0.0100; K = 10 paper: 0.135 vs 0.096)', () => {
      const o = virtualTeacherProbs(100, 0.99, 20, 'official');
      expect(o.target).to.be.closeTo(0.0105, 5e-5);
      expect(o.other).to.be.closeTo(0.01, 5e-5);
      const p = virtualTeacherProbs(10, 0.99, 20, 'paper');
      expect(p.target).to.be.closeTo(0.135, 5e-4);
      expect(p.other).to.be.closeTo(0.0961, 5e-4);
      expect(p.target + 9 * p.other).to.be.closeTo(1, 1e-12);
      const labels = tf.tensor1d([2, 7], 'int32');
      const t = virtualTeacher(labels, 10, 0.99, 20, 'paper');
      const rows = t.arraySync();
      expect(rows[0][2]).to.be.closeTo(p.target, 1e-7);
      expect(rows[1][0]).to.be.closeTo(p.other, 1e-7);
      tf.dispose([labels, t]);
    });

    it('0 · log 0 = 0: soft targets with exact zeros (f16 caches) give finite losses and gradients', () => {
      const { logits, labels, teacher } = inputs();
      const oneHot = tf.tidy(() => tf.oneHot(labels, K).toFloat() as tf.Tensor2D);
      for (const name of ['kd', 'tfkd-self'] as const) {
        for (const f of ['paper', 'official'] as const) {
          const { value: v, grad } = tf.valueAndGrad((z: tf.Tensor) => callLoss(name, z as tf.Tensor2D, labels, oneHot, opts(name, f, { alpha: 1, temperature: 1, multiplier: 1 })))(logits);
          // KL(one-hot ‖ p) = −log p_y: exactly the cross-entropy.
          const ce = value(callLoss('ce', logits, labels, null, opts('ce', 'paper')));
          expect(v.dataSync()[0]).to.be.closeTo(f === 'paper' ? ce : ce / K, 1e-5);
          expect(Array.from(grad.dataSync()).every(Number.isFinite)).to.equal(true);
          tf.dispose([v, grad]);
        }
      }
      const kl = tf.tidy(() => klRows(oneHot, tf.logSoftmax(logits) as tf.Tensor2D));
      expect(Array.from(kl.dataSync()).every((x) => Number.isFinite(x) && x > 0)).to.equal(true);
      tf.dispose([logits, labels, teacher, oneHot, kl]);
    });
  });

  describe('hygiene', () => {
    for (const name of LOSS_NAMES) {
      for (const f of ['paper', 'official'] as const) {
        it(`${name} ${f}: no leaked tensors (value and gradient, run twice)`, () => {
          const { logits, teacher, labels } = inputs();
          const tl = needsTeacher(name) ? (tf.log(teacher) as tf.Tensor2D) : null;
          const o = opts(name, f);
          const ctx = (z: tf.Tensor2D) => lossContext({ logits: z, labels, teacherLogits: tl, options: o, epoch: 2, epochs: 3 });
          const once = () => {
            const { value: v, grad } = tf.valueAndGrad((z: tf.Tensor) => lossEntry(name).fn(ctx(z as tf.Tensor2D)))(logits);
            tf.dispose([v, grad]);
            tf.dispose(lossEntry(name).fn(ctx(logits)));
          };
          once();
          expectNoLeakedTensors(() => {
            once();
            once();
          });
          tf.dispose([logits, teacher, labels, ...(tl ? [tl] : [])]);
        });
      }
    }

    it('returns a scalar and leaves its inputs alive', () => {
      const { logits, teacher, labels } = inputs();
      const v = callLoss('kd', logits, labels, teacher, opts('kd', 'paper'));
      expect(v.rank).to.equal(0);
      expect(logits.isDisposed || teacher.isDisposed || labels.isDisposed).to.equal(false);
      tf.dispose([v, logits, teacher, labels]);
    });

    it('BAD CALL - kd / tfkd-self without soft targets, tfkd-reg with them, mismatched shapes', () => {
      const { logits, teacher, labels } = inputs();
      expect(() => callLoss('kd', logits, labels, null, opts('kd', 'paper'))).to.throw(/needs the teacher's rows/);
      expect(() => callLoss('tfkd-self', logits, labels, null, opts('tfkd-self', 'paper'))).to.throw(/needs the teacher's rows/);
      for (const n of ['dkd', 'dist', 'nkd', 'wsld', 'hard-kd']) expect(() => callLoss(n, logits, labels, null, opts(n, 'paper'))).to.throw(/needs the teacher's rows/);
      const short = tf.tensor1d([1, 2], 'int32');
      expect(() => callLoss('ce', logits, short, null, opts('ce', 'paper'))).to.throw(/labels must be \[4\]/);
      expect(() => callLoss('kd', logits, labels, teacher.slice([0, 0], [2, K]) as tf.Tensor2D, opts('kd', 'paper'))).to.throw(/soft targets must be \[4, 10\]/);
      expect(() => callLoss('ce', logits, labels, null, { ...opts('ce', 'paper'), numClasses: 5 })).to.throw(/K = 10/);
      tf.dispose([logits, teacher, labels, short]);
    });
  });
});
