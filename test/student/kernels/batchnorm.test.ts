/**
 * The zoo's fused training BatchNorm (src/student/kernels/batchnorm.ts + zoo/batchnorm.ts) against
 * tfjs-layers' stock BatchNormalization and against a float64 JS reference of the textbook
 * formulas (Ioffe & Szegedy 2015), on the cpu and wasm backends: forward, gradients of x, γ, β,
 * moving statistics; inference unchanged; no tensor leak; a few resnet8 KD training steps give the
 * same losses and weights as the stock layer.
 *
 * Tolerances: single layer, max |fused − stock| ≤ 1e-5 · max |stock| per tensor; resnet8 steps,
 * ≤ 1e-4 · max |stock| per weight (float32 rounding differences compound through 3 steps).
 */
import { expect } from 'chai';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { BN_TRAIN_KERNEL, bnKernelCalls } from '../../../src/student/kernels/batchnorm.js';
import { loadNative, nativeKernelsRegistered, registerNativeKernels, unregisterNativeKernels } from '../../../src/student/kernels/native.js';
import type { LossOptions } from '../../../src/student/losses/index.js';
import { callLoss } from '../losses/helpers.js';
import { tf } from '../../../src/student/tf.js';
import { FusedBatchNormalization, fusedBatchNormEnabled, setFusedBatchNorm } from '../../../src/student/zoo/batchnorm.js';
import { buildModel, saveWeights } from '../../../src/student/zoo/index.js';
import { rng } from '../compare-backends.js';
import { expectTensorsClose, relDiff } from '../../helpers/close.js';
import { expectNoLeakedTensors } from '../../helpers/tf-memory.js';
import { needsNativeAddon } from '../../helpers/needs.js';

function rand(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** The worst relative difference per group of checks, printed after the suite. */
const worst: Record<string, { rel: number; where: string }> = {};
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string, group: string): void {
  const { rel } = expectTensorsClose(got, want, tol, what);
  if (!worst[group] || rel > worst[group].rel) worst[group] = { rel, where: what };
}

/** Float64 reference of one training-mode BN forward + backward for loss = Σ y·w, x as [M, C]. */
function reference(x: Float32Array, w: Float32Array, gamma: Float32Array, beta: Float32Array, C: number, eps: number) {
  const M = x.length / C;
  const mean = new Float64Array(C);
  const v = new Float64Array(C);
  for (let i = 0; i < x.length; i++) mean[i % C] += x[i] / M;
  for (let i = 0; i < x.length; i++) v[i % C] += (x[i] - mean[i % C]) ** 2 / M;
  const xhat = new Float64Array(x.length);
  const y = new Float64Array(x.length);
  const dg = new Float64Array(C);
  const db = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    xhat[i] = (x[i] - mean[c]) / Math.sqrt(v[c] + eps);
    y[i] = gamma[c] * xhat[i] + beta[c];
    dg[c] += w[i] * xhat[i];
    db[c] += w[i];
  }
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    dx[i] = ((gamma[c] / Math.sqrt(v[c] + eps)) / M) * (M * w[i] - db[c] - xhat[i] * dg[c]);
  }
  return { y, dx, dg, db, mean, v };
}

