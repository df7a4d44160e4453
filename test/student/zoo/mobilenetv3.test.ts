/**
 * zoo `mobilenet_v3_small` is torchvision's mobilenet_v3_small: the same trainable parameter count
 * (also at width_mult 0.5), and with the weights of a torchvision mobilenet_v3_small
 * (scripts/torchvision_student.py, seeded, via its ONNX export) loaded by name, the same eval
 * logits as onnxruntime on that export (≤ 1e-4); the zoo model's own ONNX export (HardSigmoid,
 * Mul, Reshape, Pad) gives its tfjs logits back; one training step on wasm moves every trainable
 * weight and the BN statistics, with the depthwise gradients on the native add-on when built.
 * Hardswish / Hardsigmoid are checked against PyTorch's definition relu6(x + 3) / 6 directly.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import { exportOnnx } from '../../../src/export/index.js';
import { selectBackend } from '../../../src/student/backend.js';
import { loadNative, NATIVE_KERNELS } from '../../../src/student/kernels/native.js';
import { tf } from '../../../src/student/tf.js';
import { buildModel, countParams, loadWeights, modelSpec, saveWeights, type WeightRecord } from '../../../src/student/zoo/index.js';
import { hardSigmoid, hardSwish, SeededDropout } from '../../../src/student/zoo/mobilenetv3-layers.js';
import { readOnnxGraph } from '../../../src/student/zoo/onnx-graph.js';
import { K, ortLogits, permute, requireTorch, S, studentOnnx } from './torchvision-students.js';
import { needsNativeAddon } from '../../helpers/needs.js';

const N = 2;
const NAME = 'mobilenet_v3_small';
const PART: Record<string, string> = { kernel: 'weight', depthwise_kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var' };

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** The torchvision state_dict (from the ONNX export's initializers) as the zoo model's weight record. */
function torchvisionWeights(model: tf.LayersModel, file: string): WeightRecord {
  const src = new Map(readOnnxGraph(file).weights.map((w) => [w.name, w]));
  const rec: WeightRecord = {};
  for (const [key, own] of Object.entries(saveWeights(model))) {
    const [layer, w] = key.split('/');
    if (w === 'calls') {
      rec[key] = own; // the Dropout's mask counter: tfkd's own state, not in the state_dict
      continue;
    }
    const t = src.get(`${layer}.${PART[w]}`);
    expect(t, `${layer}.${PART[w]} for ${key}`).to.not.equal(undefined);
    // OIHW → HWIO ([C, 1, kh, kw] → [kh, kw, 1, C], the order of the depthwise [kh, kw, C, 1]); [out, in] → [in, out].
    const data = t!.shape.length === 4 ? permute(t!.data, t!.shape, [2, 3, 1, 0]) : t!.shape.length === 2 ? permute(t!.data, t!.shape, [1, 0]) : t!.data;
    expect(data.length, key).to.equal(own.data.length);
    rec[key] = { dtype: 'F32', shape: own.shape, data };
  }
  return rec;
}

