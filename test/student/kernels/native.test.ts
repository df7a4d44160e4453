/**
 * tfkd's native (N-API + OpenBLAS) kernels on the wasm backend vs the tfjs cpu backend, on seeded
 * random inputs. Tolerance: max |native − cpu| ≤ 1e-4 · max |cpu| per output tensor (as
 * kernels.test.ts). Skipped, with the reason printed, when the addon is not built
 * (scripts/build-native.mjs needs libopenblas-dev).
 */
import { expect } from 'chai';
import { selectBackend, type BackendDeps } from '../../../src/student/backend.js';
import { registerWasmKernels } from '../../../src/student/kernels/index.js';
import { batchNormTrain, bnKernelCalls } from '../../../src/student/kernels/batchnorm.js';
import { elementwiseCalls, loadNative, nativeAddonOnHeap, probeNative, registerNativeKernels, setNativeThreads, unregisterNativeKernels, defaultThreads } from '../../../src/student/kernels/native.js';
import { tf } from '../../../src/student/tf.js';
import { backendComparer, compareMaxPoolGrads, compareMaxPoolGradTies, CONV_CASES, expectNoLeakAcrossConvGradSteps, kdTrainSteps, kernelCalls, netGrads, on, randn, runKernel, type Arr } from '../compare-backends.js';
import { needsNativeAddon } from '../../helpers/needs.js';

const TOL = 1e-4;

const { worst, expectClose, compare } = backendComparer('native', TOL);

