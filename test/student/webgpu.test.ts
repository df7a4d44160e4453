/**
 * Students on tfjs's WebGPU backend (Dawn for Node), for real: on Mesa 25's lavapipe here and in
 * CI (test/helpers/webgpu.ts), on a GPU wherever there is one. Through `tfkd train`, in child
 * processes (the Vulkan driver's environment must be there when the process starts):
 *   - one KD step of each zoo model family (mlp, cnn, resnet, mobilenetv2) on `--backend webgpu`
 *     leaves weights equal to `--backend cpu`'s (tfjs's plain-JS reference) within 1e-5 relative
 *     (max |Δ| / max |w| over each tensor);
 *   - a `cnn` KD run on webgpu completes its epoch, records the backend and the adapter in the run
 *     manifest, and says on stdout when the adapter is a software one;
 *   - `tfkd repro` of a webgpu run on the same adapter is bit for bit (what repro promises there);
 *   - `--backend auto` never picks a software adapter, and says so.
 * Tiny batches: lavapipe runs 30–70× slower than the CPU, and tfjs's cpu backend is slow too.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needWebgpu, ROOT, type WebgpuMachine } from '../helpers/webgpu.js';
import { FLOOR, weightDiff } from '../helpers/weight-diff.js';

const TOL = 1e-5;
const DATA = 'fashion-mnist:data/fashion-mnist-subset';

function tfkd(env: NodeJS.ProcessEnv, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...args], { cwd: ROOT, env: { ...env, TFKD_THREADS: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tfkd ${args[0]} exited ${r.status}: ${r.stderr}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A tensor whose values stay below FLOOR is compared absolutely (test/helpers/weight-diff.ts says why).
const ATOL = 1e-7;

describe('student/webgpu: tfjs WebGPU backend vs cpu backend (real device)', function () {
  this.timeout(900000);
  let m: WebgpuMachine;
  let tmp: string;
  let cache: string;
  before(function () {
    m = needWebgpu(this, { students: true });
    tmp = tmpDir('webgpu-student');
    cache = path.join(tmp, 'cache');
    tfkd(m.env, ['precompute', '--teacher', 'models/fmnist-good.onnx', '--data', DATA, '--out', cache, '--device', 'cpu', '--progress', 'off']);
  });
  after(() => rmDir(tmp));

  const run = (model: string, backend: string, limit: number, batch = 4) => {
    const out = path.join(tmp, `${model}-${backend}`);
    const r = tfkd(m.env, [
      'train', '--data', DATA, '--model', model, '--loss', 'kd', '--cache', cache, '--epochs', '1', '--batch', String(batch), '--eval-batch', '4',
      '--limit', String(limit), '--test-limit', '4', '--seed', '3', '--save-at', 'steps:1', '--backend', backend, '--out', out, '--progress', 'off',
    ]);
    return { out, ...r };
  };

  // cnn gets two steps (an epoch of 8 samples) and the run-level checks; the others one step.
  // mobilenetv2 on 28×28 ends in 1×1 feature maps: its BatchNorms see only `batch` values per
  // channel there, so a batch of 4 makes the step ill-conditioned (float rounding amplified).
  for (const [model, limit, batch] of [['cnn', 8, 4], ['mlp', 4, 4], ['resnet8', 4, 4], ['mobilenetv2', 16, 16]] as const) {
    it(`${model}: the first KD step on --backend webgpu equals --backend cpu within ${TOL} relative`, () => {
      const cpu = run(model, 'cpu', limit, batch);
      const gpu = run(model, 'webgpu', limit, batch);
      const w = weightDiff(path.join(cpu.out, 'checkpoints/step-1/weights.safetensors'), path.join(gpu.out, 'checkpoints/step-1/weights.safetensors'));
      console.log(`      ${model}: after step 1, ${w.tensors} tensors: worst relative ${w.rel.toExponential(2)} (${w.relTensor || '-'}), worst absolute among those below ${FLOOR}: ${w.abs.toExponential(2)} (${w.absTensor || '-'})`);
      expect(w.rel).to.be.at.most(TOL);
      expect(w.abs).to.be.at.most(ATOL);
      const man = JSON.parse(fs.readFileSync(path.join(gpu.out, 'manifest.json'), 'utf8'));
      expect(man.backend).to.include({ name: 'webgpu', kernels: 'webgpu', requested: 'webgpu' });
      expect(man.backend.adapter).to.include({ software: m.adapter.software, description: m.adapter.description });
      if (model === 'cnn') {
        const metrics = fs.readFileSync(path.join(gpu.out, 'metrics.jsonl'), 'utf8').trim().split('\n');
        expect(metrics).to.have.length(1);
        expect(JSON.parse(metrics[0])).to.include({ epoch: 1 });
        expect(gpu.stdout).to.match(/backend webgpu/);
        if (m.adapter.software) expect(gpu.stdout + JSON.stringify(man.backend.why)).to.match(/software adapter/);
        expect(gpu.stderr, 'nothing but tfkd on stderr').to.not.match(/synchronously reading/);
      }
    });
  }

  // cnn at batch 4: its 9216 → 128 dense layer is a product tfjs would sum with float atomics
  // (split-K), which made this very run differ from itself by 2e-7 before student/webgpu-matmul.ts.
  it('repro of a webgpu run on the same adapter: bit for bit (the measurement behind repro\'s promise)', () => {
    const out = path.join(tmp, 'repro-cnn');
    tfkd(m.env, [
      'train', '--data', DATA, '--model', 'cnn', '--loss', 'kd', '--cache', cache, '--epochs', '1', '--batch', '4', '--eval-batch', '4',
      '--limit', '12', '--test-limit', '4', '--save-at', '1', '--backend', 'webgpu', '--out', out, '--progress', 'off',
    ]);
    const r = tfkd(m.env, ['repro', out]);
    expect(r.stdout).to.match(/promise {6}webgpu on the same adapter: bit-identical/);
    expect(r.stdout).to.match(/result {7}reproduced bit for bit/);
  });

  it('--backend auto does not pick a software adapter, and says why', function () {
    if (!m.adapter.software) this.skip();
    const r = run('mlp', 'auto', 4);
    const man = JSON.parse(fs.readFileSync(path.join(r.out, 'manifest.json'), 'utf8'));
    expect(man.backend.name).to.not.equal('webgpu');
    expect(man.backend.why.join('\n')).to.match(/webgpu: not used \(software adapter only/);
    expect(r.stderr).to.not.match(/Warning|vkCreateInstance|XDG_RUNTIME_DIR/);
  });
});
