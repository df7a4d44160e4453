/**
 * Golden test: SGD (plain, momentum + wd as in the official code, Nesterov, dampening), Adam (L2)
 * and AdamW against torch.optim on the same float32 parameters, gradients and per-step learning
 * rates (scripts/golden_optim.py); also a parameter group without weight decay and
 * clip_grad_norm_ before the step (timm's recipe). Parameters and optimizer state are compared
 * after every step, and the clipped runs' total gradient norms.
 *
 * Tolerance: |tfjs − torch| ≤ 1e-5·|torch| + 1e-7 (absolute floor ≈ ulp(1): PyTorch fuses
 * p + α·d in one rounding where tfjs rounds twice, so entries near 0 differ by a few 1e-8).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { tf } from '../../../src/student/tf.js';
import { clipGradNorm, createOptimizer, type OptimizerConfig } from '../../../src/student/optim/index.js';

interface Golden {
  shapes: Record<string, number[]>;
  lrs: number[];
  init: Record<string, number[]>;
  grads: Record<string, number[] | null>[];
  runs: {
    name: string;
    config: Omit<OptimizerConfig, 'lrScale'> & { lrScale?: Record<string, number> };
    clip?: { maxNorm: number; totalNorms: number[] };
    trace: { params: Record<string, number[]>; state: Record<string, number[]>; variableSteps: Record<string, number> }[];
  }[];
}
const golden = JSON.parse(readFileSync(new URL('../../fixtures/golden/optim.json', import.meta.url), 'utf8')) as Golden;
const RTOL = 1e-5;
const ATOL = 1e-7;

function maxRatio(actual: ArrayLike<number>, expected: ArrayLike<number>): { ratio: number; diff: number } {
  let w = { ratio: 0, diff: 0 };
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const r = d / (RTOL * Math.abs(expected[i]) + ATOL);
    if (!(r <= w.ratio)) w = { ratio: r, diff: d };
  }
  return w;
}

describe('student/optim golden (vs torch.optim, scripts/golden_optim.py)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  let worstDiff = 0;
  let worstRatio = 0;

  for (const run of golden.runs) {
    it(`${run.name}: ${JSON.stringify(run.config)}${run.clip ? `, clip_grad_norm_ ${run.clip.maxNorm}` : ''} over ${golden.lrs.length} steps, lr ${golden.lrs.join(', ')}`, () => {
      const names = Object.keys(golden.shapes);
      // Distinct tfjs variable names per run (they are global); the optimizer keys on them.
      const vars = names.map((n) => tf.variable(tf.tensor(golden.init[n], golden.shapes[n]), true, `${run.name}/${n}`));
      const noDecay = run.config.noDecay?.map((n) => `${run.name}/${n}`);
      const lrScale = run.config.lrScale ? new Map(Object.entries(run.config.lrScale).map(([n, x]) => [`${run.name}/${n}`, x])) : undefined;
      const opt = createOptimizer(vars, { ...run.config, ...(noDecay ? { noDecay } : {}), lrScale });
      try {
        golden.lrs.forEach((lr, t) => {
          const grads: tf.NamedTensorMap = {};
          names.forEach((n, i) => {
            const g = golden.grads[t][n];
            if (g) grads[vars[i].name] = tf.tensor(g, golden.shapes[n]);
          });
          if (run.clip) {
            const c = clipGradNorm(grads, run.clip.maxNorm);
            const norm = c.totalNorm.dataSync()[0];
            expect(Math.abs(norm - run.clip.totalNorms[t]), `step ${t + 1}: total norm ${norm} vs ${run.clip.totalNorms[t]}`).to.be.at.most(RTOL * run.clip.totalNorms[t]);
            opt.step(c.grads, lr);
            tf.dispose([c.totalNorm, ...Object.values(c.grads)]);
          } else {
            opt.step(grads, lr);
          }
          tf.dispose(Object.values(grads));
          const want = run.trace[t];
          names.forEach((n, i) => {
            const w = maxRatio(vars[i].dataSync(), want.params[n]);
            worstDiff = Math.max(worstDiff, w.diff);
            worstRatio = Math.max(worstRatio, w.ratio);
            expect(w.ratio, `step ${t + 1}, ${n}: max |diff| ${w.diff.toExponential(3)}`).to.be.at.most(1);
          });
          const state = opt.getState();
          expect(state.step).to.equal(t + 1);
          const got = Object.fromEntries(Object.entries(state.slots).map(([k, v]) => [k.slice(run.name.length + 1), v]));
          expect(Object.keys(got).sort(), `step ${t + 1} slot names`).to.deep.equal(Object.keys(want.state).sort());
          for (const [k, v] of Object.entries(want.state)) {
            const w = maxRatio(got[k], v);
            expect(w.ratio, `step ${t + 1}, state ${k}: max |diff| ${w.diff.toExponential(3)}`).to.be.at.most(1);
          }
          if (Object.keys(want.variableSteps).length > 0) {
            const steps = Object.fromEntries(Object.entries(state.variableSteps).map(([k, v]) => [k.slice(run.name.length + 1), v]));
            expect(steps, `step ${t + 1} per-variable steps`).to.deep.equal(want.variableSteps);
          }
        });
      } finally {
        opt.dispose();
        tf.dispose(vars);
      }
    });
  }

  after(() => console.log(`      optim golden: max |diff| ${worstDiff.toExponential(2)}, worst |diff|/tolerance ${worstRatio.toFixed(3)}`));
});
