import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/errors.js';
import { parseDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { Plan } from '../../src/experiment/plan-types.js';
import { collectRuns, summarize } from '../../src/experiment/report.js';
import { renderFidelity, renderTable } from '../../src/experiment/report-table.js';
import { trainArgs } from '../../src/experiment/runner.js';
import { runnerFactory } from '../../src/cli/commands/experiment.js';
import { FakeRunner } from './fake-runner.js';
import { cli, tmpDir } from './helpers.js';

const DESIGN = `
data: synthetic:200:10:8x8x1
model: mlp
seeds: [1, 2]
train: { epochs: 3, limit: 100 }
teachers:
  big: { model: cnn, seed: 3, save_at: [step-1, step-2, step-4] }
runs:
  - { name: baseline, kind: baseline }
  - { name: kd, kind: kd, teacher: big }
  - { name: sweep, kind: de-kd, teacher: big, checkpoints: [step-1, step-4] }
  - { name: target, kind: de-kd, teacher: big, target_accuracies: [0.22] }
  - { name: self, kind: tfkd-self }
  - { name: reg, kind: tfkd-reg }
`;

const plan = (): Plan => expandDesign({ file: 'x.yaml', dir: '/nonexistent', design: parseDesign(DESIGN, 'x.yaml') });
const table = (dir: string): string => renderTable(summarize(collectRuns([dir]).runs));

describe('experiment execution (fake runner)', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('exec');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs every step once, in dependency order, and writes plan.json + status.json', async () => {
    const p = plan();
    const runner = new FakeRunner();
    const lines: string[] = [];
    const r = await executePlan(p, { outDir: dir, runner, log: (l) => lines.push(l) });
    const n = (t: string) => p.steps.filter((s) => s.type === t).length;
    expect(runner.calls).to.deep.equal({ train: n('train'), export: n('export'), precompute: n('precompute') });
    expect(r).to.include({ ran: p.steps.length, skipped: 0, failed: 0 });
    expect(lines).to.have.length(p.steps.length);
    expect(lines.find((l) => l.includes('train') && l.includes('baseline s1'))).to.match(/ran .*final \d+\.\d\d% best \d+\.\d\d% \(epoch \d\)/);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'plan.json'), 'utf8')).schema).to.equal('tfkd-experiment-plan/1');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'status.json'), 'utf8')).steps).to.have.length(p.steps.length);
    // every student learned from the right cache
    const kd = runner.trained.find((t) => t.loss === 'kd' && t.seed === 1 && t.cache?.includes('caches/'))!;
    expect(fs.existsSync(path.join(kd.cache!, 'manifest.json'))).to.equal(true);
    // the teacher, which unblocks the most steps, is trained first
    expect(runner.trained[0].model).to.equal('cnn');
    // the teacher was asked to keep every checkpoint wanted
    expect(runner.trained.find((t) => t.model === 'cnn')!.saveAt).to.deep.equal(['step-1', 'step-2', 'step-4']);
  });

  it('de-kd by target accuracy exports the checkpoint closest to the target and records its accuracy', async () => {
    const p = plan();
    await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    // fake checkpoint accuracy = 0.1 × N: step-1 0.1, step-2 0.2, step-4 0.4 → 0.22 picks step-2
    const run = p.runs.find((r) => r.name === 'target')!;
    const ex = p.steps.find((s) => s.key === run.teacher!.export)!;
    const rec = JSON.parse(fs.readFileSync(path.join(dir, `${(ex as { out: string }).out}.json`), 'utf8'));
    expect(rec).to.include({ checkpoint: 'step-2', target: 0.22 });
    expect(rec.test_acc).to.be.closeTo(0.2, 1e-12);
  });

  it('a second run skips everything and ends with the same table', async () => {
    const p = plan();
    await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    const first = table(dir);
    const again = new FakeRunner();
    const r = await executePlan(plan(), { outDir: dir, runner: again });
    expect(again.calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
    expect(r).to.include({ ran: 0, skipped: p.steps.length });
    expect(table(dir)).to.equal(first);
  });

  for (const failOn of [
    { type: 'train', call: 5 },
    { type: 'export', call: 2 },
    { type: 'precompute', call: 3 },
  ] as const) {
    it(`EXPECTED FAILURE - a crash in ${failOn.type} #${failOn.call} blocks only its dependants; the re-run redoes just the rest`, async () => {
      const p = plan();
      // reference: one uninterrupted experiment elsewhere
      const ref = tmpDir('ref');
      await executePlan(p, { outDir: ref, runner: new FakeRunner() });
      const refTable = table(ref);
      fs.rmSync(ref, { recursive: true, force: true });

      const crashing = new FakeRunner(failOn);
      const r1 = await executePlan(p, { outDir: dir, runner: crashing });
      expect(r1.failed).to.be.greaterThan(0);
      const done1 = r1.ran;
      const resumed = new FakeRunner();
      const r2 = await executePlan(plan(), { outDir: dir, runner: resumed });
      expect(r2.failed).to.equal(0);
      expect(r2.skipped, 'finished steps are reused').to.equal(done1);
      expect(r2.ran).to.equal(p.steps.length - done1);
      const calls = resumed.calls.train + resumed.calls.export + resumed.calls.precompute;
      expect(calls).to.equal(p.steps.length - done1);
      expect(table(dir)).to.equal(refTable);
    });
  }

  it('fidelity_teacher: the reported students measure against its test-split cache; added to a finished experiment, only they (and that cache) run again', async () => {
    const p = plan();
    await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    const fidelity = (): string => renderFidelity(summarize(collectRuns([dir]).runs)) ?? '';
    expect(fidelity()).to.equal('');
    const pf = expandDesign({ file: 'x.yaml', dir: '/nonexistent', design: parseDesign(`${DESIGN}fidelity_teacher: big\n`, 'x.yaml') });
    const reported = new Set(pf.runs.map((r) => r.step));
    const runner = new FakeRunner();
    const lines: string[] = [];
    const r = await executePlan(pf, { outDir: dir, runner, log: (l) => lines.push(l) });
    expect(r.failed).to.equal(0);
    // the progress line of a measured run gives its final agreement; a teacher's does not
    expect(lines.find((l) => l.includes('baseline s1'))).to.match(/final \d+\.\d\d% best \d+\.\d\d% \(epoch \d\) agree \d+\.\d\d%/);
    expect(lines.find((l) => l.includes('big s3'))).to.not.include('agree');
    expect(runner.calls).to.deep.equal({ train: reported.size, export: 0, precompute: 1 });
    expect(runner.precomputed[0]).to.include({ split: 'test', data: 'synthetic:200:10:8x8x1' });
    const tc = runner.precomputed[0].out;
    expect(runner.trained.every((t) => t.testCache === tc)).to.equal(true);
    const md = fidelity();
    expect(md).to.include('Fidelity to a teacher');
    for (const m of ['baseline', 'kd', 'sweep @step-1', 'sweep @step-4', 'target @acc-0.22', 'self', 'reg']) expect(md).to.include(`| ${m} | mlp | 2 | teacher-of-${path.basename(tc)}.onnx (`);
    // nothing more to do; a run whose manifest names another cache is not finished, and runs again
    const again = new FakeRunner();
    expect(await executePlan(pf, { outDir: dir, runner: again })).to.include({ ran: 0, skipped: pf.steps.length });
    const victim = pf.runs.find((x) => x.name === 'reg' && x.seed === 2)!;
    const mf = path.join(dir, victim.dir, 'manifest.json');
    const man = JSON.parse(fs.readFileSync(mf, 'utf8'));
    fs.writeFileSync(mf, JSON.stringify({ ...man, testCache: { ...man.testCache, dir: path.join(dir, 'caches', 'deadbeef') } }));
    const third = new FakeRunner();
    await executePlan(pf, { outDir: dir, runner: third });
    expect(third.calls).to.deep.equal({ train: 1, export: 0, precompute: 0 });
    expect(third.trained[0].out).to.equal(path.join(dir, victim.dir));
  });

  it('a partial run directory (no summary.json) is deleted and redone', async () => {
    const p = plan();
    await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    const victim = p.runs.find((r) => r.name === 'reg' && r.seed === 2)!;
    fs.rmSync(path.join(dir, victim.dir, 'summary.json'));
    fs.writeFileSync(path.join(dir, victim.dir, 'junk'), 'left by a killed trainer');
    const runner = new FakeRunner();
    const r = await executePlan(plan(), { outDir: dir, runner });
    expect(runner.calls).to.deep.equal({ train: 1, export: 0, precompute: 0 });
    expect(r.ran).to.equal(1);
    expect(fs.existsSync(path.join(dir, victim.dir, 'junk'))).to.equal(false);
  });

  // Names are not part of keys: a renamed run (or a teacher named otherwise by another design in
  // the same directory) is the same step. It used to train again, and its record then pointed at
  // the new directory only, so an edit of the old one passed unchecked.
  it('a renamed run is copied from its finished output, not trained again; every copy stays checked against its record', async () => {
    const p = plan();
    await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    const renamed = expandDesign({ file: 'x.yaml', dir: '/nonexistent', design: parseDesign(DESIGN.replace('{ name: baseline, kind: baseline }', '{ name: base, kind: baseline }'), 'x.yaml') });
    const oldRun = p.runs.find((r) => r.name === 'baseline' && r.seed === 1)!;
    const newRun = renamed.runs.find((r) => r.name === 'base' && r.seed === 1)!;
    expect(newRun.step).to.equal(oldRun.step);
    expect(newRun.dir).to.not.equal(oldRun.dir);
    const runner = new FakeRunner();
    const lines: string[] = [];
    const r = await executePlan(renamed, { outDir: dir, runner, log: (l) => lines.push(l) });
    expect(runner.calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
    expect(r).to.include({ ran: 0, failed: 0, skipped: renamed.steps.length });
    expect(lines.find((l) => l.includes(newRun.dir))).to.match(new RegExp(`skipped .*final \\d+\\.\\d\\d% .*\\(copied from ${oldRun.dir}\\)`));
    for (const f of ['summary.json', 'metrics.jsonl', 'config.json']) expect(fs.readFileSync(path.join(dir, newRun.dir, f))).to.deep.equal(fs.readFileSync(path.join(dir, oldRun.dir, f)));
    expect(table(dir)).to.equal(table(dir)); // the report reads the copies
    // Both designs reuse everything again.
    for (const q of [p, renamed]) expect((await executePlan(q, { outDir: dir, runner })).skipped).to.equal(q.steps.length);
    // An edit of the old copy fails the old design's step and leaves the new design's alone.
    const sum = path.join(dir, oldRun.dir, 'summary.json');
    fs.writeFileSync(sum, fs.readFileSync(sum, 'utf8').replace(/"final_test_acc": ?[0-9.]+/, '"final_test_acc": 0.99'));
    const old = await executePlan(p, { outDir: dir, runner });
    expect(old.outcomes.find((o) => o.key === oldRun.step)).to.include({ status: 'failed' });
    expect(old.outcomes.find((o) => o.key === oldRun.step)!.error).to.match(/reused train output .*summary\.json changed since the step finished/);
    expect((await executePlan(renamed, { outDir: dir, runner })).failed).to.equal(0);
    expect(runner.calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
    // Deleting the edited copy redoes it from the intact one.
    fs.rmSync(path.join(dir, oldRun.dir), { recursive: true });
    const again = await executePlan(p, { outDir: dir, runner });
    expect(again.failed).to.equal(0);
    expect(runner.calls.train).to.equal(0);
    expect(fs.readFileSync(sum)).to.deep.equal(fs.readFileSync(path.join(dir, newRun.dir, 'summary.json')));
  });

  // The experiment failed an edited run's step, but its table, report.json and index.html still
  // averaged the edited figure.
  it('EXPECTED FAILURE - a run whose summary.json changed after its step finished is left out of the report, named', async () => {
    const p = plan();
    await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    const victim = p.runs.find((r) => r.name === 'reg' && r.seed === 2)!;
    const before = collectRuns([dir]);
    expect(before.changed).to.deep.equal([]);
    const sum = path.join(dir, victim.dir, 'summary.json');
    fs.writeFileSync(sum, fs.readFileSync(sum, 'utf8').replace(/"final_test_acc": ?[0-9.]+/, '"final_test_acc": 0.99'));
    const after = collectRuns([dir]);
    expect(after.runs).to.have.length(before.runs.length - 1);
    expect(after.runs.some((x) => x.dir === path.join(dir, victim.dir))).to.equal(false);
    expect(after.changed).to.deep.equal([{ dir: path.join(dir, victim.dir), why: `${sum} changed since the step finished` }]);
    const r = await executePlan(p, { outDir: dir, runner: new FakeRunner() });
    expect(r.failed).to.equal(1);
    const reg = summarize(collectRuns([dir]).runs).find((m) => m.method === 'reg')!;
    expect(reg.n).to.equal(1);
  });

  // `tfkd report A B` pooled by method name alone: a copied directory counted every seed twice,
  // and a method of the same name with other options (or under another protocol) was averaged
  // into one row labelled with the first run's hyperparameters.
  it('report of several directories: the same run counted once; a method with other options or another protocol refused', async () => {
    await executePlan(plan(), { outDir: dir, runner: new FakeRunner() });
    const copy = path.join(dir, '..', `${path.basename(dir)}-copy`);
    fs.cpSync(dir, copy, { recursive: true });
    try {
      const one = summarize(collectRuns([dir]).runs);
      const both = summarize(collectRuns([dir, copy]).runs);
      expect(both.map((r) => [r.method, r.n])).to.deep.equal(one.map((r) => [r.method, r.n]));
      expect(both).to.deep.equal(one);
      const other = path.join(dir, 'other');
      const seeds = DESIGN.replace('seeds: [1, 2]', 'seeds: [3, 4]');
      const changed = expandDesign({ file: 'y.yaml', dir: '/nonexistent', design: parseDesign(seeds.replace('{ name: reg, kind: tfkd-reg }', '{ name: reg, kind: tfkd-reg, loss: { alpha: 0.5 } }'), 'y.yaml') });
      await executePlan(changed, { outDir: other, runner: new FakeRunner() });
      expect(() => summarize(collectRuns([dir, other]).runs)).to.throw(UsageError, new RegExp(`^method reg: ${other}/runs has other hyperparameters \\(.*"alpha":0\\.5.*\\) than ${dir}/runs \\(.*"alpha":0\\.1.*\\); its seeds cannot be pooled$`));
      const same = path.join(dir, 'same');
      await executePlan(expandDesign({ file: 'z.yaml', dir: '/nonexistent', design: parseDesign(seeds, 'z.yaml') }), { outDir: same, runner: new FakeRunner() });
      expect(summarize(collectRuns([dir, same]).runs).find((r) => r.method === 'reg')!.seeds).to.deep.equal([1, 2, 3, 4]);
      // Two designs on a real (small) data set, one with a hold-out: protocols differ.
      const subset = fileURLToPath(new URL('../../data/fashion-mnist-subset', import.meta.url));
      const small = `data: fashion-mnist:${subset}\nmodel: mlp\nseeds: [1]\ntrain: { epochs: 1, limit: 100 }\nruns:\n  - { name: baseline, kind: baseline }\n`;
      const plain = path.join(dir, 'plain');
      await executePlan(expandDesign({ file: 'p.yaml', dir: '/nonexistent', design: parseDesign(small, 'p.yaml') }), { outDir: plain, runner: new FakeRunner() });
      const validated = path.join(dir, 'validated');
      await executePlan(expandDesign({ file: 'v.yaml', dir: '/nonexistent', design: parseDesign(`${small}validation: { fraction: 0.1 }\n`, 'v.yaml') }), { outDir: validated, runner: new FakeRunner() });
      expect(() => collectRuns([plain, validated])).to.throw(UsageError, new RegExp(`^${validated} was run under another protocol \\(validation: \\{.*\\}\\) than ${plain} \\(validation: null\\)$`));
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it('EXPECTED FAILURE - after an abort (SIGINT) no further step starts; the re-run finishes the rest', async () => {
    const ac = new AbortController();
    const runner = new FakeRunner();
    const train = runner.train.bind(runner);
    runner.train = async (req) => {
      await train(req);
      if (runner.calls.train === 2) ac.abort();
    };
    const r = await executePlan(plan(), { outDir: dir, runner, abort: ac.signal });
    expect(runner.calls).to.deep.equal({ train: 2, export: 0, precompute: 0 });
    expect(r.ran).to.equal(2);
    expect(r.outcomes.filter((o) => o.error === 'interrupted').length).to.be.greaterThan(0);
    const again = new FakeRunner();
    const r2 = await executePlan(plan(), { outDir: dir, runner: again });
    expect(r2).to.include({ skipped: 2, failed: 0 });
  });

  it('--dry-run runs nothing and writes nothing', async () => {
    const runner = new FakeRunner();
    const r = await executePlan(plan(), { outDir: path.join(dir, 'x'), runner, dryRun: true });
    expect(runner.calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
    expect(r.outcomes.every((o) => o.status === 'planned')).to.equal(true);
    expect(fs.existsSync(path.join(dir, 'x'))).to.equal(false);
  });

  it('concurrent execution (jobs 3) does the same work', async () => {
    const runner = new FakeRunner();
    const r = await executePlan(plan(), { outDir: dir, runner, jobs: 3 });
    expect(r.failed).to.equal(0);
    expect(r.ran).to.equal(plan().steps.length);
  });

  it('builds the documented tfkd train command line', () => {
    const args = trainArgs({
      data: 'fashion-mnist',
      model: 'mlp',
      loss: 'tfkd-reg',
      lossOptions: { alpha: 0.1, temperature: 20, correct_prob: 0.99 },
      train: { epochs: 2, weight_decay: 5e-4, milestones: [2, 3], args: ['--eval-batch', '512'] },
      seed: 4,
      cache: null,
      saveAt: ['step-2', 'step-8'],
      out: '/x/run',
    });
    expect(args.join(' ')).to.equal(
      'train --data fashion-mnist --model mlp --loss tfkd-reg --alpha 0.1 --temperature 20 --correct-prob 0.99 --epochs 2 --weight-decay 0.0005 --milestones 2,3 --seed 4 --save-at steps:2,8 --out /x/run --eval-batch 512',
    );
  });
});

describe('tfkd experiment (CLI, fake runner)', () => {
  let dir: string;
  let saved: typeof runnerFactory.create;
  before(() => {
    dir = tmpDir('cli');
    saved = runnerFactory.create;
  });
  after(() => {
    runnerFactory.create = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs, then re-runs skipping everything, printing the same table; writes DIR/report', async () => {
    const file = path.join(dir, 'design.yaml');
    fs.writeFileSync(file, DESIGN);
    const out = path.join(dir, 'out');
    const runners: FakeRunner[] = [];
    runnerFactory.create = () => {
      const r = new FakeRunner();
      runners.push(r);
      return r;
    };
    const first = await cli(['experiment', file, '--out', out]);
    expect(first.code, first.stderr).to.equal(0);
    const second = await cli(['experiment', file, '--out', out]);
    expect(second.code, second.stderr).to.equal(0);
    expect(runners[1].calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
    expect(second.stdout).to.match(/0 ran, \d+ skipped, 0 failed, 0 blocked/);
    const tableOf = (s: string) => s.slice(s.indexOf('| method |'), s.indexOf('report:'));
    expect(tableOf(second.stdout)).to.equal(tableOf(first.stdout));
    expect(tableOf(first.stdout)).to.include('| sweep @step-4 | de-kd | mlp |');
    for (const f of ['table.md', 'report.json', 'curves.png', 'de-kd.png']) expect(fs.existsSync(path.join(out, 'report', f)), f).to.equal(true);
    // --json: the plan, the step outcomes and the table rows on stdout, progress on stderr
    const third = await cli(['experiment', file, '--out', out, '--json', '--no-report']);
    expect(third.code, third.stderr).to.equal(0);
    const doc = JSON.parse(third.stdout);
    expect(doc.steps.every((o: { status: string }) => o.status === 'skipped')).to.equal(true);
    expect(doc.methods.map((m: { method: string }) => m.method)).to.include('sweep @step-1');
    expect(third.stderr).to.include('skipped');
  });

  it('EXPECTED FAILURE - a failing step makes the command exit 1 after running the independent steps', async () => {
    const file = path.join(dir, 'design.yaml');
    runnerFactory.create = () => new FakeRunner({ type: 'precompute', call: 1 });
    const r = await cli(['experiment', file, '--out', path.join(dir, 'out-fail'), '--no-report']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/1 step\(s\) failed, \d+ blocked/);
    expect(r.stdout).to.include('failed');
    expect(r.stdout).to.include('blocked');
  });
});
