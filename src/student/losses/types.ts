import type { Fidelity } from '../../catalog.js';
import type { tf } from '../tf.js';

export type { Fidelity } from '../../catalog.js';

export interface LossOptions {
  numClasses: number;
  fidelity: Fidelity;
  /** Weight of the distillation / smoothing term (α in the paper). */
  alpha: number;
  /** Temperature τ > 0. */
  temperature: number;
  /** Extra factor on the KL term (official Tf-KD_self / Tf-KD_reg `multiplier`). */
  multiplier: number;
  /** Tf-KD_reg virtual teacher's probability of the true class, a. */
  correctProb: number;
  /** LSR ε. */
  epsilon: number;
}

/**
 * A loss: student logits [B, K], integer labels [B], and — for teacher-based losses — the teacher's
 * soft targets as *tempered probabilities* p^t_τ [B, K] (already averaged over an ensemble), else
 * null. Returns a scalar (mean over the batch). Must be pure and run inside tf.tidy.
 */
export type LossFn = (logits: tf.Tensor2D, labels: tf.Tensor1D, soft: tf.Tensor2D | null, opts: LossOptions) => tf.Scalar;
