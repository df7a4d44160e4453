/**
 * zoo `resnet18` is torchvision's resnet18: the same trainable parameter count, and with the
 * weights of a torchvision resnet18 (scripts/torchvision_student.py, seeded, via its ONNX export)
 * loaded by name, the same eval logits as onnxruntime on that export (≤ 1e-4); the zoo model's own
 * ONNX export (ZeroPadding2D → Pad) gives its tfjs logits back.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import { exportOnnx } from '../../../src/export/index.js';
import { selectBackend } from '../../../src/student/backend.js';
import { tf } from '../../../src/student/tf.js';
import { buildModel, countParams, loadWeights, modelSpec, saveWeights, type WeightRecord } from '../../../src/student/zoo/index.js';
import { readOnnxGraph } from '../../../src/student/zoo/onnx-graph.js';
import { K, ortLogits, permute, requireTorch, S, studentOnnx } from './torchvision-students.js';

const N = 2;

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('student/zoo/resnet18: torchvision resnet18 in the zoo', function () {
  this.timeout(300000);
  before(async function () {
    requireTorch(this);
    await selectBackend('wasm');
  });

  it('has torchvision\'s parameter count at any input size', function () {
    for (const s of [32, 64, 112]) {
      const m = buildModel('resnet18', { inputShape: [s, s, 3], numClasses: K, seed: 1 });
      expect(countParams(m).trainable).to.equal(11181642);
      m.dispose();
    }
  });

  it('with torchvision weights: logits = onnxruntime on the torchvision export (≤ 1e-4); its own export round-trips', async function () {
    const file = studentOnnx('resnet18');
    const g = readOnnxGraph(file);
    const model = buildModel('resnet18', { inputShape: [S, S, 3], numClasses: K, seed: 1 });
    const rec: WeightRecord = {};
    const src = new Map(g.weights.map((w) => [w.name, w]));
    for (const key of Object.keys(saveWeights(model))) {
      const [layer, w] = key.split('/');
      const part = { kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' }[w]!;
      const t = src.get(`${layer}.${part}`)!;
      expect(t, `${layer}.${part}`).to.not.equal(undefined);
      const data = w === 'kernel' ? (t.shape.length === 4 ? permute(t.data, t.shape, [2, 3, 1, 0]) : permute(t.data, t.shape, [1, 0])) : t.data;
      const shape = w === 'kernel' ? (t.shape.length === 4 ? [t.shape[2], t.shape[3], t.shape[1], t.shape[0]] : [t.shape[1], t.shape[0]]) : t.shape;
      rec[key] = { dtype: 'F32', shape, data };
    }
    loadWeights(model, rec);
    const x = Float32Array.from({ length: N * 3 * S * S }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
    const ref = await ortLogits(fs.readFileSync(file), x, [N, 3, S, S]);
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(x, [N, 3, S, S]), [0, 2, 3, 1]).dataSync() as Float32Array);
    const y = tf.tidy(() => (model.apply(tf.tensor4d(nhwc, [N, S, S, 3]), { training: false }) as tf.Tensor).dataSync() as Float32Array);
    const d = maxDiff(ref, y);
    const bytes = exportOnnx(model, modelSpec('resnet18', { inputShape: [S, S, 3], numClasses: K, seed: 1 }), { layout: 'NHWC', preprocess: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] } });
    const back = await ortLogits(bytes, nhwc, [N, S, S, 3]);
    const d2 = maxDiff(back, y);
    model.dispose();
    console.log(`      zoo resnet18 vs torchvision (onnxruntime): max |diff| ${d.toExponential(2)}; its own export: ${d2.toExponential(2)}`);
    expect(d).to.be.at.most(1e-4);
    expect(d2).to.be.at.most(1e-4);
  });
});
