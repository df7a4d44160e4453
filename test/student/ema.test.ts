/**
 * The weight average (src/student/ema.ts) against timm's ModelEmaV3 update run by PyTorch
 * (scripts/golden_ema.py: get_decay and lerp_ over the state_dict) on the same float32 weights:
 * constant decay, warm-up, and a warm-up capped by a small decay. Tolerance: |tfkd − torch| ≤
 * 1e-6·|torch| + 1e-7 (torch's lerp may fuse its multiply-add, tfjs rounds each op).
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { emaDecayAt, WeightEma, type EmaConfig } from '../../src/student/ema.js';
import { tf } from '../../src/student/tf.js';

interface Golden {
  shapes: Record<string, number[]>;
  weights: Record<string, number[]>[];
  runs: { config: EmaConfig; trace: { decay: number; ema: Record<string, number[]> }[] }[];
}
const golden = JSON.parse(readFileSync(new URL('../fixtures/golden/ema.json', import.meta.url), 'utf8')) as Golden;
/** The golden's tensors in a Dense(4) + BatchNormalization model. */
const SLOT: Record<string, string> = { w0: 'dense/kernel', b0: 'dense/bias', running_var: 'bn/moving_variance' };

function model(): tf.LayersModel {
  const m = tf.sequential({ name: 'm' });
  m.add(tf.layers.dense({ units: 4, inputShape: [3], name: 'dense' }));
  m.add(tf.layers.batchNormalization({ name: 'bn' }));
  return m;
}

function setWeights(m: tf.LayersModel, w: Record<string, number[]>): void {
  for (const layer of m.layers) {
    for (const v of layer.weights) {
      const key = `${layer.name}/${v.originalName.slice(v.originalName.lastIndexOf('/') + 1)}`;
      const g = Object.keys(SLOT).find((k) => SLOT[k] === key);
      if (g) tf.tidy(() => {
        v.write(tf.tensor(w[g], v.shape as number[]));
      });
    }
  }
}

describe('student/ema: weight average = timm ModelEmaV3 (scripts/golden_ema.py)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('decay_t: 0 at the first update, then d, or the warm-up 1 − t^(−2/3) capped at d', () => {
    for (const run of golden.runs) {
      run.trace.forEach((t, i) => expect(emaDecayAt(i + 1, run.config), `${JSON.stringify(run.config)} step ${i + 1}`).to.be.closeTo(t.decay, 1e-15));
    }
  });

  for (const run of golden.runs) {
    it(`${JSON.stringify(run.config)}: the average after each of ${run.trace.length} updates = PyTorch's`, async () => {
      const m = model();
      setWeights(m, golden.weights[0]);
      const constant = Object.fromEntries(m.getWeights().map((t, i) => [i, Array.from(t.dataSync())]));
      const ema = new WeightEma(m, run.config);
      let worst = 0;
      try {
        for (const [i, t] of run.trace.entries()) {
          setWeights(m, golden.weights[i + 1]);
          ema.update(i + 1);
          const rec = await ema.record();
          for (const [g, key] of Object.entries(SLOT)) {
            const want = t.ema[g];
            rec[key].data.forEach((v, j) => {
              const d = Math.abs(v - want[j]);
              worst = Math.max(worst, d);
              expect(d, `step ${i + 1} ${key}[${j}]`).to.be.at.most(1e-6 * Math.abs(want[j]) + 1e-7);
            });
          }
          // The first update copies the weights exactly (lerp with weight 1).
          if (i === 0) for (const [g, key] of Object.entries(SLOT)) expect(Array.from(rec[key].data), key).to.deep.equal(golden.weights[1][g].map(Math.fround));
        }
        // Weights that never moved (BN γ, β, moving mean) average to themselves, bit for bit.
        const rec = await ema.record();
        expect(Array.from(rec['bn/gamma'].data)).to.deep.equal(constant[2]);
        expect(Array.from(rec['bn/moving_mean'].data)).to.deep.equal(constant[4]);
      } finally {
        ema.dispose();
        m.dispose();
      }
      console.log(`      max |tfkd − torch| ${worst.toExponential(2)}`);
    });
  }

  it('withAverage evaluates with the average and puts the trained weights back; load() restores a record; no tensor leaks', async () => {
    const m = model();
    setWeights(m, golden.weights[0]);
    const ema = new WeightEma(m, { decay: 0.5, warmup: false });
    const before = tf.memory().numTensors;
    {
      setWeights(m, golden.weights[1]);
      ema.update(1);
      setWeights(m, golden.weights[2]);
      ema.update(2);
      const trained = m.getWeights().map((t) => Array.from(t.dataSync()));
      const seen = await ema.withAverage(async () => m.getWeights().map((t) => Array.from(t.dataSync())));
      expect(seen[0]).to.deep.equal(Array.from((await ema.record())['dense/kernel'].data));
      expect(m.getWeights().map((t) => Array.from(t.dataSync()))).to.deep.equal(trained);
      const saved = await ema.record();
      ema.update(3);
      ema.load(saved);
      expect(await ema.record()).to.deep.equal(saved);
    }
    expect(tf.memory().numTensors, 'live tensors').to.equal(before);
    expect(() => ema.load({})).to.throw(/does not match the model/);
    ema.dispose();
    m.dispose();
  });
});
