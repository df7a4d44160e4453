/**
 * The training convolution with bias and ReLU in one native kernel (kernels/conv-bias-act.ts,
 * used by zoo/conv.ts on wasm with the add-on) against the three-kernel path it replaces
 * (conv2d, add, relu; TFKD_FUSED_CONV=0): the zoo layer's output and the gradients of its input,
 * kernel and bias are the same bits over the convolution grid (kernel 1/3/5, stride 1/2, same/valid)
 * with ReLU or linear, with and without a bias; three KD training steps of `cnn` end in the same
 * bits; only the gradients asked for are computed; the cpu backend keeps the three ops; no tensor
 * is left behind. Skipped, naming the reason, without the add-on.
 */
import { expect } from 'chai';
import { loadNative, registerNativeKernels } from '../../../src/student/kernels/native.js';
import { CONV_BIAS_ACT_KERNEL, convBiasActCalls } from '../../../src/student/kernels/conv-bias-act.js';
import { LayerFactory } from '../../../src/student/zoo/common.js';
import { tf } from '../../../src/student/tf.js';
import { expectNoLeakedTensors } from '../../helpers/tf-memory.js';
import { CONV_CASES, kdTrainSteps, kernelCalls, onNativeKernels, randn, type Arr } from '../compare-backends.js';

/** Runs `fn` with the fused path on or off (TFKD_FUSED_CONV), restoring the variable after. */
async function fusedOr<T>(fused: boolean, fn: () => Promise<T> | T): Promise<T> {
  const before = process.env.TFKD_FUSED_CONV;
  if (fused) delete process.env.TFKD_FUSED_CONV;
  else process.env.TFKD_FUSED_CONV = '0';
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.TFKD_FUSED_CONV;
    else process.env.TFKD_FUSED_CONV = before;
  }
}

type Case = { k: number; s: number; pad: 'same' | 'valid'; hw: number; bias: boolean; act: 'relu' | 'linear' };

/**
 * One zoo conv layer (LayerFactory.conv, seeded weights, the bias set to random values) in training
 * mode: its output and the gradients of sum(y · r) with respect to x, the kernel and the bias.
 */
function layerOutputs(c: Case, x: Arr, seed: number): Arr[] {
  return tf.tidy(() => {
    const layer = new LayerFactory(seed).conv('c', 6, c.k, { strides: c.s, padding: c.pad, useBias: c.bias, activation: c.act });
    const xv = tf.variable(tf.tensor(x.data, x.shape));
    layer.apply(xv, { training: true }); // builds the weights
    const [kernel, bias] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    if (bias) bias.assign(tf.tensor(randn(bias.shape, seed + 1).data, bias.shape));
    const y = layer.apply(xv, { training: true }) as tf.Tensor;
    const r = tf.tensor(randn(y.shape, seed + 2).data, y.shape);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv, { training: true }) as tf.Tensor, r)) as tf.Scalar, [xv, kernel, ...(bias ? [bias] : [])]);
    const outs = [y, grads[xv.name], grads[kernel.name], ...(bias ? [grads[bias.name]] : [])];
    const res = outs.map((t) => ({ shape: t.shape, data: (t.dataSync() as Float32Array).slice() }));
    xv.dispose();
    layer.dispose();
    return res;
  }) as unknown as Arr[];
}

