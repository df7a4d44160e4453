/**
 * The protocol with the real trainer, exporter and precompute (child processes): the proof that
 * choosing hyperparameters never touches the test split. The source data set starts *without*
 * its test files: the hold-out, the teacher, every sweep point, the caches and every choice must
 * finish regardless, and only the final runs (the only steps evaluated on the test split) fail.
 * Then the test files appear and the re-run reuses every finished step and runs just the finals.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { PrecomputeStep, SelectStep } from '../../src/experiment/plan-types.js';
import { CliRunner, stepEnv } from '../../src/experiment/runner.js';
import type { SelectionRecord } from '../../src/experiment/protocol.js';
import { tmpDir } from './helpers.js';

const SUBSET = fileURLToPath(new URL('../../data/fashion-mnist-subset', import.meta.url));

describe('validation protocol with the real trainer', function () {
  this.timeout(600_000);
  let dir: string;
  before(() => {
    dir = tmpDir('protocol-real');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('selection finishes with the source test split absent; once it exists the re-run reuses every finished step', async () => {
    const src = path.join(dir, 'fmnist');
    fs.mkdirSync(src);
    for (const f of ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']) fs.copyFileSync(path.join(SUBSET, f), path.join(src, f));
    const file = path.join(dir, 'design.yaml');
    fs.writeFileSync(
      file,
      `data: fashion-mnist:${src}
model: mlp
seeds: [1]
train: { epochs: 1, batch: 64 }
validation: { fraction: 0.2, subset: 500, seed: 3 }
fidelity_teacher: kd
teachers:
  small: { model: mlp, seed: 5 }
runs:
  - { name: baseline, kind: baseline }
  - { name: lsr, kind: lsr, sweep: { epsilon: [0.05, 0.3] } }
  - { name: kd, kind: kd, teacher: small, sweep: { alpha: [0.3, 0.7] } }
  - { name: self, kind: tfkd-self, sweep: { alpha: [0.3, 0.6] } }
`,
    );
    const out = path.join(dir, 'out');
    const plan = expandDesign(loadDesign(file));
    const runner = new CliRunner({ env: stepEnv(process.env, 2) });
    const lines: string[] = [];
    const r1 = await executePlan(plan, { outDir: out, runner, jobs: 2, log: (l) => lines.push(l) });
    const finals = new Set(plan.runs.map((r) => r.step));
    const status = new Map(r1.outcomes.map((o) => [o.key, o] as const));
    // The steps evaluated on the test split, and everything downstream of them.
    const onTest = new Set<string>();
    for (const s of plan.steps) {
      const readsTest = (s.type === 'train' && s.config.holdout?.eval === 'test') || (s.type === 'precompute' && s.split === 'test');
      if (readsTest || s.inputs.some((i) => onTest.has(i))) onTest.add(s.key);
    }
    expect([...finals].every((k) => onTest.has(k))).to.equal(true);
    // every step not downstream of a test-evaluated one ran: the hold-out, the teacher, its cache,
    // every sweep point (with the self-teacher of the sweep seed) and every choice
    const selects = plan.steps.filter((s): s is SelectStep => s.type === 'select');
    expect(selects).to.have.length(3);
    for (const s of plan.steps) {
      const o = status.get(s.key)!;
      if (!onTest.has(s.key)) expect(o.status, `${o.type} ${o.label}: ${o.error ?? ''}\n${lines.join('\n')}`).to.equal('ran');
      else expect(o.status, `${o.type} ${o.label}`).to.be.oneOf(['failed', 'blocked']);
    }
    expect(plan.steps.filter((s) => !onTest.has(s.key)).length).to.be.greaterThan(10);
    expect(r1.failed).to.be.greaterThan(0);
    // kd's final run (the fidelity teacher: not measured against itself) fails opening the test
    // split; the teacher's test-split cache and the other final runs, which need it, wait
    const kdRun = plan.runs.find((r) => r.name === 'kd')!;
    const tc = plan.steps.find((s): s is PrecomputeStep => s.type === 'precompute' && s.split === 'test')!;
    expect(fs.readFileSync(path.join(out, 'logs', `train-${kdRun.step.slice(0, 8)}.log`), 'utf8')).to.match(/t10k-images-idx3-ubyte/);
    expect(status.get(tc.key)!.status).to.equal('blocked');
    expect(status.get(kdRun.step)!.status).to.equal('failed');
    for (const r of plan.runs.filter((x) => x.name !== 'kd')) expect(status.get(r.step)!.status, r.name).to.equal('blocked');
    for (const s of selects) {
      const rec = JSON.parse(fs.readFileSync(path.join(out, s.dir, 'selection.json'), 'utf8')) as SelectionRecord;
      expect(rec.points).to.have.length(2);
      for (const p of rec.points) {
        const m = JSON.parse(fs.readFileSync(path.join(out, p.dir, 'manifest.json'), 'utf8'));
        expect(m.data.spec, p.dir).to.match(/\/val$/);
        expect(m.testSamples, 'scored on the 100 held-out images').to.equal(100);
      }
    }

    // the test split appears: the re-run reuses every finished step and runs only the rest
    for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) fs.copyFileSync(path.join(SUBSET, f), path.join(src, f));
    const ranBefore = r1.ran;
    const r2 = await executePlan(expandDesign(loadDesign(file)), { outDir: out, runner, jobs: 2 });
    expect(r2.failed + r2.blocked, JSON.stringify(r2.outcomes.filter((o) => o.error))).to.equal(0);
    expect(r2.skipped).to.equal(ranBefore);
    expect(r2.ran).to.equal(plan.steps.length - ranBefore);
    // fidelity_teacher: the teacher's cache on the test side's test split, which every final run but kd's measured against
    const cm = JSON.parse(fs.readFileSync(path.join(out, tc.dir, 'manifest.json'), 'utf8'));
    expect(cm.data).to.include({ split: 'test', N: 1000 });
    expect(cm.data.spec).to.match(/\/test$/);
    for (const run of plan.runs) {
      const m = JSON.parse(fs.readFileSync(path.join(out, run.dir, 'manifest.json'), 'utf8'));
      expect(m.data.spec, run.dir).to.match(/\/test$/);
      expect(m.testSamples).to.equal(1000);
      expect(m.trainSamples).to.equal(400);
      if (run.name === 'kd') {
        expect(m.testCache).to.equal(undefined);
        continue;
      }
      expect(path.resolve(m.testCache.dir)).to.equal(path.resolve(out, tc.dir));
      const sum = JSON.parse(fs.readFileSync(path.join(out, run.dir, 'summary.json'), 'utf8'));
      expect(sum.final_test_agreement, run.dir).to.be.within(0, 1);
      expect(sum.final_test_kl, run.dir).to.be.greaterThan(0);
    }
    // a third run does nothing at all
    const r3 = await executePlan(expandDesign(loadDesign(file)), { outDir: out, runner, jobs: 2 });
    expect(r3).to.include({ ran: 0, skipped: plan.steps.length });
  });
});
