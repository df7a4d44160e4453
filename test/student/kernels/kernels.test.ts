/**
 * tfkd's wasm kernels vs the tfjs cpu backend (plain-JS reference loops in float64), on seeded
 * random inputs. Tolerance: max |wasm − cpu| ≤ 1e-4 · max |cpu| over each output tensor (relative
 * to the tensor's scale, since single elements of a float32 sum can legitimately sit near 0).
 */
import { expect } from 'chai';
import { chunkPolicy } from '../../../src/student/kernels/conv2d-backprop-filter.js';
import { backpropInputPolicy, registerWasmKernels } from '../../../src/student/kernels/index.js';
import { nativeKernelsRegistered, registerNativeKernels, unregisterNativeKernels } from '../../../src/student/kernels/native.js';
import { tf } from '../../../src/student/tf.js';
import { backendComparer, compareMaxPoolGrads, compareMaxPoolGradTies, CONV_CASES, expectNoLeakAcrossConvGradSteps, kdTrainSteps, netGrads, on, randn, runKernel, type Arr } from '../compare-backends.js';

const TOL = 1e-4;

const { worst: maxDiff, expectClose, compare } = backendComparer('wasm', TOL);

describe('student/kernels: tfkd wasm kernels match the cpu backend', function () {
  // These tests are about tfkd's wasm kernels: take the native ones (which other test files may
  // have registered in this process) out of the way, and put them back afterwards.
  let hadNative = false;
  before(async () => {
    registerWasmKernels();
    hadNative = nativeKernelsRegistered();
    unregisterNativeKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });
  after(async () => {
    console.log(`    worst relative max diff over all kernel checks: ${maxDiff.rel.toExponential(3)} (${maxDiff.where}); tolerance ${TOL}`);
    if (hadNative) registerNativeKernels();
    await tf.setBackend('cpu');
  });

  it('registers the three missing gradient kernels and the four replacements on wasm', () => {
    const names = registerWasmKernels();
    expect(names).to.include.members(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'Conv2DBackpropInput', 'BatchMatMul', 'MaxPoolGrad', 'Tile', 'Slice', 'PadV2', 'SplitV']);
    for (const n of names) expect(tf.getKernel(n, 'wasm'), n).to.not.equal(undefined);
    expect(registerWasmKernels(), 'idempotent').to.equal(names);
  });

  it('Conv2DBackpropFilter: 1×1/3×3/5×5, stride 1/2, same/valid, even/odd sizes, batch 3, 3→4 channels; whole batch and 1-image chunks', async () => {
    const saved = chunkPolicy.bytes;
    try {
      for (const bytes of [saved, 1]) {
        chunkPolicy.bytes = bytes; // 1 byte → one image per chunk: partial dW's summed
        for (const { k, s, pad, hw } of CONV_CASES) {
          const x = randn([3, hw, hw, 3], 11 + k + hw);
          const info = tf.backend_util.computeConv2DInfo([3, hw, hw, 3], [k, k, 3, 4], s, 1, pad);
          const dy = randn([3, info.outHeight, info.outWidth, 4], 23 + k * s);
          await compare([x, dy], (xt, dyt) => runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [k, k, 3, 4] }), `dW k${k} s${s} ${pad} ${hw} chunk-bytes ${bytes}`);
        }
      }
    } finally {
      chunkPolicy.bytes = saved;
    }
  });

  for (const viaConv of [true, false]) {
    it(`Conv2DBackpropInput (${viaConv ? 'strided via conv of zero-inserted dy' : 'strided via the shipped loop'}): same grid of cases`, async () => {
      const saved = backpropInputPolicy.stridedViaConv;
      backpropInputPolicy.stridedViaConv = viaConv;
      try {
        for (const { k, s, pad, hw } of CONV_CASES) {
          const w = randn([k, k, 3, 4], 5 + k);
          const info = tf.backend_util.computeConv2DInfo([2, hw, hw, 3], [k, k, 3, 4], s, 1, pad);
          const dy = randn([2, info.outHeight, info.outWidth, 4], 7 + s + hw);
          await compare([dy, w], (dyt, wt) => runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [2, hw, hw, 3] }), `dx k${k} s${s} ${pad} ${hw}`);
        }
      } finally {
        backpropInputPolicy.stridedViaConv = saved;
      }
    });
  }

  it('DepthwiseConv2dNativeBackpropFilter and …BackpropInput: same grid, channel multiplier 1 and 2', async () => {
    for (const { k, s, pad, hw } of CONV_CASES) {
      for (const m of [1, 2]) {
        const info = tf.backend_util.computeConv2DInfo([2, hw, hw, 3], [k, k, 3, m], s, 1, pad, undefined, true);
        const x = randn([2, hw, hw, 3], 31 + k);
        const w = randn([k, k, 3, m], 37 + m);
        const dy = randn([2, info.outHeight, info.outWidth, 3 * m], 41 + s + hw);
        const attrs = { strides: s, dilations: 1, pad };
        await compare([x, dy], (xt, dyt) => runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xt, dy: dyt }, { ...attrs, filterShape: [k, k, 3, m] }), `dwW k${k} s${s} ${pad} ${hw} m${m}`);
        await compare([dy, w], (dyt, wt) => runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dyt, filter: wt }, { ...attrs, inputShape: [2, hw, hw, 3] }), `dwX k${k} s${s} ${pad} ${hw} m${m}`);
      }
    }
  });

  it('BatchMatMul with transposeA / transposeB, rank 2 and batch-1 rank 3 (plus batch 2, delegated)', async () => {
    const a = randn([7, 5], 1);
    const b = randn([7, 6], 2);
    const c = randn([6, 5], 3);
    await compare([a, b], (at, bt) => tf.matMul(at, bt, true, false), 'AᵀB');
    await compare([a, c], (at, ct) => tf.matMul(at, ct, false, true), 'ACᵀ');
    await compare([c, randn([7, 6], 9)], (ct, at) => tf.matMul(ct, at, true, true), 'CᵀAᵀ');
    await compare([randn([1, 7, 5], 4), randn([1, 6, 7], 5)], (at, bt) => tf.matMul(at, bt, true, true), 'batch-1 rank 3');
    await compare([randn([2, 7, 5], 6), randn([2, 7, 4], 7)], (at, bt) => tf.matMul(at, bt, true, false), 'batch 2');
    await compare([a, randn([5, 4], 8)], (at, bt) => tf.matMul(at, bt), 'plain');
  });

  it('MaxPoolGrad: 2×2/2 valid, 3×3/2 same (overlapping windows, padding), 3×3/1 same, odd sizes, ties', async () => {
    await compareMaxPoolGrads(compare);
    await compareMaxPoolGradTies(compare);
  });

  it('Tile: ranks 1–5, float32 / int32 / bool, reps 1 and >1 on every axis, a last axis of 1 broadcast', async () => {
    const specs: Array<[number[], number[]]> = [[[3], [4]], [[2, 3], [3, 1]], [[1, 1, 1, 4], [5, 3, 2, 1]], [[2, 1, 3, 2], [1, 4, 1, 3]], [[2, 2, 1, 2, 3], [2, 1, 3, 1, 2]], [[4, 5], [1, 1]],
      // a last axis of 1 broadcast (one fill per row), alone and with other axes tiled
      [[6, 1], [1, 48]], [[2, 3, 4, 1], [1, 1, 1, 7]], [[2, 3, 1], [2, 1, 5]], [[1], [9]]];
    for (const [shape, reps] of specs) {
      const x = randn(shape, shape.length * 7 + reps[0]);
      await compare([x], (xt) => tf.tile(xt, reps), `tile f32 ${shape}×${reps}`);
      await compare([x], (xt) => tf.cast(tf.tile(tf.cast(tf.mul(xt, 100), 'int32'), reps), 'float32'), `tile i32 ${shape}×${reps}`);
      await compare([x], (xt) => tf.cast(tf.tile(tf.greater(xt, 0), reps), 'float32'), `tile bool ${shape}×${reps}`);
    }
  });

  it('Slice / PadV2: bit-identical to cpu; ranks 1–5, float32 / int32 / bool, whole and cut axes, size −1, pad values, the pad gradient', async () => {
    const exact = async (ins: Arr[], fn: (...t: tf.Tensor[]) => tf.Tensor, what: string): Promise<void> => {
      const [want] = await on('cpu', ins, fn);
      const [got] = await on('wasm', ins, fn);
      expect(got.shape, what).to.deep.equal(want.shape);
      expect(Array.from(got.data), what).to.deep.equal(Array.from(want.data));
    };
    const slices: Array<[number[], number[], number[]]> = [
      [[7], [2], [4]], [[5, 6], [1, 0], [3, 6]], [[5, 6], [0, 2], [5, -1]], [[2, 5, 6, 3], [0, 1, 1, 0], [2, 3, 4, 3]],
      [[2, 5, 6, 3], [1, 0, 0, 1], [1, 5, 6, 2]], [[2, 5, 6, 40], [0, 1, 1, 0], [-1, 3, 4, -1]], [[2, 3, 4, 2, 3], [1, 1, 0, 1, 0], [1, 2, 4, 1, 3]], [[3, 4], [1, 1], [0, 2]],
    ];
    for (const [shape, begin, size] of slices) {
      const x = randn(shape, shape.length * 13 + begin[0]);
      await exact([x], (t) => tf.slice(t, begin, size), `slice f32 ${shape} ${begin} ${size}`);
      await exact([x], (t) => tf.cast(tf.slice(tf.cast(tf.mul(t, 100), 'int32'), begin, size), 'float32'), `slice i32 ${shape}`);
      await exact([x], (t) => tf.cast(tf.slice(tf.greater(t, 0), begin, size), 'float32'), `slice bool ${shape}`);
    }
    const pads: Array<[number[], Array<[number, number]>, number]> = [
      [[5], [[2, 1]], 0], [[3, 4], [[0, 0], [1, 2]], 1.5], [[2, 5, 6, 3], [[0, 0], [1, 1], [1, 1], [0, 0]], 0], [[2, 5, 6, 40], [[0, 0], [2, 2], [2, 2], [0, 0]], 0],
      [[2, 3, 4, 2], [[1, 0], [0, 2], [0, 0], [1, 1]], -2], [[2, 2, 3, 2, 2], [[0, 1], [0, 0], [1, 0], [0, 0], [0, 0]], 3], [[2, 3], [[0, 0], [0, 0]], 7], [[0, 3], [[1, 1], [0, 1]], 4],
    ];
    for (const [shape, p, v] of pads) {
      const x = randn(shape, shape.length * 17 + p[0][0]);
      await exact([x], (t) => tf.pad(t, p, v), `pad f32 ${shape} ${JSON.stringify(p)} ${v}`);
      await exact([x], (t) => tf.cast(tf.pad(tf.cast(tf.mul(t, 100), 'int32'), p, v), 'float32'), `pad i32 ${shape}`);
      await exact([x], (t) => tf.cast(tf.pad(tf.greater(t, 0), p, v === 0 ? 0 : 1), 'float32'), `pad bool ${shape}`);
    }
    // The gradient of a spatial pad (what ZeroPadding2D costs a training step) is a Slice.
    const x = randn([2, 5, 6, 16], 90);
    const dy = randn([2, 7, 8, 16], 91);
    await exact([x, dy], (t, g) => tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.pad(u, [[0, 0], [1, 1], [1, 1], [0, 0]]), g)))(t), 'pad gradient');
  });

  it('SplitV: bit-identical to cpu; pieces along every axis, given sizes with −1, equal parts, int32 / bool, the gradient of a Concat', async () => {
    const exact = async (ins: Arr[], fn: (...t: tf.Tensor[]) => tf.Tensor[], what: string): Promise<void> => {
      const want = await on('cpu', ins, fn);
      const got = await on('wasm', ins, fn);
      expect(got.length, what).to.equal(want.length);
      got.forEach((g, i) => {
        expect(g.shape, `${what} piece ${i}`).to.deep.equal(want[i].shape);
        expect(Array.from(g.data), `${what} piece ${i}`).to.deep.equal(Array.from(want[i].data));
      });
    };
    const cases: Array<[number[], number | number[], number]> = [
      [[7], [2, 5], 0], [[6, 5], 3, 0], [[6, 5], [1, -1, 2], 1], [[2, 6, 5, 3], [2, 0, 4], 1], [[2, 6, 5, 3], 3, -1], [[2, 3, 4, 2, 3], [1, 3], -3], [[4, 8, 8, 6], [3, 5], 2],
    ];
    for (const [shape, split, axis] of cases) {
      const x = randn(shape, shape.length * 19 + axis + 3);
      await exact([x], (t) => tf.split(t, split, axis), `split f32 ${shape} ${JSON.stringify(split)} axis ${axis}`);
      await exact([x], (t) => tf.split(tf.cast(tf.mul(t, 100), 'int32'), split, axis).map((p) => tf.cast(p, 'float32')), `split i32 ${shape}`);
      await exact([x], (t) => tf.split(tf.greater(t, 0), split, axis).map((p) => tf.cast(p, 'float32')), `split bool ${shape}`);
    }
    // tfjs' Concat gradient is a SplitV of dy (Swin's cyclic shift, torch.roll, is slices concatenated).
    const a = randn([2, 3, 8, 4], 70);
    const b = randn([2, 5, 8, 4], 71);
    const g = randn([2, 8, 8, 4], 72);
    await exact([a, b, g], (ta, tb, tg) => tf.grads((u: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(tf.concat([u, v], 1), tg)))([ta, tb]), 'concat gradient');
  });

  it('tf.grad through a small conv net (stride 2 same, 5×5 valid, depthwise, dense) equals cpu for every input', async () => {
    const ins = [randn([4, 12, 12, 2], 50), randn([3, 3, 2, 6], 51), randn([5, 5, 6, 4], 52), randn([3, 3, 4, 2], 53), randn([32, 3], 54)];
    const body = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, dw: tf.Tensor): tf.Tensor => {
      const h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same')); // 6×6×6
      return tf.depthwiseConv2d(tf.conv2d(h, w2 as tf.Tensor4D, 1, 'valid'), dw as tf.Tensor4D, 1, 'same'); // 2×2×4 → 2×2×8
    };
    await compare(ins, netGrads(body), 'grads');
  });

  for (const [model, input] of [['cnn', [8, 8, 1]], ['resnet8', [8, 8, 3]]] as const) {
    it(`three KD + SGD-momentum training steps of zoo ${model} give the same losses and weights on wasm as on cpu`, async () => {
      const want = await kdTrainSteps(model, [...input], 'cpu');
      const got = await kdTrainSteps(model, [...input], 'wasm');
      expect(got.length).to.equal(want.length);
      want.forEach((w, i) => expectClose(got[i], w, `${model} ${i === 0 ? 'losses' : `weight ${i - 1}`}`));
    });
  }

  it('BAD CALL - dilation > 1 is refused with a clear message', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 2]);
    try {
      expect(() => runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, dilations: 2, pad: 'same', filterShape: [3, 3, 2, 1] })).to.throw(/dilation 2x2 is not supported/);
      expect(() => runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: tf.zeros([3, 3, 2, 1]) }, { strides: 1, dilations: [1, 2], pad: 'same', inputShape: [1, 5, 5, 2] })).to.throw(/dilation 1x2 is not supported/);
      expect(() => runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, dilations: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 2] })).to.throw(/dilation 2x2 is not supported/);
    } finally {
      tf.dispose([x, dy]);
    }
  });

  it('EXPECTED FAILURE - NCHW data format is refused (wasm runs NHWC only)', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 2, 5, 5]);
    try {
      expect(() => runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] })).to.throw(/NHWC only/);
    } finally {
      tf.dispose([x, dy]);
    }
  });

  it('leaks no tensors or wasm buffers across a training-style gradient step', expectNoLeakAcrossConvGradSteps);
});
