import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset } from '../../src/data/open.js';
import { parseDesign, type LoadedDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { DataStep, Plan, SelectStep, Step, TrainStep } from '../../src/experiment/plan-types.js';
import { prepareHoldout, type HoldoutRecord, type SelectionRecord } from '../../src/experiment/protocol.js';
import { FakeRunner } from './fake-runner.js';
import { cli, tmpDir, writeIdxDataset } from './helpers.js';

const load = (text: string): LoadedDesign => ({ file: 'x.yaml', dir: '/nonexistent', design: parseDesign(text, 'x.yaml') });

const design = (data: string, extra = ''): string => `
data: fashion-mnist:${data}
model: mlp
seeds: [1, 2, 3]
train: { epochs: 2 }
validation: { fraction: 0.1, seed: 4 }
sweep:
  seed: 2
  grids:
    lsr: { epsilon: [0.05, 0.1, 0.2] }
teachers:
  big: { model: cnn, seed: 9, save_at: [step-1, step-2, step-4] }
  weak: { run: baseline, seed: 1 }
runs:
  - { name: baseline, kind: baseline }
  - { name: lsr, kind: lsr }
  - { name: kd, kind: kd, teacher: big, sweep: { alpha: [0.3, 0.9], temperature: [2, 8] } }
  - { name: de-kd, kind: de-kd, teacher: big, target_accuracies: [0.15, 0.3], sweep_from: kd }
  - { name: re-kd, kind: re-kd, model: cnn, teacher: weak, sweep: [{ alpha: 0.2, temperature: 4 }, { alpha: 0.6, temperature: 20 }] }
  - { name: self, kind: tfkd-self, sweep: { alpha: [0.3, 0.7] } }
  - { name: reg, kind: tfkd-reg, loss: { correct_prob: 0.9 } }
${extra}`;

/** Every step `k` needs, itself included. */
function closure(plan: Plan, k: string): Step[] {
  const byKey = new Map(plan.steps.map((s) => [s.key, s] as const));
  const seen = new Map<string, Step>();
  const visit = (key: string): void => {
    if (seen.has(key)) return;
    const s = byKey.get(key)!;
    seen.set(key, s);
    s.inputs.forEach(visit);
  };
  visit(k);
  return [...seen.values()];
}

describe('validation protocol: hold-out, sweeps, selection', () => {
  let dir: string;
  let src: string;
  before(() => {
    dir = tmpDir('protocol');
    src = path.join(dir, 'src');
    writeIdxDataset(src, { train: 200, test: 50, seed: 3 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the hold-out splits the training split, seeded, into disjoint parts written in the source format; test/ links the source test split', async () => {
    const plan = expandDesign(load(design(src)));
    const step = plan.steps.find((s): s is DataStep => s.type === 'data')!;
    const out = path.join(dir, 'h1');
    const rec: HoldoutRecord = await prepareHoldout(step, out);
    expect(rec).to.include({ source_train: 200, pool: 200, train: 180, validation: 20 });
    const source = await openDataset(`fashion-mnist:${src}`, { split: 'train' });
    const tr = await openDataset(`fashion-mnist:${path.join(out, 'val')}`, { split: 'train' });
    const va = await openDataset(`fashion-mnist:${path.join(out, 'val')}`, { split: 'test' });
    expect([tr.size, va.size]).to.deep.equal([180, 20]);
    // the validation images are exactly the recorded source images, and none of them is trained on
    const valSet = new Set(rec.validation_indices);
    expect(valSet.size).to.equal(20);
    const key = async (ds: typeof source, i: number) => `${Buffer.from(await ds.get(i)).toString('hex')}:${ds.labels[i]}`;
    for (let j = 0; j < va.size; j++) expect(await key(va, j)).to.equal(await key(source, rec.validation_indices[j]));
    const trainKeys = new Set<string>();
    for (let j = 0; j < tr.size; j++) trainKeys.add(await key(tr, j));
    for (const i of rec.validation_indices) expect(trainKeys.has(await key(source, i)), `validation image ${i} is in the training part`).to.equal(false);
    // test/: the same training part, and the source's own test files (links, not copies)
    const tt = await openDataset(`fashion-mnist:${path.join(out, 'test')}`, { split: 'train' });
    const te = await openDataset(`fashion-mnist:${path.join(out, 'test')}`, { split: 'test' });
    expect(tt.size).to.equal(180);
    expect(te.size).to.equal(50);
    expect(fs.readlinkSync(path.join(out, 'test', 't10k-images-idx3-ubyte'))).to.equal(path.join(src, 't10k-images-idx3-ubyte'));
    expect(fs.readdirSync(path.join(out, 'val')).some((f) => fs.lstatSync(path.join(out, 'val', f)).isSymbolicLink()), 'val/ holds no link').to.equal(false);
    // seeded: the same step gives the same split
    const again = await prepareHoldout(step, path.join(dir, 'h2'));
    expect(again.validation_indices).to.deep.equal(rec.validation_indices);
    expect(again.fingerprints).to.deep.equal(rec.fingerprints);
  });

  it('subset and size: a seeded pool of the training split, an exact number held out', async () => {
    const plan = expandDesign(load(design(src).replace('validation: { fraction: 0.1, seed: 4 }', 'validation: { size: 7, subset: 60, seed: 4 }')));
    const step = plan.steps.find((s): s is DataStep => s.type === 'data')!;
    const rec = await prepareHoldout(step, path.join(dir, 'h3'));
    expect(rec).to.include({ source_train: 200, pool: 60, train: 53, validation: 7 });
  });

  it('plans: sweep points on the sweep seed scored on validation; finals on every seed evaluated on test; nothing upstream of a choice is evaluated on test', () => {
    const plan = expandDesign(load(design(src)));
    const byKey = new Map(plan.steps.map((s) => [s.key, s] as const));
    const selects = plan.steps.filter((s): s is SelectStep => s.type === 'select');
    // lsr (grid from sweep.grids), kd, re-kd, self; de-kd takes kd's choice (sweep_from); reg is not swept
    expect(selects.map((s) => s.run).sort()).to.deep.equal(['kd', 'lsr', 're-kd', 'self']);
    expect(selects.find((s) => s.run === 'kd')!.points.map((p) => p.values)).to.deep.equal([
      { alpha: 0.3, temperature: 2 },
      { alpha: 0.3, temperature: 8 },
      { alpha: 0.9, temperature: 2 },
      { alpha: 0.9, temperature: 8 },
    ]);
    for (const sel of selects) {
      for (const p of sel.points) {
        const t = byKey.get(p.step) as TrainStep;
        expect(t.config.seed, t.dir).to.equal(2);
        expect(t.dir).to.match(/^sweep\//);
      }
      for (const s of closure(plan, sel.key)) {
        if (s.type === 'train') expect(s.config.holdout?.eval, `${s.dir} is upstream of select ${sel.label}`).to.equal('validation');
      }
    }
    // the de-kd teacher's checkpoints are picked by accuracy: it is evaluated on validation too
    const big = plan.steps.find((s): s is TrainStep => s.type === 'train' && s.config.model === 'cnn' && s.config.seed === 9)!;
    expect(big.config.holdout?.eval).to.equal('validation');
    // finals: every seed, evaluated on test, the swept values left to the select step
    expect(plan.runs).to.have.length(3 * 8);
    for (const r of plan.runs) {
      const t = byKey.get(r.step) as TrainStep;
      expect(t.config.holdout?.eval, t.dir).to.equal('test');
      expect(t.dir).to.match(/^runs\//);
      if (['lsr', 'kd', 'de-kd', 're-kd', 'self'].includes(r.name)) {
        expect(r.select, r.name).to.be.a('string');
        expect(t.inputs).to.include(r.select);
      } else expect(r.select).to.equal(null);
    }
    const kdFinal = byKey.get(plan.runs.find((r) => r.name === 'kd')!.step) as TrainStep;
    expect(kdFinal.config.loss_options).to.deep.equal({}); // α and τ both chosen
    const deKd = plan.runs.filter((r) => r.name === 'de-kd');
    expect(new Set(deKd.map((r) => r.select))).to.deep.equal(new Set([kdFinal.config.select]));
    const reg = byKey.get(plan.runs.find((r) => r.name === 'reg')!.step) as TrainStep;
    expect(reg.config.loss_options).to.include({ correct_prob: 0.9, alpha: 0.1 });
    // the self teachers of the finals are the final baselines (shared steps)
    const base1 = plan.runs.find((r) => r.name === 'baseline' && r.seed === 1)!;
    const self1 = plan.runs.find((r) => r.name === 'self' && r.seed === 1)!;
    expect(closure(plan, self1.step).map((s) => s.key)).to.include(base1.step);
    expect(plan.protocol).to.deep.include({ sweep_seed: 2 });
  });

  it('test_limit limits the test split only: steps evaluated on validation use all of it', () => {
    const plan = expandDesign(load(design(src).replace('train: { epochs: 2 }', 'train: { epochs: 2, test_limit: 30 }')));
    for (const s of plan.steps) {
      if (s.type !== 'train') continue;
      if (s.config.holdout!.eval === 'validation') expect(s.config.train, s.dir).to.not.have.property('test_limit');
      else expect(s.config.train.test_limit, s.dir).to.equal(30);
    }
  });

  it('keys include the protocol: another hold-out seed changes every train and cache key; another grid only that run and what depends on it', () => {
    const a = expandDesign(load(design(src)));
    const b = expandDesign(load(design(src).replace('seed: 4 }', 'seed: 5 }')));
    const keys = (p: Plan, t: Step['type']) => new Set(p.steps.filter((s) => s.type === t).map((s) => s.key));
    for (const t of ['train', 'precompute', 'data'] as const) {
      const kb = keys(b, t);
      expect([...keys(a, t)].filter((k) => kb.has(k)), t).to.deep.equal([]);
    }
    const c = expandDesign(load(design(src).replace('epsilon: [0.05, 0.1, 0.2]', 'epsilon: [0.05, 0.3]')));
    const ka = new Set(a.steps.map((s) => s.key));
    const changed = c.steps.filter((s) => !ka.has(s.key));
    // the new point, the choice and lsr's finals; the point ε 0.05 is the same step as before
    expect(changed.map((s) => s.label).sort()).to.deep.equal(['lsr', 'lsr s1', 'lsr s2', 'lsr s3', 'lsr-e0.3 s2']);
    // without validation the keys are those of a design without a protocol
    const plain = expandDesign(load(`data: fashion-mnist:${src}\nmodel: mlp\nseeds: [1]\nruns:\n  - { name: b, kind: baseline }\n`));
    expect((plain.steps[0] as TrainStep).config).to.not.have.property('holdout');
    expect(plain.protocol).to.equal(null);
  });

  it('executes: each select step picks the best validation accuracy; finals train with the chosen values; a re-run does nothing', async () => {
    const out = path.join(dir, 'exp');
    const plan = expandDesign(load(design(src)));
    const runner = new FakeRunner();
    const r = await executePlan(plan, { outDir: out, runner, jobs: 2 });
    expect(r).to.include({ failed: 0, blocked: 0 });
    const byKey = new Map(plan.steps.map((s) => [s.key, s] as const));
    for (const sel of plan.steps.filter((s): s is SelectStep => s.type === 'select')) {
      const rec = JSON.parse(fs.readFileSync(path.join(out, sel.dir, 'selection.json'), 'utf8')) as SelectionRecord;
      const accs = rec.points.map((p) => p.val_acc);
      expect(rec.val_acc).to.equal(Math.max(...accs));
      expect(rec.chosen_index).to.equal(accs.indexOf(Math.max(...accs)));
      expect(rec.reason).to.match(/^highest final-epoch validation accuracy/);
      // the finals of this run were trained with exactly these values
      for (const run of plan.runs.filter((x) => x.select === sel.key)) {
        const req = runner.trained.find((t) => t.out === path.join(out, run.dir))!;
        expect(req.lossOptions, run.dir).to.deep.include(rec.chosen);
      }
    }
    // data specs: sweep points and teachers on val/, finals on test/, caches from val/
    for (const t of runner.trained) {
      const step = plan.steps.find((s): s is TrainStep => s.type === 'train' && path.join(out, s.dir) === t.out)!;
      expect(t.data).to.match(step.config.holdout!.eval === 'validation' ? /\/val$/ : /\/test$/);
    }
    for (const p of runner.precomputed) expect(p.data).to.match(/\/val$/);
    expect(runner.trained.filter((t) => t.data.endsWith('/val')).length).to.equal(plan.steps.filter((s) => s.type === 'train' && (s as TrainStep).config.holdout!.eval === 'validation').length);
    expect(byKey.size).to.equal(plan.steps.length);
    const again = new FakeRunner();
    const r2 = await executePlan(expandDesign(load(design(src))), { outDir: out, runner: again });
    expect(again.calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
    expect(r2).to.include({ ran: 0, skipped: plan.steps.length });
  });

  it('EXPECTED FAILURE - the select step refuses a grid point trained on other data than the validation side', async () => {
    const out = path.join(dir, 'exp-bad');
    const plan = expandDesign(load(design(src)));
    const runner = new FakeRunner();
    const train = runner.train.bind(runner);
    runner.train = async (req) => {
      await train(req);
      // a point whose manifest says it saw the test side (as if the runner had been given it)
      if (req.out.includes('/sweep/lsr-e0.1-')) fs.writeFileSync(path.join(req.out, 'manifest.json'), JSON.stringify({ data: { spec: req.data.replace(/\/val$/, '/test') } }));
    };
    const r = await executePlan(plan, { outDir: out, runner });
    const failed = r.outcomes.filter((o) => o.status === 'failed');
    expect(failed.map((o) => o.label)).to.deep.equal(['lsr']);
    expect(failed[0].error).to.match(/was trained on .*\/test, not on the validation data/);
  });

  it('BAD CALL - protocol mistakes are usage errors naming the path', async () => {
    const bad: Array<[string, string]> = [
      [design(src).replace(/validation: .*\n/, ''), 'sweep: hyperparameters are chosen on the validation split'],
      [design(src).replace('sweep: { alpha: [0.3, 0.7] }', 'sweep: { epsilon: [0.1] }'), 'runs[5].sweep.epsilon: not used by kind "tfkd-self"'],
      [design(src).replace('sweep_from: kd', 'sweep_from: reg'), 'runs[3].sweep_from: run "reg" has no sweep of its own'],
      [design(src).replace("loss: { correct_prob: 0.9 }", 'loss: { correct_prob: 0.9 }, sweep: { correct_prob: [0.9, 0.99] }'), 'runs[6].sweep.correct_prob: also fixed by the run\'s loss.correct_prob'],
      [design(src).replace(`fashion-mnist:${src}`, 'synthetic:100:10:8x8x1'), 'validation: a hold-out is written as files'],
      [design(src).replace('{ fraction: 0.1, seed: 4 }', '{ fraction: 0.1, size: 5 }'), 'validation: set fraction or size, not both'],
      [design(src).replace('lsr: { epsilon: [0.05, 0.1, 0.2] }', 'baseline: { alpha: [0.1] }'), 'sweep.grids.baseline.alpha: not used by kind "baseline"'],
    ];
    for (const [text, msg] of bad) {
      const f = path.join(dir, 'bad.yaml');
      fs.writeFileSync(f, text);
      const r = await cli(['experiment', f, '--out', path.join(dir, 'bad-out'), '--dry-run']);
      expect(r.code, msg).to.equal(2);
      expect(r.stderr, msg).to.include(msg);
    }
  });
});
