/**
 * Every loss in the registry trains on tfjs's WebGPU backend (Dawn for Node), for real: on Mesa 25's
 * lavapipe here and in CI (test/helpers/webgpu.ts), on a GPU wherever there is one. One `train()`
 * step per loss — and per --logit-standardization form and --fidelity official form — of a narrow mlp on 4 Fashion-MNIST
 * samples, through the trainer (the teacher's rows from a real cache, PS-KD's history from its first
 * epoch), on `webgpu` and on `cpu` (tfjs's plain-JS reference), in two child processes
 * (webgpu-runner.ts). Compared: the step's loss and the weight update (no weight decay: −lr times
 * the gradient; PS-KD: the two steps' sum), each within 1e-5 relative.
 * A loss that reads the logits on the host inside the gradient's scope fails here: webgpu in Node
 * has no synchronous read ("OffscreenCanvas is not defined").
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtinLosses } from '../../../src/student/losses/index.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { needWebgpu, ROOT, type WebgpuMachine } from '../../helpers/webgpu.js';
import { weightDiff } from '../../helpers/weight-diff.js';
import type { StepCase } from './webgpu-runner.js';

const TOL = 1e-5;
// An update entry below this is rounding noise around zero (compared absolutely, ATOL).
const FLOOR = 1e-6;
const ATOL = 1e-9;
const DATA = 'fashion-mnist:data/fashion-mnist-subset';

const CASES: StepCase[] = builtinLosses().flatMap((e) => {
  const c = (ls: boolean, fidelity: 'paper' | 'official' = 'paper'): StepCase => ({
    id: `${e.name}${ls ? '-ls' : ''}${fidelity === 'official' ? '-official' : ''}`,
    loss: e.name,
    logitStandardization: ls,
    fidelity,
    teacher: ls || e.teacher !== 'none',
    epochs: e.selfHistory ? 2 : 1,
  });
  return [c(false), ...(e.standardized ? [c(true)] : []), ...(e.fidelityModes ? [c(false, 'official')] : [])];
});

function runner(env: NodeJS.ProcessEnv, backend: string, cache: string, out: string): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx/esm', path.join(ROOT, 'test/student/losses/webgpu-runner.ts'), backend, cache, out, JSON.stringify(CASES)], {
    cwd: ROOT,
    env: { ...env, TFKD_THREADS: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`webgpu-runner ${backend} exited ${r.status}: ${r.stderr.split('\n').filter((l) => !/^\s+at /.test(l)).join('\n')}`);
}

const trainLoss = (run: string): number => JSON.parse(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!).train_loss;

describe('student/losses on webgpu: one training step per registry loss vs the cpu backend (real device)', function () {
  this.timeout(900000);
  let m: WebgpuMachine;
  let tmp: string;
  before(function () {
    m = needWebgpu(this, { students: true });
    tmp = tmpDir('webgpu-losses');
    const cache = path.join(tmp, 'cache');
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/tfkd.js'), 'precompute', '--teacher', 'models/fmnist-good.onnx', '--data', DATA, '--out', cache, '--device', 'cpu', '--progress', 'off'],
      { cwd: ROOT, env: { ...m.env, TFKD_THREADS: '1' }, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`precompute exited ${r.status}: ${r.stderr}`);
    runner(m.env, 'cpu', cache, path.join(tmp, 'cpu'));
    runner(m.env, 'webgpu', cache, path.join(tmp, 'webgpu'));
  });
  after(() => rmDir(tmp));

  it('covers every loss of the registry, every --logit-standardization form and every --fidelity official form', () => {
    expect(new Set(CASES.map((c) => c.loss))).to.deep.equal(new Set(builtinLosses().map((e) => e.name)));
    expect(CASES.filter((c) => c.logitStandardization).length).to.equal(builtinLosses().filter((e) => e.standardized).length);
    expect(CASES.filter((c) => c.fidelity === 'official').length).to.equal(builtinLosses().filter((e) => e.fidelityModes).length);
  });

  const worst = { loss: { rel: 0, at: '' }, update: { rel: 0, at: '' } };
  for (const c of CASES) {
    it(`${c.id}: loss and weight update on webgpu equal cpu's within ${TOL} relative`, () => {
      const cpu = path.join(tmp, 'cpu', c.id);
      const gpu = path.join(tmp, 'webgpu', c.id);
      for (const run of [cpu, gpu]) if (fs.existsSync(`${run}.error`)) expect.fail(`${c.id} on ${path.basename(path.dirname(run))}: ${fs.readFileSync(`${run}.error`, 'utf8')}`);
      const man = JSON.parse(fs.readFileSync(path.join(gpu, 'manifest.json'), 'utf8'));
      expect(man.backend).to.include({ name: 'webgpu', requested: 'webgpu' });
      const lc = trainLoss(cpu);
      const lg = trainLoss(gpu);
      const relLoss = Math.abs(lg - lc) / Math.abs(lc);
      const ck = `checkpoints/step-${c.epochs}/weights.safetensors`;
      const w = weightDiff(path.join(cpu, ck), path.join(gpu, ck), { base: path.join(tmp, 'cpu', 'init.safetensors'), floor: FLOOR });
      console.log(`      ${c.id}: loss ${lc.toPrecision(7)} vs ${lg.toPrecision(7)} (rel ${relLoss.toExponential(2)}); update: worst relative ${w.rel.toExponential(2)} (${w.relTensor}), worst absolute below ${FLOOR}: ${w.abs.toExponential(2)}`);
      if (relLoss > worst.loss.rel) worst.loss = { rel: relLoss, at: c.id };
      if (w.rel > worst.update.rel) worst.update = { rel: w.rel, at: c.id };
      expect(Number.isFinite(lc), 'a finite cpu loss').to.equal(true);
      expect(relLoss).to.be.at.most(TOL);
      expect(w.rel).to.be.at.most(TOL);
      expect(w.abs).to.be.at.most(ATOL);
    });
  }
  it('BAD CALL - a user loss that reads the logits on the host: one line naming it, exit 1 (it trains on cpu)', () => {
    const mod = path.join(tmp, 'host-read.mjs');
    fs.writeFileSync(
      mod,
      "export default { name: 'host-read', teacher: 'none', options: {}, fn: ({ tf, logits, labels }) => { logits.dataSync(); return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 10), logits); } };\n",
    );
    const args = (backend: string) => [
      path.join(ROOT, 'bin/tfkd.js'), 'train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.25', '--loss', mod, '--epochs', '1', '--batch', '4', '--eval-batch', '4',
      '--limit', '4', '--test-limit', '4', '--backend', backend, '--out', path.join(tmp, `host-read-${backend}`), '--progress', 'off',
    ];
    const gpu = spawnSync(process.execPath, args('webgpu'), { cwd: ROOT, env: { ...m.env, TFKD_THREADS: '1' }, encoding: 'utf8' });
    expect(gpu.status, gpu.stderr).to.equal(1);
    expect(gpu.stderr).to.match(/^tfkd: loss host-read reads a tensor on the host inside its function \(dataSync\/arraySync\), which the webgpu backend cannot do in Node$/m);
    expect(gpu.stderr).to.not.match(/OffscreenCanvas|\n\s+at /);
    const cpu = spawnSync(process.execPath, args('cpu'), { cwd: ROOT, env: { ...m.env, TFKD_THREADS: '1' }, encoding: 'utf8' });
    expect(cpu.status, cpu.stderr).to.equal(0);
  });

  after(() => {
    if (worst.loss.at) console.log(`      worst over the losses: loss ${worst.loss.rel.toExponential(2)} (${worst.loss.at}), update ${worst.update.rel.toExponential(2)} (${worst.update.at}); tolerance ${TOL}`);
  });
});