interface LayerRun {
  y: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/** One training call of `layer` on x and the gradients of Σ y·w wrt x, γ, β; then the moving stats. */
function trainOnce(layer: tf.layers.Layer, shape: number[], x: Float32Array, w: Float32Array, weights: Float32Array[]): LayerRun {
  const C = shape[shape.length - 1];
  const xv = tf.variable(tf.tensor(x, shape), true, undefined);
  const wt = tf.tensor(w, shape);
  layer.build(shape);
  layer.setWeights(weights.map((a) => tf.tensor(a, [C])));
  const [gammaVar, betaVar] = layer.trainableWeights.map((lw) => lw.read() as tf.Variable);
  let y: Float32Array = new Float32Array(0);
  const { grads } = tf.variableGrads(() => {
    const out = layer.apply(xv, { training: true }) as tf.Tensor;
    y = out.dataSync() as Float32Array;
    return tf.sum(tf.mul(out, wt)) as tf.Scalar;
  }, [xv, gammaVar, betaVar]);
  const res: LayerRun = {
    y,
    dx: grads[xv.name].dataSync() as Float32Array,
    dgamma: grads[gammaVar.name].dataSync() as Float32Array,
    dbeta: grads[betaVar.name].dataSync() as Float32Array,
    movingMean: layer.getWeights()[2].dataSync() as Float32Array,
    movingVariance: layer.getWeights()[3].dataSync() as Float32Array,
  };
  tf.dispose([xv, wt, ...Object.values(grads)]);
  disposeLayer(layer);
  return res;
}

/** Layer.dispose refuses layers never called symbolically; free the weights directly. */
function disposeLayer(l: tf.layers.Layer): void {
  for (const w of l.weights) w.dispose();
}

const EPS = 1e-5;
const bnArgs = { axis: -1, momentum: 0.9, epsilon: EPS };

describe('student/zoo BatchNorm: fused training kernels vs tfjs BatchNormalization', function () {
  before(async () => {
    registerWasmKernels();
    await tf.ready();
  });
  after(async () => {
    for (const [g, v] of Object.entries(worst)) console.log(`    worst relative max diff, ${g}: ${v.rel.toExponential(3)} (${v.where})`);
    await tf.setBackend('cpu');
  });

  // 'wasm+native': wasm with tfkd's native add-on registered, so the BN kernels run in C
  // (native/src/tfkd_native.cc bnTrain/bnTrainGrad); skipped when the add-on is not built.
  for (const backend of ['cpu', 'wasm', 'wasm+native'] as const) {
    describe(backend, function () {
      const tfb = backend === 'cpu' ? 'cpu' : 'wasm';
      let weRegistered = false;
      let weUnregistered = false;
      before(function () {
        if (backend === 'wasm' && nativeKernelsRegistered()) {
          unregisterNativeKernels(); // the plain wasm variant runs the JS loops
          weUnregistered = true;
        }
        if (backend !== 'wasm+native') return;
        needsNativeAddon(this, loadNative());
        if (!nativeKernelsRegistered()) {
          registerNativeKernels();
          weRegistered = true;
        }
      });
      after(() => {
        if (weRegistered) unregisterNativeKernels();
        if (weUnregistered) registerNativeKernels();
      });
      let path0 = { ...bnKernelCalls };
      beforeEach(() => {
        path0 = { ...bnKernelCalls };
      });
      afterEach(function () {
        // The variant ran the BN kernels where it says: C for wasm+native, the JS loops otherwise.
        if (this.currentTest?.state !== 'passed' || backend === 'cpu') return;
        const ranNative = bnKernelCalls.native - path0.native;
        const ranJs = bnKernelCalls.js - path0.js;
        if (ranNative + ranJs === 0) return; // inference-only test
        if (backend === 'wasm+native') expect(ranJs, 'JS BN calls in the native variant').to.equal(0);
        else expect(ranNative, 'native BN calls in the wasm variant').to.equal(0);
      });
      const shapes = [
        [8, 6, 5, 16],
        [3, 7, 7, 7],
        [64, 12],
      ];
      for (const shape of shapes) {
        it(`${backend}: forward, dx, dγ, dβ and moving statistics match stock BN and a float64 reference, x ${JSON.stringify(shape)}`, async () => {
          await tf.setBackend(tfb);
          const C = shape[shape.length - 1];
          const n = shape.reduce((a, d) => a * d, 1);
          // x with per-element offsets (mean ≠ 0) and a spread of scales, so cancellation would show.
          const x = rand(n, 1 + C, -3, 5);
          const w = rand(n, 2 + C, -1, 1);
          const gamma = rand(C, 3, 0.5, 1.5);
          const beta = rand(C, 4, -0.5, 0.5);
          const mm = rand(C, 5, -0.2, 0.2);
          const mv = rand(C, 6, 0.5, 2);
          const weights = [gamma, beta, mm, mv];
          const stock = trainOnce(tf.layers.batchNormalization(bnArgs), shape, x, w, weights);
          const fused = trainOnce(new FusedBatchNormalization(bnArgs), shape, x, w, weights);
          const ref = reference(x, w, gamma, beta, C, EPS);
          const refMM = Array.from(mm, (m, c) => m - (m - ref.mean[c]) * (1 - 0.9));
          const refMV = Array.from(mv, (m, c) => m - (m - ref.v[c]) * (1 - 0.9));
          const tag = `${backend} ${JSON.stringify(shape)}`;
          const pairs: Array<[string, Float32Array, Float32Array, ArrayLike<number>]> = [
            ['y', fused.y, stock.y, ref.y],
            ['dx', fused.dx, stock.dx, ref.dx],
            ['dgamma', fused.dgamma, stock.dgamma, ref.dg],
            ['dbeta', fused.dbeta, stock.dbeta, ref.db],
            ['moving_mean', fused.movingMean, stock.movingMean, refMM],
            ['moving_variance', fused.movingVariance, stock.movingVariance, refMV],
          ];
          for (const [what, f, s, r] of pairs) {
            expectClose(f, s, 1e-5, `${tag} ${what} fused vs stock`, 'fused vs stock');
            expectClose(f, r, 1e-5, `${tag} ${what} fused vs float64`, 'fused vs float64 reference');
            expectClose(s, r, 1e-5, `${tag} ${what} stock vs float64`, 'stock vs float64 reference');
          }
        });
      }

      it(`${backend}: large offset (|μ| ≈ 1700·σ): fused stays within 1e-4 of the float64 reference and is not worse than stock`, async () => {
        await tf.setBackend(tfb);
        const shape = [16, 4, 4, 8];
        const n = shape.reduce((a, d) => a * d, 1);
        const x = rand(n, 21, 999, 1001);
        const w = rand(n, 22, -1, 1);
        const gamma = rand(8, 23, 0.5, 1.5);
        const beta = rand(8, 24, -0.5, 0.5);
        const weights = [gamma, beta, new Float32Array(8), new Float32Array(8).fill(1)];
        const fused = trainOnce(new FusedBatchNormalization(bnArgs), shape, x, w, weights);
        const stock = trainOnce(tf.layers.batchNormalization(bnArgs), shape, x, w, weights);
        const ref = reference(x, w, gamma, beta, 8, EPS);
        // The saved batch mean is float32 (ulp 6e-5 at 1000, σ ≈ 0.58), which bounds the backward's
        // accuracy at ~1e-4 of x̂ whatever the accumulation; hence 1e-4 here, 1e-5 elsewhere.
        for (const [what, f, st, r] of [['y', fused.y, stock.y, ref.y], ['dx', fused.dx, stock.dx, ref.dx], ['dgamma', fused.dgamma, stock.dgamma, ref.dg], ['dbeta', fused.dbeta, stock.dbeta, ref.db]] as const) {
          const fe = relDiff(f, r).rel;
          const se = relDiff(st, r).rel;
          console.log(`      ${backend} offset 1000 ${what}: rel err vs float64 fused ${fe.toExponential(2)}, stock ${se.toExponential(2)}`);
          expectClose(f, r, 1e-4, `${backend} offset 1000 ${what} fused vs float64`, 'fused vs float64 reference, offset 1000');
          expect(fe, `${what}: fused no worse than stock`).to.be.at.most(Math.max(2 * se, 1e-5));
        }
      });

      it(`${backend}: the fused path runs 1 kernel forward + 1 backward per layer and leaks no tensor`, async () => {
        await tf.setBackend(tfb);
        const shape = [4, 5, 5, 8];
        const layer = new FusedBatchNormalization(bnArgs);
        layer.build(shape);
        const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
        const prof = await expectNoLeakedTensors(
          () =>
            tf.profile(() => {
              const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
              tf.dispose([value, ...Object.values(grads)]);
            }),
          'tensors after one training step',
        );
        const names = prof.kernels.map((k) => k.name);
        expect(names.filter((k) => k === BN_TRAIN_KERNEL)).to.have.length(1);
        expect(names.filter((k) => k === `${BN_TRAIN_KERNEL}Grad`)).to.have.length(1);
        // stock composes Mean/Sub/Square/… — none of those may appear between input and output here
        expect(names, 'no composed moments').to.not.include('Square');
        x.dispose();
        disposeLayer(layer);
      });

      it(`${backend}: inference (training false) is the stock layer's, bit for bit`, async () => {
        await tf.setBackend(tfb);
        const shape = [2, 3, 3, 5];
        const x = tf.randomNormal(shape, 1, 2, 'float32', 9);
        const ws = [rand(5, 1, 0.5, 1.5), rand(5, 2, -1, 1), rand(5, 3, -1, 1), rand(5, 4, 0.5, 2)];
        const outs = [tf.layers.batchNormalization(bnArgs), new FusedBatchNormalization(bnArgs)].map((l) => {
          l.build(shape);
          l.setWeights(ws.map((a) => tf.tensor(a)));
          const y = l.apply(x, { training: false }) as tf.Tensor;
          const v = y.dataSync() as Float32Array;
          y.dispose();
          disposeLayer(l);
          return v;
        });
        expect(Array.from(outs[1])).to.deep.equal(Array.from(outs[0]));
        x.dispose();
      });
    });
  }

  it('keeps the stock class name and config (ONNX export, toJSON)', () => {
    const l = new FusedBatchNormalization({ ...bnArgs, name: 'bnx' });
    expect(l.getClassName()).to.equal('BatchNormalization');
    expect(l).to.be.instanceOf(tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization[0] as unknown as new () => object);
    expect(l.getConfig()).to.deep.equal(tf.layers.batchNormalization({ ...bnArgs, name: 'bnx' }).getConfig());
    expect(fusedBatchNormEnabled()).to.equal(true);
    disposeLayer(l);
  });

  it('the zoo builds its BN layers with the fused class; disabled, training takes the stock composed path', async () => {
    await tf.setBackend('cpu');
    const model = buildModel('resnet8', { inputShape: [8, 8, 3], numClasses: 3, seed: 1 });
    const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(bns).to.have.length(9);
    for (const l of bns) expect(l, l.name).to.be.instanceOf(FusedBatchNormalization);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 3);
    const kernelsOf = async (): Promise<string[]> =>
      (await tf.profile(() => (model.apply(x, { training: true }) as tf.Tensor).dispose())).kernels.map((k) => k.name);
    expect((await kernelsOf()).filter((k) => k === BN_TRAIN_KERNEL)).to.have.length(9);
    setFusedBatchNorm(false);
    try {
      const names = await kernelsOf();
      expect(names).to.not.include(BN_TRAIN_KERNEL);
      expect(names).to.include('FusedBatchNorm'); // tfjs-core's batchNorm op
    } finally {
      setFusedBatchNorm(true);
    }
    x.dispose();
    model.dispose();
  });

  for (const native of [false, true]) {
    it(`resnet8 (wasm${native ? ' + native add-on: BN and convolutions in C' : ', JS BN loops'}): 3 KD training steps give the same losses and weights as stock BatchNormalization (1e-4)`, async function () {
      if (native) needsNativeAddon(this, loadNative());
      const wasOn = nativeKernelsRegistered();
      if (native && !wasOn) registerNativeKernels();
      if (!native && wasOn) unregisterNativeKernels();
      try {
        await tf.setBackend('wasm');
        const K = 10;
        const B = 16;
        const input: [number, number, number] = [16, 16, 3];
        const lossOpts: LossOptions = { numClasses: K, fidelity: 'paper', logitStandardization: false, alpha: 0.5, temperature: 4 };
        const x = tf.randomNormal([B, ...input], 0, 1, 'float32', 11);
        const labels = tf.tidy(() => tf.cast(tf.floor(tf.randomUniform([B], 0, K, 'float32', 12)), 'int32')) as tf.Tensor1D;
        const soft = tf.tidy(() => tf.softmax(tf.div(tf.randomNormal([B, K], 0, 3, 'float32', 13), 4))) as tf.Tensor2D;
        const runSteps = (fused: boolean) => {
          setFusedBatchNorm(fused);
          try {
            const model = buildModel('resnet8', { inputShape: input, numClasses: K, seed: 5 });
            const opt = tf.train.momentum(0.05, 0.9);
            const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
            const losses: number[] = [];
            let after1 = 0;
            for (let i = 0; i < 3; i++) {
              const cost = opt.minimize(() => callLoss('kd', model.apply(x, { training: true }) as tf.Tensor2D, labels, soft, lossOpts), true, vars)!;
              losses.push(cost.dataSync()[0]);
              cost.dispose();
              // step 0 creates the momentum slots; afterwards the tensor count must stay put
              if (i === 1) after1 = tf.memory().numTensors;
              if (i === 2) expect(tf.memory().numTensors, 'tensors after step 2 vs step 1').to.equal(after1);
            }
            const w = saveWeights(model);
            opt.dispose();
            model.dispose();
            return { losses, w };
          } finally {
            setFusedBatchNorm(true);
          }
        };
        const stock = runSteps(false);
        const fused = runSteps(true);
        console.log(`    resnet8 losses stock ${stock.losses.map((v) => v.toFixed(6)).join(' ')} | fused ${fused.losses.map((v) => v.toFixed(6)).join(' ')}`);
        expectClose(fused.losses, stock.losses, 1e-4, 'resnet8 losses', 'resnet8 3 steps');
        expect(Object.keys(fused.w)).to.deep.equal(Object.keys(stock.w));
        for (const k of Object.keys(stock.w)) expectClose(fused.w[k].data, stock.w[k].data, 1e-4, `resnet8 ${k}`, 'resnet8 3 steps');
        tf.dispose([x, labels, soft]);
      } finally {
        if (native && !wasOn) unregisterNativeKernels();
        if (!native && wasOn) registerNativeKernels();
      }
    });
  }
});
