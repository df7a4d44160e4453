/**
 * Transpose on the native add-on (native/src/transpose.cc, kernels/native-transpose.ts) against
 * the tfjs cpu backend's Transpose: a copy, so the bits must be equal (no tolerance) — every
 * permutation of rank-2, 3 and 4 shapes (with size-1 axes, odd sizes, sizes that are not multiples
 * of the tile), a sample of rank-5 and 6 ones, float32 and int32 (every bit pattern, NaNs' too), on 1, 2
 * and 3 threads; which calls ran in the add-on; the convolution weights of an ONNX student (OIHW →
 * HWIO and the gradient back); the permutation's reduction; and a bad call refused. Skipped, naming
 * the reason, without the add-on.
 */
import { expect } from 'chai';
import { loadNative, NATIVE_KERNELS, registerNativeKernels, setNativeThreads, defaultThreads } from '../../../src/student/kernels/native.js';
import { reducePermutation, transposeCalls } from '../../../src/student/kernels/native-transpose.js';
import { tf } from '../../../src/student/tf.js';
import { onNativeKernels } from '../compare-backends.js';

/** Every permutation of 0..r−1. */
function permutations(r: number): number[][] {
  if (r === 0) return [[]];
  return permutations(r - 1).flatMap((p) => Array.from({ length: r }, (_, i) => [...p.slice(0, i), r - 1, ...p.slice(i)]));
}

/** Distinct 32-bit patterns, a few of them NaNs with differing payloads (int32 carries them as they are). */
function words(n: number, seed: number): Uint32Array {
  const w = new Uint32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    w[i] = i % 101 === 7 ? 0x7fc00000 + (s & 0x3fffff) : i % 103 === 5 ? 0x7f800001 + (s & 0x3fffff) : s;
  }
  return w;
}

/** tf.transpose of the same bits as float32 and as int32 on a backend; both results' raw words. */
async function transposeOn(backend: 'cpu' | 'wasm', shape: number[], perm: number[], w: Uint32Array): Promise<[Uint32Array, Uint32Array]> {
  await tf.setBackend(backend);
  const xf = tf.tensor(new Float32Array(w.buffer.slice(0)), shape, 'float32');
  const xi = tf.tensor(new Int32Array(w.buffer.slice(0)), shape, 'int32');
  const yf = tf.transpose(xf, perm);
  const yi = tf.transpose(xi, perm);
  const out: [Uint32Array, Uint32Array] = [new Uint32Array((yf.dataSync() as Float32Array).slice().buffer), new Uint32Array((yi.dataSync() as Int32Array).slice().buffer)];
  tf.dispose([xf, xi, yf, yi]);
  return out;
}

