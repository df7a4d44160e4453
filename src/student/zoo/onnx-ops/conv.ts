/**
 * Conv (groups, depthwise, dilations, pads, strides, bias) and the pools (MaxPool, AveragePool,
 * GlobalAveragePool) on NHWC tensors. ONNX weights are OIHW; tfjs wants HWIO (conv2d) or
 * [kh, kw, C, M] (depthwiseConv2d). The weight layout change is a transpose inside the traced
 * function, so gradients arrive in ONNX's layout, on the ONNX weight itself.
 *
 * Padding: symmetric pads are passed to tfjs as a number (every backend's conv and its gradients
 * take it); asymmetric ones (auto_pad SAME_UPPER, or explicit) as an explicit tf.pad first.
 */
import { tf } from '../../tf.js';
import { arg, asNhwc, attrInt, attrInts, fail, logicalShape, tensor, toTensor, type GraphNode, type OpContext, type Value } from './values.js';

type Pad = number | 'valid';

/** Resolves ONNX pads / auto_pad for a 2-D window into tfjs' pad (+ an explicit pre-pad when asymmetric). */
function padsOf(node: GraphNode, inHW: [number, number], k: [number, number], s: [number, number], d: [number, number]): { pad: Pad; pre: [[number, number], [number, number]] | null } {
  const auto = typeof node.attrs.auto_pad === 'string' ? node.attrs.auto_pad : 'NOTSET';
  let p = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    p = [0, 0, 0, 0];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(inHW[i] / s[i]);
      const total = Math.max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inHW[i], 0);
      const small = Math.floor(total / 2);
      p[i] = auto === 'SAME_UPPER' ? small : total - small;
      p[i + 2] = total - p[i];
    }
  } else if (auto !== 'NOTSET' && auto !== 'VALID') fail(node, `auto_pad ${auto} is not supported`);
  if (p.length !== 4) fail(node, `pads ${JSON.stringify(p)}: only 2-D windows are supported`);
  const [t, l, b, r] = p;
  if (t === b && l === r && t === l) return { pad: t === 0 ? 'valid' : t, pre: null };
  return { pad: 'valid', pre: [[t, b], [l, r]] };
}

function window2(node: GraphNode, name: string, dflt: number): [number, number] {
  const v = attrInts(node, name) ?? [dflt, dflt];
  if (v.length !== 2) fail(node, `${name} ${JSON.stringify(v)}: only 2-D windows are supported`);
  return [v[0], v[1]];
}

function prePad(x: tf.Tensor4D, pre: [[number, number], [number, number]] | null, value = 0): tf.Tensor4D {
  return pre ? tf.pad(x, [[0, 0], pre[0], pre[1], [0, 0]], value) : x;
}

export function conv(ctx: OpContext): Value[] {
  const { node } = ctx;
  const xv = arg(ctx, 0);
  const x = asNhwc(xv, node);
  const w = toTensor(arg(ctx, 1));
  if (w.rank !== 4) fail(node, `weight of rank ${w.rank}: only 2-D convolutions are supported`);
  const [O, Ig, kh, kw] = w.shape;
  const C = x.shape[3];
  const group = attrInt(node, 'group', 1);
  if (Ig * group !== C || O % group !== 0) fail(node, `weight [${w.shape}] with group ${group} does not fit ${C} input channels`);
  const s = window2(node, 'strides', 1);
  const d = window2(node, 'dilations', 1);
  const { pad, pre } = padsOf(node, [x.shape[1], x.shape[2]], [kh, kw], s, d);
  if ((s[0] > 1 || s[1] > 1) && (d[0] > 1 || d[1] > 1)) fail(node, 'strides and dilations both > 1 are not supported by tfjs');
  const xp = prePad(x, pre);
  let y: tf.Tensor4D;
  if (group === 1) {
    y = tf.conv2d(xp, tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D, s, pad, 'NHWC', d);
  } else if (Ig === 1) {
    // Depthwise (× multiplier M = O / C): output channel c·M + m reads input channel c.
    const f = tf.reshape(tf.transpose(w, [2, 3, 1, 0]), [kh, kw, C, O / C]) as tf.Tensor4D;
    y = tf.depthwiseConv2d(xp, f, s, pad, 'NHWC', d);
  } else {
    const xs = tf.split(xp, group, 3);
    const ws = tf.split(w, group, 0);
    y = tf.concat(xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, tf.transpose(ws[i], [2, 3, 1, 0]) as tf.Tensor4D, s, pad, 'NHWC', d)), 3);
  }
  const bias = ctx.inputs[2];
  if (bias) y = tf.add(y, toTensor(bias));
  return [tensor(y, true)];
}

export function pool(ctx: OpContext): Value[] {
  const { node } = ctx;
  const x = asNhwc(arg(ctx, 0), node);
  const k = window2(node, 'kernel_shape', 1);
  const s = window2(node, 'strides', 1);
  const d = window2(node, 'dilations', 1);
  if (d[0] !== 1 || d[1] !== 1) fail(node, 'dilated pooling is not supported');
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  const { pad, pre } = padsOf(node, [x.shape[1], x.shape[2]], k, s, d);
  if (node.op === 'MaxPool') {
    if (node.outputs.length > 1 && node.outputs[1]) fail(node, 'the Indices output is not supported');
    return [tensor(tf.maxPool(prePad(x, pre, -Infinity), k, s, pad, ceil ? 'ceil' : undefined), true)];
  }
  // AveragePool: count_include_pad = 0 (the default) averages over the window's real pixels only,
  // which is what tfjs does with numeric pads; with count_include_pad = 1 pad with zeros first.
  const include = attrInt(node, 'count_include_pad', 0) === 1;
  if (include && pad !== 'valid') {
    const p = pad;
    return [tensor(tf.avgPool(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), k, s, 'valid', ceil ? 'ceil' : undefined), true)];
  }
  if (pre && !include) fail(node, 'asymmetric pads without count_include_pad are not supported');
  return [tensor(tf.avgPool(prePad(x, pre), k, s, pad, ceil ? 'ceil' : undefined), true)];
}

export function globalAveragePool(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  if (logicalShape(v).length !== 4) fail(ctx.node, 'expects a 4-D input');
  const x = asNhwc(v, ctx.node);
  return [tensor(tf.mean(x, [1, 2], true), true)];
}

export function globalMaxPool(ctx: OpContext): Value[] {
  const x = asNhwc(arg(ctx, 0), ctx.node);
  return [tensor(tf.max(x, [1, 2], true), true)];
}
