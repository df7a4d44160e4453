/**
 * The zoo's convolution layer (src/student/zoo/conv.ts) against tfjs-layers' stock Conv2D: the
 * same class name and config, bit-identical training outputs and weight gradients (it runs
 * tfjs-core's own unfused path), the stock path for inference, and one Conv2DBackpropInput fewer
 * per resnet training step (the input image's gradient is no longer computed).
 */
import { expect } from 'chai';
import { registerReluGrad } from '../../../src/student/kernels/relu-grad.js';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { tf } from '../../../src/student/tf.js';
import { LazyGradConv2D } from '../../../src/student/zoo/conv.js';
import { buildModel } from '../../../src/student/zoo/index.js';
import { randn } from '../compare-backends.js';

type Args = Parameters<typeof tf.layers.conv2d>[0];

const CASES: Array<[string, Args]> = [
  ['3×3 valid, bias, relu (cnn)', { filters: 6, kernelSize: 3, padding: 'valid', useBias: true, activation: 'relu' }],
  ['3×3 same, no bias, linear (resnet)', { filters: 5, kernelSize: 3, padding: 'same', useBias: false, activation: 'linear' }],
  ['3×3 stride 2 same, bias, linear', { filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: true }],
  ['1×1 stride 2, no bias', { filters: 7, kernelSize: 1, strides: 2, padding: 'same', useBias: false }],
];

/** Counts the calls of kernel `name` on `backend` while `fn` runs. */
function counting<T>(name: string, backend: string, fn: () => T): [T, number] {
  const k = tf.getKernel(name, backend)!;
  let n = 0;
  tf.unregisterKernel(name, backend);
  tf.registerKernel({ ...k, kernelFunc: (a) => (n++, k.kernelFunc(a)) });
  try {
    return [fn(), n];
  } finally {
    tf.unregisterKernel(name, backend);
    tf.registerKernel(k);
  }
}

const bits = (t: tf.Tensor): number[] => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

describe('student/zoo conv: LazyGradConv2D vs tfjs-layers Conv2D', () => {
  before(async () => {
    registerReluGrad();
    registerWasmKernels();
  });
  after(async () => tf.setBackend('cpu'));

  it('keeps the stock class name and config (ONNX export, toJSON)', () => {
    const args: Args = { filters: 3, kernelSize: 3, name: 'c', useBias: true, activation: 'relu' };
    const ours = new LazyGradConv2D(args);
    const stock = tf.layers.conv2d(args);
    expect(ours.getClassName()).to.equal('Conv2D');
    expect(ours.getConfig()).to.deep.equal(stock.getConfig());
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const [what, args] of CASES) {
      it(`${backend}: ${what}: training output, input and weight gradients bit-identical to the stock layer`, async () => {
        await tf.setBackend(backend);
        const xa = randn([3, 9, 9, 4], 5);
        const ours = new LazyGradConv2D({ ...args, inputShape: [9, 9, 4] });
        const stock = tf.layers.conv2d({ ...args, inputShape: [9, 9, 4] });
        ours.build([null, 9, 9, 4]);
        stock.build([null, 9, 9, 4]);
        stock.setWeights(ours.getWeights());
        const x = tf.tensor(xa.data, xa.shape);
        const dy = tf.tidy(() => tf.randomNormal((ours.apply(x) as tf.Tensor).shape, 0, 1, 'float32', 9));
        const grads = (layer: tf.layers.Layer) =>
          tf.tidy(() => {
            const w = layer.trainableWeights.map((v) => v.read() as tf.Variable);
            const f = (u: tf.Tensor) => tf.sum(tf.mul(layer.call(u, { training: true }) as tf.Tensor, dy));
            const y = layer.call(x, { training: true }) as tf.Tensor;
            const dx = tf.grad(f)(x);
            const { grads: g } = tf.variableGrads(() => f(x) as tf.Scalar, w);
            return [y, dx, ...w.map((v) => g[v.name])].map(bits);
          });
        const [a, b] = [grads(ours), grads(stock)];
        expect(a.length).to.equal(b.length);
        a.forEach((v, i) => expect(v, `output ${i}`).to.deep.equal(b[i]));
        tf.dispose([x, dy]);
        for (const w of [...ours.weights, ...stock.weights]) w.dispose();
      });
    }
  }

  it('inference (training false) runs the stock fused kernel; training the plain Conv2D', async () => {
    await tf.setBackend('cpu');
    const layer = new LazyGradConv2D({ filters: 2, kernelSize: 3, useBias: true, activation: 'relu', inputShape: [6, 6, 1] });
    const x = tf.ones([1, 6, 6, 1]);
    const [, fusedInfer] = counting('FusedConv2D', 'cpu', () => tf.tidy(() => layer.apply(x) as tf.Tensor));
    const [, fusedTrain] = counting('FusedConv2D', 'cpu', () => tf.tidy(() => layer.apply(x, { training: true }) as tf.Tensor));
    expect([fusedInfer, fusedTrain]).to.deep.equal([1, 0]);
    x.dispose();
    for (const w of layer.weights) w.dispose();
  });

  it('a resnet8 training step skips the input image gradient: one Conv2DBackpropInput per conv but the stem', async () => {
    await tf.setBackend('cpu');
    const model = buildModel('resnet8', { inputShape: [8, 8, 3], numClasses: 4, seed: 1 });
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D').length;
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 3);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const [, n] = counting('Conv2DBackpropInput', 'cpu', () =>
      tf.tidy(() => tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars)),
    );
    expect(convs).to.be.greaterThan(2);
    expect(n).to.equal(convs - 1);
    x.dispose();
    model.dispose();
  });
});