/** The first index where two arrays' bits differ, or −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return 0;
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function expectSameBits(got: Arr[], want: Arr[], what: string): void {
  expect(got.length, `${what}: outputs`).to.equal(want.length);
  got.forEach((g, i) => {
    expect(g.shape, `${what}[${i}] shape`).to.deep.equal(want[i].shape);
    const at = firstDiff(g.data, want[i].data);
    expect(at, `${what}[${i}]: fused ${g.data[at]} vs three kernels ${want[i].data[at]} at ${at}`).to.equal(-1);
  });
}

describe('student/kernels: the training conv + bias + ReLU in one native kernel equals conv2d → add → relu bit for bit', function () {
  this.timeout(180000);
  const st = loadNative();
  onNativeKernels(st);

  it('is registered on wasm with the native kernels', () => {
    expect(registerNativeKernels().names).to.include(CONV_BIAS_ACT_KERNEL);
    expect(tf.getKernel(CONV_BIAS_ACT_KERNEL, 'wasm')).to.not.equal(undefined);
  });

  it('the zoo conv layer: output and the input, kernel and bias gradients over the conv grid, ReLU and linear, bias or none', async () => {
    const cases: Case[] = CONV_CASES.flatMap((g) =>
      [
        { bias: true, act: 'relu' as const },
        { bias: true, act: 'linear' as const },
        { bias: false, act: 'relu' as const },
      ].map((o) => ({ ...g, ...o })),
    );
    for (const [i, c] of cases.entries()) {
      const x = randn([3, c.hw, c.hw, 5], 100 + i);
      const n0 = convBiasActCalls.fused;
      const want = await fusedOr(false, () => layerOutputs(c, x, 200 + i));
      expect(convBiasActCalls.fused, 'TFKD_FUSED_CONV=0 runs the three kernels').to.equal(n0);
      const got = await fusedOr(true, () => layerOutputs(c, x, 200 + i));
      expect(convBiasActCalls.fused - n0, `k${c.k} s${c.s} ${c.pad}: the fused kernel ran (build, forward, gradient pass)`).to.equal(3);
      expectSameBits(got, want, `k${c.k} s${c.s} ${c.pad} ${c.hw}px bias=${c.bias} ${c.act}`);
    }
    expect(cases.length, '24 convolutions × 3').to.equal(72);
  });

  it('three KD + momentum steps of cnn end in the same losses and weights', async () => {
    const n0 = convBiasActCalls.fused;
    const want = await fusedOr(false, () => kdTrainSteps('cnn', [10, 10, 1], 'wasm'));
    const got = await fusedOr(true, () => kdTrainSteps('cnn', [10, 10, 1], 'wasm'));
    expect(convBiasActCalls.fused - n0, 'two convs × three steps').to.equal(6);
    expectSameBits(got, want, 'cnn after 3 steps');
  });

  it('computes only the gradients asked for: the kernel\'s alone runs no Conv2DBackpropInput', async () => {
    await tf.setBackend('wasm');
    const layer = new LayerFactory(3).conv('c', 4, 3, { useBias: true, activation: 'relu' });
    const x = tf.tensor(randn([2, 8, 8, 3], 5).data, [2, 8, 8, 3]);
    layer.apply(x, { training: true });
    const kernel = layer.trainableWeights[0].read() as tf.Variable;
    const grad = () => tf.variableGrads(() => tf.sum(layer.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, [kernel]);
    const n0 = convBiasActCalls.fused;
    const calls = await kernelCalls(['Conv2DBackpropInput'], async () => tf.dispose(Object.values(grad().grads)));
    expect(convBiasActCalls.fused - n0).to.equal(1);
    expect(calls).to.equal(0);
    expectNoLeakedTensors(() => {
      for (let i = 0; i < 3; i++) {
        const g = grad();
        tf.dispose([g.value, ...Object.values(g.grads)]);
      }
    }, 'tensors after 3 fused conv gradient steps', { buffers: true });
    tf.dispose(x);
    layer.dispose();
  });

  it('the cpu backend keeps the three kernels', async () => {
    await tf.setBackend('cpu');
    const n0 = convBiasActCalls.fused;
    await fusedOr(true, () => layerOutputs({ k: 3, s: 1, pad: 'same', hw: 6, bias: true, act: 'relu' }, randn([1, 6, 6, 2], 9), 9));
    expect(convBiasActCalls.fused).to.equal(n0);
    await tf.setBackend('wasm');
  });
});