describe('student/native: tfkd native BLAS kernels on wasm match the cpu backend', function () {
  const st = loadNative();
  // Convolutions run on oneDNN when the add-on was built with it (else, or with setDnnl(false), on
  // im2col + OpenBLAS): the convolution tests run on every path this build has.
  const convPaths: Array<'oneDNN' | 'im2col'> = st.addon?.dnnlVersion() ? ['oneDNN', 'im2col'] : ['im2col'];
  async function onPath(path: 'oneDNN' | 'im2col', fn: () => Promise<void>): Promise<void> {
    st.addon!.setDnnl(path === 'oneDNN');
    try {
      await fn();
    } finally {
      st.addon!.setDnnl(process.env.TFKD_DNNL !== '0');
    }
  }
  before(async function () {
    needsNativeAddon(this, st);
    // Both convolution paths under CI (.ci/run installs libdnnl-dev): none may drop out unseen.
    if (process.env.CI === 'true' && !st.addon!.dnnlVersion()) throw new Error(`CI=true: the native add-on was built without oneDNN (${st.why}); apt-get install libdnnl-dev, then node scripts/build-native.mjs`);
    registerWasmKernels();
    registerNativeKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });
  after(async () => {
    if (st.addon) console.log(`    worst relative max diff over all native checks: ${worst.rel.toExponential(3)} (${worst.where}); tolerance ${TOL}; ${st.why}`);
    unregisterNativeKernels(); // leave the plain wasm kernels for other test files in this process
    await tf.setBackend('cpu');
  });

  it('registers Conv2D, FusedConv2D, the training conv + bias + ReLU, both conv gradients, BatchMatMul, _FusedMatMul, Sum, MaxPoolGrad, Add, Relu, the depthwise forward (large windows) and both gradients, and Transpose on wasm', () => {
    const r = registerNativeKernels();
    expect(r.names).to.deep.equal(['Conv2D', 'FusedConv2D', 'TfkdConv2DBiasAct', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul', 'Sum', 'MaxPoolGrad', 'Add', 'Relu',
      'DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'Transpose']);
    expect(r.why).to.match(/OpenBLAS .*thread/);
    expect(registerNativeKernels().names, 'idempotent').to.equal(r.names);
  });

  const gridRuns: Array<['oneDNN' | 'im2col', number]> = convPaths.flatMap((p): Array<['oneDNN' | 'im2col', number]> => (p === 'im2col' ? [[p, 4 << 20], [p, 4096]] : [[p, 4 << 20]]));
  for (const [path, chunk] of gridRuns) {
    const tag = `${chunk === 4096 ? ', 4 KiB im2col chunks (many partial GEMMs)' : ''} [${path}]`;
    it(`Conv2D, FusedConv2D (bias + relu): 1×1/3×3/5×5, stride 1/2, same/valid, even/odd sizes, batch 3, 3→4 channels${tag}`, async () => {
      st.addon!.setChunkBytes(chunk);
      try {
        await onPath(path, async () => {
        for (const { k, s, pad, hw } of CONV_CASES) {
          const x = randn([3, hw, hw, 3], 11 + k + hw);
          const w = randn([k, k, 3, 4], 5 + k + s);
          const bias = randn([4], 3);
          await compare([x, w], (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, s, pad), `conv k${k} s${s} ${pad} ${hw} [${path}]`);
          await compare([x, w, bias], (xt, wt, bt) => tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: wt as tf.Tensor4D, strides: s, pad, bias: bt, activation: 'relu' }), `fusedconv k${k} s${s} ${pad} ${hw} [${path}]`);
        }
        });
      } finally {
        st.addon!.setChunkBytes(4 << 20);
      }
    });

    it(`Conv2DBackpropFilter and Conv2DBackpropInput: the same grid${tag}`, async () => {
      st.addon!.setChunkBytes(chunk);
      try {
        await onPath(path, async () => {
        for (const { k, s, pad, hw } of CONV_CASES) {
          const info = tf.backend_util.computeConv2DInfo([3, hw, hw, 3], [k, k, 3, 4], s, 1, pad);
          const x = randn([3, hw, hw, 3], 21 + k + hw);
          const w = randn([k, k, 3, 4], 25 + k);
          const dy = randn([3, info.outHeight, info.outWidth, 4], 23 + k * s);
          await compare([x, dy], (xt, dyt) => runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [k, k, 3, 4] }), `dW k${k} s${s} ${pad} ${hw} [${path}]`);
          await compare([dy, w], (dyt, wt) => runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [3, hw, hw, 3] }), `dx k${k} s${s} ${pad} ${hw} [${path}]`);
        }
        });
      } finally {
        st.addon!.setChunkBytes(4 << 20);
      }
    });
  }

  for (const path of convPaths) {
    it(`threaded convolutions (batch split over 2 and 3 kernel threads, uneven ranges, whole and 4 KiB chunks): forward, dW, dx [${path}]`, async () => onPath(path, async () => {
      // Big enough (≥ 4e6 MAC) that the addon splits the batch of 5 across threads; cpu computed once.
      const a = st.addon!;
      try {
        // stride 1 'same': dx as a forward convolution of dy; 'valid' and stride 2: sgemm + col2im.
        for (const [s, co, pad] of [[1, 16, 'same'], [1, 16, 'valid'], [2, 32, 'same']] as const) {
          const x = randn([5, 32, 32, 16], 100 + s);
          const w = randn([3, 3, 16, co], 101 + s);
          const bias = randn([co], 102);
          const info = tf.backend_util.computeConv2DInfo([5, 32, 32, 16], [3, 3, 16, co], s, 1, pad);
          const dy = randn([5, info.outHeight, info.outWidth, co], 103 + s);
          const ops: Array<[string, Arr[], (...t: tf.Tensor[]) => tf.Tensor]> = [
            ['fusedconv', [x, w, bias], (xt, wt, bt) => tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: wt as tf.Tensor4D, strides: s, pad, bias: bt, activation: 'relu' })],
            ['dW', [x, dy], (xt, dyt) => runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [3, 3, 16, co] })],
            ['dx', [dy, w], (dyt, wt) => runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [5, 32, 32, 16] })],
          ];
          for (const [name, ins, fn] of ops) {
            const want = (await on('cpu', ins, fn))[0];
            for (const kt of [2, 3]) {
              a.setKernelThreads(kt);
              for (const chunk of [4 << 20, 4096]) {
                a.setChunkBytes(chunk);
                expectClose((await on('wasm', ins, fn))[0], want, `${name} s${s} ${pad}, threads ${kt}, chunk ${chunk}`);
              }
            }
          }
        }
      } finally {
        a.setChunkBytes(4 << 20);
        a.setThreads(a.getThreads()); // tfkd's threads back to the configured count too
      }
    }));
}

  for (const path of convPaths) {
    it(`explicit asymmetric padding (forward, dW, dx), stride 2 and 1 [${path}]`, async () => onPath(path, async () => {
      const pad: tf.backend_util.ExplicitPadding = [[0, 0], [1, 2], [0, 1], [0, 0]];
      for (const s of [1, 2]) {
        const x = randn([2, 7, 6, 3], 90 + s);
        const w = randn([3, 3, 3, 5], 91);
        const info = tf.backend_util.computeConv2DInfo([2, 7, 6, 3], [3, 3, 3, 5], s, 1, pad);
        const dy = randn([2, info.outHeight, info.outWidth, 5], 92);
        await compare([x, w], (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, s, pad), `explicit pad conv s${s}`);
        await compare([x, dy], (xt, dyt) => runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { strides: s, pad, dataFormat: 'NHWC', filterShape: [3, 3, 3, 5] }), `explicit pad dW s${s}`);
        await compare([dy, w], (dyt, wt) => runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { strides: s, pad, dataFormat: 'NHWC', inputShape: [2, 7, 6, 3] }), `explicit pad dx s${s}`);
      }
    }));
}

  it('the native kernels actually run (call counts) and give the same results on 1 thread', async () => {
    const x = randn([2, 8, 8, 3], 1);
    const w = randn([3, 3, 3, 5], 2);
    const n = await kernelCalls(['Conv2D'], () => compare([x, w], (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, 1, 'same'), 'counted conv'));
    expect(n, 'Conv2D calls on wasm').to.equal(1);
    const threads = st.addon!.getThreads();
    try {
      expect(setNativeThreads(1)).to.equal(1);
      await compare([x, w], (xt, wt) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([xt, wt]), 'conv grads, 1 thread');
    } finally {
      setNativeThreads(threads);
    }
  });

  it('BatchMatMul: all four transpose combinations, rank 2 and 3, batch 2, broadcast batch 1; _FusedMatMul with bias + relu', async () => {
    const a = randn([7, 5], 1);
    const b = randn([7, 6], 2);
    const c = randn([6, 5], 3);
    await compare([a, b], (at, bt) => tf.matMul(at, bt, true, false), 'AᵀB');
    await compare([a, c], (at, ct) => tf.matMul(at, ct, false, true), 'ACᵀ');
    await compare([c, randn([7, 6], 9)], (ct, at) => tf.matMul(ct, at, true, true), 'CᵀAᵀ');
    await compare([a, randn([5, 4], 8)], (at, bt) => tf.matMul(at, bt), 'plain');
    await compare([randn([2, 7, 5], 6), randn([2, 7, 4], 7)], (at, bt) => tf.matMul(at, bt, true, false), 'batch 2');
    await compare([randn([1, 7, 5], 4), randn([3, 5, 4], 5)], (at, bt) => tf.matMul(at, bt), 'broadcast a');
    await compare([randn([3, 4, 7], 4), randn([6, 7], 5)], (at, bt) => tf.matMul(at, bt, false, true), 'broadcast b (rank 2)');
    await compare([randn([2, 3, 4, 5], 4), randn([2, 3, 5, 2], 5)], (at, bt) => tf.matMul(at, bt), 'rank 4');
    await compare([randn([2, 1, 4, 5], 4), randn([1, 3, 5, 2], 5)], (at, bt) => tf.matMul(at, bt), 'rank 4 cross broadcast (falls back)');
    await compare([randn([9, 5], 10), randn([5, 4], 11), randn([4], 12)], (at, bt, bias) => tf.fused.matMul({ a: at, b: bt, bias, activation: 'relu' }), 'fused relu');
    await compare([randn([5, 9], 10), randn([4, 5], 11), randn([4], 12)], (at, bt, bias) => tf.fused.matMul({ a: at, b: bt, transposeA: true, transposeB: true, bias }), 'fused linear, transposed');
  });

  it('threaded GEMMs (≥ 4e6 MAC, 2 and 3 threads): rows split (M ≥ N) and columns split (M < N), every transpose; 1×1 convolutions', async () => {
    const a = st.addon!;
    try {
      // [M, K] · [K, N]: 301×200·200×101 splits rows, 41×500·500×403 splits columns (uneven ranges).
      for (const [M, K, N] of [[301, 200, 101], [41, 500, 403]]) {
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
          const A = randn(ta ? [K, M] : [M, K], 110 + M);
          const B = randn(tb ? [N, K] : [K, N], 111 + N);
          const fn = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, ta, tb);
          const want = (await on('cpu', [A, B], fn))[0];
          for (const kt of [2, 3]) {
            a.setKernelThreads(kt);
            expectClose((await on('wasm', [A, B], fn))[0], want, `matmul ${M}×${K}×${N} tA ${ta} tB ${tb}, threads ${kt}`);
          }
        }
      }
      // 1×1 stride 1 convolution (one GEMM on x): forward, dW (xᵀ·dy), dx (dy·Wᵀ) on the split path.
      const x = randn([5, 32, 32, 16], 120);
      const w = randn([1, 1, 16, 64], 121);
      const dy = randn([5, 32, 32, 64], 122);
      const ops: Array<[string, Arr[], (...t: tf.Tensor[]) => tf.Tensor]> = [
        ['1×1 forward', [x, w], (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, 1, 'same')],
        ['1×1 dW', [x, dy], (xt, dyt) => runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 16, 64] })],
        ['1×1 dx', [dy, w], (dyt, wt) => runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [5, 32, 32, 16] })],
      ];
      for (const [name, ins, fn] of ops) {
        const want = (await on('cpu', ins, fn))[0];
        for (const kt of [2, 3]) {
          a.setKernelThreads(kt);
          expectClose((await on('wasm', ins, fn))[0], want, `${name}, threads ${kt}`);
        }
      }
    } finally {
      a.setThreads(a.getThreads());
    }
  });

  it('results do not depend on the thread count (1, 2, 3, 8): convolutions on every path, GEMM splits, BatchNorm sums — bit for bit', async () => {
    const a = st.addon!;
    const bits = (arr: Arr): string => Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength).toString('base64');
    const convShapes: Array<[string, number[], number[], number, 'same' | 'valid']> = [
      ['stem 3→16', [6, 16, 16, 3], [3, 3, 3, 16], 1, 'same'],
      ['cnn conv1 1→32 valid', [32, 28, 28, 1], [3, 3, 1, 32], 1, 'valid'],
      ['16→16', [6, 16, 16, 16], [3, 3, 16, 16], 1, 'same'],
      ['32→64 valid (im2col dW)', [6, 12, 12, 32], [3, 3, 32, 64], 1, 'valid'],
      ['16→32 stride 2', [6, 16, 16, 16], [3, 3, 16, 32], 2, 'same'],
      ['1×1 16→32 stride 2', [6, 16, 16, 16], [1, 1, 16, 32], 2, 'same'],
    ];
    const ops: Array<[string, Arr[], (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]]> = [];
    for (const [name, xs, ws, s, pad] of convShapes) {
      const info = tf.backend_util.computeConv2DInfo(xs as [number, number, number, number], ws as [number, number, number, number], s, 1, pad);
      const x = randn(xs, 130);
      const w = randn(ws, 131);
      const dy = randn([xs[0], info.outHeight, info.outWidth, ws[3]], 132);
      ops.push([`${name} forward`, [x, w], (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, s, pad)]);
      ops.push([`${name} dW`, [x, dy], (xt, dyt) => runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, { strides: s, pad, dataFormat: 'NHWC', filterShape: ws })]);
      ops.push([`${name} dx`, [dy, w], (dyt, wt) => runKernel('Conv2DBackpropInput', { dy: dyt, filter: wt }, { strides: s, pad, dataFormat: 'NHWC', inputShape: xs })]);
    }
    ops.push(['matmul 300×400·400×200 (split rows)', [randn([300, 400], 133), randn([400, 200], 134)], (p, q) => tf.matMul(p, q)]);
    ops.push(['matmul 40×2000·2000×300 (split columns)', [randn([40, 2000], 135), randn([2000, 300], 136)], (p, q) => tf.matMul(p, q)]);
    const bx = randn([16, 32, 32, 64], 137); // 1 M elements: BatchNorm sums in units
    const g = randn([64], 138);
    const b = randn([64], 139);
    ops.push(['BatchNorm forward + backward', [bx, g, b], (xt, gt, bt) => {
      const [y, m, v] = batchNormTrain(xt, gt as tf.Tensor1D, bt as tf.Tensor1D, 1e-5);
      const grads = tf.grads((u: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(u, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5)[0], u)))([xt, gt, bt]);
      return [y, m, v, ...grads];
    }]);
    try {
      for (const path of convPaths) {
        await onPath(path, async () => {
          for (const [name, ins, fn] of ops) {
            const byThreads: string[] = [];
            // 8: oneDNN's AVX2 weight gradient split its batch from 4 threads on (AVX-512: from 2).
            const counts = [1, 2, 3, 8];
            for (const kt of counts) {
              a.setKernelThreads(kt);
              byThreads.push((await on('wasm', ins, fn)).map(bits).join('|'));
            }
            counts.forEach((kt, i) => expect(byThreads[i], `${name} [${path}]: ${kt} threads vs 1`).to.equal(byThreads[0]));
          }
        });
      }
    } finally {
      a.setThreads(a.getThreads());
    }
  });

  it('Add and Relu on large float32 tensors: the same bits as the cpu backend (±0, ±∞; NaN as NaN), bias and residual broadcasts; others fall back', async () => {
    // Bits, with every NaN written as one canonical NaN (its sign/payload carries no meaning).
    const bitsOf = (arr: Arr): string => {
      const c = Float32Array.from(arr.data, (v) => (Number.isNaN(v) ? Number.NaN : v));
      return Buffer.from(c.buffer).toString('base64');
    };
    const special = (arr: Arr): Arr => {
      const v = [Number.NaN, 0, -0, Infinity, -Infinity, 1e-45, -3];
      for (let i = 0; i < arr.data.length; i += 997) arr.data[i] = v[(i / 997) % v.length];
      return arr;
    };
    const big = special(randn([8, 32, 32, 16], 140)); // 131 072 elements: native path
    const cases: Array<[string, Arr[], (...t: tf.Tensor[]) => tf.Tensor, number]> = [
      ['add same shape', [big, special(randn([8, 32, 32, 16], 141))], (p, q) => tf.add(p, q), 1],
      ['add bias [C]', [big, randn([16], 142)], (p, q) => tf.add(p, q), 1],
      ['add bias [1,1,1,C]', [big, randn([1, 1, 1, 16], 143)], (p, q) => tf.add(p, q), 1],
      ['add bias first', [randn([32, 16], 144), big], (p, q) => tf.add(p, q), 1],
      ['add [8,1,1,16] (not a tail: falls back)', [big, randn([8, 1, 1, 16], 145)], (p, q) => tf.add(p, q), 0],
      ['add small (falls back)', [randn([4, 16], 146), randn([4, 16], 147)], (p, q) => tf.add(p, q), 0],
      ['relu', [big], (p) => tf.relu(p), 1],
      ['relu small (falls back)', [randn([100], 148)], (p) => tf.relu(p), 0],
    ];
    for (const [name, ins, fn, nativeCalls] of cases) {
      const want = (await on('cpu', ins, fn))[0];
      const counter = name.startsWith('add') ? 'add' : 'relu';
      const before = elementwiseCalls[counter];
      const got = (await on('wasm', ins, fn))[0];
      const calledNative = elementwiseCalls[counter] - before;
      expect(got.shape, name).to.deep.equal(want.shape);
      expect(bitsOf(got), `${name}: bits differ from cpu`).to.equal(bitsOf(want));
      expect(calledNative, `${name}: add-on calls`).to.equal(nativeCalls);
    }
  });

  it('Sum over leading axes (keepDims or not), over all axes, rank 2; other axis sets and int32 fall back', async () => {
    const x = randn([3, 5, 4, 6], 80);
    for (const [axis, keep] of [[[0, 1, 2], false], [[0, 1, 2], true], [[2, 0, 1], false], [[0], false], [null, false], [[0, 1, 2, 3], true], [[1, 2], false], [[-1], true], [[0, 2], false]] as const) {
      await compare([x], (xt) => tf.sum(xt, axis === null ? undefined : [...axis], keep), `sum ${JSON.stringify(axis)} keepDims ${keep}`);
    }
    await compare([randn([200, 3], 81)], (xt) => tf.sum(xt, 0), 'sum rank 2 axis 0');
    await compare([x], (xt) => tf.cast(tf.sum(tf.cast(tf.mul(xt, 100), 'int32'), [0, 1]), 'float32'), 'sum int32');
    const n = await kernelCalls(['Sum'], () => compare([x], (xt) => tf.sum(xt, [0, 1, 2]), 'counted sum'));
    expect(n).to.equal(1);
  });

  it('MaxPoolGrad: 2×2/2 valid, 3×3/2 same (overlapping windows, padding), 3×3/1 same, odd sizes, ties', async () => {
    await compareMaxPoolGrads(compare);
    const n = await kernelCalls(['MaxPoolGrad'], () => compareMaxPoolGradTies(compare));
    expect(n).to.equal(1);
  });

  it('MaxPoolGrad tiled path (window = stride): ties, −∞ and NaN windows, batch split over threads', async () => {
    // 4×64×64×16 = 2^18 elements: large enough for the batch split; values on a coarse grid so
    // ties inside a window are common; some windows all −∞, some with NaN, one all NaN.
    for (const [f, hw] of [[2, 64], [4, 64]] as const) {
      const x = randn([4, hw, hw, 16], 90 + f);
      for (let i = 0; i < x.data.length; i++) x.data[i] = Math.round(x.data[i] * 2) / 2;
      for (let i = 0; i < 4096; i += 7) x.data[i * 16 + (i % 16)] = Number.NaN;
      const img = hw * hw * 16;
      for (let r = 0; r < f; r++) for (let q = 0; q < f; q++) for (let c = 0; c < 16; c++) {
        x.data[img + (r * hw + q) * 16 + c] = -Infinity; // image 1, window (0,0): all −∞
        x.data[2 * img + (r * hw + f + q) * 16 + c] = Number.NaN; // image 2, window (0,1): all NaN
      }
      const dy = randn([4, hw / f, hw / f, 16], 95 + f);
      await compare([x, dy], (xt, dyt) => tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(u as tf.Tensor4D, f, f, 'valid'), dyt)))(xt), `maxPoolGrad tiled f${f}`);
    }
  });

  it('unsupported cases fall back to the wasm kernels and stay correct (dilation 2, elu)', async () => {
    const x = randn([2, 9, 9, 3], 31);
    const w = randn([3, 3, 3, 4], 32);
    await compare([x, w], (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, 1, 'same', 'NHWC', 2), 'dilated conv');
    await compare([x, w, randn([4], 33)], (xt, wt, bt) => tf.fused.conv2d({ x: xt as tf.Tensor4D, filter: wt as tf.Tensor4D, strides: 1, pad: 'same', bias: bt, activation: 'elu' }), 'fused conv elu');
    await compare([randn([6, 5], 34), randn([5, 4], 35), randn([4], 36)], (at, bt, bias) => tf.fused.matMul({ a: at, b: bt, bias, activation: 'elu' }), 'fused matmul elu');
  });

  for (const path of convPaths) {
    it(`tf.grads through a conv net (stride 2 same, 5×5 valid, 1×1, dense) equals cpu for every input [${path}]`, async () => onPath(path, async () => {
      const ins = [randn([4, 12, 12, 2], 50), randn([3, 3, 2, 6], 51), randn([5, 5, 6, 4], 52), randn([1, 1, 4, 3], 53), randn([12, 3], 54)];
      const body = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor): tf.Tensor => {
        const h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same')); // 6×6×6
        return tf.conv2d(tf.conv2d(h, w2 as tf.Tensor4D, 1, 'valid'), w3 as tf.Tensor4D, 1, 'same'); // 2×2×4 → 2×2×3
      };
      await compare(ins, netGrads(body), 'grads');
    }));
}

  for (const [model, input] of [['cnn', [12, 12, 1]], ['resnet8', [8, 8, 3]]] as const) {
    it(`three KD + SGD-momentum training steps of zoo ${model} (batch 4) give the same losses and weights as cpu`, async () => {
      const want = await kdTrainSteps(model, [...input], 'cpu');
      let got: Arr[] = [];
      const nConv = await kernelCalls([model === 'cnn' ? 'Conv2DBackpropFilter' : 'Conv2DBackpropInput'], async () => {
        got = await kdTrainSteps(model, [...input], 'wasm');
      });
      expect(nConv, 'native gradient kernel calls').to.be.greaterThan(0);
      expect(got.length).to.equal(want.length);
      want.forEach((w, i) => expectClose(got[i], w, `${model} ${i === 0 ? 'losses' : `weight ${i - 1}`}`));
    });
  }

  describe('training BatchNorm (TfkdBatchNormTrain / …Grad) in C', () => {
    // x shapes: small odd channel counts, channel counts of the zoo, and ≥ 1 M elements (the
    // element-wise passes and sums split across the addon's threads there: checked on 2 and 3).
    const shapes: number[][] = [[8, 6, 5, 16], [3, 7, 7, 7], [64, 12], [2, 48, 48, 5], [16, 16, 16, 32], [17, 31, 31, 67]];
    const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, w: tf.Tensor): tf.Tensor[] => {
      const [y, mean, variance] = batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
      const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(xx, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-3)[0], w)))([x, g, b]);
      return [y, mean, variance, ...grads];
    };
    const inputs = (shape: number[], seed: number): Arr[] => {
      const C = shape[shape.length - 1];
      const x = randn(shape, seed);
      for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i] * 3 + 5 + (i % C); // offset, per-channel mean
      return [x, randn([C], seed + 1), randn([C], seed + 2), randn(shape, seed + 3)];
    };

    it('the BN kernels run in C when the native kernels are registered, in JS otherwise', async () => {
      expect(nativeAddonOnHeap(), 'registered').to.equal(st.addon);
      await tf.setBackend('wasm');
      const [x, g, b] = inputs([2, 3, 3, 4], 1).map((a) => tf.tensor(a.data, a.shape));
      const n0 = { ...bnKernelCalls };
      try {
        tf.dispose(batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3));
        expect(bnKernelCalls.native - n0.native, 'native calls, registered').to.equal(1);
        unregisterNativeKernels();
        expect(nativeAddonOnHeap(), 'unregistered').to.equal(null);
        tf.dispose(batchNormTrain(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3));
        expect(bnKernelCalls.native - n0.native, 'native calls, unregistered').to.equal(1);
        expect(bnKernelCalls.js - n0.js, 'JS calls').to.equal(1);
      } finally {
        registerNativeKernels();
        tf.dispose([x, g, b]);
      }
    });

    for (const shape of shapes) {
      it(`y, batch mean/variance, dx, dγ, dβ vs the cpu backend and vs the JS loops on wasm, x ${JSON.stringify(shape)}`, async () => {
        const ins = inputs(shape, 40 + shape.length + shape[0]);
        await compare(ins, bn, `bn ${JSON.stringify(shape)}`);
        // Native vs the JS loops (same formulas, same float64 order on one thread): ≤ 1e-6 relative.
        const before = bnKernelCalls.native;
        const big = shape.reduce((p, v) => p * v, 1) >= 1 << 20;
        const nats: Array<[string, Arr[]]> = [];
        try {
          for (const kt of big ? [2, 3] : [0]) {
            if (kt > 0) st.addon!.setKernelThreads(kt);
            nats.push([kt > 0 ? `${kt} threads` : 'default threads', await on('wasm', ins, bn)]);
          }
        } finally {
          st.addon!.setThreads(st.addon!.getThreads());
        }
        expect(bnKernelCalls.native - before, 'forward + backward ran in C').to.equal(3 * nats.length); // y; y again + grad
        unregisterNativeKernels();
        let js: Arr[];
        try {
          js = await on('wasm', ins, bn);
        } finally {
          registerNativeKernels();
        }
        for (const [tag, nat] of nats) {
          let worstJs = 0;
          nat.forEach((a, i) => {
            let diff = 0;
            let scale = 0;
            for (let j = 0; j < a.data.length; j++) {
              diff = Math.max(diff, Math.abs(a.data[j] - js[i].data[j]));
              scale = Math.max(scale, Math.abs(js[i].data[j]));
            }
            worstJs = Math.max(worstJs, diff / Math.max(scale, 1e-30));
          });
          console.log(`      native (${tag}) vs JS BN ${JSON.stringify(shape)}: max rel diff ${worstJs.toExponential(3)}`);
          expect(worstJs, tag).to.be.at.most(1e-6);
        }
      });
    }

    it('BAD CALL - bnTrain / bnTrainGrad refuse short views', () => {
      const a = st.addon!;
      const f = (n: number) => new Float32Array(n);
      const dims = Int32Array.from([6, 4]);
      expect(() => a.bnTrain(f(23), f(4), f(4), f(24), f(4), f(4), dims, 1e-3)).to.throw(/x: view has 23/);
      expect(() => a.bnTrain(f(24), f(4), f(3), f(24), f(4), f(4), dims, 1e-3)).to.throw(/beta: view has 3/);
      expect(() => a.bnTrainGrad(f(24), f(24), f(4), f(4), f(4), f(20), f(4), f(4), dims, 1e-3)).to.throw(/dx: view has 20/);
      expect(() => a.bnTrain(f(0), f(0), f(0), f(0), f(0), f(0), Int32Array.from([0, 4]), 1e-3)).to.throw(/empty batch/);
    });
  });

  it('leaks no tensors or wasm buffers across a training-style gradient step', expectNoLeakAcrossConvGradSteps);

  it('BAD CALL - the addon refuses views shorter than the shape says (no out-of-bounds access)', () => {
    const a = st.addon!;
    const dims = Int32Array.from([1, 4, 4, 2, 3, 3, 2, 4, 4, 1, 1, 1, 1]);
    const x = new Float32Array(32);
    const w = new Float32Array(36);
    expect(() => a.conv2dForward(x, w, null, new Float32Array(31), dims, 0)).to.throw(/y: view has 31 elements, shape needs 32/);
    expect(() => a.conv2dBackpropFilter(x.subarray(1), new Float32Array(32), new Float32Array(36), dims)).to.throw(/x: view has 31/);
    expect(() => a.conv2dBackpropInput(new Float32Array(32), w.subarray(0, 35), new Float32Array(32), dims)).to.throw(/filter: view has 35/);
    expect(() => a.matmul(new Float32Array(6), new Float32Array(6), null, new Float32Array(3), Int32Array.from([1, 1, 2, 2, 3, 0, 0]), 0)).to.throw(/out: view has 3/);
    expect(() => a.conv2dForward(x, w, null, new Float32Array(32), dims.subarray(1), 0)).to.throw(/Int32Array of 13/);
    expect(() => a.conv2dForward(x, w, null, new Float32Array(32), dims, 7)).to.throw(/activation/);
    expect(() => a.maxPoolGrad(x, new Float32Array(7), new Float32Array(32), Int32Array.from([1, 4, 4, 2, 2, 2, 2, 2, 2, 2, 0, 0]))).to.throw(/dy: view has 7 elements, shape needs 8/);
    expect(() => a.sumRows(new Float32Array(11), new Float32Array(4), Int32Array.from([3, 4]))).to.throw(/x: view has 11/);
    expect(() => a.matmul(new Float64Array(6) as unknown as Float32Array, new Float32Array(6), null, new Float32Array(4), Int32Array.from([1, 1, 2, 2, 3, 0, 0]), 0)).to.throw(/Float32Array/);
  });

  it('TFKD_NATIVE=0 disables the addon; TFKD_THREADS sets the thread count', () => {
    const off = probeNative({ TFKD_NATIVE: '0' });
    expect(off.addon).to.equal(null);
    expect(off.why).to.match(/TFKD_NATIVE=0/);
    expect(defaultThreads({ TFKD_THREADS: '3' })).to.equal(3);
    expect(defaultThreads({ TFKD_THREADS: 'zero' })).to.be.at.least(1);
  });
});

