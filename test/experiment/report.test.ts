import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { parseDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { expandDesign } from '../../src/experiment/plan.js';
import { mean, sampleStd, writeReport, type Report } from '../../src/experiment/report.js';
import { FakeRunner } from './fake-runner.js';
import { cli, tmpDir } from './helpers.js';

/** A run directory as `tfkd train` leaves it (summary.json + metrics.jsonl). */
function writeRun(dir: string, o: { seed: number; loss: string; model: string; curve: number[] }): void {
  fs.mkdirSync(dir, { recursive: true });
  const best = Math.max(...o.curve);
  fs.writeFileSync(
    path.join(dir, 'summary.json'),
    JSON.stringify({ final_test_acc: o.curve[o.curve.length - 1], best_test_acc: best, best_epoch: o.curve.indexOf(best) + 1, epochs: o.curve.length, backend: 'wasm', seed: o.seed, model: o.model, loss: o.loss }),
  );
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), o.curve.map((a, i) => JSON.stringify({ epoch: i + 1, train_loss: 1, test_loss: 1, test_acc: a, lr: 0.1 })).join('\n') + '\n');
}

describe('tfkd report', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('report');
    // baseline: finals 0.80, 0.82, 0.87 ; bests 0.81, 0.83, 0.87
    writeRun(path.join(dir, 'runs', 'baseline-s1'), { seed: 1, loss: 'ce', model: 'mlp', curve: [0.81, 0.8] });
    writeRun(path.join(dir, 'runs', 'baseline-s2'), { seed: 2, loss: 'ce', model: 'mlp', curve: [0.83, 0.82] });
    writeRun(path.join(dir, 'runs', 'baseline-s3'), { seed: 3, loss: 'ce', model: 'mlp', curve: [0.7, 0.87] });
    // lsr: finals 0.84, 0.85 ; bests the same
    writeRun(path.join(dir, 'runs', 'lsr-s1-0123abcd'), { seed: 1, loss: 'lsr', model: 'mlp', curve: [0.75, 0.84] });
    writeRun(path.join(dir, 'runs', 'lsr-s2-4567cdef'), { seed: 2, loss: 'lsr', model: 'mlp', curve: [0.76, 0.85] });
    // a single-seed method: no std
    writeRun(path.join(dir, 'runs', 'reg-s1'), { seed: 1, loss: 'tfkd-reg', model: 'mlp', curve: [0.7, 0.8] });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('mean and sample std (n − 1) match hand computation', () => {
    expect(mean([0.8, 0.82, 0.87])).to.be.closeTo(0.83, 1e-12);
    // deviations −0.03, −0.01, +0.04 → squares 9e-4 + 1e-4 + 16e-4 = 26e-4; / (3 − 1) = 13e-4
    expect(sampleStd([0.8, 0.82, 0.87])).to.be.closeTo(Math.sqrt(13e-4), 1e-12);
    expect(sampleStd([0.5])).to.equal(null);
  });

  it('writes table.md with mean ± std, Δ vs baseline and seeds, plus report.json and both plots', async () => {
    const out = path.join(dir, 'rep');
    const rep: Report = await writeReport([dir], out);
    const md = fs.readFileSync(path.join(out, 'table.md'), 'utf8');
    // baseline final 83.00 ± 3.61 (√13e-4 = 0.036056), best mean (0.81+0.83+0.87)/3 = 0.83667, std: dev −0.02667, −0.00667, +0.03333 → √((7.111e-4+0.444e-4+11.111e-4)/2) = 0.030551
    expect(md).to.include('| baseline | baseline | mlp | – | 3 | 83.00 ± 3.61 | 83.67 ± 3.06 | +0.00 | +0.00 |');
    // lsr final 0.845 ± √(2·0.005²/1) = 0.007071 → 84.50 ± 0.71; Δ final +1.50; best = final → Δ best 84.50 − 83.67 = +0.83
    expect(md).to.include('| lsr | lsr | mlp | – | 2 | 84.50 ± 0.71 | 84.50 ± 0.71 | +1.50 | +0.83 |');
    expect(md).to.include('| reg | tfkd-reg | mlp | – | 1 | 80.00 ± – | 80.00 ± – | −3.00 | −3.67 |');
    expect(md).to.include('sample standard deviation (n − 1 denominator)');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(json.methods.map((m: { method: string }) => m.method)).to.deep.equal(['baseline', 'lsr', 'reg']);
    expect(json.methods[1].seeds).to.deep.equal([1, 2]);
    expect(rep.plots).to.deep.equal({ curves: 'curves.png', de_kd: null }); // no teacher runs here
    const meta = await sharp(path.join(out, 'curves.png')).metadata();
    expect(meta.format).to.equal('png');
    expect(meta.width).to.be.within(800, 2400);
    expect(meta.height).to.be.within(400, 1600);
    expect(fs.readFileSync(path.join(out, 'curves.svg'), 'utf8')).to.include('test accuracy (%)');
  });

  it('reports an experiment directory (plan.json), including the De-KD plot with teacher accuracies', async function () {
    this.timeout(60000);
    const exp = path.join(dir, 'exp');
    const design = parseDesign(
      `data: synthetic:200:10:8x8x1\nmodel: mlp\nseeds: [1, 2]\ntrain: { epochs: 3 }\nteachers: { big: { model: cnn, seed: 3 } }\nruns:\n  - { name: baseline, kind: baseline }\n  - { name: kd, kind: kd, teacher: big }\n  - { name: sweep, kind: de-kd, teacher: big, checkpoints: [step-2, step-5] }\n`,
      'x.yaml',
    );
    await executePlan(expandDesign({ file: 'x.yaml', dir, design }), { outDir: exp, runner: new FakeRunner() });
    const r = await cli(['report', exp, '--out', path.join(exp, 'report')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('| sweep @step-2 | de-kd | mlp | big step-2 (20.00) | 2 |');
    expect(r.stdout).to.include('| sweep @step-5 | de-kd | mlp | big step-5 (50.00) | 2 |');
    for (const f of ['curves.png', 'de-kd.png']) {
      const meta = await sharp(path.join(exp, 'report', f)).metadata();
      expect(meta.width, f).to.be.within(800, 2400);
      expect(meta.height, f).to.be.within(400, 1600);
    }
    const svg = fs.readFileSync(path.join(exp, 'report', 'de-kd.svg'), 'utf8');
    expect(svg).to.include('teacher test accuracy (%)');
    expect(svg).to.include('baseline mlp');
  });

  it('BAD CALL - a directory without runs is a usage error (exit 2)', async () => {
    const empty = tmpDir('empty');
    try {
      const r = await cli(['report', empty, '--out', path.join(empty, 'r')]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('no finished runs');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
