/**
 * Shape-level ops: Shape, Gather, Unsqueeze, Squeeze, Cast, Concat, Split, Slice, Reshape,
 * Flatten, Transpose, Pad, ReduceMean, Identity, Dropout. On constants (shape chains) they compute
 * in JS; on tensors Concat / Split / Slice / ReduceMean / Pad map their axes to the stored layout,
 * the others work on the logical NCHW tensor.
 */
import { tf } from '../../tf.js';
import { broadcastShapes, broadcastTensor } from './broadcast.js';
import { arg, asNchw, attrFloat, attrInt, attrInts, constArg, constant, fail, logicalShape, normAxis, physAxis, tensor, toTensor, type ConstValue, type OpContext, type Value } from './values.js';


/** Elements [start, start + n) of `t` along `axis`, every other axis whole. */
function sliceAlong(t: tf.Tensor, axis: number, start: number, n: number): tf.Tensor {
  return tf.slice(t, t.shape.map((_, i) => (i === axis ? start : 0)), t.shape.map((d, i) => (i === axis ? n : d)));
}

export function shape(ctx: OpContext): Value[] {
  let s = logicalShape(arg(ctx, 0));
  const start = ctx.node.attrs.start === undefined ? 0 : normAxis(ctx.node, Number(ctx.node.attrs.start), s.length + 1);
  const end = ctx.node.attrs.end === undefined ? s.length : Math.min(s.length, Number(ctx.node.attrs.end) < 0 ? Number(ctx.node.attrs.end) + s.length : Number(ctx.node.attrs.end));
  s = s.slice(start, end);
  return [constant('int', [s.length], s)];
}

export function identity(ctx: OpContext): Value[] {
  return [arg(ctx, 0)];
}

export function dropout(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const ratio = ctx.inputs[1] ? Number(constArg(ctx, 1)[0]) : attrFloat(ctx.node, 'ratio', 0.5);
  if (ctx.node.outputs.length > 1 && ctx.node.outputs[1]) fail(ctx.node, 'the mask output is not supported');
  if (!ctx.training || ratio === 0 || v.kind === 'const') return [v];
  return [tensor(tf.dropout(v.t, ratio, undefined, ctx.state.dropoutSeed()), v.nhwc)];
}

export function cast(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const to = attrInt(ctx.node, 'to', 1);
  if (v.kind === 'tensor') {
    if (to !== 1) fail(ctx.node, `cast of an image tensor to ONNX type ${to} is not supported`);
    return [v];
  }
  const int = to === 6 || to === 7 || to === 9;
  return [constant(int ? 'int' : 'float32', v.shape, int ? Array.from(v.data, (x) => Math.trunc(Number(x))) : Float32Array.from(v.data))];
}

export function gather(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const idx = constArg(ctx, 1);
  const idxShape = (arg(ctx, 1) as ConstValue).shape;
  const s = logicalShape(v);
  const axis = normAxis(ctx.node, attrInt(ctx.node, 'axis', 0), s.length);
  const fix = idx.map((i) => (i < 0 ? i + s[axis] : i));
  if (v.kind === 'const') {
    if (s.length !== 1) fail(ctx.node, 'gather from a constant of rank > 1 is not supported');
    const out = fix.map((i) => Number(v.data[i]));
    return [constant(v.dtype, idxShape, v.dtype === 'int' ? out : Float32Array.from(out))];
  }
  if (fix.some((i) => !(i >= 0 && i < s[axis]))) fail(ctx.node, `index out of range for axis ${axis} of size ${s[axis]}`);
  // Slices, not tf.gather: its gradient is UnsortedSegmentSum, which the wasm backend lacks, and the
  // usual case is one index (ViT's class token, x[:, 0]) or a run of them. Runs of consecutive
  // indices become one slice each.
  const t = asNchw(v);
  const pieces: tf.Tensor[] = [];
  for (let start = 0, j = 1; j <= fix.length; j++) {
    if (j < fix.length && fix[j] === fix[j - 1] + 1) continue;
    pieces.push(sliceAlong(t, axis, fix[start], j - start));
    start = j;
  }
  const g = pieces.length === 1 ? pieces[0] : tf.concat(pieces, axis);
  const outShape = [...s.slice(0, axis), ...idxShape, ...s.slice(axis + 1)];
  return [tensor(tf.reshape(g, outShape))];
}

