/**
 * LayerNormalization (opset 17; what torch.onnx.export writes for nn.LayerNorm and F.layer_norm —
 * ViT's, DeiT's and ConvNeXt's norms) as PyTorch computes it: over the axes [axis, rank),
 *   y = (x − mean) · 1/sqrt(var + ε) · γ + β,   var the biased variance,
 * mean and variance in float32 (stash_type 1, the only type torch writes), gradients by tfjs'
 * autodiff of these ops. The optional Mean / InvStdDev outputs (training graphs) are refused.
 */
import { tf } from '../../tf.js';
import { arg, asNchw, attrFloat, attrInt, fail, normAxis, tensor, toTensor, type OpContext, type Value } from './values.js';

export function layerNormalization(ctx: OpContext): Value[] {
  const { node } = ctx;
  const v = arg(ctx, 0);
  if (v.kind === 'const') fail(node, 'normalisation of a constant is not supported');
  if (node.outputs.slice(1).some((o) => o !== '')) fail(node, 'the Mean / InvStdDev outputs are not supported');
  // ConvNeXt's channels-last norm sees the [N, H, W, C] tensor a Transpose(0, 2, 3, 1) of an NHWC
  // value made without a copy (shape.ts), so the usual case here has nothing to transpose.
  const x = asNchw(v);
  const axis = normAxis(node, attrInt(node, 'axis', -1), x.rank);
  const axes = Array.from({ length: x.rank - axis }, (_, i) => axis + i);
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const mean = tf.mean(x, axes, true);
  const d = tf.sub(x, mean);
  const variance = tf.mean(tf.square(d), axes, true);
  let y = tf.mul(d, tf.rsqrt(tf.add(variance, eps)));
  y = tf.mul(y, toTensor(arg(ctx, 1)));
  if (ctx.inputs[2]) y = tf.add(y, toTensor(ctx.inputs[2]));
  return [tensor(y)];
}