const same = (a: Uint32Array, b: Uint32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
/** Equal as float32 bits, any NaN equal to any NaN: the cpu backend copies through JS numbers, which quiets signalling NaNs. */
const isNaNBits = (v: number): boolean => (v & 0x7f800000) === 0x7f800000 && (v & 0x7fffff) !== 0;
const sameFloat = (a: Uint32Array, b: Uint32Array): boolean => a.length === b.length && a.every((v, i) => v === b[i] || (isNaNBits(v) && isNaNBits(b[i])));

describe('student/native: Transpose on the native add-on equals the cpu backend bit for bit', function () {
  this.timeout(120000);
  const st = loadNative();
  onNativeKernels(st, () => setNativeThreads(defaultThreads()));

  it('is registered on wasm', () => {
    expect(registerNativeKernels().names).to.include('Transpose');
    expect(tf.getKernel('Transpose', 'wasm')!.kernelFunc).to.equal(NATIVE_KERNELS.find((k) => k.name === 'Transpose')!.fn);
  });

  it('reduces a permutation: size-1 axes dropped, axes that stay adjacent merged', () => {
    // An ONNX weight OIHW → HWIO: (H, W) stay together → [O, I, H·W] with [2, 1, 0]; the gradient back likewise.
    expect(reducePermutation([512, 256, 3, 3], [2, 3, 1, 0])).to.deep.equal({ shape: [512, 256, 9], perm: [2, 1, 0] });
    expect(reducePermutation([3, 3, 256, 512], [3, 2, 0, 1])).to.deep.equal({ shape: [9, 256, 512], perm: [2, 1, 0] });
    expect(reducePermutation([512, 256, 1, 1], [2, 3, 1, 0])).to.deep.equal({ shape: [512, 256], perm: [1, 0] });
    expect(reducePermutation([16, 56, 56, 64], [0, 3, 1, 2])).to.deep.equal({ shape: [16, 3136, 64], perm: [0, 2, 1] });
    expect(reducePermutation([4, 1, 5], [2, 1, 0])).to.deep.equal({ shape: [4, 5], perm: [1, 0] });
    expect(reducePermutation([2, 3, 4], [0, 1, 2])).to.deep.equal({ shape: [24], perm: [0] });
    expect(reducePermutation([1, 1], [1, 0])).to.deep.equal({ shape: [], perm: [] });
    expect(reducePermutation([2, 3, 4, 5], [1, 2, 0, 3])).to.deep.equal({ shape: [2, 12, 5], perm: [1, 0, 2] });
  });

  const grid: number[][] = [[70, 65], [65, 70], [1, 5000], [48, 33, 5], [7, 1, 700], [3, 130, 17], [64, 65, 3, 3], [9, 5, 1, 130], [2, 40, 7, 11]];
  it(`every permutation of ${grid.length} shapes of rank 2–4 and a sample at rank 5–6, float32 and int32, bits as the cpu backend's`, async () => {
    const cases: Array<[number[], number[]]> = grid.flatMap((s) => permutations(s.length).map((p): [number[], number[]] => [s, p]));
    const r5 = permutations(5).filter((_, i) => i % 7 === 0).map((p): [number[], number[]] => [[4, 5, 6, 7, 8], p]);
    const r6 = permutations(6).filter((_, i) => i % 61 === 0).map((p): [number[], number[]] => [[4, 3, 5, 7, 1, 11], p]);
    let native = 0;
    for (const [shape, perm] of [...cases, ...r5, ...r6]) {
      const w = words(shape.reduce((p, v) => p * v, 1), shape.length * 31 + perm[0]);
      const [wf, wi] = await transposeOn('cpu', shape, perm, w);
      const before = transposeCalls.native;
      const [gf, gi] = await transposeOn('wasm', shape, perm, w);
      native += transposeCalls.native - before;
      expect(sameFloat(gf, wf), `float32 ${JSON.stringify(shape)} perm ${JSON.stringify(perm)}`).to.equal(true);
      expect(same(gi, wi), `int32 ${JSON.stringify(shape)} perm ${JSON.stringify(perm)}`).to.equal(true);
    }
    // Every case that still permutes after the reduction ran in the add-on, twice (float32, int32).
    const all = [...cases, ...r5, ...r6];
    const total = all.length;
    expect(native, 'add-on calls').to.equal(2 * all.filter(([s, p]) => reducePermutation(s, p).shape.length >= 2).length);
    console.log(`      ${total} transposes × 2 dtypes, ${native} in the add-on: all equal`);
  });

  it('small tensors, the identity and bool go to the kernel it replaced', async () => {
    for (const [shape, perm, dtype] of [[[30, 40], [1, 0], 'float32'], [[70, 65], [0, 1], 'float32'], [[1, 70, 65, 1], [3, 1, 2, 0], 'float32'], [[70, 65], [1, 0], 'bool']] as const) {
      const n = shape.reduce((p: number, v: number) => p * v, 1);
      const values = dtype === 'bool' ? Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0)) : Float32Array.from({ length: n }, (_, i) => i);
      const run = async (backend: 'cpu' | 'wasm'): Promise<number[]> => {
        await tf.setBackend(backend);
        const x = tf.tensor(values, [...shape], dtype);
        const y = tf.transpose(x, [...perm]);
        const out = Array.from(y.dataSync());
        tf.dispose([x, y]);
        return out;
      };
      const before = transposeCalls.native;
      const got = await run('wasm');
      expect(transposeCalls.native - before, `${JSON.stringify(shape)} ${dtype}: add-on calls`).to.equal(0);
      expect(got, `${JSON.stringify(shape)} ${JSON.stringify(perm)} ${dtype}`).to.deep.equal(await run('cpu'));
    }
  });

  it('the same bits on 1, 2 and 3 threads, above the size where the copy is split (ONNX ResNet-18\'s largest weight and its gradient)', async () => {
    const w = words(512 * 512 * 9, 5);
    const cases: Array<[number[], number[]]> = [[[512, 512, 3, 3], [2, 3, 1, 0]], [[3, 3, 512, 512], [3, 2, 0, 1]], [[16, 1, 2048, 72], [0, 3, 1, 2]], [[512, 4608], [1, 0]], [[2304, 2, 512], [1, 0, 2]]];
    for (const [shape, perm] of cases) {
      const [, want] = await transposeOn('cpu', shape, perm, w);
      for (const n of [1, 2, 3]) {
        setNativeThreads(n);
        const [, got] = await transposeOn('wasm', shape, perm, w);
        expect(same(got, want), `${JSON.stringify(shape)} ${JSON.stringify(perm)} on ${n} threads`).to.equal(true);
      }
    }
  });

  it('the gradient of an OIHW weight used through transpose (as an ONNX student\'s Conv) equals cpu\'s', async () => {
    const shape = [64, 32, 3, 3];
    const n = shape.reduce((p, v) => p * v, 1);
    const dyData = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const grad = async (backend: 'cpu' | 'wasm'): Promise<Float32Array> => {
      await tf.setBackend(backend);
      const w = tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(i)), shape);
      const dy = tf.tensor(dyData, [3, 3, 32, 64]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.transpose(t, [2, 3, 1, 0]), dy)))(w);
      const out = (g.dataSync() as Float32Array).slice();
      tf.dispose([w, dy, g]);
      return out;
    };
    const before = transposeCalls.native;
    const got = await grad('wasm');
    expect(transposeCalls.native - before, 'forward and gradient in the add-on').to.equal(2);
    expect(Array.from(got)).to.deep.equal(Array.from(await grad('cpu')));
  });

  it('BAD CALL - the add-on refuses short views, a non-permutation and a bad rank', () => {
    const f = st.addon!.transposeF32!;
    const dims = (r: number, shape: number[], perm: number[]): Int32Array => {
      const d = new Int32Array(13);
      d[0] = r;
      d.set(shape, 1);
      d.set(perm, 7);
      return d;
    };
    const ok = dims(2, [3, 4], [1, 0]);
    expect(() => f(new Float32Array(11), new Float32Array(12), ok)).to.throw(/x: view has 11 elements, shape needs 12/);
    expect(() => f(new Float32Array(12), new Float32Array(11), ok)).to.throw(/y: view has 11/);
    expect(() => f(new Float32Array(12), new Float32Array(12), dims(2, [3, 4], [1, 1]))).to.throw(/not a permutation/);
    expect(() => f(new Float32Array(12), new Float32Array(12), dims(2, [3, 4], [2, 0]))).to.throw(/not a permutation/);
    expect(() => f(new Float32Array(12), new Float32Array(12), dims(7, [3, 4], [1, 0]))).to.throw(/rank must be 2\.\.6/);
    expect(() => f(new Float32Array(12), new Float32Array(12), ok.subarray(1))).to.throw(/Int32Array of 13/);
  });
});
