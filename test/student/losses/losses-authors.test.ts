/**
 * The modern logit losses against their authors' code: scripts/golden_authors_losses.py restates
 * each function from the named commit and runs it in float64 PyTorch on seeded float32 inputs (K 2 …
 * 1000, extreme logits, one-hot and uniform teachers, tied logits, DKD's warm-up, PS-KD's first and
 * a later epoch). tfkd computes the same in float32 on the cpu backend, the teacher handed over as
 * raw logits. Each case's value and gradient w.r.t. the student logits must agree to a relative
 * difference ≤ 1e-5: |Δ value| / |value|, and max |Δ grad| / max |grad| (the gradient's largest
 * entry sets its scale: an entry of 1e-30 next to one of 0.1 is a difference of float32 rounding,
 * not of formula). The largest differences are printed.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { tf } from '../../../src/student/tf.js';
import { lossEntry, type LossOptions } from '../../../src/student/losses/index.js';
import { valueAndGradAt, type GoldenFixture } from './helpers.js';

interface Fixture extends GoldenFixture {
  teacherLogits: number[];
  previous: number[];
}
interface Case {
  fixture: string;
  loss: string;
  epoch: number;
  epochs: number;
  options: Record<string, number>;
  value: number;
  grad: number[];
}
const golden = JSON.parse(readFileSync(new URL('../../fixtures/golden/losses-authors.json', import.meta.url), 'utf8')) as { fixtures: Fixture[]; cases: Case[] };
const RTOL = 1e-5;

/** The golden case names: `kd-ls` / `dkd-ls` are kd / dkd with --logit-standardization. */
const registryName = (n: string) => (n === 'kd-ls' || n === 'dkd-ls' ? n.slice(0, -3) : n);

describe('student/losses vs the authors\' code (scripts/golden_authors_losses.py)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  const fixtures = new Map(golden.fixtures.map((f) => [f.id, f]));
  const worst = { value: { rel: 0, at: '' }, grad: { rel: 0, at: '' } };

  it('covers every modern loss, K from 2 to 1000, extreme logits, one-hot and uniform teachers', () => {
    expect(new Set(golden.cases.map((c) => c.loss))).to.deep.equal(new Set(['dkd', 'dkd-ls', 'kd-ls', 'dist', 'nkd', 'wsld', 'zipf-ls', 'ps-kd', 'hard-kd']));
    expect(new Set(golden.fixtures.map((f) => f.K))).to.include.members([2, 10, 100, 1000]);
    expect(golden.fixtures.map((f) => f.id)).to.include.members(['extreme', 'onehot', 'uniform', 'ties']);
  });

  for (const c of golden.cases) {
    it(`${c.loss} on ${c.fixture} (epoch ${c.epoch}/${c.epochs})`, () => {
      const fx = fixtures.get(c.fixture)!;
      const ls = c.loss === 'kd-ls' || c.loss === 'dkd-ls';
      const options: LossOptions = { numClasses: fx.K, fidelity: 'paper', logitStandardization: ls, ...c.options };
      const entry = lossEntry(registryName(c.loss));
      const { value: v, grad: g } = valueAndGradAt(entry.fn, fx, {
        teacherLogits: entry.teacher === 'none' && !ls ? null : tf.tensor2d(fx.teacherLogits, [fx.B, fx.K], 'float32'),
        previous: entry.selfHistory && c.epoch > 1 ? tf.tensor2d(fx.previous, [fx.B, fx.K], 'float32') : null,
        options,
        epoch: c.epoch,
        epochs: c.epochs,
      });
      const relV = Math.abs(v - c.value) / Math.abs(c.value);
      let scale = 0;
      let maxD = 0;
      for (let i = 0; i < g.length; i++) {
        scale = Math.max(scale, Math.abs(c.grad[i]));
        maxD = Math.max(maxD, Math.abs(g[i] - c.grad[i]));
      }
      const relG = maxD / scale;
      const at = `${c.loss}/${c.fixture}/e${c.epoch}`;
      if (relV > worst.value.rel) worst.value = { rel: relV, at };
      if (relG > worst.grad.rel) worst.grad = { rel: relG, at };
      expect(relV, `value ${v} vs ${c.value}`).to.be.at.most(RTOL);
      expect(relG, `grad max |Δ| ${maxD.toExponential(3)} of scale ${scale.toExponential(3)}`).to.be.at.most(RTOL);
    });
  }

  after(() => {
    console.log(
      `      authors' losses: max relative difference — value ${worst.value.rel.toExponential(2)} (${worst.value.at}), ` +
        `gradient ${worst.grad.rel.toExponential(2)} (${worst.grad.at}); tolerance ${RTOL}`,
    );
  });
});
