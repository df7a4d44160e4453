/**
 * TfkdDropPath: stochastic depth on a residual branch (inserted by onnx-fold.ts's insertDropPath;
 * not an ONNX op). In training, as torchvision.ops.stochastic_depth(x, p, 'row') and timm's
 * drop_path(x, p, scale_by_keep=True) compute it: one Bernoulli(1 − p) draw per sample, divided by
 * 1 − p in float32, times the branch. p = 0 or inference: the branch as is, and no draw.
 * The draws come from the layer's seeded stream (OpState.dropoutSeed: the run's seed, the step and
 * the call), in JS, so every backend drops the same samples and a resumed run the same ones.
 */
import { Rng } from '../../../data/rng.js';
import { tf } from '../../tf.js';
import { arg, fail, logicalShape, tensor, type OpContext, type Value } from './values.js';

export function dropPath(ctx: OpContext): Value[] {
  const v = arg(ctx, 0);
  const rate = Number(ctx.node.attrs.rate);
  if (!(rate >= 0 && rate < 1)) fail(ctx.node, `drop-path rate ${rate} outside [0, 1)`);
  if (!ctx.training || rate === 0 || v.kind !== 'tensor') return [v];
  const keep = 1 - rate;
  const n = logicalShape(v)[0];
  const rng = new Rng(ctx.state.dropoutSeed());
  const mask = Float32Array.from({ length: n }, () => (rng.next() < keep ? 1 : 0));
  ctx.state.onDropPathMask?.(mask);
  const scale = Math.fround(1 / Math.fround(keep));
  const factor = tf.tensor(mask.map((m) => m * scale), [n, ...new Array<number>(v.t.rank - 1).fill(1)], 'float32');
  return [tensor(tf.mul(v.t, factor), v.nhwc)];
}