function axesOf(ctx: OpContext, i: number): number[] | undefined {
  return ctx.inputs[i] ? constArg(ctx, i) : attrInts(ctx.node, 'axes');
}

export function unsqueeze(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const axes = (axesOf(ctx, 1) ?? fail(ctx.node, 'no axes')).map((a) => normAxis(ctx.node, a, s.length + axesOf(ctx, 1)!.length)).sort((a, b) => a - b);
  const out = [...s];
  for (const a of axes) out.splice(a, 0, 1);
  if (v.kind === 'const') return [constant(v.dtype, out, v.data)];
  return [tensor(tf.reshape(asNchw(v), out))];
}

export function squeeze(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const given = axesOf(ctx, 1);
  const axes = given ? given.map((a) => normAxis(ctx.node, a, s.length)) : s.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  const out = s.filter((_, i) => !axes.includes(i));
  if (v.kind === 'const') return [constant(v.dtype, out, v.data)];
  return [tensor(tf.reshape(asNchw(v), out))];
}

export function concat(ctx: OpContext): Value[] {
  const vs = ctx.inputs.filter((v): v is Value => v !== undefined);
  const rank = logicalShape(vs[0]).length;
  const axis = normAxis(ctx.node, attrInt(ctx.node, 'axis', 0), rank);
  if (vs.every((v) => v.kind === 'const')) {
    if (rank !== 1) fail(ctx.node, 'concat of constants of rank > 1 is not supported');
    const data = vs.flatMap((v) => Array.from(v.data, Number));
    const int = vs.every((v) => v.kind === 'const' && v.dtype === 'int');
    return [constant(int ? 'int' : 'float32', [data.length], int ? data : Float32Array.from(data))];
  }
  const nhwc = rank === 4 && vs.every((v) => v.kind === 'tensor' && v.nhwc);
  const ts = vs.map((v) => (nhwc ? (v as { t: tf.Tensor }).t : asNchw(v)));
  return [tensor(tf.concat(ts, nhwc ? physAxis(vs[0], axis) : axis), nhwc)];
}

export function split(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  if (v.kind !== 'tensor') fail(ctx.node, 'split of a constant is not supported');
  const s = logicalShape(v);
  const axis = normAxis(ctx.node, attrInt(ctx.node, 'axis', 0), s.length);
  const n = ctx.node.outputs.length;
  const sizes = ctx.inputs[1] ? constArg(ctx, 1) : (attrInts(ctx.node, 'split') ?? new Array<number>(n).fill(s[axis] / n));
  if (sizes.some((x) => !Number.isInteger(x))) fail(ctx.node, `cannot split ${s[axis]} into ${n} equal parts`);
  const pa = physAxis(v, axis);
  // Pieces that are contiguous in memory (nothing but size-1 dims before the axis: timm's
  // qkv.unbind(0)) as slices: tfjs-backend-wasm's SplitV reads the whole input back once per
  // piece (3 pieces of a ViT's qkv: 6–8 ms against 1–3 ms for three slices).
  if (v.t.shape.slice(0, pa).every((d) => d === 1)) {
    let at = 0;
    return sizes.map((n) => {
      const piece = sliceAlong(v.t, pa, at, n);
      at += n;
      return tensor(piece, v.nhwc);
    });
  }
  return tf.split(v.t, sizes, pa).map((t) => tensor(t, v.nhwc));
}

