/**
 * The ops torch.onnx.export writes around a broadcast — `cls_token.expand(n, -1, -1)` becomes
 * Shape → ConstantOfShape → Mul(−1) → Equal → Where → Expand — and the selects of attention masks:
 * ConstantOfShape, Equal, Where, Expand. On constants they compute in JS (numpy broadcasting), so
 * the shape chain folds to numbers with the actual batch size; Expand and Where also take image
 * tensors (logical NCHW order; tf.broadcastTo's gradient sums the broadcast axes back).
 */
import { tf } from '../../tf.js';
import { arg, asNchw, constant, fail, logicalShape, tensor, type ConstValue, type GraphNode, type OpContext, type Value } from './values.js';

/** numpy's broadcast of two shapes (right-aligned; a dim of 1 stretches). */
export function broadcastShapes(node: GraphNode, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(node, `shapes [${a}] and [${b}] do not broadcast`);
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** A constant's values laid out over `out` (a shape it broadcasts to), row-major. */
export function stretch(c: ConstValue, out: readonly number[]): number[] {
  const total = out.reduce((p, d) => p * d, 1);
  const shape = [...new Array<number>(out.length - c.shape.length).fill(1), ...c.shape];
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
  const res = new Array<number>(total);
  const idx = new Array<number>(out.length).fill(0);
  for (let o = 0; o < total; o++) {
    let src = 0;
    for (let i = 0; i < out.length; i++) if (shape[i] !== 1) src += idx[i] * strides[i];
    res[o] = Number(c.data[src]);
    for (let i = out.length - 1; i >= 0; i--) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return res;
}

export const asConst = (dtype: ConstValue['dtype'], shape: number[], data: number[]): Value => constant(dtype, shape, dtype === 'int' ? data : Float32Array.from(data));

/** A tensor broadcast to `out` (numpy: its dims right-aligned, leading 1s added); itself when it has that shape. */
export function broadcastTensor(t: tf.Tensor, out: readonly number[]): tf.Tensor {
  if (t.shape.join() === out.join()) return t;
  const u = t.rank < out.length ? tf.reshape(t, [...new Array<number>(out.length - t.rank).fill(1), ...t.shape]) : t;
  return u.shape.join() === out.join() ? u : tf.broadcastTo(u, [...out]);
}

/** A value (in logical order) broadcast to `out`. */
const tensorTo = (v: Value, out: number[]): tf.Tensor => broadcastTensor(asNchw(v), out);

export function constantOfShape(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  if (v.kind !== 'const') fail(ctx.node, 'the shape must be a constant');
  const shape = Array.from(v.data, Number);
  const value = ctx.node.attrs.value;
  const fill = value && typeof value === 'object' && !Array.isArray(value) ? value : null;
  const dtype = fill ? fill.dtype : 'float32';
  const x = fill ? Number(fill.data[0]) : 0;
  return [asConst(dtype, shape, new Array<number>(shape.reduce((p, d) => p * d, 1)).fill(x))];
}

export function equal(ctx: OpContext): Value[] {
  const a = arg(ctx, 0);
  const b = arg(ctx, 1);
  if (a.kind !== 'const' || b.kind !== 'const') fail(ctx.node, 'Equal on tensors computed from the image is not supported (only on shapes and constants)');
  const out = broadcastShapes(ctx.node, a.shape, b.shape);
  const x = stretch(a, out);
  const y = stretch(b, out);
  return [asConst('int', out, x.map((xi, i) => (xi === y[i] ? 1 : 0)))];
}

export function where(ctx: OpContext): Value[] {
  const c = arg(ctx, 0);
  const x = arg(ctx, 1);
  const y = arg(ctx, 2);
  if (c.kind !== 'const') fail(ctx.node, 'a condition computed from the image is not supported (only constant conditions)');
  const out = broadcastShapes(ctx.node, broadcastShapes(ctx.node, c.shape, logicalShape(x)), logicalShape(y));
  const cond = stretch(c, out);
  if (x.kind === 'const' && y.kind === 'const') {
    const xs = stretch(x, out);
    const ys = stretch(y, out);
    const int = x.dtype === 'int' && y.dtype === 'int';
    return [asConst(int ? 'int' : 'float32', out, cond.map((ci, i) => (ci ? xs[i] : ys[i])))];
  }
  const mask = tf.tensor(Uint8Array.from(cond), out, 'bool');
  return [tensor(tf.where(mask, tensorTo(x, out), tensorTo(y, out)))];
}

export function expand(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = arg(ctx, 1);
  if (s.kind !== 'const') fail(ctx.node, 'the shape must be a constant');
  const out = broadcastShapes(ctx.node, logicalShape(v), Array.from(s.data, Number));
  if (v.kind === 'const') return [asConst(v.dtype, out, stretch(v, out))];
  return [tensor(tensorTo(v, out))];
}