describe('student/native: selectBackend records whether the native kernels back wasm', () => {
  const deps = (native?: () => { names: string[]; why: string }): BackendDeps => ({
    importNode: () => Promise.reject(new Error('not installed')),
    setBackend: (name) => Promise.resolve(name === 'wasm'),
    registerWasmKernels: () => ['Conv2DBackpropFilter'],
    registerNativeKernels: native,
    wasmDetail: () => 'fake wasm',
  });

  it("kernels: 'wasm+native-blas' when the addon registered kernels, with the reason in why", async () => {
    const info = await selectBackend('wasm', deps(() => ({ names: ['Conv2D', 'BatchMatMul'], why: 'native addon: OpenBLAS 0.3.21, 2 threads' })));
    expect(info.kernels).to.equal('wasm+native-blas');
    expect(info.why.join('\n')).to.match(/native BLAS kernels \(Conv2D, BatchMatMul\) — native addon: OpenBLAS/);
  });

  it("kernels: 'wasm+tfkd-kernels' when the addon is absent or disabled, or its registration throws", async () => {
    const absent = await selectBackend('auto', deps(() => ({ names: [], why: 'native kernels disabled (TFKD_NATIVE=0)' })));
    expect(absent).to.include({ name: 'wasm', kernels: 'wasm+tfkd-kernels' });
    expect(absent.why.join('\n')).to.match(/TFKD_NATIVE=0/);
    const throws = await selectBackend('wasm', deps(() => { throw new Error('boom'); }));
    expect(throws.kernels).to.equal('wasm+tfkd-kernels');
    expect(throws.why.join('\n')).to.match(/native kernels not used \(boom\)/);
    expect((await selectBackend('wasm', deps())).kernels, 'deps without the hook').to.equal('wasm+tfkd-kernels');
  });
});

