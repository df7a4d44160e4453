/**
 * The old positional call of a loss — (logits, labels, soft, options) with `soft` the teacher's
 * tempered probabilities at options.temperature — over the LossContext interface, and a loss's
 * defaults as one options object (what the trainer resolves); a loss's value and gradient at a
 * golden fixture (the losses-golden and losses-authors tests).
 */
import { tf } from '../../../src/student/tf.js';
import { lossContext, lossEntry, resolveLossOptions, type LossFn, type LossOptions } from '../../../src/student/losses/index.js';
import type { Fidelity } from '../../../src/catalog.js';

export function callLoss(name: string, logits: tf.Tensor2D, labels: tf.Tensor1D, soft: tf.Tensor2D | null, options: LossOptions): tf.Scalar {
  return lossEntry(name).fn(lossContext({ logits, labels, soft, options }));
}

export function defaultOptions(name: string, fidelity: Fidelity, numClasses: number, overrides: Partial<LossOptions> = {}, logitStandardization = false): LossOptions {
  const { numClasses: _k, fidelity: _f, logitStandardization: _l, ...given } = overrides;
  return resolveLossOptions(lossEntry(name), fidelity, numClasses, logitStandardization, given);
}

/** A golden file's inputs: B rows of K student logits and their labels (each file adds its own fields). */
export interface GoldenFixture {
  id: string;
  B: number;
  K: number;
  logits: number[];
  labels: number[];
}

/**
 * The loss's value and its gradient w.r.t. the student logits at `fx` (float32 on the current
 * backend); `rest` is the rest of the loss context, whose tensors are disposed afterwards.
 */
export function valueAndGradAt(fn: LossFn, fx: GoldenFixture, rest: Omit<Parameters<typeof lossContext>[0], 'logits' | 'labels'>): { value: number; grad: Float32Array } {
  const logits = tf.tensor2d(fx.logits, [fx.B, fx.K], 'float32');
  const labels = tf.tensor1d(fx.labels, 'int32');
  const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => fn(lossContext({ ...rest, logits: z as tf.Tensor2D, labels })))(logits);
  const out = { value: value.dataSync()[0], grad: grad.dataSync() as Float32Array };
  tf.dispose([logits, labels, value, grad, ...[rest.targets, rest.teacherLogits, rest.soft, rest.previous].filter((t) => t != null)]);
  return out;
}
