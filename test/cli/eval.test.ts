import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATA, tmpDir } from '../student/trainer/trainer-helpers.js';
import { cli } from './train-helpers.js';

describe('cli/eval and cli/export', function () {
  this.timeout(120000);
  let root: string;
  let run: string;
  before(async () => {
    root = tmpDir('cli-eval');
    run = path.join(root, 'run');
    const r = await cli('train', '--data', DATA, '--model', 'cnn', '--width-multiplier', '0.125', '--loss', 'ce', '--epochs', '2', '--batch', '32',
      '--limit', '128', '--test-limit', '64', '--backend', 'wasm', '--save-at', '1', '--progress', 'off', '--out', run);
    expect(r.code, r.err).to.equal(0);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('eval RUN: accuracy, loss and a confusion matrix that sums to the sample count', async () => {
    const r = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--json');
    expect(r.code, r.err).to.equal(0);
    const j = JSON.parse(r.out);
    expect(j).to.include({ kind: 'run', split: 'test', n: 256, numClasses: 4 });
    expect(j.checkpoint).to.equal(path.join(run, 'checkpoints', 'best'));
    const total = j.confusion.flat().reduce((a: number, b: number) => a + b, 0);
    const diag = j.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0);
    expect(total).to.equal(256);
    expect(j.accuracy).to.equal(diag / 256);
    expect(j.loss).to.be.greaterThan(0);
    const text = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--checkpoint', 'epoch-1');
    expect(text.out).to.match(/^accuracy +\d+\.\d\d %$/m);
    expect(text.out).to.match(/checkpoints\/epoch-1/);
  });

  it('export RUN → ONNX; eval of the .onnx equals eval of the run (same predictions, loss within 1e-5)', async () => {
    for (const layout of ['NHWC', 'NCHW']) {
      const onnx = path.join(root, `m-${layout}.onnx`);
      const e = await cli('export', run, '--out', onnx, '--layout', layout, '--json');
      expect(e.code, e.err).to.equal(0);
      const info = JSON.parse(e.out);
      expect(info.sha256).to.match(/^[0-9a-f]{64}$/);
      expect(info.preprocess).to.deep.include({ scale: 1 / 255, mean: [0], std: [1], layout });
      const a = JSON.parse((await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--json')).out);
      const b = await cli('eval', onnx, '--data', DATA, '--device', 'cpu', '--json');
      expect(b.code, b.err).to.equal(0);
      const jb = JSON.parse(b.out);
      expect(jb.kind).to.equal('onnx');
      expect(jb.confusion).to.deep.equal(a.confusion);
      expect(Math.abs(jb.loss - a.loss), `|loss diff| ${Math.abs(jb.loss - a.loss)}`).to.be.below(1e-5);
    }
  });

  it('eval --reliability BASE: the reliability diagram as BASE.png and BASE.svg, with the printed ECE; a missing folder is refused before any work', async () => {
    const base = path.join(root, 'rel');
    const r = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--reliability', `${base}.png`);
    expect(r.code, r.err).to.equal(0);
    const ece = /^ECE +(\d+\.\d\d) % \(15 bins; mean confidence (\d+\.\d\d) %\)$/m.exec(r.out);
    expect(ece, r.out).to.not.equal(null);
    expect(r.out).to.include(`reliability diagram: ${base}.png, ${base}.svg`);
    const svg = fs.readFileSync(`${base}.svg`, 'utf8');
    expect(svg).to.include(`Reliability diagram · ECE ${ece![1]} % (15 bins)`);
    expect(svg).to.include(`mean confidence ${ece![2]} %`);
    const png = fs.readFileSync(`${base}.png`);
    expect(png.subarray(1, 4).toString('latin1')).to.equal('PNG');
    const bad = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--reliability', path.join(root, 'no-such-dir', 'rel'));
    expect(bad.code).to.equal(2);
    expect(bad.err).to.match(/^tfkd: --reliability .*no-such-dir\/rel: the folder .*no-such-dir does not exist\n$/);
  });

  it('eval --fit-temperature prints the fitted T and the figures at it; --temperature T then prints the same figures; both at once, or T ≤ 0, are refused', async () => {
    const fit = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--fit-temperature');
    expect(fit.code, fit.err).to.equal(0);
    const m = /^fitted T +(\S+)(?: \(the search bound[^)]*\))?: minimises the mean cross-entropy of these samples \(optimistic here; --temperature applies it to other data\)\nat that T  loss (\d+\.\d{4}), ECE (\d+\.\d\d) % \(mean confidence (\d+\.\d\d) %\)$/m.exec(fit.out);
    expect(m, fit.out).to.not.equal(null);
    const j = JSON.parse((await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--fit-temperature', '--json')).out);
    expect(j.temperatureFit.temperature.toPrecision(5)).to.equal(m![1]);
    const at = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--temperature', String(j.temperatureFit.temperature));
    expect(at.code, at.err).to.equal(0);
    expect(at.out).to.match(/^temperature \S+ \(logits ÷ T before scoring: the loss and calibration change, the rankings do not\)$/m);
    expect(at.out).to.include(`loss       ${m![2]} (mean cross-entropy)`);
    expect(at.out).to.include(`ECE        ${m![3]} % (15 bins; mean confidence ${m![4]} %)`);
    const plain = await cli('eval', run, '--data', DATA, '--backend', 'wasm');
    const matrix = (o: string) => o.slice(o.indexOf('confusion matrix'));
    expect(matrix(at.out)).to.equal(matrix(plain.out));
    const both = await cli('eval', run, '--data', DATA, '--temperature', '2', '--fit-temperature');
    expect(both.code).to.equal(2);
    expect(both.err).to.equal('tfkd: --temperature and --fit-temperature exclude each other\nhint: fit a temperature on one data set, then apply it to another with --temperature\n');
    const zero = await cli('eval', run, '--data', DATA, '--temperature', '0');
    expect(zero.code).to.equal(2);
    expect(zero.err).to.equal('tfkd: invalid options: --temperature: temperature must be > 0\n');
  });

  it('eval --unseen: the train-split samples a --limit run did not train on; refused for a run without --limit, other data, --split test, ONNX files', async () => {
    const all = JSON.parse((await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--split', 'train', '--json')).out);
    const r = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--unseen', '--json');
    expect(r.code, r.err).to.equal(0);
    const j = JSON.parse(r.out);
    expect(j).to.include({ split: 'train', n: all.n - 128 });
    expect(j.unseen).to.deep.equal({ trained: 128, pool: all.n - 128 });
    // A subset of the train split: what is left of its confusion matrix is the 128 trained-on samples.
    const rest = all.confusion.map((row: number[], y: number) => row.map((v, p) => v - j.confusion[y][p]));
    expect(rest.flat().every((v: number) => v >= 0), JSON.stringify(rest)).to.equal(true);
    expect(rest.flat().reduce((a: number, b: number) => a + b, 0)).to.equal(128);
    const text = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--unseen', '--limit', '50');
    expect(text.out).to.match(new RegExp(`^data +${DATA.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.* \\[train\\], 50 samples of the ${all.n - 128} the run did not train on \\(it trained on 128\\)$`, 'm'));
    const full = path.join(root, 'full');
    const t = await cli('train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--loss', 'ce', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', full);
    expect(t.code, t.err).to.equal(0);
    const bad: Array<[string[], RegExp]> = [
      [[full, '--data', DATA], /trained on every sample of the train split \(no --limit\); there is nothing it did not see/],
      [[run, '--data', 'synthetic:256:4:8x8x1:6'], /synthetic:256:4:8x8x1:6 is not the data .* trained on \(fingerprint/],
      [[run, '--data', DATA, '--split', 'test'], /does not go with --split test/],
      [[path.join(root, 'm-NHWC.onnx'), '--data', DATA], /--unseen applies to runs/],
      [[run, '--data', DATA, '--limit', '500'], /--limit 500 exceeds the 128 unseen samples of the train split/],
    ];
    for (const [args, msg] of bad) {
      const b = await cli('eval', ...args, '--unseen');
      expect(b.code, `${args.join(' ')}: ${b.err}`).to.equal(2);
      expect(b.err).to.match(msg);
    }
  });

  it("eval --teacher-cache: fidelity to a cached teacher — the run's own export agrees 100 % with KL ≈ 0; with --unseen on a train-split cache; another split refused", async () => {
    const onnx = path.join(root, 'fidelity.onnx');
    expect((await cli('export', run, '--out', onnx)).code).to.equal(0);
    const testCache = path.join(root, 'teacher-test');
    const trainCache = path.join(root, 'teacher-train');
    for (const [out, split] of [[testCache, 'test'], [trainCache, 'train']]) {
      const p = await cli('precompute', '--teacher', onnx, '--data', DATA, '--split', split, '--device', 'cpu', '--out', out, '--progress', 'off');
      expect(p.code, p.err).to.equal(0);
    }
    const r = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--teacher-cache', testCache);
    expect(r.code, r.err).to.equal(0);
    const acc = /^accuracy +(\d+\.\d\d) %$/m.exec(r.out)![1];
    expect(r.out).to.include(`teacher    ${testCache} (the cached outputs of fidelity.onnx)\n`);
    expect(r.out).to.include(`agreement  100.00 % (top-1: the model predicts the teacher's class; the teacher's accuracy here ${acc} %)\n`);
    expect(r.out).to.match(/^KL\(t‖m\) +0\.0000 \(mean KL\(teacher ‖ model\), nats; the teacher at τ = 1, the model at T = 1\)$/m);
    const j = JSON.parse((await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--teacher-cache', testCache, '--json')).out);
    expect(j.fidelity.agreement).to.equal(1);
    expect(j.fidelity.teacherAccuracy).to.equal(j.accuracy);
    expect(j.fidelity.kl).to.be.at.least(0).and.below(1e-9); // the export's logits equal the run's to float32 rounding
    expect(j.teacherCache).to.include({ dir: testCache, teacher: 'fidelity.onnx', topk: null, views: 1, skipped: 0 });
    const unseen = JSON.parse((await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--unseen', '--teacher-cache', trainCache, '--json')).out);
    expect(unseen.n).to.equal(unseen.unseen.pool);
    expect(unseen.fidelity.agreement).to.equal(1);
    const bad = await cli('eval', run, '--data', DATA, '--backend', 'wasm', '--teacher-cache', trainCache);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.equal(
      `tfkd: --teacher-cache ${trainCache} holds the teacher's outputs on the train split; the model is evaluated on the test split\n` +
        'hint: precompute the teacher on the test split (tfkd precompute … --split test), or evaluate on the train split (--split train)\n',
    );
  });

  it('BAD CALL - options that do nothing for the kind of target are refused before any work (exit 2, one line + hint), nothing written', async () => {
    const onnx = path.join(root, 'kind.onnx');
    const cache = path.join(root, 'kind-cache');
    expect((await cli('export', run, '--out', onnx)).code).to.equal(0);
    const p = await cli('precompute', '--teacher', onnx, '--data', DATA, '--device', 'cpu', '--out', cache, '--progress', 'off');
    expect(p.code, p.err).to.equal(0);
    const labels = path.join(root, 'labels.json');
    fs.writeFileSync(labels, JSON.stringify(['0', '1', '2', '3']));
    const ck = path.join(run, 'checkpoints', 'best');
    const runIs = (t: string) => `${t} is a run (or one of its checkpoints), rebuilt in tfjs`;
    const cacheMsg = (flag: string) => `tfkd: ${flag} does not apply to a cache: its rows are the teacher's outputs as recorded\nhint: leave out ${flag}: a cache is scored from its rows, with no inference\n`;
    const cases: Array<[string[], string]> = [
      [[onnx, '--checkpoint', 'best'], `tfkd: --checkpoint applies to runs: ${onnx} is an ONNX file, one model with no checkpoints\nhint: leave out --checkpoint, or evaluate the run it was exported from\n`],
      [[onnx, '--device', 'cpu', '--backend', 'wasm'], `tfkd: --backend applies to runs (the tfjs backend): ${onnx} is an ONNX file, run on onnxruntime\nhint: leave out --backend; onnxruntime's device is --device\n`],
      [[onnx, '--backend', 'auto'], `tfkd: --backend applies to runs (the tfjs backend): ${onnx} is an ONNX file, run on onnxruntime\nhint: leave out --backend; onnxruntime's device is --device\n`],
      [[cache, '--backend', 'wasm'], cacheMsg('--backend')],
      [[cache, '--device', 'cpu'], cacheMsg('--device')],
      [[run, '--backend', 'wasm', '--device', 'cpu'], `tfkd: --device applies to ONNX models (onnxruntime's device): ${runIs(run)}\nhint: leave out --device; the tfjs backend is --backend\n`],
      [[ck, '--device', 'auto'], `tfkd: --device applies to ONNX models (onnxruntime's device): ${runIs(ck)}\nhint: leave out --device; the tfjs backend is --backend\n`],
      [[run, '--preprocess', 'imagenet'], `tfkd: --preprocess applies to ONNX models: ${runIs(run)} and fed through the eval transform recorded in its checkpoint\nhint: leave out --preprocess\n`],
      [[run, '--class-map', '[0,1,2,3]'], `tfkd: --class-map applies to ONNX models: ${runIs(run)}, whose outputs are the classes it was trained on\nhint: leave out --class-map\n`],
      [[run, '--teacher-labels', labels], `tfkd: --teacher-labels applies to ONNX models: ${runIs(run)}, whose outputs are the classes it was trained on\nhint: leave out --teacher-labels\n`],
      [[run, '--seed', '3'], 'tfkd: --seed picks the --limit subset; without --limit every sample is evaluated\nhint: add --limit N, or leave out --seed\n'],
      [[onnx, '--seed', '0'], 'tfkd: --seed picks the --limit subset; without --limit every sample is evaluated\nhint: add --limit N, or leave out --seed\n'],
      [[ck, '--checkpoint', 'last'], `tfkd: --checkpoint picks a checkpoint of a run directory; ${ck} is already one\nhint: leave out --checkpoint, or give the run directory ${run} with --checkpoint last\n`],
    ];
    const rel = path.join(root, 'refused');
    for (const [args, msg] of cases) {
      const r = await cli('eval', ...args, '--data', DATA, '--reliability', rel);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
      expect(r.err, args.join(' ')).to.equal(msg);
      expect(r.out, args.join(' ')).to.equal('');
      expect(fs.existsSync(`${rel}.png`) || fs.existsSync(`${rel}.svg`), `${args.join(' ')}: a diagram was written`).to.equal(false);
    }
    // What each kind does read is still taken, and a checkpoint directory may be named by its own name.
    for (const args of [[onnx, '--device', 'cpu'], [run, '--backend', 'wasm', '--limit', '20', '--seed', '3'], [cache, '--limit', '20', '--seed', '3'], [ck, '--checkpoint', 'best', '--backend', 'wasm']]) {
      const r = await cli('eval', ...args, '--data', DATA, '--json');
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(0);
    }
    expect(JSON.parse((await cli('eval', ck, '--checkpoint', 'best', '--data', DATA, '--json')).out).checkpoint).to.equal(ck);
  });

  it('BAD CALL - export of a checkpoint directory with --checkpoint naming another is refused, nothing written; its own name is accepted', async () => {
    const last = path.join(run, 'checkpoints', 'last');
    const out = path.join(root, 'ck-refused.onnx');
    for (const name of ['epoch-99', 'best']) {
      const r = await cli('export', last, '--checkpoint', name, '--out', out);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.equal(`tfkd: --checkpoint picks a checkpoint of a run directory; ${last} is already one\nhint: leave out --checkpoint, or give the run directory ${run} with --checkpoint ${name}\n`);
      expect(r.out).to.equal('');
      expect(fs.existsSync(out), 'the .onnx was written').to.equal(false);
    }
    const ok = await cli('export', `${last}/`, '--checkpoint', 'last', '--out', out, '--json');
    expect(ok.code, ok.err).to.equal(0);
    expect(path.resolve(JSON.parse(ok.out).checkpoint)).to.equal(path.resolve(last));
  });

  it('BAD CALL - a checkpoint that does not exist lists the ones that do', async () => {
    const r = await cli('eval', run, '--data', DATA, '--checkpoint', 'epoch-7');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/^tfkd: .*no checkpoint 'epoch-7'\nhint: available: best, epoch-1, last\n$/);
  });

  it('BAD CALL - data of another shape than the model was trained on', async () => {
    const r = await cli('eval', run, '--data', 'synthetic:32:4:8x8x3', '--backend', 'wasm');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/takes 8x8x1 images and K = 4; .* has 8x8x3/);
  });

  it('BAD CALL - export to a name that is not .onnx, or from a missing run', async () => {
    expect((await cli('export', run, '--out', path.join(root, 'x.bin'))).code).to.equal(2);
    const r = await cli('export', path.join(root, 'nope'), '--out', path.join(root, 'x.onnx'));
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/no such run directory/);
  });
});