describe('student/kernels: zero-copy Identity on wasm (pool-tile.ts identityWasm)', () => {
  before(async () => {
    registerWasmKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('clone shares the buffer, keeps the values after the source is disposed, and frees it with the last reference', () => {
    const before = tf.memory().numDataBuffers;
    const x = tf.tensor([1.5, -2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    expect(tf.memory().numDataBuffers, 'no new buffer').to.equal(before + 1);
    x.dispose();
    expect(Array.from(y.dataSync())).to.deep.equal([1.5, -2, 3, 4]);
    y.dispose();
    expect(tf.memory().numDataBuffers, 'freed').to.equal(before);
    const i = tf.clone(tf.tensor1d([1, 2], 'int32'));
    expect(i.dtype).to.equal('int32');
    expect(Array.from(i.dataSync())).to.deep.equal([1, 2]);
    i.dispose();
  });

  it('a variable updated from its clone, and gradients through identity, equal cpu', async () => {
    const run = async (backend: 'cpu' | 'wasm'): Promise<number[]> => {
      await tf.setBackend(backend);
      const v = tf.variable(tf.tensor1d([1, 2, 3]));
      const c = tf.clone(v);
      v.assign(tf.tidy(() => tf.add(v, 1)));
      const g = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(tf.clone(u), u)))(c);
      const out = [...c.dataSync(), ...v.dataSync(), ...g.dataSync()];
      tf.dispose([v, c, g]);
      return out;
    };
    const want = await run('cpu');
    expect(await run('wasm')).to.deep.equal(want);
    expect(want).to.deep.equal([1, 2, 3, 2, 3, 4, 2, 4, 6]);
  });
});
