/**
 * The training convolution with bias and ReLU in one native kernel (kernels/conv-bias-act.ts,
 * used by zoo/conv.ts on wasm with the add-on) against the three-kernel path it replaces
 * (conv2d, add, relu; TFKD_FUSED_CONV=0): the zoo layer's output and the gradients of its input,
 * kernel and bias are the same bits over the convolution grid (kernel 1/3/5, stride 1/2, same/valid)
 * with ReLU or linear, with and without a bias; three KD training steps of `cnn` end in the same
 * bits; both again in a process on the AVX2 kernels (TFKD_CPU_KERNELS=avx2: oneDNN's AVX2
 * convolutions would round a bias in their epilogue differently); only the gradients asked for are
 * computed; small outputs and the cpu backend keep the three kernels; no tensor is left behind.
 * Skipped, naming the reason, without the add-on.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { avx2Missing, CONV_BIAS_ACT_KERNEL, loadNative, registerNativeKernels } from '../../../src/student/kernels/native.js';
import { convBiasActCalls } from '../../../src/student/kernels/conv-bias-act.js';
import { LayerFactory } from '../../../src/student/zoo/common.js';
import { tf } from '../../../src/student/tf.js';
import { expectNoLeakedTensors } from '../../helpers/tf-memory.js';
import { kernelCalls, onNativeKernels, randn } from '../compare-backends.js';
import { CASES, compareCases, compareCnnSteps, fusedOr, layerOutputs } from './conv-bias-act-cases.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('student/kernels: the training conv + bias + ReLU in one native kernel equals conv2d → add → relu bit for bit', function () {
  this.timeout(300000);
  const st = loadNative();
  onNativeKernels(st);

  it('is registered on wasm with the native kernels', () => {
    expect(registerNativeKernels().names).to.include(CONV_BIAS_ACT_KERNEL);
    expect(tf.getKernel(CONV_BIAS_ACT_KERNEL, 'wasm')).to.not.equal(undefined);
  });

  it('the zoo conv layer: output and the input, kernel and bias gradients over the conv grid, ReLU and linear, bias or none', async () => {
    expect(CASES.length, '24 convolutions × 3').to.equal(72);
    const n0 = convBiasActCalls.fused;
    const off = await fusedOr(false, () => layerOutputs(CASES[0], randn([24, 32, 32, 3], 1), 2));
    expect(off.length).to.equal(4);
    expect(convBiasActCalls.fused, 'TFKD_FUSED_CONV=0 runs the three kernels').to.equal(n0);
    const { diffs, fusedPerCase } = await compareCases(CASES);
    expect(fusedPerCase, 'the fused kernel ran in each case: build, forward, gradient pass').to.deep.equal(CASES.map(() => 3));
    expect(diffs).to.deep.equal([]);
  });

  it('three KD + momentum steps of cnn end in the same losses and weights', async () => {
    const { diff, fused } = await compareCnnSteps();
    expect(fused, 'two convs × three steps').to.equal(6);
    expect(diff).to.equal('');
  });

  it('the same on the AVX2 kernels (TFKD_CPU_KERNELS=avx2, a process of its own), where oneDNN would start its sums from the bias', function () {
    const missing = avx2Missing();
    if (missing) {
      console.log(`      skipped: no AVX2 kernels to pin (${missing})`);
      this.skip();
    }
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', 'test/student/kernels/conv-bias-act-child.ts'], {
      cwd: ROOT,
      env: { ...process.env, TFKD_CPU_KERNELS: 'avx2' },
      encoding: 'utf8',
      timeout: 240000,
    });
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.cpu, out.why).to.deep.include({ blas: 'Haswell', choice: 'avx2' });
    expect(out.fusedPerCase).to.deep.equal(CASES.filter((_, i) => i % 4 === 0).map(() => 3));
    expect(out.diffs).to.deep.equal([]);
    expect(out.cnn).to.deep.equal({ diff: '', fused: 6 });
  });

  it('computes only the gradients asked for: the kernel\'s alone runs no Conv2DBackpropInput', async () => {
    await tf.setBackend('wasm');
    const layer = new LayerFactory(3).conv('c', 16, 3, { useBias: true, activation: 'relu' });
    const x = tf.tensor(randn([16, 16, 16, 3], 5).data, [16, 16, 16, 3]);
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

  it('small outputs (below the native element-wise size) and the cpu backend keep the three kernels', async () => {
    const n0 = convBiasActCalls.fused;
    await tf.setBackend('wasm');
    await fusedOr(true, () => layerOutputs({ k: 3, s: 1, pad: 'same', hw: 6, bias: true, act: 'relu' }, randn([2, 6, 6, 3], 9), 9));
    await tf.setBackend('cpu');
    await fusedOr(true, () => layerOutputs({ k: 3, s: 1, pad: 'same', hw: 32, bias: true, act: 'relu' }, randn([24, 32, 32, 3], 9), 9));
    expect(convBiasActCalls.fused).to.equal(n0);
    await tf.setBackend('wasm');
  });
});
