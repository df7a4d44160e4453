/**
 * Golden test: every loss × fidelity mode against scripts/golden_losses.py (PyTorch, float64
 * reference on the same float32 inputs). Loss values and gradients w.r.t. the student logits.
 *
 * Tolerance: |tfjs − ref| ≤ RTOL·|ref| + atol with RTOL = 1e-5 and an absolute floor of two float32
 * ulps (ε = 2⁻²³) of each quantity's natural scale:
 *   value: atol = 2ε·(1 + w),  w = the KL term's weight (α·τ²·m, ÷K in official; 0 for ce/lsr);
 *   grad:  atol = 2ε·(1 + w/τ_s)/B,  τ_s = the student's temperature (1 for official tfkd-reg).
 * Why a floor: float32 cannot know a KL between two distributions better than a few ulps of its O(1)
 * entropy terms (the row's log-sum-exp alone is rounded to ~1e-7), and the loss multiplies the KL by
 * w (380 at α = 0.95, τ = 20); at high τ the KL itself is a tiny difference of such terms. Gradient
 * entries are (p_τ − p^t_τ)·w/(τ_s·B) + (p − q)·(1−α)/B: differences of probabilities, whose float32
 * error is ~ε of the probabilities, not of the (possibly ≈ 0) difference.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { tf } from '../../../src/student/tf.js';
import { lossEntry, type LossOptions } from '../../../src/student/losses/index.js';
import type { Fidelity } from '../../../src/catalog.js';

/** The losses of the paper (the modern ones are checked against their authors' code in losses-authors.test.ts). */
const PAPER_LOSSES = ['ce', 'lsr', 'kd', 'tfkd-self', 'tfkd-reg'];
import { readerSoftTargets } from '../../helpers/soft-targets.js';
import { valueAndGradAt, type GoldenFixture } from './helpers.js';

interface Fixture extends GoldenFixture {
  teacherLogits?: number[];
  soft?: number[];
}
interface Case {
  fixture: string;
  loss: string;
  fidelity: Fidelity;
  options: { alpha: number; temperature: number; multiplier: number; correctProb: number; epsilon: number };
  value: number;
  grad: number[];
}
const golden = JSON.parse(readFileSync(new URL('../../fixtures/golden/losses.json', import.meta.url), 'utf8')) as {
  fixtures: Fixture[];
  cases: Case[];
};

const RTOL = 1e-5;
const EPS32 = 2 ** -23;

/** The KL term's weight and the student's temperature for a case (see the tolerance above). */
function klScale(c: Case, numClasses: number): { w: number; tauStudent: number } {
  const { alpha, temperature: t, multiplier: m } = c.options;
  const perK = c.fidelity === 'official' ? 1 / numClasses : 1;
  switch (c.loss) {
    case 'kd':
      return { w: alpha * t * t * perK, tauStudent: t };
    case 'tfkd-self':
      return { w: alpha * t * t * m * perK, tauStudent: t };
    case 'tfkd-reg':
      return c.fidelity === 'official' ? { w: (alpha * m) / numClasses, tauStudent: 1 } : { w: alpha * t * t * m, tauStudent: t };
    default:
      return { w: 0, tauStudent: 1 };
  }
}

/** Max over entries of |a − b| / (RTOL·|b| + atol): ≤ 1 means within tolerance. */
function worst(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number): { ratio: number; absDiff: number; relDiff: number; at: number } {
  let w = { ratio: 0, absDiff: 0, relDiff: 0, at: -1 };
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const ratio = d / (RTOL * Math.abs(expected[i]) + atol);
    if (!(ratio <= w.ratio)) w = { ratio, absDiff: d, relDiff: d / Math.abs(expected[i]), at: i };
  }
  return w;
}

describe('student/losses golden (vs PyTorch, scripts/golden_losses.py)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const fixtures = new Map(golden.fixtures.map((f) => [f.id, f]));
  const summary = { value: 0, grad: 0, valueRel: 0, gradAbs: 0 };

  it('covers every loss × fidelity mode, K = 10 and K = 100, τ ∈ {1, 4, 20}', () => {
    for (const name of PAPER_LOSSES) {
      for (const f of ['paper', 'official']) expect(golden.cases.some((c) => c.loss === name && c.fidelity === f), `${name}/${f}`).to.equal(true);
    }
    expect(new Set(golden.fixtures.map((f) => f.K))).to.include.members([10, 100]);
    expect(new Set(golden.cases.map((c) => c.options.temperature))).to.include.members([1, 4, 20]);
  });

  for (const c of golden.cases) {
    const o = c.options;
    const label = `${c.loss} ${c.fidelity} on ${c.fixture} (α=${o.alpha} τ=${o.temperature} m=${o.multiplier} a=${o.correctProb} ε=${o.epsilon})`;
    it(label, () => {
      const fx = fixtures.get(c.fixture)!;
      const opts: LossOptions = { numClasses: fx.K, fidelity: c.fidelity, logitStandardization: false, ...o };
      let soft: tf.Tensor2D | null = null;
      if (c.loss === 'kd' || c.loss === 'tfkd-self') {
        const p = fx.soft ? Float32Array.from(fx.soft) : readerSoftTargets([fx.teacherLogits!], fx.K, o.temperature);
        soft = tf.tensor2d(p, [fx.B, fx.K]);
      }
      const { value: v, grad: g } = valueAndGradAt(lossEntry(c.loss).fn, fx, { soft, options: opts });
      const { w, tauStudent } = klScale(c, fx.K);
      const wv = worst([v], [c.value], 2 * EPS32 * (1 + w));
      const wg = worst(g, c.grad, (2 * EPS32 * (1 + w / tauStudent)) / fx.B);
      summary.value = Math.max(summary.value, wv.ratio);
      summary.grad = Math.max(summary.grad, wg.ratio);
      summary.valueRel = Math.max(summary.valueRel, wv.relDiff);
      summary.gradAbs = Math.max(summary.gradAbs, wg.absDiff);
      expect(wv.ratio, `loss ${v} vs ${c.value}: |diff| ${wv.absDiff.toExponential(3)}, rel ${wv.relDiff.toExponential(3)}`).to.be.at.most(1);
      expect(wg.ratio, `grad[${wg.at}] ${g[wg.at]} vs ${c.grad[wg.at]}: |diff| ${wg.absDiff.toExponential(3)}, rel ${wg.relDiff.toExponential(3)}`).to.be.at.most(1);
    });
  }

  after(() => {
    // The measured agreement, printed so the figure is on record with every run.
    console.log(
      `      losses golden: max value rel diff ${summary.valueRel.toExponential(2)}, max grad abs diff ${summary.gradAbs.toExponential(2)}; ` +
        `worst |diff|/tolerance: value ${summary.value.toFixed(3)}, grad ${summary.grad.toFixed(3)}`,
    );
  });
});
