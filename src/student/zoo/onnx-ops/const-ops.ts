/**
 * Ops torch.onnx.export writes for index arithmetic on shapes — Swin's shifted-window attention
 * mask (`attn_mask[h0:h1, w0:w1] = count` becomes Range → Mod → … → ScatterND, its `if` on the
 * padded size a Not) and `torch.arange`. They depend on the input's size only, so they run on
 * constants, in JS, at every call (values.ts); on an image tensor they are refused.
 */
import { asConst, broadcastShapes, stretch } from './broadcast.js';
import { arg, attrInt, fail, type ConstValue, type OpContext, type Value } from './values.js';

function constIn(ctx: OpContext, i: number): ConstValue {
  const v = arg(ctx, i);
  if (v.kind !== 'const') fail(ctx.node, `${ctx.node.op} on a tensor computed from the image is not supported (only on shapes and constants)`);
  return v;
}

/** ONNX Mod: fmod = 0 takes the divisor's sign (Python's %, integers), fmod = 1 the dividend's (C fmod). */
export function mod(ctx: OpContext): Value[] {
  const a = constIn(ctx, 0);
  const b = constIn(ctx, 1);
  const fmod = attrInt(ctx.node, 'fmod', 0) === 1;
  if (!fmod && (a.dtype !== 'int' || b.dtype !== 'int')) fail(ctx.node, 'Mod of floats needs fmod = 1 (the ONNX rule)');
  const out = broadcastShapes(ctx.node, a.shape, b.shape);
  const x = stretch(a, out);
  const y = stretch(b, out);
  const r = x.map((xi, i) => {
    if (y[i] === 0) fail(ctx.node, 'division by zero');
    const m = xi % y[i];
    return fmod || m === 0 || Math.sign(m) === Math.sign(y[i]) ? m : m + y[i];
  });
  return [asConst(a.dtype === 'int' && b.dtype === 'int' ? 'int' : 'float32', out, r)];
}

/** ONNX Range: start, start + delta, … below limit (above it for delta < 0); max(⌈(limit − start) / delta⌉, 0) values. */
export function range(ctx: OpContext): Value[] {
  const [start, limit, delta] = [0, 1, 2].map((i) => {
    const c = constIn(ctx, i);
    if (c.data.length !== 1) fail(ctx.node, `input ${i} must be a scalar`);
    return c;
  });
  const s = Number(start.data[0]);
  const d = Number(delta.data[0]);
  if (d === 0) fail(ctx.node, 'delta is 0');
  const n = Math.max(Math.ceil((Number(limit.data[0]) - s) / d), 0);
  return [asConst(start.dtype, [n], Array.from({ length: n }, (_, i) => s + i * d))];
}

export function not(ctx: OpContext): Value[] {
  const a = constIn(ctx, 0);
  return [asConst('int', [...a.shape], Array.from(a.data, (x) => (Number(x) ? 0 : 1)))];
}

/** ONNX ScatterND (reduction none): data with data[indices[i]] ← updates[i], each index naming a slice of data. */
export function scatterND(ctx: OpContext): Value[] {
  const data = constIn(ctx, 0);
  const idx = constIn(ctx, 1);
  const upd = constIn(ctx, 2);
  const red = ctx.node.attrs.reduction;
  if (red !== undefined && red !== null && red !== 'none') fail(ctx.node, `reduction '${String(red)}' is not supported`);
  const k = idx.shape[idx.shape.length - 1];
  if (!(k >= 1 && k <= data.shape.length)) fail(ctx.node, `indices' last dimension ${k} does not fit data of rank ${data.shape.length}`);
  const sliceShape = data.shape.slice(k);
  const sliceSize = sliceShape.reduce((p, q) => p * q, 1);
  const count = idx.shape.slice(0, -1).reduce((p, q) => p * q, 1);
  if (upd.data.length !== count * sliceSize) fail(ctx.node, `updates have ${upd.data.length} values, the indices name ${count} slices of ${sliceSize}`);
  const strides = data.shape.map((_, i) => data.shape.slice(i + 1).reduce((p, q) => p * q, 1));
  const out = Array.from(data.data, Number);
  for (let c = 0; c < count; c++) {
    let off = 0;
    for (let j = 0; j < k; j++) {
      let ij = Number(idx.data[c * k + j]);
      if (ij < 0) ij += data.shape[j];
      if (!(ij >= 0 && ij < data.shape[j])) fail(ctx.node, `index ${ij} out of range for axis ${j} of size ${data.shape[j]}`);
      off += ij * strides[j];
    }
    for (let e = 0; e < sliceSize; e++) out[off + e] = Number(upd.data[c * sliceSize + e]);
  }
  return [asConst(data.dtype, [...data.shape], out)];
}
