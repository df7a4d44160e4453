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
  // torch names a mask output its graph never reads (Swin's attention dropout, ratio 0): it is left
  // unset, and a node that did read it would be refused as missing an input.
  if (!ctx.training || ratio === 0 || v.kind === 'const') return [v];
  if (ctx.node.outputs.length > 1 && ctx.node.outputs[1]) fail(ctx.node, 'the mask output is not supported');
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

/** Above this many runs of consecutive indices a Gather on a tensor is a one-hot product, not slices. */
const GATHER_SLICE_RUNS = 16;

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
  const outShape = [...s.slice(0, axis), ...idxShape, ...s.slice(axis + 1)];
  const runs: Array<[number, number]> = [];
  for (let start = 0, j = 1; j <= fix.length; j++) {
    if (j < fix.length && fix[j] === fix[j - 1] + 1) continue;
    runs.push([fix[start], j - start]);
    start = j;
  }
  // Many scattered indices (Swin's relative position bias: table[index], (2w−1)² rows read w⁴
  // times) as one product with their one-hot matrix: a slice per index would be thousands of ops.
  // 1·x + 0·y sums are exact, so both forms give the same values.
  if (runs.length > GATHER_SLICE_RUNS) {
    const rest = s.filter((_, i) => i !== axis);
    const front = axis === 0 ? t : tf.transpose(t, [axis, ...s.map((_, i) => i).filter((i) => i !== axis)]);
    const rows = tf.matMul(tf.oneHot(tf.tensor1d(fix, 'int32'), s[axis]), tf.reshape(front, [s[axis], rest.reduce((p, q) => p * q, 1)]));
    const g = tf.reshape(rows, [...idxShape, ...rest]);
    if (axis === 0) return [tensor(g)];
    const k = idxShape.length;
    const perm = [...Array.from({ length: axis }, (_, i) => k + i), ...Array.from({ length: k }, (_, i) => i), ...Array.from({ length: rest.length - axis }, (_, i) => k + axis + i)];
    return [tensor(tf.transpose(g, perm))];
  }
  const pieces = runs.map(([at, n]) => sliceAlong(t, axis, at, n));
  const g = pieces.length === 1 ? pieces[0] : tf.concat(pieces, axis);
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
    // Row-major: the inputs' blocks below `axis` interleave, one block of each per outer index.
    const shapes = vs.map(logicalShape);
    const outer = shapes[0].slice(0, axis).reduce((p, q) => p * q, 1);
    const inner = shapes.map((sh) => sh.slice(axis).reduce((p, q) => p * q, 1));
    const data: number[] = [];
    for (let o = 0; o < outer; o++) vs.forEach((v, j) => data.push(...Array.from((v as ConstValue).data.slice(o * inner[j], (o + 1) * inner[j]), Number)));
    const int = vs.every((v) => v.kind === 'const' && v.dtype === 'int');
    const shape = [...shapes[0]];
    shape[axis] = shapes.reduce((p, sh) => p + sh[axis], 0);
    return [constant(int ? 'int' : 'float32', shape, int ? data : Float32Array.from(data))];
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

/**
 * A constant's entries at the index lists `picks` (one per axis), its axes walked in `order`: the
 * result's axis i is axis order[i] restricted to picks[order[i]] (row-major). Slice is the identity
 * order with picked indices, Transpose a permuted order with every index.
 */
function constAt(v: ConstValue, order: readonly number[], picks: readonly number[][]): Value {
  const s = v.shape;
  const strides = s.map((_, i) => s.slice(i + 1).reduce((p, q) => p * q, 1));
  let offs = [0];
  for (const a of order) offs = offs.flatMap((o) => picks[a].map((x) => o + x * strides[a]));
  const data = offs.map((o) => Number(v.data[o]));
  return constant(v.dtype, order.map((a) => picks[a].length), v.dtype === 'int' ? data : Float32Array.from(data));
}

export function slice(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const s = logicalShape(v);
  const starts = constArg(ctx, 1);
  const ends = constArg(ctx, 2);
  const axes = ctx.inputs[3] ? constArg(ctx, 3).map((a) => normAxis(ctx.node, a, s.length)) : starts.map((_, i) => i);
  const steps = ctx.inputs[4] ? constArg(ctx, 4) : starts.map(() => 1);
  // The indices each axis keeps, by ONNX's rules: for step > 0 start and end clamp to [0, dim], for
  // step < 0 to [−1, dim − 1] (after adding dim to negative ones); then start, start + step, … short
  // of end. torch writes step −1 for flips (index_put's lowering in Swin's mask).
  const picks = s.map((d) => Array.from({ length: d }, (_, i) => i));
  axes.forEach((a, i) => {
    const st = steps[i];
    if (st === 0) fail(ctx.node, 'slice step 0');
    const d = s[a];
    const norm = (x: number) => (x < 0 ? x + d : x);
    const [lo, hi] = st > 0 ? [0, d] : [-1, d - 1];
    const b = Math.max(lo, Math.min(hi, norm(starts[i])));
    const e = Math.max(lo, Math.min(hi, norm(ends[i])));
    const kept: number[] = [];
    for (let x = b; st > 0 ? x < e : x > e; x += st) kept.push(x);
    picks[a] = kept;
  });
  if (v.kind === 'const') return [constAt(v, s.map((_, i) => i), picks)];
  // Tensors: a run per axis with a step, ascending or descending. Step ±1 is a slice (then a
  // reverse); a larger step (Swin's patch merging, x[:, 0::2, 1::2]) a slice padded to whole steps,
  // reshaped so that the step is an axis of its own, and its first entry — all ops with gradients
  // on every backend (tf.stridedSlice has none).
  const perm = v.nhwc ? [0, 2, 3, 1] : s.map((_, i) => i);
  const begin: number[] = [];
  const size: number[] = [];
  const flip: number[] = [];
  const strided: Array<[number, number]> = [];
  picks.forEach((p, a) => {
    const step = p.length < 2 ? 1 : p[1] - p[0];
    begin.push(p.length ? Math.min(p[0], p[p.length - 1]) : 0);
    size.push(p.length ? Math.abs(p[p.length - 1] - p[0]) + 1 : 0);
    if (step < 0) flip.push(a);
    if (Math.abs(step) > 1) strided.push([a, Math.abs(step)]);
  });
  let t = tf.slice(v.t, perm.map((a) => begin[a]), perm.map((a) => size[a]));
  for (const [a, k] of strided) t = everyKth(t, perm.indexOf(a), k, picks[a].length);
  return [tensor(flip.length ? tf.reverse(t, flip.map((a) => perm.indexOf(a))) : t, v.nhwc)];
}

/** Entries 0, k, 2k, … (n of them) along axis `pa` of `t`, whose length there is (n − 1)·k + 1. */
function everyKth(t: tf.Tensor, pa: number, k: number, n: number): tf.Tensor {
  const padded = tf.pad(t, t.shape.map((_, i) => [0, i === pa ? n * k - t.shape[pa] : 0] as [number, number]));
  const split = [...t.shape.slice(0, pa), n, k, ...t.shape.slice(pa + 1)];
  const firsts = tf.slice(tf.reshape(padded, split), split.map(() => 0), split.map((d, i) => (i === pa + 1 ? 1 : d)));
  return tf.reshape(firsts, [...t.shape.slice(0, pa), n, ...t.shape.slice(pa + 1)]);
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
  // Swin's window partition of its (constant) attention mask: plain index arithmetic.
  if (v.kind === 'const') return [constAt(v, perm, s.map((d) => Array.from({ length: d }, (_, i) => i)))];
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
