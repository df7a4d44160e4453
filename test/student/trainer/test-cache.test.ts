/**
 * `tfkd train --test-cache DIR`: every epoch's evaluation also measures the fidelity to a cached
 * teacher on the test split (test_agreement, test_kl; with --ema the average's too). The figures
 * equal `tfkd eval --teacher-cache` of the epoch's checkpoint, the training itself is unchanged
 * (byte-identical weights), the cache is recorded in the manifest and checked on resume and by
 * repro, and a cache of the other split is refused before anything is written.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli } from '../../cli/train-helpers.js';
import { DATA, rmDir, tmpDir } from './trainer-helpers.js';

const BASE = ['--data', DATA, '--model', 'cnn', '--width-multiplier', '0.125', '--epochs', '2', '--batch', '32', '--limit', '128', '--backend', 'wasm', '--progress', 'off'];
const readLines = (run: string) => fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
const FIDELITY_FIELDS = ['test_agreement', 'test_kl', 'ema_test_agreement', 'ema_test_kl', 'seconds'];
const without = (m: Record<string, number>, keys: string[]) => Object.fromEntries(Object.entries(m).filter(([k]) => !keys.includes(k)));

describe('student/trainer: --test-cache (fidelity to a teacher every epoch)', function () {
  this.timeout(180000);
  let root: string;
  let testCache: string;
  let trainCache: string;
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(0);
    return r;
  };
  before(async () => {
    root = tmpDir('test-cache');
    // A teacher: a run of the same data, exported and cached on both splits.
    const teacherRun = path.join(root, 'teacher');
    await ok('train', ...BASE, '--loss', 'ce', '--seed', '7', '--out', teacherRun);
    const onnx = path.join(root, 'teacher.onnx');
    await ok('export', teacherRun, '--out', onnx);
    testCache = path.join(root, 'tc-test');
    trainCache = path.join(root, 'tc-train');
    await ok('precompute', '--teacher', onnx, '--data', DATA, '--split', 'test', '--device', 'cpu', '--out', testCache, '--progress', 'off');
    await ok('precompute', '--teacher', onnx, '--data', DATA, '--split', 'train', '--device', 'cpu', '--out', trainCache, '--progress', 'off');
  });
  after(() => rmDir(root));

  it('records agreement and KL each epoch — equal to eval --teacher-cache of the epoch checkpoints — and leaves the training unchanged', async () => {
    const run = path.join(root, 'kd');
    const plain = path.join(root, 'kd-plain');
    const student = ['--loss', 'kd', '--cache', trainCache, '--alpha', '0.5', '--temperature', '4', '--ema', '0.9', '--save-at', '1,2'];
    const r = await ok('train', ...BASE, ...student, '--test-cache', testCache, '--out', run);
    await ok('train', ...BASE, ...student, '--out', plain);
    expect(r.out).to.match(/^epoch +1 .* acc \d+\.\d\d %  agree \d+\.\d\d %  ema acc/m);
    const lines = readLines(run);
    const plainLines = readLines(plain);
    // Measuring changes no number of the training: same weights, same metrics apart from the new fields.
    for (const ck of ['last', 'best', 'epoch-1', 'epoch-2']) {
      for (const f of ['weights.safetensors', 'ema.safetensors']) {
        expect(fs.readFileSync(path.join(run, 'checkpoints', ck, f)).equals(fs.readFileSync(path.join(plain, 'checkpoints', ck, f))), `${ck}/${f}`).to.equal(true);
      }
    }
    expect(lines.map((m) => without(m, FIDELITY_FIELDS))).to.deep.equal(plainLines.map((m) => without(m, FIDELITY_FIELDS)));
    expect(plainLines[0]).to.not.have.property('test_agreement');
    for (const m of lines) {
      const e = JSON.parse((await ok('eval', run, '--data', DATA, '--backend', 'wasm', '--checkpoint', `epoch-${m.epoch}`, '--teacher-cache', testCache, '--json')).out);
      expect(e.accuracy, `epoch ${m.epoch}: the checkpoint is the one evaluated`).to.equal(m.test_acc);
      expect(e.fidelity.agreement, `epoch ${m.epoch} agreement`).to.equal(m.test_agreement);
      expect(e.fidelity.kl, `epoch ${m.epoch} KL`).to.equal(m.test_kl);
      const ema = JSON.parse((await ok('eval', run, '--data', DATA, '--backend', 'wasm', '--checkpoint', `epoch-${m.epoch}`, '--ema', '--teacher-cache', testCache, '--json')).out);
      expect(ema.fidelity.agreement, `epoch ${m.epoch} EMA agreement`).to.equal(m.ema_test_agreement);
      expect(ema.fidelity.kl, `epoch ${m.epoch} EMA KL`).to.equal(m.ema_test_kl);
      expect(m.test_agreement).to.be.within(0, 1);
      expect(m.test_kl).to.be.above(0);
    }
    const summary = JSON.parse(fs.readFileSync(path.join(run, 'summary.json'), 'utf8'));
    expect(summary.final_test_agreement).to.equal(lines[1].test_agreement);
    expect(summary.final_test_kl).to.equal(lines[1].test_kl);
    const manifest = JSON.parse(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8'));
    const tc = JSON.parse(fs.readFileSync(path.join(testCache, 'manifest.json'), 'utf8'));
    expect(manifest.testCache).to.include({ dir: testCache, key: tc.key });
    expect(manifest.testCache.teacher.file).to.equal('teacher.onnx');
    expect(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')).testCache).to.equal(testCache);
    expect(JSON.parse(fs.readFileSync(path.join(plain, 'config.json'), 'utf8'))).to.not.have.property('testCache');
    // repro re-measures against the recorded cache and reproduces every figure.
    const rep = await cli('repro', run);
    expect(rep.code, rep.out + rep.err).to.equal(0);
  });

  it('BAD CALL - a cache of the train split: exit 2 before anything is written; resume against another teacher in the same place: exit 1', async () => {
    const out = path.join(root, 'wrong-split');
    const bad = await cli('train', ...BASE, '--loss', 'ce', '--test-cache', trainCache, '--out', out);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.equal(
      `tfkd: --test-cache ${trainCache} holds the teacher's outputs on the train split; the model is evaluated on the test split\n` +
        'hint: precompute the teacher on the test split (tfkd precompute … --split test)\n',
    );
    expect(fs.existsSync(out), 'nothing written').to.equal(false);
    // A run stopped after one epoch, then its test cache replaced by another teacher's.
    const moved = path.join(root, 'tc-moving');
    fs.cpSync(testCache, moved, { recursive: true });
    const run = path.join(root, 'resumed');
    await ok('train', ...BASE, '--loss', 'ce', '--test-cache', moved, '--stop-after', '1', '--out', run);
    rmDir(moved);
    const other = path.join(root, 'other.onnx');
    await ok('export', run, '--out', other);
    await ok('precompute', '--teacher', other, '--data', DATA, '--split', 'test', '--device', 'cpu', '--out', moved, '--progress', 'off');
    const before = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
    const r = await cli('train', '--resume', '--out', run, '--progress', 'off');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(new RegExp(`^tfkd: cache ${moved.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not the cache the run measured its fidelity against: its key is `));
    expect(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8'), 'the run untouched').to.equal(before);
  });
});
