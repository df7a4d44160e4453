/**
 * ONNX students (`--model onnx:FILE`) train on tfjs's WebGPU backend, for real (Mesa 25 lavapipe
 * here and in CI, test/helpers/webgpu.ts): one SGD step (CE, no weight decay, BatchNorm in training
 * mode) of torchvision's resnet18, timm's ViT layout and a torchvision ConvNeXt (timm_vit and
 * convnext_atto) exported by scripts/torchvision_student.py at 32×32, K = 10, on a
 * batch of 8, through `tfkd train --backend webgpu` and `--backend wasm` (tfkd's CPU kernels: the
 * backend the ONNX import is held to PyTorch on, test/student/zoo/onnx-import.test.ts; tfjs's plain-JS
 * cpu backend takes minutes for this step). Compared, every tensor of the checkpoint:
 *   - the weights after the step within 1e-5 relative (the zoo families' bound, student/webgpu.test.ts);
 *   - the update (after − the ONNX file's initial weights) within 1e-4 relative beyond 2 float32 ulps
 *     of the weight — the bound the import is held to against PyTorch.
 * Batch 8, not smaller: at 32×32 resnet18's last stage is 1×1, and its BatchNorms over 2 values per
 * channel turn float rounding into differences of order 1 between any two backends (cpu vs wasm too).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../../../src/cache/safetensors.js';
import { tf } from '../../../src/student/tf.js';
import { buildOnnxModel, onnxModelSpec } from '../../../src/student/zoo/onnx-import.js';
import { saveWeights } from '../../../src/student/zoo/weights.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { needWebgpu, ROOT, type WebgpuMachine } from '../../helpers/webgpu.js';
import { weightDiff } from '../../helpers/weight-diff.js';
import { py, requireTorch } from '../zoo/torchvision-students.js';

const S = 32;
const K = 10;
const DATA = `synthetic:16:${K}:${S}x${S}x3:3`;
const TOL_WEIGHTS = 1e-5;
const TOL_UPDATE = 1e-4;

describe('student/trainer: ONNX students (resnet18, a ViT, a ConvNeXt) on webgpu vs wasm (real device)', function () {
  this.timeout(900000);
  let m: WebgpuMachine;
  let tmp: string;
  before(function () {
    requireTorch(this);
    m = needWebgpu(this, { students: true });
    tmp = tmpDir('onnx-webgpu');
  });
  after(() => rmDir(tmp));

  /** The exported `arch` and its initial weights under the checkpoint's names (the import of the file, on the cpu backend). */
  const exported = async (arch: string): Promise<string> => {
    const file = path.join(tmp, `${arch}.onnx`);
    py(['export', '--arch', arch, '--out', file, '--size', String(S), '--classes', String(K)]);
    await tf.setBackend('cpu');
    const { spec, graph } = onnxModelSpec(`onnx:${file}`, { inputShape: [S, S, 3], numClasses: K, seed: 3 }, {});
    const model = buildOnnxModel(spec, graph);
    writeSafetensors(path.join(tmp, `${arch}-init.safetensors`), saveWeights(model));
    model.dispose();
    return file;
  };

  const run = (file: string, backend: string): string => {
    const out = path.join(tmp, `${path.basename(file, '.onnx')}-${backend}`);
    const args = [
      'train', '--data', DATA, '--model', `onnx:${file}`, '--loss', 'ce', '--epochs', '1', '--batch', '8', '--eval-batch', '8', '--limit', '8', '--test-limit', '8',
      '--seed', '3', '--weight-decay', '0', '--save-at', 'steps:1', '--backend', backend, '--out', out, '--progress', 'off',
    ];
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...args], { cwd: ROOT, env: { ...m.env, TFKD_THREADS: '1' }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tfkd train --backend ${backend} exited ${r.status}: ${r.stderr}`);
    return out;
  };

  // resnet18: convolutions and BatchNorm; timm_vit: LayerNorm, Erf, attention's batched MatMul,
  // Split of a rank-5 tensor; convnext_atto: 7×7 depthwise convolutions with LayerNorm; swin: rank-6
  // window transposes, the relative position bias's one-hot product, strided slices (patch merging).
  for (const arch of ['resnet18', 'timm_vit', 'convnext_atto', 'swin']) {
    it(`${arch}, one step: weights within ${TOL_WEIGHTS}, updates within ${TOL_UPDATE} relative (+2 ulps) of the wasm backend's`, async () => {
      const file = await exported(arch);
      const ref = run(file, 'wasm');
      const gpu = run(file, 'webgpu');
      const ck = (run: string) => path.join(run, 'checkpoints/step-1/weights.safetensors');
      const weights = weightDiff(ck(ref), ck(gpu));
      const updates = weightDiff(ck(ref), ck(gpu), { base: path.join(tmp, `${arch}-init.safetensors`), floor: 1e-6, ulps: true });
      const loss = (run: string): number => JSON.parse(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim()).train_loss;
      const relLoss = Math.abs(loss(gpu) - loss(ref)) / Math.abs(loss(ref));
      console.log(
        `      ${arch} ${S}×${S}, ${weights.tensors} tensors: loss rel ${relLoss.toExponential(2)}; weights worst relative ${weights.rel.toExponential(2)} (${weights.relTensor}); ` +
          `updates worst relative beyond 2 ulps ${updates.rel.toExponential(2)} (${updates.relTensor}), absolute below 1e-6 ${updates.abs.toExponential(2)}`,
      );
      const man = JSON.parse(fs.readFileSync(path.join(gpu, 'manifest.json'), 'utf8'));
      expect(man.backend).to.include({ name: 'webgpu' });
      expect(relLoss).to.be.at.most(TOL_WEIGHTS);
      expect(weights.rel).to.be.at.most(TOL_WEIGHTS);
      expect(updates.rel).to.be.at.most(TOL_UPDATE);
      expect(updates.abs).to.be.at.most(1e-9);
    });
  }
});
