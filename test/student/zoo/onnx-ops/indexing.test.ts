/**
 * The indexing ops Swin's export needs beyond the model test (onnx-import.test.ts, `swin`):
 *   - on constants (its shifted-window mask: Range, Mod, ScatterND, Not, and Slice / Transpose /
 *     Concat of rank > 1, binary ops with broadcasting) each op equals onnxruntime running the same
 *     one-node graph, values and shape, exactly;
 *   - on tensors, Gather with many scattered indices (its relative position bias, a one-hot
 *     product) or a few (slices), and Slice with steps 2 and −1 (its patch merging; flips): forward
 *     = onnxruntime's exactly, gradient = the scatter-add of the output's weights, computed here by
 *     index arithmetic, exactly.
 */
import { expect } from 'chai';
import onnxProto from 'onnx-proto';
import { selectBackend } from '../../../../src/student/backend.js';
import { tf } from '../../../../src/student/tf.js';
import { OPS } from '../../../../src/student/zoo/onnx-ops/index.js';
import { constant, tensor, type ConstValue, type OpState, type Value } from '../../../../src/student/zoo/onnx-ops/values.js';
import { createOrtSession, ortTensor } from '../../../../src/teacher/ort.js';

const { onnx } = onnxProto;
const { INT64, FLOAT } = onnx.TensorProto.DataType;
const state = {} as OpState;

interface In {
  dtype: 'int' | 'float32';
  shape: number[];
  data: number[];
}
const int = (shape: number[], data: number[]): In => ({ dtype: 'int', shape, data });
const f32 = (shape: number[], data: number[]): In => ({ dtype: 'float32', shape, data });

/** One node over graph inputs i0, i1, … (int64 or float), opset 18, output y. */
function oneNode(op: string, ins: In[], attrs: Record<string, number | number[]>, outInt: boolean): Uint8Array {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    Array.isArray(v) ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v } : { name, type: onnx.AttributeProto.AttributeType.INT, i: v },
  );
  const m = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 18 }],
    graph: {
      name: 'g',
      node: [{ opType: op, input: ins.map((_, i) => `i${i}`), output: ['y'], name: 'n', attribute }],
      input: ins.map((x, i) => ({ name: `i${i}`, type: { tensorType: { elemType: x.dtype === 'int' ? INT64 : FLOAT, shape: { dim: x.shape.map((d) => ({ dimValue: d })) } } } })),
      output: [{ name: 'y', type: { tensorType: { elemType: outInt ? INT64 : FLOAT } } }],
    },
  });
  return onnx.ModelProto.encode(m).finish();
}

async function ort(op: string, ins: In[], attrs: Record<string, number | number[]>, outInt: boolean): Promise<{ shape: number[]; data: number[] }> {
  const sess = await createOrtSession(oneNode(op, ins, attrs, outInt), { intraOpNumThreads: 1 });
  const feeds = Object.fromEntries(ins.map((x, i) => [`i${i}`, x.dtype === 'int' ? ortTensor('int64', BigInt64Array.from(x.data.map(BigInt)), x.shape) : ortTensor('float32', Float32Array.from(x.data), x.shape)]));
  const y = (await sess.run(feeds)).y;
  await sess.release();
  return { shape: [...y.dims], data: Array.from(y.data as ArrayLike<number | bigint>, Number) };
}

function run(op: string, ins: Value[], attrs: Record<string, number | number[]> = {}): Value {
  return OPS[op]({ node: { op, name: op, inputs: ins.map((_, i) => `i${i}`), outputs: ['y'], attrs }, inputs: ins, training: true, state })[0];
}

