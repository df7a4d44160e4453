import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { parseDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { expandDesign } from '../../src/experiment/plan.js';
import { collectRuns, summarize, writeReport } from '../../src/experiment/report.js';
import { fidelitySpec } from '../../src/experiment/plots.js';
import { mean, sampleStd } from '../../src/experiment/stats.js';
import { type Report } from '../../src/experiment/report-types.js';
import { FakeRunner } from './fake-runner.js';
import { cli, tmpDir, writeIdxDataset } from './helpers.js';

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
    expect(md).to.include('| baseline | baseline | mlp | – | – | 3 | 83.00 ± 3.61 | +0.00 | – | (baseline) | 83.67 ± 3.06 |');
    // lsr final 0.845 ± √(2·0.005²/1) = 0.007071 → 84.50 ± 0.71; Δ final +1.50; Welch 95 % CI (scipy
    // ttest_ind([.84, .85], [.80, .82, .87], equal_var=False).confidence_interval(): −6.8814, +9.8814; ν 2.2226)
    expect(md).to.include('| lsr | lsr | mlp | – | – | 2 | 84.50 ± 0.71 | +1.50 | [−6.88, +9.88] | within noise | 84.50 ± 0.71 |');
    expect(md).to.include('| reg | tfkd-reg | mlp | – | – | 1 | 80.00 ± – | −3.00 | n/a (one seed) | – | 80.00 ± – |');
    expect(md).to.include('sample standard deviation (n − 1 denominator)');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(json.methods.map((m: { method: string }) => m.method)).to.deep.equal(['baseline', 'lsr', 'reg']);
    expect(json.methods[1].seeds).to.deep.equal([1, 2]);
    expect(json.methods[1].ci.lo).to.be.closeTo(-0.06881363398373303, 1e-12);
    expect(json.methods[1].ci.hi).to.be.closeTo(0.09881363398373283, 1e-12);
    expect(json.methods[1].ci.df).to.be.closeTo(2.2226304188096995, 1e-10);
    expect(json.methods[1].reading).to.equal('within noise');
    expect(json.protocol).to.equal(null);
    expect(rep.plots).to.deep.equal({ curves: 'curves.png', de_kd: null, fidelity: null }); // no teacher runs here, no fidelity measured
    const meta = await sharp(path.join(out, 'curves.png')).metadata();
    expect(meta.format).to.equal('png');
    expect(meta.width).to.be.within(800, 2400);
    expect(meta.height).to.be.within(400, 1600);
    expect(fs.readFileSync(path.join(out, 'curves.svg'), 'utf8')).to.include('test accuracy (%)');
  });

  // A copy of `name-s<seed>/` (no step key, no <key8>) was a second run: one seed reported as two.
  it('the same run found in two directories without a step key or key8 (a byte copy) counts once; another seed does not', () => {
    const a = path.join(dir, 'copies', 'a');
    const b = path.join(dir, 'copies', 'b');
    fs.cpSync(path.join(dir, 'runs', 'baseline-s1'), path.join(a, 'baseline-s1'), { recursive: true });
    fs.cpSync(path.join(dir, 'runs', 'baseline-s1'), path.join(b, 'baseline-s1'), { recursive: true });
    fs.writeFileSync(path.join(a, 'baseline-s1', 'config.json'), '{"seed":1}');
    fs.writeFileSync(path.join(b, 'baseline-s1', 'config.json'), '{"seed":1}');
    try {
      expect(summarize(collectRuns([a, b]).runs).map((m) => [m.method, m.n])).to.deep.equal([['baseline', 1]]);
      writeRun(path.join(b, 'baseline-s2'), { seed: 2, loss: 'ce', model: 'mlp', curve: [0.83, 0.82] });
      expect(summarize(collectRuns([a, b]).runs).map((m) => [m.method, m.n])).to.deep.equal([['baseline', 2]]);
    } finally {
      fs.rmSync(path.join(dir, 'copies'), { recursive: true, force: true });
    }
  });

  it('--against METHOD: Δ and its Welch interval against that method instead of the baseline (the same interval, mirrored)', async () => {
    const out = path.join(dir, 'rep-against');
    const rep = await writeReport([dir], out, { plots: false, against: 'lsr' });
    const md = fs.readFileSync(path.join(out, 'table.md'), 'utf8');
    expect(md).to.include('| Δ vs lsr |');
    expect(md).to.include('| lsr | lsr | mlp | – | – | 2 | 84.50 ± 0.71 | +0.00 | – | (reference) | 84.50 ± 0.71 |');
    // baseline vs lsr: −1.50, and the interval above with its sign flipped (Welch is antisymmetric)
    expect(md).to.include('| baseline | baseline | mlp | – | – | 3 | 83.00 ± 3.61 | −1.50 | [−9.88, +6.88] | within noise | 83.67 ± 3.06 |');
    expect(rep.against).to.equal('lsr');
    expect(rep.methods[0].ci!.lo).to.be.closeTo(-0.09881363398373283, 1e-12);
    expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).to.include('<th>Δ vs lsr</th>');
    try {
      await writeReport([dir], path.join(dir, 'rep-x'), { plots: false, against: 'nope' });
      expect.fail('no error');
    } catch (e) {
      expect((e as Error).message).to.equal('--against nope: no such method among the runs (baseline, lsr, reg)');
    }
    expect(fs.existsSync(path.join(dir, 'rep-x'))).to.equal(false);
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
    expect(r.stdout).to.include('| sweep @step-2 | de-kd | mlp | big step-2 (20.00) | α 0.95, τ 20 | 2 |');
    expect(r.stdout).to.include('| sweep @step-5 | de-kd | mlp | big step-5 (50.00) | α 0.95, τ 20 | 2 |');
    for (const f of ['curves.png', 'de-kd.png']) {
      const meta = await sharp(path.join(exp, 'report', f)).metadata();
      expect(meta.width, f).to.be.within(800, 2400);
      expect(meta.height, f).to.be.within(400, 1600);
    }
    const svg = fs.readFileSync(path.join(exp, 'report', 'de-kd.svg'), 'utf8');
    expect(svg).to.include('teacher test accuracy (%)');
    expect(svg).to.include('baseline mlp');
  });

  it('warns, in table.md, index.html, report.json and on stdout, when the runs trained on different backends or kernels (manifest.json)', async () => {
    const d = tmpDir('report-compute');
    try {
      const kernels = ['wasm+native-blas', 'wasm+native-blas', 'wasm+tfkd-kernels'];
      kernels.forEach((k, i) => {
        const run = path.join(d, `baseline-s${i + 1}`);
        writeRun(run, { seed: i + 1, loss: 'ce', model: 'mlp', curve: [0.8 + i / 100] });
        fs.writeFileSync(path.join(run, 'manifest.json'), JSON.stringify({ backend: { name: 'wasm', kernels: k } }));
      });
      const rep = await writeReport([d], path.join(d, 'rep'), { plots: false });
      const want = 'The runs did not all train on the same backend and kernels: 2 on wasm (wasm+native-blas), 1 on wasm (wasm+tfkd-kernels)';
      expect(rep.compute_note).to.include(want);
      expect(rep.runs.map((r) => r.compute)).to.deep.equal(kernels.map((k) => `wasm (${k})`));
      expect(fs.readFileSync(path.join(d, 'rep', 'table.md'), 'utf8')).to.include(want);
      expect(fs.readFileSync(path.join(d, 'rep', 'index.html'), 'utf8')).to.include(want);
      const r = await cli(['report', d, '--out', path.join(d, 'rep2')]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(want);
      // The same kernels everywhere: no warning.
      fs.writeFileSync(path.join(d, 'baseline-s3', 'manifest.json'), JSON.stringify({ backend: { name: 'wasm', kernels: 'wasm+native-blas' } }));
      const same = await writeReport([d], path.join(d, 'rep3'), { plots: false });
      expect(same.compute_note).to.equal(null);
      expect(fs.readFileSync(path.join(d, 'rep3', 'table.md'), 'utf8')).to.not.include('did not all train');
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('a calibration section (final ECE and NLL, mean ± std) for the methods whose runs all recorded their ECE; none for older runs', async () => {
    const cdir = tmpDir('report-ece');
    try {
      const run = (name: string, seed: number, loss: string, ece: number | null, nll: number) => {
        const d = path.join(cdir, name);
        writeRun(d, { seed, loss, model: 'mlp', curve: [0.7, 0.8] });
        if (ece !== null) {
          const f = path.join(d, 'summary.json');
          fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), final_test_ece: ece }));
        }
        fs.writeFileSync(path.join(d, 'metrics.jsonl'), [0.7, 0.8].map((a, i) => JSON.stringify({ epoch: i + 1, test_loss: i ? nll : 9, test_acc: a, test_ece: ece ?? undefined })).join('\n') + '\n');
      };
      run('baseline-s1', 1, 'ce', 0.05, 0.6);
      run('baseline-s2', 2, 'ce', 0.07, 0.5);
      run('lsr-s1', 1, 'lsr', 0.02, 0.55);
      run('lsr-s2', 2, 'lsr', null, 0.5); // recorded before tfkd kept the ECE: lsr is left out
      const out = path.join(cdir, 'rep');
      const rep = await writeReport([cdir], out, { plots: false });
      const md = fs.readFileSync(path.join(out, 'table.md'), 'utf8');
      // ECE mean 6.00, std √((1² + 1²)/1) = 1.41; NLL (the last epoch's test_loss) 0.55 ± 0.0707
      expect(md).to.include('## Calibration (final epoch)');
      expect(md).to.include('| baseline | mlp | 2 | 80.00 ± 0.00 | 6.00 ± 1.41 | 0.5500 ± 0.0707 |');
      expect(md).not.to.match(/\| lsr \| mlp \| 2 \|.*\|.*\|.*\|\n/);
      expect(md).to.include('1 method(s) left out: some of their runs were recorded before tfkd kept the ECE.');
      const b = rep.methods.find((m) => m.method === 'baseline')!;
      expect(b.calibration!.ece.mean).to.be.closeTo(0.06, 1e-15);
      expect(rep.methods.find((m) => m.method === 'lsr')!.calibration).to.equal(null);
      expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).to.include('<section id="calibration">');
      // Runs without any ECE (the suite's other runs, every older record): no section at all.
      const old = await writeReport([dir], path.join(cdir, 'rep-old'), { plots: false });
      expect(old.methods.every((m) => m.calibration === null)).to.equal(true);
      expect(fs.readFileSync(path.join(cdir, 'rep-old', 'table.md'), 'utf8')).not.to.include('Calibration');
    } finally {
      fs.rmSync(cdir, { recursive: true, force: true });
    }
  });

  it('a model-EMA section (trained weights vs their average, mean ± std) for methods whose runs all kept one; runs without --ema keep their records as they were', async () => {
    const edir = tmpDir('report-ema');
    try {
      const run = (name: string, seed: number, loss: string, ema: number | null) => {
        const d = path.join(edir, name);
        writeRun(d, { seed, loss, model: 'mlp', curve: [0.7, 0.8] });
        if (ema !== null) {
          const f = path.join(d, 'summary.json');
          fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), ema_final_test_acc: ema, ema_best_test_acc: ema, ema_best_epoch: 2 }));
        }
      };
      run('baseline-s1', 1, 'ce', 0.81);
      run('baseline-s2', 2, 'ce', 0.83);
      run('lsr-s1', 1, 'lsr', 0.82);
      run('lsr-s2', 2, 'lsr', null); // one run without an average: lsr is left out
      const out = path.join(edir, 'rep');
      const rep = await writeReport([edir], out, { plots: false });
      const md = fs.readFileSync(path.join(out, 'table.md'), 'utf8');
      // EMA 82.00 ± 1.41 against the trained weights' 80.00 ± 0.00: +2.00
      expect(md).to.include('## Model EMA (final epoch)');
      expect(md).to.include('| baseline | mlp | 2 | 80.00 ± 0.00 | 82.00 ± 1.41 | +2.00 |');
      expect(md).not.to.match(/\| lsr \| mlp \| 2 \| 80\.00/);
      expect(rep.methods.find((m) => m.method === 'baseline')!.ema!.mean).to.be.closeTo(0.82, 1e-15);
      expect(rep.methods.find((m) => m.method === 'lsr')!).to.not.have.property('ema');
      expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).to.include('<section id="ema">');
      const old = await writeReport([dir], path.join(edir, 'rep-old'), { plots: false });
      expect(old.methods.every((m) => !('ema' in m))).to.equal(true);
      expect(old.runs.every((r) => !('emaFinal' in r))).to.equal(true);
      expect(fs.readFileSync(path.join(edir, 'rep-old', 'table.md'), 'utf8')).not.to.include('Model EMA');
    } finally {
      fs.rmSync(edir, { recursive: true, force: true });
    }
  });

  it('a fidelity section (agreement and KL with the --test-cache teacher, mean ± std) for methods whose runs all measured it against one teacher', async () => {
    const fdir = tmpDir('report-fidelity');
    try {
      const run = (name: string, seed: number, loss: string, f: { agreement: number; kl: number; key: string } | null) => {
        const d = path.join(fdir, name);
        writeRun(d, { seed, loss, model: 'mlp', curve: [0.7, 0.8] });
        if (f !== null) {
          const s = path.join(d, 'summary.json');
          fs.writeFileSync(s, JSON.stringify({ ...JSON.parse(fs.readFileSync(s, 'utf8')), final_test_agreement: f.agreement, final_test_kl: f.kl }));
          fs.writeFileSync(path.join(d, 'manifest.json'), JSON.stringify({ testCache: { dir: '/c', key: f.key, teacher: { file: 'good.onnx' } } }));
        }
      };
      const key = 'ab'.repeat(32);
      run('baseline-s1', 1, 'ce', { agreement: 0.85, kl: 0.2, key });
      run('baseline-s2', 2, 'ce', { agreement: 0.87, kl: 0.3, key });
      run('kd-s1', 1, 'kd', { agreement: 0.9, kl: 0.1, key });
      run('kd-s2', 2, 'kd', { agreement: 0.92, kl: 0.12, key: 'cd'.repeat(32) }); // another teacher: kd is left out
      run('lsr-s1', 1, 'lsr', null);
      const out = path.join(fdir, 'rep');
      const rep = await writeReport([fdir], out, { plots: false });
      const md = fs.readFileSync(path.join(out, 'table.md'), 'utf8');
      // agreement (85 + 87) / 2 = 86.00 ± 1.41; KL 0.25 ± √(2·0.05²) = 0.0707
      expect(md).to.include('## Fidelity to a teacher (final epoch)');
      expect(md).to.include('| baseline | mlp | 2 | good.onnx (abababab) | 80.00 ± 0.00 | 86.00 ± 1.41 | 0.2500 ± 0.0707 |');
      expect(md).not.to.match(/\| kd \| mlp \| 2 \| good/);
      expect(rep.methods.find((m) => m.method === 'kd')!).to.not.have.property('fidelity');
      expect(rep.methods.find((m) => m.method === 'lsr')!).to.not.have.property('fidelity');
      expect(rep.runs.find((r) => r.method === 'kd' && r.seed === 2)!.fidelity).to.deep.equal({ agreement: 0.92, kl: 0.12, teacher: 'good.onnx (cdcdcdcd)' });
      expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).to.include('<section id="fidelity">');
      const old = await writeReport([dir], path.join(fdir, 'rep-old'), { plots: false });
      expect(old.runs.every((r) => !('fidelity' in r))).to.equal(true);
      expect(fs.readFileSync(path.join(fdir, 'rep-old', 'table.md'), 'utf8')).not.to.include('Fidelity');
    } finally {
      fs.rmSync(fdir, { recursive: true, force: true });
    }
  });

  it('the fidelity plot: agreement and KL per epoch, the mean over seeds, for the methods of the fidelity table only; fidelity.png/svg written', async () => {
    const fdir = tmpDir('report-fidelity-plot');
    try {
      const key = 'ab'.repeat(32);
      const run = (name: string, seed: number, loss: string, f: { agreement: number[]; kl: number[] } | null) => {
        const d = path.join(fdir, name);
        writeRun(d, { seed, loss, model: 'mlp', curve: [0.7, 0.8] });
        if (f === null) return;
        const lines = [0.7, 0.8].map((a, i) => JSON.stringify({ epoch: i + 1, test_loss: 1, test_acc: a, test_agreement: f.agreement[i], test_kl: f.kl[i] }));
        fs.writeFileSync(path.join(d, 'metrics.jsonl'), lines.join('\n') + '\n');
        const s = path.join(d, 'summary.json');
        fs.writeFileSync(s, JSON.stringify({ ...JSON.parse(fs.readFileSync(s, 'utf8')), final_test_agreement: f.agreement[1], final_test_kl: f.kl[1] }));
        fs.writeFileSync(path.join(d, 'manifest.json'), JSON.stringify({ testCache: { dir: '/c', key, teacher: { file: 'good.onnx' } } }));
      };
      run('baseline-s1', 1, 'ce', { agreement: [0.8, 0.85], kl: [0.4, 0.2] });
      run('baseline-s2', 2, 'ce', { agreement: [0.82, 0.87], kl: [0.5, 0.3] });
      run('kd-s1', 1, 'kd', { agreement: [0.9, 0.91], kl: [0.1, 0.05] });
      run('lsr-s1', 1, 'lsr', null);
      const { runs } = collectRuns([fdir]);
      const spec = fidelitySpec(runs, summarize(runs)) as { data: { values: Array<Record<string, unknown>> }; title: { subtitle: string[] } };
      expect(spec.data.values).to.deep.equal([
        { method: 'baseline', epoch: 1, agreement: 81, kl: 0.45, seeds: 2 },
        { method: 'baseline', epoch: 2, agreement: 86, kl: 0.25, seeds: 2 },
        { method: 'kd', epoch: 1, agreement: 90, kl: 0.1, seeds: 1 },
        { method: 'kd', epoch: 2, agreement: 91, kl: 0.05, seeds: 1 },
      ]);
      expect(spec.title.subtitle[0]).to.equal('teacher: good.onnx (abababab)');
      const rep = await writeReport([fdir], path.join(fdir, 'rep'));
      expect(rep.plots.fidelity).to.equal('fidelity.png');
      for (const f of ['fidelity.png', 'fidelity.svg']) expect(fs.statSync(path.join(fdir, 'rep', f)).size, f).to.be.greaterThan(1000);
      expect(fs.readFileSync(path.join(fdir, 'rep', 'table.md'), 'utf8')).to.include('![fidelity to the teacher vs epoch](fidelity.png)');
      // no method measured: no plot
      expect(fidelitySpec(runs.filter((r) => r.method === 'lsr'), summarize(runs.filter((r) => r.method === 'lsr')))).to.equal(null);
    } finally {
      fs.rmSync(fdir, { recursive: true, force: true });
    }
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

describe('tfkd report of a protocol experiment (validation + sweep)', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('report-protocol');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('states the protocol, the chosen values and why (every grid point\'s validation accuracy), and the Welch reading', async function () {
    this.timeout(60000);
    const src = path.join(dir, 'src');
    writeIdxDataset(src, { train: 100, test: 20 });
    const design = parseDesign(
      `data: fashion-mnist:${src}\nmodel: mlp\nseeds: [1, 2, 3]\ntrain: { epochs: 3 }\nvalidation: { fraction: 0.2, seed: 1 }\nsweep: { seed: 1 }\nruns:\n  - { name: baseline, kind: baseline }\n  - { name: lsr, kind: lsr, sweep: { epsilon: [0.05, 0.1, 0.3] } }\n  - { name: reg, kind: tfkd-reg, loss: { correct_prob: 0.9 } }\n`,
      'x.yaml',
    );
    const exp = path.join(dir, 'exp');
    await executePlan(expandDesign({ file: 'x.yaml', dir, design }), { outDir: exp, runner: new FakeRunner() });
    const rep = await writeReport([exp], path.join(exp, 'report'));
    const md = fs.readFileSync(path.join(exp, 'report', 'table.md'), 'utf8');
    expect(md).to.include('Protocol. Validation: a seeded hold-out (seed 1) of 20 % of the training split (20 of 100 images; runs train on the other 80), never trained on.');
    expect(md).to.include('each grid point is trained once, on seed 1');
    const sel = rep.selections[0];
    const chosen = sel.points[sel.chosen_index];
    expect(sel.val_acc).to.equal(Math.max(...sel.points.map((p) => p.val_acc)));
    const lsrRow = rep.methods.find((m) => m.method === 'lsr')!;
    expect(lsrRow.hyperparameters).to.deep.equal({ epsilon: chosen.values.epsilon, fidelity: 'paper' });
    expect(lsrRow.chosen).to.deep.equal(['epsilon']);
    expect(md).to.include(`| lsr | lsr | mlp | – | ε ${chosen.values.epsilon} (swept) | 3 |`);
    expect(md).to.include('| reg | tfkd-reg | mlp | – | α 0.1, τ 20, a 0.9 | 3 |');
    // the sweep: every point with its validation accuracy, the choice marked, the reason
    expect(md).to.include('## Sweeps (validation accuracy, one seed)');
    expect(md).to.include(`**lsr** — chose ε ${chosen.values.epsilon}: highest final-epoch validation accuracy (${(100 * chosen.val_acc).toFixed(2)} %) of 3 grid points`);
    for (const p of sel.points) expect(md).to.match(new RegExp(`\\| ε ${p.values.epsilon} \\| ${(100 * p.val_acc).toFixed(2)} \\|`));
    expect(md.match(/\*\*chosen\*\*/g)).to.have.length(1);
    // every reported run is a final run, evaluated on the test split
    expect(rep.runs.every((r) => r.split === 'test')).to.equal(true);
    expect(rep.runs).to.have.length(9);
    for (const m of rep.methods.filter((x) => x.method !== 'baseline')) {
      expect(m.ci).to.not.equal(null);
      expect(m.reading).to.be.oneOf(['within noise', 'better', 'worse']);
    }
    expect(rep.protocol).to.deep.include({ sweep_seed: 1, holdout: { source_train: 100, pool: 100, train: 80, validation: 20 } });
  });
});
