/**
 * The element-wise ops a transformer-era ONNX student may hold beyond what the model tests of
 * test/student/zoo/onnx-import.test.ts reach: Gelu (opset 20, `none` and `tanh`), Sqrt, Pow (2, 3,
 * 0.5), Neg, Reciprocal, Exp. Each runs as a one-node graph:
 *   - forward = onnxruntime's on the same graph (≤ 1e-6 relative to max |y|);
 *   - the gradient of Σ op(x)·w = PyTorch's autograd of the same function (torch.nn.functional.gelu,
 *     torch.sqrt, …) in float64 (≤ 1e-5 relative to max |grad|).
 * And on constants (the shape chains, e.g. torch 2's SDPA scale 1/√d) they compute in JS.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import onnxProto from 'onnx-proto';
import { selectBackend } from '../../../../src/student/backend.js';
import { tf } from '../../../../src/student/tf.js';
import { OPS } from '../../../../src/student/zoo/onnx-ops/index.js';
import { constant, tensor, type GraphNode, type OpState, type Value } from '../../../../src/student/zoo/onnx-ops/values.js';
import { createOrtSession, ortTensor } from '../../../../src/teacher/ort.js';
import { needs } from '../../../helpers/needs.js';

const { onnx } = onnxProto;
const N = 4096;

interface Case {
  name: string;
  op: string;
  attrs?: Record<string, string>;
  exponent?: number;
  /** The PyTorch expression of x (float64 tensor). */
  torch: string;
  /** Inputs in (lo, hi). */
  lo: number;
  hi: number;
}

const CASES: Case[] = [
  { name: 'Gelu none', op: 'Gelu', torch: 'F.gelu(x)', lo: -6, hi: 6 },
  { name: 'Gelu tanh', op: 'Gelu', attrs: { approximate: 'tanh' }, torch: "F.gelu(x, approximate='tanh')", lo: -6, hi: 6 },
  { name: 'Sqrt', op: 'Sqrt', torch: 'torch.sqrt(x)', lo: 0.05, hi: 9 },
  { name: 'Pow 2', op: 'Pow', exponent: 2, torch: 'x.pow(2)', lo: -3, hi: 3 },
  { name: 'Pow 3', op: 'Pow', exponent: 3, torch: 'x.pow(3)', lo: 0.1, hi: 3 },
  { name: 'Pow 0.5', op: 'Pow', exponent: 0.5, torch: 'x.pow(0.5)', lo: 0.05, hi: 9 },
  { name: 'Neg', op: 'Neg', torch: '-x', lo: -3, hi: 3 },
  { name: 'Reciprocal', op: 'Reciprocal', torch: 'torch.reciprocal(x)', lo: 0.2, hi: 5 },
  { name: 'Exp', op: 'Exp', torch: 'torch.exp(x)', lo: -4, hi: 4 },
];

function seeded(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    out[i] = lo + ((hi - lo) * s) / 2147483647;
  }
  return out;
}

/** A one-node model y = op(x [, exponent]) at opset 20. */
function oneNode(c: Case): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const inputs = ['x'];
  const initializer = [];
  if (c.exponent !== undefined) {
    inputs.push('e');
    initializer.push({ name: 'e', dataType: FLOAT, dims: [], floatData: [c.exponent] });
  }
  const attribute = Object.entries(c.attrs ?? {}).map(([name, v]) => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: Buffer.from(v) }));
  const type = { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: N }] } } };
  const m = onnx.ModelProto.create({
    irVersion: 9,
    opsetImport: [{ domain: '', version: 20 }],
    graph: { name: 'g', node: [{ opType: c.op, input: inputs, output: ['y'], name: 'n', attribute }], initializer, input: [{ name: 'x', type }], output: [{ name: 'y', type }] },
  });
  return onnx.ModelProto.encode(m).finish();
}