describe('student/zoo/mobilenetv3: torchvision mobilenet_v3_small in the zoo', function () {
  this.timeout(300000);
  before(async function () {
    await selectBackend('wasm');
  });

  it('Hardswish / Hardsigmoid are PyTorch\'s: relu6(x + 3) / 6, float32 order (x · relu6(x + 3)) / 6', function () {
    const xs = Float32Array.from({ length: 4001 }, (_, i) => -5 + i * 0.0025);
    const f32 = Math.fround;
    const relu6 = (v: number) => Math.min(Math.max(v, 0), 6);
    const sig = xs.map((v) => f32(f32(relu6(f32(v + 3))) / 6));
    const swish = xs.map((v) => f32(f32(v * f32(relu6(f32(v + 3)))) / 6));
    const [s, w] = tf.tidy(() => [hardSigmoid(tf.tensor1d(xs)).dataSync(), hardSwish(tf.tensor1d(xs)).dataSync()]);
    console.log(`      hardsigmoid max |diff| ${maxDiff(s, sig).toExponential(2)}, hardswish ${maxDiff(w, swish).toExponential(2)} (float32 reference)`);
    expect(maxDiff(s, sig)).to.equal(0);
    expect(maxDiff(w, swish)).to.equal(0);
  });

  it('Dropout: a new seeded mask at every training call, none in eval; the call count is a weight, so a resumed model draws the same masks', function () {
    const x = tf.ones([4, 256]);
    const layer = () => new SeededDropout({ name: 'classifier.2', rate: 0.5, seed: 7 });
    const run = (l: SeededDropout, training: boolean) => tf.tidy(() => (l.apply(x, { training }) as tf.Tensor).dataSync() as Float32Array);
    const a = layer();
    const masks = [run(a, true), run(a, true), run(a, true)];
    expect(Array.from(run(a, false))).to.deep.equal(Array.from(x.dataSync())); // eval: identity, count unchanged
    for (const m of masks) expect(new Set(m)).to.deep.equal(new Set([0, 2])); // inverted dropout: 0 or 1 / (1 − 0.5)
    expect(maxDiff(masks[0], masks[1])).to.equal(2);
    const b = layer();
    run(b, true);
    const c = layer();
    run(c, false); // builds it
    c.setWeights(b.getWeights()); // a checkpoint after one step
    expect(Array.from(run(c, true))).to.deep.equal(Array.from(masks[1]));
    expect(Array.from(run(layer(), true))).to.deep.equal(Array.from(masks[0])); // same seed, same first mask
    x.dispose();
  });

  it('has torchvision\'s parameter count at any input size (1 528 106 at K = 10; 409 394 at width_mult 0.5)', function () {
    for (const s of [32, 64, 112]) {
      const m = buildModel(NAME, { inputShape: [s, s, 3], numClasses: K, seed: 1 });
      expect(countParams(m).trainable).to.equal(1528106);
      m.dispose();
    }
    const half = buildModel(NAME, { inputShape: [64, 64, 3], numClasses: K, seed: 1, widthMultiplier: 0.5 });
    expect(countParams(half).trainable).to.equal(409394);
    half.dispose();
  });

  it('with torchvision weights: logits = onnxruntime on the torchvision export (≤ 1e-4); its own export round-trips', async function () {
    requireTorch(this);
    const file = studentOnnx(NAME);
    const opts = { inputShape: [S, S, 3] as [number, number, number], numClasses: K, seed: 1 };
    const model = buildModel(NAME, opts);
    loadWeights(model, torchvisionWeights(model, file));
    const x = Float32Array.from({ length: N * 3 * S * S }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
    const ref = await ortLogits(fs.readFileSync(file), x, [N, 3, S, S]);
    const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(x, [N, 3, S, S]), [0, 2, 3, 1]).dataSync() as Float32Array);
    const y = tf.tidy(() => (model.apply(tf.tensor4d(nhwc, [N, S, S, 3]), { training: false }) as tf.Tensor).dataSync() as Float32Array);
    const d = maxDiff(ref, y);
    const bytes = exportOnnx(model, modelSpec(NAME, opts), { layout: 'NHWC', preprocess: { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] } });
    const back = await ortLogits(bytes, nhwc, [N, S, S, 3]);
    const d2 = maxDiff(back, y);
    // torchvision initialises the classifier with N(0, 0.01), so logits are small: also compare
    // against how much they differ between the two inputs (what an error in the body would move).
    const spread = maxDiff(ref.subarray(0, K), ref.subarray(K));
    model.dispose();
    console.log(`      zoo mobilenet_v3_small vs torchvision (onnxruntime): max |diff| ${d.toExponential(2)} (logits differ between the inputs by ${spread.toExponential(2)}); its own export: ${d2.toExponential(2)}`);
    expect(d).to.be.at.most(1e-4);
    expect(d).to.be.at.most(1e-4 * spread);
    expect(d2).to.be.at.most(1e-4);
  });

  it('trains a step on wasm: every trainable weight and BN statistic moves; depthwise gradients on the native add-on', function () {
    const model = buildModel(NAME, { inputShape: [32, 32, 3], numClasses: K, seed: 3 });
    const before = saveWeights(model);
    const names = ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];
    const saved = names.map((n) => tf.getKernel(n, 'wasm')!);
    let calls = 0;
    for (const k of saved) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel({ ...k, kernelFunc: (a) => (calls++, k.kernelFunc(a)) });
    }
    // Native when the add-on's kernels are the registered ones (kernels/native.ts) before the wrap.
    const native = names.every((n, i) => saved[i].kernelFunc === NATIVE_KERNELS.find((k) => k.name === n)?.fn);
    const opt = tf.train.momentum(0.05, 0.9);
    let loss = NaN;
    try {
      const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 5);
      const labels = tf.oneHot(tf.tensor1d([0, 3, 5, 9], 'int32'), K);
      const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor), true)!;
      loss = cost.dataSync()[0];
      tf.dispose([x, labels, cost]);
    } finally {
      for (const k of saved) {
        tf.unregisterKernel(k.kernelName, 'wasm');
        tf.registerKernel(k);
      }
    }
    const after = saveWeights(model);
    const still = Object.keys(before).filter((k) => maxDiff(before[k].data, after[k].data) === 0);
    model.dispose();
    opt.dispose();
    console.log(`      loss ${loss.toFixed(4)}; depthwise gradient kernels called ${calls}× (${native ? 'the native add-on\'s' : 'not native'}: ${loadNative().why}); unchanged weights: ${still.length}`);
    expect(Number.isFinite(loss)).to.equal(true);
    expect(still).to.deep.equal([]);
    expect(calls).to.equal(2 * 11); // filter + input gradient of each block's depthwise conv
    if (!native) needsNativeAddon(this, loadNative());
    expect(native).to.equal(true);
  });
});
