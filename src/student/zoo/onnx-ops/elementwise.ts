/**
 * Element-wise ops: activations (Relu, Clip, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Tanh, Erf,
 * Gelu, Softmax), Sqrt, Neg, Reciprocal, Exp, Pow and the binary ops (Add, Sub, Mul, Div, with numpy broadcasting). Binary ops on two
 * constants compute in JS (shape arithmetic: integer Div truncates, as ONNX's int64 Div); with a
 * tensor they broadcast in the logical NCHW sense, whatever the operands' physical layout.
 */
import { fusedGelu } from '../../kernels/gelu.js';
import { tf } from '../../tf.js';
import { hardSigmoid as torchHardSigmoid, hardSwish as torchHardSwish } from '../mobilenetv3-layers.js';
import { arg, asNchw, attrFloat, constant, fail, logicalShape, normAxis, tensor, toTensor, type OpContext, type Value } from './values.js';
import { broadcastShapes, stretch } from './broadcast.js';

type Unary = (x: tf.Tensor, ctx: OpContext) => tf.Tensor;

/** Applies `f` to a tensor input, keeping its layout. */
function unary(f: Unary) {
  return (ctx: OpContext): Value[] => {
    const v = arg(ctx, 0);
    if (v.kind === 'const') return [tensor(f(toTensor(v), ctx))];
    return [tensor(f(v.t, ctx), v.nhwc)];
  };
}

const scalarArg = (ctx: OpContext, i: number, dflt: number): number => {
  const v = ctx.inputs[i];
  if (!v) return dflt;
  if (v.kind !== 'const') fail(ctx.node, `input ${i} must be a constant`);
  return Number(v.data[0]);
};

/** Like `unary`, but a constant input (a shape-derived scalar: SDPA's 1/√d) is computed in JS with `js`. */
function unaryConst(f: Unary, js: (v: number) => number) {
  const onTensor = unary(f);
  return (ctx: OpContext): Value[] => {
    const v = arg(ctx, 0);
    if (v.kind === 'tensor') return onTensor(ctx);
    return [constant('float32', v.shape, Float32Array.from(v.data, (x) => js(Number(x))))];
  };
}

export const relu = unary((x) => tf.relu(x));
export const sigmoid = unary((x) => tf.sigmoid(x));
export const tanh = unary((x) => tf.tanh(x));
/** erf, as torch.onnx.export writes GELU below opset 20: x · 0.5 · (1 + erf(x / √2)). */
export const erf = unary((x) => tf.erf(x));
export const sqrt = unaryConst((x) => tf.sqrt(x), Math.sqrt);
export const neg = unaryConst((x) => tf.neg(x), (v) => -v);
export const reciprocal = unaryConst((x) => tf.reciprocal(x), (v) => 1 / v);
export const exp = unaryConst((x) => tf.exp(x), Math.exp);
/**
 * ONNX Gelu (opset 20; torch writes it from opset 20 on, and the graph reader folds the opset-17
 * chain Div, Erf, Add, Mul, Mul into it), as PyTorch's F.gelu: `none` is one kernel each way where
 * tfkd has it (kernels/gelu.ts), else x · 0.5 · (1 + erf(x / √2)) composed in the order torch's own
 * decomposition runs it; `tanh` is 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
 */
export const gelu = unary((x, ctx) => {
  const approx = typeof ctx.node.attrs.approximate === 'string' ? ctx.node.attrs.approximate : 'none';
  if (approx === 'none') return fusedGelu(x) ?? tf.mul(tf.mul(x, tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1)), 0.5);
  if (approx !== 'tanh') fail(ctx.node, `approximate '${approx}' is not one of none, tanh`);
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
});

/**
 * Pow with a constant exponent: 2 is x · x (PyTorch's pow(x, 2) and the official ConvNeXt's
 * (x − u).pow(2)), 0.5 is sqrt, others tf.pow. On two constants it computes in JS.
 */
