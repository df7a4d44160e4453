/**
 * Teacher-free soft targets: the Tf-KD_reg virtual teacher and the uniform prior.
 */
import { tf } from '../tf.js';
import { oneHotFloat } from './kl.js';
import type { Fidelity } from '../../catalog.js';

/**
 * The two distinct values of the tempered virtual teacher for K classes, computed in double:
 * `target` for the true class c, `other` for each of the K−1 others (target + (K−1)·other = 1).
 *
 * Virtual teacher (paper Eq. 8): p^d(k) = a if k = c, else (1−a)/(K−1).
 *  - `paper`: p^d_τ ∝ (p^d)^(1/τ), i.e. softmax(log p^d / τ) — the distribution softened by τ the
 *    way a teacher's logits would be (for K = 10, a = 0.99, τ = 20: 0.135 vs 0.096).
 *  - `official` (`loss_kd_regularization`): softmax(p^d / τ), a softmax over *probabilities*,
 *    nearly uniform (K = 100, a = 0.99, τ = 20: 0.0105 vs 0.0100).
 * Both are evaluated in log space with the max subtracted, so a = 1 (other = 0) is exact.
 */
export function virtualTeacherProbs(numClasses: number, correctProb: number, temperature: number, fidelity: Fidelity): { target: number; other: number } {
  if (!(numClasses >= 2)) throw new Error(`virtual teacher: needs K ≥ 2 classes, got ${numClasses}`);
  if (!(correctProb >= 0 && correctProb <= 1)) throw new Error(`virtual teacher: a must be in [0, 1], got ${correctProb}`);
  if (!(temperature > 0)) throw new Error(`virtual teacher: τ must be > 0, got ${temperature}`);
  const a = correctProb;
  const b = (1 - a) / (numClasses - 1);
  // Log-weights of the two kinds of entry before normalisation.
  const [lt, lo] = fidelity === 'official' ? [a / temperature, b / temperature] : [Math.log(a) / temperature, Math.log(b) / temperature];
  const m = Math.max(lt, lo);
  const et = Math.exp(lt - m);
  const eo = Math.exp(lo - m);
  const z = et + (numClasses - 1) * eo;
  return { target: et / z, other: eo / z };
}

/**
 * The tempered virtual teacher as a [B, K] float32 tensor for integer labels [B]
 * (`paper`: p^d_τ = softmax(log p^d / τ); `official`: softmax(p^d / τ); see virtualTeacherProbs).
 */
export function virtualTeacher(labels: tf.Tensor1D, numClasses: number, correctProb: number, temperature: number, fidelity: Fidelity, targets?: tf.Tensor2D | null): tf.Tensor2D {
  const { target, other } = virtualTeacherProbs(numClasses, correctProb, temperature, fidelity);
  // Affine in the label: with a mixed label (targets) it is the same mixture of the two teachers.
  return tf.tidy(() => tf.add(tf.mul(targets ?? oneHotFloat(labels, numClasses), target - other), other) as tf.Tensor2D);
}

/**
 * The uniform prior u = 1/K as [B, K] soft targets — "a teacher of random accuracy": KD against it at
 * τ = 1 is label smoothing (docs/PAPER.md).
 */
export function uniformPrior(batch: number, numClasses: number): tf.Tensor2D {
  return tf.fill([batch, numClasses], 1 / numClasses, 'float32') as tf.Tensor2D;
}
