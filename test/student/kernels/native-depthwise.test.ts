/**
 * The depthwise convolutions on the native add-on (native/src/depthwise.cc,
 * kernels/native-depthwise.ts) vs the tfjs cpu backend's kernels, on seeded random inputs: the
 * forward pass of 7×7 windows (smaller ones: XNNPACK's bits, unchanged), the
 * filter and input gradients over kernel sizes, strides, paddings, odd sizes and channel
 * multipliers; thread counts 1–3 give the same bits; tf.grads through a depthwise net and the
 * gradient of zoo mobilenetv2 (BatchNorm in training mode) equal cpu. The ONNX students'
 * PyTorch step parity (test/student/zoo/onnx-import.test.ts) runs on these kernels too. Tolerance: max |native − cpu| ≤ 1e-4 · max |cpu|
 * per output tensor (as native.test.ts). Skipped, naming the reason, without the add-on.
 */
import { expect } from 'chai';
import { loadNative, NATIVE_KERNELS, registerNativeKernels, unregisterNativeKernels } from '../../../src/student/kernels/native.js';
import { DEPTHWISE_FORWARD_TAPS } from '../../../src/student/kernels/native-depthwise.js';
import { tf } from '../../../src/student/tf.js';
import { buildModel } from '../../../src/student/zoo/index.js';
import { backendComparer, kernelCalls, netGrads, on, onNativeKernels, randn, runKernel, type Arr } from '../compare-backends.js';

const TOL = 1e-4;
const { worst, expectClose, compare } = backendComparer('native', TOL);
const NAMES = ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

/** dW and dx of one depthwise shape, each as [inputs, fn]. */
function ops(B: number, hw: [number, number], C: number, M: number, k: number, s: number, pad: Pad, seed: number): Array<[string, Arr[], (...t: tf.Tensor[]) => tf.Tensor]> {
  const xs: [number, number, number, number] = [B, hw[0], hw[1], C];
  const fs: [number, number, number, number] = [k, k, C, M];
  const info = tf.backend_util.computeConv2DInfo(xs, fs, s, 1, pad, undefined, true);
  const x = randn(xs, seed);
  const w = randn(fs, seed + 1);
  const dy = randn([B, info.outHeight, info.outWidth, C * M], seed + 3);
  return [
    ['dW', [x, dy], (xt, dyt) => runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xt, dy: dyt }, { strides: s, pad, dilations: 1, filterShape: fs })],
    ['dx', [dy, w], (dyt, wt) => runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dyt, filter: wt }, { strides: s, pad, dilations: 1, inputShape: xs })],
  ];
}