export function pow(ctx: OpContext): Value[] {
  const x = arg(ctx, 0);
  const e = arg(ctx, 1);
  if (e.kind !== 'const' || e.data.length !== 1) fail(ctx.node, 'only a constant scalar exponent is supported');
  const p = Number(e.data[0]);
  if (x.kind === 'const') {
    const values = Array.from(x.data, (v) => Number(v) ** p);
    const int = x.dtype === 'int' && e.dtype === 'int';
    return [constant(int ? 'int' : 'float32', x.shape, int ? values : Float32Array.from(values))];
  }
  const y = p === 2 ? tf.square(x.t) : p === 0.5 ? tf.sqrt(x.t) : p === 1 ? x.t : tf.pow(x.t, tf.scalar(p));
  return [tensor(y, x.nhwc)];
}
export const leakyRelu = unary((x, ctx) => tf.leakyRelu(x, attrFloat(ctx.node, 'alpha', 0.01)));
export const clip = unary((x, ctx) => {
  // opset ≥ 11: min / max are optional inputs; older: attributes.
  const lo = scalarArg(ctx, 1, attrFloat(ctx.node, 'min', -3.4028234663852886e38));
  const hi = scalarArg(ctx, 2, attrFloat(ctx.node, 'max', 3.4028234663852886e38));
  return lo === 0 && hi === 6 ? tf.relu6(x) : tf.clipByValue(x, lo, hi);
});
/**
 * max(0, min(1, αx + β)). PyTorch's Hardsigmoid exports α = 1/6 (as float32), β = 0.5: that one is
 * computed as PyTorch computes it, relu6(x + 3) / 6, with the zoo's one-kernel path (equal to the
 * clip form up to rounding; a 224² mobilenet_v3_small step spent most of its activation time in
 * the composed ops: docs/PERFORMANCE.md).
 */
export const hardSigmoid = unary((x, ctx) => {
  const a = attrFloat(ctx.node, 'alpha', 0.2);
  const b = attrFloat(ctx.node, 'beta', 0.5);
  if (Math.fround(a) === Math.fround(1 / 6) && b === 0.5) return torchHardSigmoid(x);
  return tf.clipByValue(tf.add(tf.mul(x, a), b), 0, 1);
});
/** ONNX HardSwish = x · HardSigmoid(x; 1/6, 0.5), computed as PyTorch's (x · relu6(x + 3)) / 6, one kernel where tfkd has it. */
export const hardSwish = unary((x) => torchHardSwish(x));

export function softmax(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const t = asNchw(v);
  const axis = normAxis(ctx.node, ctx.node.attrs.axis === undefined ? -1 : Number(ctx.node.attrs.axis), t.rank);
  if (axis !== t.rank - 1) fail(ctx.node, 'softmax over an axis other than the last is not supported');
  return [tensor(tf.softmax(t))];
}

const JS_BINARY: Record<string, (a: number, b: number, int: boolean) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b, int) => (int ? Math.trunc(a / b) : a / b),
};

/** numpy broadcasting of two constant shapes (one of them a scalar or the same shape, as shape chains use). */
function constBinary(ctx: OpContext, a: Value & { kind: 'const' }, b: Value & { kind: 'const' }): Value {
  const f = JS_BINARY[ctx.node.op];
  const int = a.dtype === 'int' && b.dtype === 'int';
  // numpy broadcasting ([n, 1] + [m] is [n, m]: Swin's index grids), not element by element.
  const shape = broadcastShapes(ctx.node, a.shape, b.shape);
  const x = stretch(a, shape);
  const y = stretch(b, shape);
  const out = x.map((xi, i) => f(xi, y[i], int));
  return constant(int ? 'int' : 'float32', shape, int ? out : Float32Array.from(out));
}

/**
 * A tensor operand brought to the layout of a rank-4 NHWC partner: lower-rank operands are
 * right-aligned to [N, C, H, W] (numpy) and transposed like the partner.
 */
function alignTo(v: Value, rank: number, nhwc: boolean): tf.Tensor {
  const s = logicalShape(v);
  if (v.kind === 'tensor' && v.nhwc === nhwc && v.t.rank === rank) return v.t;
  let t = asNchw(v);
  if (!nhwc) return t;
  if (s.length < 4) t = tf.reshape(t, [...new Array<number>(4 - s.length).fill(1), ...s]);
  return tf.transpose(t, [0, 2, 3, 1]);
}

export function binary(ctx: OpContext): Value[] {
  const a = arg(ctx, 0);
  const b = arg(ctx, 1);
  if (a.kind === 'const' && b.kind === 'const') return [constBinary(ctx, a, b)];
  const nhwc = (a.kind === 'tensor' && a.nhwc) || (b.kind === 'tensor' && b.nhwc);
  const rank = Math.max(logicalShape(a).length, logicalShape(b).length);
  if (nhwc && rank !== 4) fail(ctx.node, 'broadcast of a 4-D tensor to a higher rank is not supported');
  const ta = alignTo(a, rank, nhwc);
  const tb = alignTo(b, rank, nhwc);
  const op = ctx.node.op;
  const y = op === 'Add' ? tf.add(ta, tb) : op === 'Sub' ? tf.sub(ta, tb) : op === 'Mul' ? tf.mul(ta, tb) : tf.div(ta, tb);
  return [tensor(y, nhwc)];
}
