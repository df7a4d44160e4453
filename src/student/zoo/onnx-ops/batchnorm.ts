/**
 * BatchNormalization as PyTorch trains it (torch.nn.BatchNorm2d / 1d in train mode):
 *   training: normalise with the batch statistics (biased variance), and update the running ones
 *     running_mean ← m·running_mean + (1 − m)·mean
 *     running_var  ← m·running_var  + (1 − m)·var·M/(M − 1)     (unbiased, M = N·H·W)
 *   with ONNX's momentum m (torch.onnx.export writes 1 − PyTorch's momentum);
 *   inference: normalise with the running statistics.
 * The graph's own `training_mode` attribute is ignored: the trainer decides the mode.
 * Training uses tfkd's fused BN kernel where the backend has it (kernels/batchnorm.ts: one kernel
 * forward, one backward), else tf.moments + tf.batchNorm.
 */
import { batchNormTrain } from '../../kernels/batchnorm.js';
import { tf } from '../../tf.js';
import { arg, asNhwc, attrFloat, fail, logicalShape, tensor, toTensor, type OpContext, type Value } from './values.js';

export function batchNormalization(ctx: OpContext): Value[] {
  const { node } = ctx;
  const xv = arg(ctx, 0);
  const rank = logicalShape(xv).length;
  if (rank !== 4 && rank !== 2) fail(node, `input of rank ${rank}: only [N, C, H, W] and [N, C] are supported`);
  const x = rank === 4 ? asNhwc(xv, node) : toTensor(xv);
  const gamma = toTensor(arg(ctx, 1)) as tf.Tensor1D;
  const beta = toTensor(arg(ctx, 2)) as tf.Tensor1D;
  const meanName = node.inputs[3];
  const varName = node.inputs[4];
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const m = attrFloat(node, 'momentum', 0.9);
  if (!ctx.training) {
    const y = tf.batchNorm(x, toTensor(arg(ctx, 3)), toTensor(arg(ctx, 4)), beta, gamma, eps);
    return [tensor(y, rank === 4)];
  }
  const C = x.shape[x.rank - 1];
  const M = x.size / C;
  let y: tf.Tensor;
  let mean: tf.Tensor;
  let variance: tf.Tensor;
  if (ctx.state.fusedBn && rank === 4) {
    [y, mean, variance] = batchNormTrain(x as tf.Tensor4D, gamma, beta, eps);
  } else {
    const axes = rank === 4 ? [0, 1, 2] : [0];
    const mo = tf.moments(x, axes);
    mean = mo.mean;
    variance = mo.variance;
    y = tf.batchNorm(x, mean, variance, beta, gamma, eps);
  }
  const upd = (name: string, batch: tf.Tensor, factor: number) =>
    tf.tidy(() => ctx.state.updateRunning(name, tf.add(tf.mul(ctx.state.readRunning(name), m), tf.mul(batch, (1 - m) * factor))));
  upd(meanName, mean, 1);
  upd(varName, variance, M > 1 ? M / (M - 1) : 1);
  return [tensor(y, rank === 4)];
}