describe('student/native: depthwise convolutions on the native add-on match the cpu backend', function () {
  this.timeout(120000);
  const st = loadNative();
  onNativeKernels(st, () => console.log(`    worst relative max diff over the depthwise checks: ${worst.rel.toExponential(3)} (${worst.where}); tolerance ${TOL}; ${st.why}`));

  it('registers both depthwise gradients and the forward pass on wasm', () => {
    const names = registerNativeKernels().names;
    for (const n of [...NAMES, 'DepthwiseConv2dNative']) {
      expect(names).to.include(n);
      expect(tf.getKernel(n, 'wasm')!.kernelFunc).to.equal(NATIVE_KERNELS.find((k) => k.name === n)!.fn);
    }
  });

  it(`forward: windows of ≥ ${DEPTHWISE_FORWARD_TAPS} taps (7×7) in C, close to cpu and the same bits on 1–3 threads; 3×3 and 5×5 stay XNNPACK's, bit for bit`, async () => {
    const a = st.addon!;
    const fwd = (s: number, pad: Pad) => (xt: tf.Tensor, wt: tf.Tensor) => runKernel('DepthwiseConv2dNative', { x: xt, filter: wt }, { strides: s, pad, dilations: 1 });
    const pads: Pad[] = ['same', 'valid', [[0, 0], [3, 2], [1, 3], [0, 0]]];
    let seed = 500;
    try {
      for (const k of [3, 5, 7]) for (const s of [1, 2]) for (const pad of pads) for (const M of [1, 2]) {
        // 5 images of 16×17×32: over the add-on's 1e6-multiply-add threshold, so split into units
        const x = randn([5, 16, 17, 32], (seed += 2));
        const w = randn([k, k, 32, M], seed + 1);
        const what = `forward k${k} s${s} ${JSON.stringify(pad)} M${M}`;
        if (k * k < DEPTHWISE_FORWARD_TAPS) {
          const ours = (await on('wasm', [x, w], fwd(s, pad)))[0];
          unregisterNativeKernels();
          const xnn = (await on('wasm', [x, w], fwd(s, pad)))[0];
          registerNativeKernels();
          expect(Buffer.from(ours.data.buffer).equals(Buffer.from(xnn.data.buffer)), `${what}: XNNPACK's bits`).to.equal(true);
          continue;
        }
        const want = (await on('cpu', [x, w], fwd(s, pad)))[0];
        let first: Float32Array | null = null;
        for (const kt of [1, 2, 3]) {
          a.setKernelThreads(kt);
          const got = (await on('wasm', [x, w], fwd(s, pad)))[0];
          expectClose(got, want, `${what}, ${kt} thread(s)`);
          if (first === null) first = got.data;
          else expect(Buffer.from(got.data.buffer).equals(Buffer.from(first.buffer)), `${what}: ${kt} threads = 1 thread`).to.equal(true);
        }
      }
    } finally {
      a.setThreads(a.getThreads());
      registerNativeKernels();
    }
  });

  it('dW, dx: 1×1/3×3/5×5, stride 1/2, same/valid/explicit, even/odd sizes, multiplier 1 and 2, batch 3', async () => {
    const pads: Pad[] = ['same', 'valid', [[0, 0], [1, 2], [0, 1], [0, 0]]];
    let n = 0;
    let seed = 1;
    const count = await kernelCalls(NAMES, async () => {
      for (const k of [1, 3, 5]) for (const s of [1, 2]) for (const pad of pads) for (const hw of [8, 9] as const) for (const M of [1, 2]) {
        if (pad === 'valid' && k > hw) continue;
        for (const [name, ins, fn] of ops(3, [hw, hw + 1], 5, M, k, s, pad, (seed += 4))) {
          await compare(ins, fn, `${name} k${k} s${s} ${JSON.stringify(pad)} ${hw}x${hw + 1} M${M}`);
          n++;
        }
      }
    });
    expect(count, 'native depthwise calls').to.equal(n);
  });

  it('batch split over 1, 2 and 3 threads (uneven ranges): the same bits, close to cpu (dW, dx; 16×16×32, batch 5)', async () => {
    const a = st.addon!;
    try {
      for (const [s, pad] of [[1, 'same'], [2, 'same'], [2, 'valid']] as const) {
        for (const [name, ins, fn] of ops(5, [16, 16], 32, 1, 3, s, pad, 40 + s)) {
          const want = (await on('cpu', ins, fn))[0];
          let first: Float32Array | null = null;
          for (const kt of [1, 2, 3]) {
            a.setKernelThreads(kt);
            const got = (await on('wasm', ins, fn))[0];
            expectClose(got, want, `${name} s${s} ${pad}, ${kt} thread(s)`);
            if (first === null) first = got.data;
            else expect(Buffer.from(got.data.buffer).equals(Buffer.from(first.buffer)), `${name} s${s} ${pad}: ${kt} threads = 1 thread, bit for bit`).to.equal(true);
          }
        }
      }
    } finally {
      a.setThreads(a.getThreads());
    }
  });

  it('dilation 2 goes to the kernel it replaced (tfkd\'s wasm kernel, which names what it does not support)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(randn([2, 9, 9, 3], 61).data, [2, 9, 9, 3]);
    const dy = tf.tensor(randn([2, 9, 9, 6], 62).data, [2, 9, 9, 6]);
    try {
      expect(() => runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 3, 2] })).to.throw(/tfkd wasm DepthwiseConv2dNativeBackpropFilter: dilation 2x2 is not supported/);
    } finally {
      tf.dispose([x, dy]);
    }
  });

  it('tf.grads through a depthwise net (3×3/2 same, 5×5 valid multiplier 2, pointwise, dense) equals cpu for every input', async () => {
    const ins = [randn([4, 13, 13, 3], 70), randn([3, 3, 3, 1], 71), randn([5, 5, 3, 2], 72), randn([1, 1, 6, 4], 73), randn([36, 3], 74)];
    const body = (x: tf.Tensor, d1: tf.Tensor, d2: tf.Tensor, p: tf.Tensor): tf.Tensor => {
      const h = tf.relu(tf.depthwiseConv2d(x as tf.Tensor4D, d1 as tf.Tensor4D, 2, 'same')); // 7×7×3
      return tf.conv2d(tf.depthwiseConv2d(h, d2 as tf.Tensor4D, 1, 'valid'), p as tf.Tensor4D, 1, 'same'); // 3×3×6 → 3×3×4
    };
    await compare(ins, netGrads(body), 'depthwise grads');
  });

  // One gradient, not several training steps: a few SGD steps of a BatchNorm net at batch 4 are
  // chaotic (tfkd's plain wasm kernels already drift from cpu by > 1e-3 on mobilenetv2 after three).
  it('the gradient of a KD loss w.r.t. every weight of zoo mobilenetv2 (BN in training mode, batch 4, 16×16) equals cpu', async () => {
    const grads = async (backend: 'cpu' | 'wasm'): Promise<Arr[]> => {
      await tf.setBackend(backend);
      const m = buildModel('mobilenetv2', { inputShape: [16, 16, 3], numClasses: 3, seed: 7 });
      const x = randn([4, 16, 16, 3], 80);
      const soft = randn([4, 3], 81);
      const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
      const out = tf.tidy(() => {
        const xt = tf.tensor(x.data, x.shape);
        const p = tf.softmax(tf.tensor2d(soft.data, [4, 3]).mul(3));
        const { value, grads: g } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(p, m.apply(xt, { training: true }) as tf.Tensor2D) as tf.Scalar, vars);
        return [value, ...vars.map((v) => g[v.name])];
      });
      const res = out.map((t) => ({ shape: t.shape, data: t.dataSync() as Float32Array }));
      tf.dispose(out);
      m.dispose();
      return res;
    };
    const want = await grads('cpu');
    let got: Arr[] = [];
    const n = await kernelCalls(NAMES, async () => {
      got = await grads('wasm');
    });
    expect(n, 'native depthwise calls').to.be.greaterThan(0);
    expect(got.length).to.equal(want.length);
    // Gradients that are zero in exact arithmetic (a bias feeding a training BatchNorm) come out as
    // rounding noise (max ≈ 1e-6 here) on both backends: each tensor is held to 1e-4 of its own
    // scale or of 1 % of the largest gradient's, whichever is larger.
    const top = Math.max(...want.slice(1).map((w) => w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    let worstRel = 0;
    want.forEach((w, i) => {
      const scale = Math.max(w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0), i === 0 ? 0 : 0.01 * top);
      const d = w.data.reduce((m, v, j) => Math.max(m, Math.abs(v - got[i].data[j])), 0);
      worstRel = Math.max(worstRel, d / scale);
      expect(d, `mobilenetv2 ${i === 0 ? 'loss' : `gradient ${i - 1}`}: max |Δ| ${d} vs scale ${scale}`).to.be.at.most(TOL * scale);
    });
    console.log(`      mobilenetv2: ${want.length - 1} gradients, worst max|Δ| / scale ${worstRel.toExponential(2)} (largest gradient ${top.toExponential(2)})`);
  });

  it('BAD CALL - the add-on refuses views shorter than the shape says (no out-of-bounds access)', () => {
    const a = st.addon!;
    const dims = Int32Array.from([1, 4, 4, 2, 3, 3, 2, 4, 4, 1, 1, 1, 1]); // C 2, multiplier 2: dy has 4·4·4
    const x = new Float32Array(32);
    const w = new Float32Array(36);
    const dy = new Float32Array(64);
    expect(() => a.depthwiseBackpropFilter(x.subarray(1), dy, new Float32Array(36), dims)).to.throw(/x: view has 31/);
    expect(() => a.depthwiseBackpropFilter(x, dy.subarray(1), new Float32Array(36), dims)).to.throw(/dy: view has 63 elements, shape needs 64/);
    expect(() => a.depthwiseBackpropFilter(x, dy, new Float32Array(35), dims)).to.throw(/dw: view has 35/);
    expect(() => a.depthwiseBackpropInput(dy, w.subarray(0, 35), new Float32Array(32), dims)).to.throw(/filter: view has 35/);
    expect(() => a.depthwiseBackpropInput(dy, w, new Float32Array(31), dims)).to.throw(/dx: view has 31/);
    expect(() => a.depthwiseBackpropInput(dy, w, new Float32Array(32), dims.subarray(1))).to.throw(/Int32Array of 13/);
    expect(() => a.depthwiseBackpropInput(dy, w, new Float32Array(32), Int32Array.from([1, 4, 4, 2, 3, 3, 0, 4, 4, 1, 1, 1, 1]))).to.throw(/multiplier/);
  });
});
