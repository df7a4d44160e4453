/**
 * The old positional call of a loss — (logits, labels, soft, options) with `soft` the teacher's
 * tempered probabilities at options.temperature — over the LossContext interface, and a loss's
 * defaults as one options object (what the trainer resolves).
 */
import { tf } from '../../../src/student/tf.js';
import { lossContext, lossEntry, resolveLossOptions, type LossOptions } from '../../../src/student/losses/index.js';
import type { Fidelity } from '../../../src/catalog.js';

export function callLoss(name: string, logits: tf.Tensor2D, labels: tf.Tensor1D, soft: tf.Tensor2D | null, options: LossOptions): tf.Scalar {
  return lossEntry(name).fn(lossContext({ logits, labels, soft, options }));
}

export function defaultOptions(name: string, fidelity: Fidelity, numClasses: number, overrides: Partial<LossOptions> = {}, logitStandardization = false): LossOptions {
  const { numClasses: _k, fidelity: _f, logitStandardization: _l, ...given } = overrides;
  return resolveLossOptions(lossEntry(name), fidelity, numClasses, logitStandardization, given);
}