const CONST_CASES: Array<[string, string, In[], Record<string, number | number[]>]> = [
  ['Mod (Python sign rule), broadcast', 'Mod', [int([2, 3], [-7, 7, 5, -5, 0, 12]), int([3], [3, -3, 4])], {}],
  ['Mod fmod = 1 (C sign rule)', 'Mod', [f32([4], [-7, 7, 5.5, -5.5]), f32([4], [3, -3, 2, 2])], { fmod: 1 }],
  ['Range ascending', 'Range', [int([], [0]), int([], [12]), int([], [1])], {}],
  ['Range descending, partial step', 'Range', [int([], [10]), int([], [0]), int([], [-3])], {}],
  ['Range empty', 'Range', [int([], [5]), int([], [2]), int([], [1])], {}],
  ['ScatterND, slices of rows', 'ScatterND', [int([4, 3], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), int([2, 1], [3, -3]), int([2, 3], [1, 2, 3, 4, 5, 6])], {}],
  ['ScatterND, single elements', 'ScatterND', [int([3, 4], Array.from({ length: 12 }, (_, i) => i)), int([3, 2], [0, 1, 2, 3, 1, 0]), int([3], [-1, -2, -3])], {}],
  ['Slice of a rank-2 constant, step −1 and 2', 'Slice', [int([4, 5], Array.from({ length: 20 }, (_, i) => i)), int([2], [-1, 0]), int([2], [-1e9, 5]), int([2], [0, 1]), int([2], [-1, 2])], {}],
  ['Transpose of a rank-4 constant', 'Transpose', [int([2, 3, 2, 2], Array.from({ length: 24 }, (_, i) => i))], { perm: [0, 2, 1, 3] }],
  ['Concat of rank-2 constants on axis 1', 'Concat', [int([2, 2], [1, 2, 3, 4]), int([2, 3], [5, 6, 7, 8, 9, 10])], { axis: 1 }],
  ['Add of [3, 1] and [4] (broadcast grid)', 'Add', [int([3, 1], [0, 10, 20]), int([4], [0, 1, 2, 3])], {}],
];