const state = {} as OpState;
function node(c: Case): GraphNode {
  return { op: c.op, name: 'n', inputs: c.exponent === undefined ? ['x'] : ['x', 'e'], outputs: ['y'], attrs: { ...(c.attrs ?? {}) } };
}
function apply(c: Case, x: Value): Value {
  const ins: Value[] = [x];
  if (c.exponent !== undefined) ins.push(constant('float32', [], Float32Array.of(c.exponent)));
  return OPS[c.op]({ node: node(c), inputs: ins, training: true, state })[0];
}

/** PyTorch's float64 gradient of Σ f(x)·w. */
function torchGrad(c: Case, x: Float32Array, w: Float32Array): Float64Array {
  const code = `
import sys, numpy as np, torch
import torch.nn.functional as F
x = torch.tensor(np.frombuffer(sys.stdin.buffer.read(${N * 4}), dtype='<f4').astype('f8'), requires_grad=True)
w = torch.tensor(np.frombuffer(sys.stdin.buffer.read(${N * 4}), dtype='<f4').astype('f8'))
(${c.torch} * w).sum().backward()
sys.stdout.buffer.write(x.grad.numpy().astype('<f8').tobytes())`;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { input: Buffer.concat([Buffer.from(x.buffer), Buffer.from(w.buffer)]), maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return new Float64Array(r.stdout.buffer, r.stdout.byteOffset, N);
}

const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
};

describe('student/zoo/onnx-ops/elementwise: Gelu, Sqrt, Pow, Neg, Reciprocal, Exp = onnxruntime forward, PyTorch gradient', function () {
  this.timeout(120000);
  before(async function () {
    needs(this, 'python3-torch');
    await selectBackend('auto');
  });

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: forward ≤ 1e-6, gradient ≤ 1e-5 (relative to the max)`, async () => {
      const x = seeded(N, c.lo, c.hi, 11 + i);
      const w = seeded(N, -1, 1, 101 + i);
      const sess = await createOrtSession(oneNode(c), { intraOpNumThreads: 1 });
      const ref = (await sess.run({ x: ortTensor('float32', x, [N]) })).y.data as Float32Array;
      await sess.release();
      const y = tf.tidy(() => {
        const out = apply(c, tensor(tf.tensor1d(x)));
        return (out as { t: tf.Tensor }).t.dataSync() as Float32Array;
      });
      const g = tf.tidy(() => tf.grad((xt: tf.Tensor) => tf.sum(tf.mul((apply(c, tensor(xt)) as { t: tf.Tensor }).t, tf.tensor1d(w))))(tf.tensor1d(x)).dataSync() as Float32Array);
      const tg = torchGrad(c, x, w);
      const fwd = relDiff(y, ref);
      const bwd = relDiff(g, tg);
      console.log(`      ${c.name}: forward vs onnxruntime ${fwd.toExponential(2)}, gradient vs PyTorch float64 ${bwd.toExponential(2)}`);
      expect(fwd).to.be.at.most(1e-6);
      expect(bwd).to.be.at.most(1e-5);
    });
  }

  it('on constants they compute in JS: 1/Sqrt(64) (torch 2 SDPA scale), Pow, Neg, Reciprocal', () => {
    const c = (v: number): Value => constant('float32', [1], Float32Array.of(v));
    const run = (op: string, ins: Value[]): number => {
      const out = OPS[op]({ node: { op, name: op, inputs: ins.map((_, i) => `i${i}`), outputs: ['y'], attrs: {} }, inputs: ins, training: false, state })[0];
      expect(out.kind).to.equal('const');
      return Number((out as { data: ArrayLike<number> }).data[0]);
    };
    expect(run('Sqrt', [c(64)])).to.equal(8);
    expect(run('Reciprocal', [c(8)])).to.equal(0.125);
    expect(run('Neg', [c(3)])).to.equal(-3);
    expect(run('Pow', [c(3), c(2)])).to.equal(9);
  });
});
