/**
 * Optimizer behaviour beyond the PyTorch golden trajectories (optim-golden.test.ts): exact resume
 * from getState/setState, tensor hygiene, and refusals.
 */
import { expect } from 'chai';
import { tf } from '../../../src/student/tf.js';
import { createOptimizer, type OptimizerConfig } from '../../../src/student/optim/index.js';
import { expectNoLeakedTensors } from '../../helpers/tf-memory.js';

let uid = 0;
/** Two small variables with fixed contents, unique names (tfjs variable names are global). */
function model() {
  const p = `m${uid++}`;
  return [
    tf.variable(tf.tensor2d([0.5, -1, 2, 0.25, -0.75, 1.5], [2, 3]), true, `${p}/w`),
    tf.variable(tf.tensor1d([0.1, -0.2, 0.3]), true, `${p}/b`),
  ];
}
/** A deterministic gradient for step t: depends on the weights, like a real loss would. */
function grads(vars: tf.Variable[], t: number): tf.NamedTensorMap {
  return Object.fromEntries(vars.map((v, i) => [v.name, tf.tidy(() => tf.add(tf.sin(tf.mul(v, t + 1 + i)), 0.1 * t))]));
}

const CONFIGS: OptimizerConfig[] = [
  { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 },
  { kind: 'sgd', momentum: 0.9, nesterov: true },
  { kind: 'adam', weightDecay: 1e-3 },
  { kind: 'adamw' },
];

describe('student/optim', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  for (const config of CONFIGS) {
    it(`${JSON.stringify(config)}: resuming from getState() after 3 steps matches 6 uninterrupted steps bit for bit`, () => {
      const lrs = [0.05, 0.1, 0.1, 0.02, 0.01, 0.005];
      const a = model();
      const oa = createOptimizer(a, config);
      lrs.forEach((lr, t) => {
        const g = grads(a, t);
        oa.step(g, lr);
        tf.dispose(Object.values(g));
      });

      const b = model();
      let ob = createOptimizer(b, config);
      lrs.slice(0, 3).forEach((lr, t) => {
        const g = grads(b, t);
        ob.step(g, lr);
        tf.dispose(Object.values(g));
      });
      // What a checkpoint holds: weights + a JSON-able state with Float32Arrays; then a fresh optimizer.
      const saved = ob.getState();
      expect(saved.step).to.equal(3);
      for (const s of Object.values(saved.slots)) expect(s).to.be.instanceOf(Float32Array);
      ob.dispose();
      ob = createOptimizer(b, config);
      ob.setState(saved);
      expect(ob.stepCount).to.equal(3);
      lrs.slice(3).forEach((lr, i) => {
        const g = grads(b, i + 3);
        ob.step(g, lr);
        tf.dispose(Object.values(g));
      });
      a.forEach((v, i) => expect(Array.from(b[i].dataSync())).to.deep.equal(Array.from(v.dataSync())));
      const sa = oa.getState();
      const sb = ob.getState();
      expect(Object.keys(sb.slots)).to.have.length(Object.keys(sa.slots).length);
      oa.dispose();
      ob.dispose();
      tf.dispose([...a, ...b]);
    });

    it(`${JSON.stringify(config)}: memory is stable across steps (no leaked tensors)`, () => {
      const vars = model();
      const opt = createOptimizer(vars, config);
      const one = (t: number) => {
        const g = grads(vars, t);
        opt.step(g, 0.01);
        tf.dispose(Object.values(g));
      };
      one(0);
      expectNoLeakedTensors(() => {
        for (let t = 1; t < 5; t++) one(t);
      });
      opt.dispose();
      tf.dispose(vars);
    });
  }

  it('getState returns copies: later steps do not change a saved state', () => {
    const vars = model();
    const opt = createOptimizer(vars, { kind: 'sgd', momentum: 0.9 });
    const g = grads(vars, 0);
    opt.step(g, 0.1);
    const s = opt.getState();
    const copy = Float32Array.from(s.slots[`${vars[0].name}#momentum_buffer`]);
    opt.step(g, 0.1);
    expect(Array.from(s.slots[`${vars[0].name}#momentum_buffer`])).to.deep.equal(Array.from(copy));
    tf.dispose(Object.values(g));
    opt.dispose();
    tf.dispose(vars);
  });

  it('BAD CALL - duplicate variable names, Nesterov without momentum, bad lr, β ≥ 1', () => {
    const vars = model();
    expect(() => createOptimizer([vars[0], vars[0]], { kind: 'sgd' })).to.throw(/two variables are named/);
    expect(() => createOptimizer(vars, { kind: 'sgd', nesterov: true })).to.throw(/Nesterov momentum requires momentum > 0/);
    expect(() => createOptimizer(vars, { kind: 'adam', beta2: 1 })).to.throw(/beta2 must be in \[0, 1\)/);
    const opt = createOptimizer(vars, { kind: 'sgd' });
    expect(() => opt.step({}, Number.NaN)).to.throw(/learning rate/);
    expect(() => opt.step({}, -1)).to.throw(/learning rate/);
    opt.dispose();
    tf.dispose(vars);
  });

  it('EXPECTED FAILURE - setState refuses another optimizer kind, unknown slots and wrong sizes, and keeps its state', () => {
    const vars = model();
    const opt = createOptimizer(vars, { kind: 'adam' });
    const g = grads(vars, 0);
    opt.step(g, 0.1);
    const good = opt.getState();
    expect(() => opt.setState({ ...good, kind: 'sgd' })).to.throw(/state is for "sgd"/);
    expect(() => opt.setState({ ...good, slots: { ...good.slots, 'nope#exp_avg': new Float32Array(3) } })).to.throw(/unknown slot "nope#exp_avg"/);
    expect(() => opt.setState({ ...good, slots: { [`${vars[1].name}#exp_avg`]: new Float32Array(2) } })).to.throw(/has 2 values, variable has 3/);
    expect(() => opt.setState({ ...good, variableSteps: { ghost: 1 } })).to.throw(/unknown variable "ghost"/);
    const after = opt.getState();
    expect(Object.keys(after.slots)).to.deep.equal(Object.keys(good.slots));
    tf.dispose(Object.values(g));
    opt.dispose();
    tf.dispose(vars);
  });
});