export function slice(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const starts = constArg(ctx, 1);
  const ends = constArg(ctx, 2);
  const axes = ctx.inputs[3] ? constArg(ctx, 3).map((a) => normAxis(ctx.node, a, s.length)) : starts.map((_, i) => i);
  const steps = ctx.inputs[4] ? constArg(ctx, 4) : starts.map(() => 1);
  const begin = s.map(() => 0);
  const size = [...s];
  axes.forEach((a, i) => {
    if (steps[i] !== 1) fail(ctx.node, 'slice steps other than 1 are not supported');
    const clamp = (x: number) => Math.max(0, Math.min(s[a], x < 0 ? x + s[a] : x));
    const b = clamp(starts[i]);
    const e = clamp(ends[i]);
    begin[a] = b;
    size[a] = Math.max(0, e - b);
  });
  if (v.kind === 'const') {
    if (s.length !== 1) fail(ctx.node, 'slice of a constant of rank > 1 is not supported');
    const out = Array.from(v.data).slice(begin[0], begin[0] + size[0]);
    return [constant(v.dtype, [out.length], v.dtype === 'int' ? out.map(Number) : Float32Array.from(out as number[]))];
  }
  const pb = v.nhwc ? [begin[0], begin[2], begin[3], begin[1]] : begin;
  const ps = v.nhwc ? [size[0], size[2], size[3], size[1]] : size;
  return [tensor(tf.slice(v.t, pb, ps), v.nhwc)];
}

export function reshape(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const target = constArg(ctx, 1);
  const allowZero = attrInt(ctx.node, 'allowzero', 0) === 1;
  const out = target.map((d, i) => (d === 0 && !allowZero ? s[i] : d));
  const total = s.reduce((a, d) => a * d, 1);
  const known = out.filter((d) => d !== -1).reduce((a, d) => a * d, 1);
  const fixed = out.map((d) => (d === -1 ? total / known : d));
  if (fixed.some((d) => !Number.isInteger(d) || d < 0) || fixed.reduce((a, d) => a * d, 1) !== total) {
    fail(ctx.node, `cannot reshape [${s}] to [${target}] (the input size does not fit this graph)`);
  }
  if (v.kind === 'const') return [constant(v.dtype, fixed, v.data)];
  return [tensor(tf.reshape(asNchw(v), fixed))];
}

export function flatten(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const axis = normAxis(ctx.node, attrInt(ctx.node, 'axis', 1), s.length + 1);
  const a = s.slice(0, axis).reduce((x, d) => x * d, 1);
  const b = s.slice(axis).reduce((x, d) => x * d, 1);
  // [N, C, 1, 1] has the same order in NHWC and NCHW: no transpose for the usual pooled head.
  const t = v.kind === 'tensor' && v.nhwc && s[2] === 1 && s[3] === 1 ? v.t : asNchw(v);
  return [tensor(tf.reshape(t, [a, b]))];
}

export function transpose(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const perm = attrInts(ctx.node, 'perm') ?? s.map((_, i) => s.length - 1 - i);
  if (v.kind === 'const') fail(ctx.node, 'transpose of a constant is not supported');
  if (v.nhwc && perm.join() === '0,2,3,1') return [tensor(v.t)]; // NCHW → NHWC: the stored tensor as is
  // NHWC → NCHW (ConvNeXt's permute back after its channels-last norm and MLP): the tensor as is,
  // stored NHWC, which is what every following Conv and element-wise op wants.
  if (!v.nhwc && v.t.rank === 4 && perm.join() === '0,3,1,2') return [tensor(v.t, true)];
  return [tensor(tf.transpose(asNchw(v), perm))];
}

export function pad(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const mode = typeof ctx.node.attrs.mode === 'string' ? ctx.node.attrs.mode : 'constant';
  if (mode !== 'constant') fail(ctx.node, `pad mode ${mode} is not supported`);
  const pads = ctx.inputs[1] ? constArg(ctx, 1) : (attrInts(ctx.node, 'pads') ?? []);
  const value = ctx.inputs[2] ? Number(constArg(ctx, 2)[0] ?? 0) : attrFloat(ctx.node, 'value', 0);
  if (ctx.inputs[3]) fail(ctx.node, 'pad with an axes input is not supported');
  if (pads.length !== 2 * s.length || pads.some((p) => p < 0)) fail(ctx.node, `pads ${JSON.stringify(pads)} are not supported (negative or wrong length)`);
  const logical = s.map((_, i) => [pads[i], pads[i + s.length]] as [number, number]);
  if (v.kind === 'const') fail(ctx.node, 'pad of a constant is not supported');
  const phys = v.nhwc ? [logical[0], logical[2], logical[3], logical[1]] : logical;
  return [tensor(tf.pad(v.t, phys, value), v.nhwc)];
}