describe('student/zoo/onnx-ops indexing: Swin\'s constant chains = onnxruntime; Gather and strided Slice on tensors', function () {
  this.timeout(60000);
  before(async () => {
    await selectBackend('auto');
  });

  for (const [what, op, ins, attrs] of CONST_CASES) {
    it(`${what}: = onnxruntime, values and shape`, async () => {
      const want = await ort(op, ins, attrs, ins[0].dtype === 'int');
      const got = run(op, ins.map((x) => constant(x.dtype, x.shape, x.dtype === 'int' ? x.data : Float32Array.from(x.data))), attrs);
      expect(got.kind).to.equal('const');
      const c = got as ConstValue;
      expect(c.shape).to.deep.equal(want.shape);
      expect(Array.from(c.data, Number)).to.deep.equal(want.data);
    });
  }

  it('Not of a constant; Mod of an image tensor is refused', () => {
    const n = run('Not', [constant('int', [3], [1, 0, 1])]) as ConstValue;
    expect(Array.from(n.data)).to.deep.equal([0, 1, 0]);
    const ones = tf.ones([2]);
    expect(() => run('Mod', [tensor(ones), constant('int', [1], [2])])).to.throw(/Mod on a tensor computed from the image is not supported/);
    ones.dispose();
  });

  // Gather along an axis with constant indices; few (slices) and many scattered (one-hot product).
  const x = Array.from({ length: 7 * 3 * 2 }, (_, i) => Math.sin(i * 1.3) * 2);
  const gathers: Array<[string, number[], number[], number]> = [
    ['a few indices (slices)', [3], [6, 0, 1], 0],
    ['many scattered indices (one-hot product), axis 0', [6, 5], [3, 0, 6, 6, 2, 5, 1, 0, 4, 4, 3, 2, 5, 6, 0, 1, 2, 3, 6, 5, 4, 1, 0, 6, 3, 3, 2, 1, 0, 5], 0],
    ['many scattered indices, axis 1', [20], [2, 0, 1, 1, 2, 0, 2, 2, 1, 0, 0, 1, 2, 0, 1, 2, 0, 2, 1, 0], 1],
  ];
  for (const [what, idxShape, idx, axis] of gathers) {
    it(`Gather on a tensor, ${what}: forward = onnxruntime exactly, gradient = scatter-add (≤ 1e-6 relative)`, async () => {
      const shape = [7, 3, 2];
      const want = await ort('Gather', [f32(shape, x), int(idxShape, idx)], { axis }, false);
      const out = tf.tidy(() => {
        const y = run('Gather', [tensor(tf.tensor(x, shape)), constant('int', idxShape, idx)], { axis }) as { t: tf.Tensor };
        return { shape: y.t.shape, data: Array.from(y.t.dataSync()) };
      });
      expect(out.shape).to.deep.equal(want.shape);
      expect(out.data).to.deep.equal(want.data.map(Math.fround));
      // d/dx Σ y·w: each output element adds its weight to the input element it was read from.
      const n = want.data.length;
      const w = Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i * 0.7)));
      const g = tf.tidy(() => Array.from(tf.grad((xt: tf.Tensor) => tf.sum(tf.mul((run('Gather', [tensor(xt), constant('int', idxShape, idx)], { axis }) as { t: tf.Tensor }).t, tf.tensor(w, want.shape))))(tf.tensor(x, shape)).dataSync()));
      // In float64: a repeated index sums its weights, in whatever order the product's kernel adds them.
      const ref = new Array<number>(x.length).fill(0);
      const outer = shape.slice(0, axis).reduce((p, q) => p * q, 1);
      const inner = shape.slice(axis + 1).reduce((p, q) => p * q, 1);
      let o = 0;
      for (let a = 0; a < outer; a++) for (const j of idx) for (let b = 0; b < inner; b++) ref[(a * shape[axis] + j) * inner + b] += w[o++];
      const scale = Math.max(...ref.map(Math.abs));
      const worst = Math.max(...g.map((v, i) => Math.abs(v - ref[i])));
      expect(worst / scale, `max |Δ| ${worst}`).to.be.at.most(1e-6);
    });
  }

  const slices: Array<[string, number[], number[], number[], number[]]> = [
    ['step 2 on two axes (patch merging)', [1, 0], [1e9, 1e9], [1, 2], [2, 2]],
    ['step −1 (a flip)', [-1], [-1e9], [0], [-1]],
    ['step −2 from the middle', [5], [0], [0], [-2]],
    ['step 3, not a whole number of steps', [1], [7], [0], [3]],
  ];
  for (const [what, starts, ends, axes, steps] of slices) {
    it(`Slice on a tensor, ${what}: forward = onnxruntime, gradient = scatter, exactly`, async () => {
      const shape = [7, 3, 2];
      const ins = [f32(shape, x), int([starts.length], starts), int([ends.length], ends), int([axes.length], axes), int([steps.length], steps)];
      const want = await ort('Slice', ins, {}, false);
      const consts = ins.slice(1).map((c) => constant('int', c.shape, c.data));
      const y = tf.tidy(() => {
        const r = run('Slice', [tensor(tf.tensor(x, shape)), ...consts]) as { t: tf.Tensor };
        return { shape: r.t.shape, data: Array.from(r.t.dataSync()) };
      });
      expect(y.shape).to.deep.equal(want.shape);
      expect(y.data).to.deep.equal(want.data.map(Math.fround));
      // The gradient puts each output weight back where its element came from: slicing an index
      // tensor the same way (onnxruntime) says where.
      const where = await ort('Slice', [f32(shape, x.map((_, i) => i)), ...ins.slice(1)], {}, false);
      const w = where.data.map((_, i) => Math.fround(Math.cos(i * 0.7)));
      const g = tf.tidy(() => Array.from(tf.grad((xt: tf.Tensor) => tf.sum(tf.mul((run('Slice', [tensor(xt), ...consts]) as { t: tf.Tensor }).t, tf.tensor(w, want.shape))))(tf.tensor(x, shape)).dataSync()));
      const ref = new Array<number>(x.length).fill(0);
      where.data.forEach((src, i) => (ref[src] = w[i]));
      expect(g).to.deep.equal(ref);
    });
  }
});