export function reduceMean(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const keep = attrInt(ctx.node, 'keepdims', 1) === 1;
  const given = axesOf(ctx, 1);
  const axes = (given && given.length ? given : s.map((_, i) => i)).map((a) => normAxis(ctx.node, a, s.length));
  if (v.kind === 'const') fail(ctx.node, 'reduce of a constant is not supported');
  const y = tf.mean(v.t, axes.map((a) => physAxis(v, a)), keep);
  // Kept dims keep the layout; dropped ones leave the surviving axes in physical order, which is
  // the logical order only when the dropped axes make NHWC and NCHW agree (H and W, or C of size 1).
  if (keep || !v.nhwc) return [tensor(y, keep && v.nhwc)];
  const left = [0, 1, 2, 3].filter((a) => !axes.includes(a));
  const physLeft = [0, 2, 3, 1].filter((a) => !axes.includes(a));
  if (left.join() !== physLeft.join()) return [tensor(tf.mean(asNchw(v), axes, false))];
  return [tensor(y)];
}

export function matmulLike(ctx: OpContext): Value[] {
  const a = asNchw(arg(ctx, 0));
  const bv = arg(ctx, 1);
  const b = bv.kind === 'tensor' ? asNchw(bv) : toTensor(bv);
  if (ctx.node.op === 'MatMul') {
    if (a.rank < 2 || b.rank < 2) fail(ctx.node, 'MatMul of a vector (rank 1) is not supported');
    if (b.rank === 2) {
      if (a.rank === 2) return [tensor(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D))];
      const lead = a.shape.slice(0, -1);
      const y = tf.matMul(tf.reshape(a, [-1, a.shape[a.rank - 1]]) as tf.Tensor2D, b as tf.Tensor2D);
      return [tensor(tf.reshape(y, [...lead, (b.shape as number[])[1]]))];
    }
    return [tensor(batchedMatMul(ctx, a, b))];
  }
  // Gemm: alpha·op(A)·op(B) + beta·C.
  const transA = attrInt(ctx.node, 'transA', 0) === 1;
  const transB = attrInt(ctx.node, 'transB', 0) === 1;
  const alpha = attrFloat(ctx.node, 'alpha', 1);
  const beta = attrFloat(ctx.node, 'beta', 1);
  if (a.rank !== 2) fail(ctx.node, `A of rank ${a.rank}; Gemm takes [N, F] (add a Flatten)`);
  let y: tf.Tensor = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, transA, transB);
  if (alpha !== 1) y = tf.mul(y, alpha);
  const c = ctx.inputs[2];
  if (c) y = tf.add(y, beta === 1 ? toTensor(c) : tf.mul(toTensor(c), beta));
  return [tensor(y)];
}

/**
 * numpy's matmul of [..., m, k] by [..., k, n] (attention's q·kᵀ and p·v): the batch dims
 * broadcast, are flattened into one, and the product is one batched matMul.
 */
function batchedMatMul(ctx: OpContext, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) fail(ctx.node, `cannot multiply [${a.shape}] by [${b.shape}]`);
  const batch = broadcastShapes(ctx.node, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const flat = batch.reduce((p, d) => p * d, 1);
  const to3 = (t: tf.Tensor, r: number, c: number): tf.Tensor3D => tf.reshape(broadcastTensor(t, [...batch, r, c]), [flat, r, c]) as tf.Tensor3D;
  return tf.reshape(tf.matMul(to3(a, m, k), to3(b, k, n)), [...batch, m, n]);
}
