/**
 * Building blocks shared by the losses: cross-entropy with integer labels and the KL divergence
 * with both reductions the two fidelity modes need. Every function is pure and runs in tf.tidy.
 */
import { tf } from '../tf.js';
import type { Fidelity } from '../../catalog.js';

/**
 * H(q, p) averaged over the batch, q = one-hot(labels), p = softmax(z):
 *   CE = −(1/B) Σ_b log softmax(z_b)[y_b]
 * Same as PyTorch `F.cross_entropy(z, y)` (reduction 'mean'), used by every official loss.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return softCrossEntropy(logits, oneHotFloat(labels, logits.shape[1]));
}

/** The label distribution: the mixed label when views are mixed (LossContext.targets), else one-hot(labels). */
export function labelTargets(labels: tf.Tensor1D, targets: tf.Tensor2D | null | undefined, numClasses: number): tf.Tensor2D {
  return targets ?? oneHotFloat(labels, numClasses);
}

/**
 * Label smoothing of the label distribution q (one-hot or mixed): q' = off + (on − off)·q, exact for
 * the target (on) and the others (off). lsr's two forms and hard-kd's base term use it.
 */
export function smoothLabels(q: tf.Tensor2D, onTarget: number, offTarget: number): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.mul(q, onTarget - offTarget), offTarget) as tf.Tensor2D);
}

/** The paper's (Szegedy et al.) smoothing, timm's LabelSmoothingCrossEntropy: q' = (1−ε)q + ε/K. */
export const paperSmoothing = (eps: number, k: number): [number, number] => [1 - eps + eps / k, eps / k];

/** H(q, p) with q the mixed label when given (timm's SoftTargetCrossEntropy), else `crossEntropy`, unchanged. */
export function labelCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, targets: tf.Tensor2D | null | undefined): tf.Scalar {
  return targets ? softCrossEntropy(logits, targets) : crossEntropy(logits, labels);
}

/** −(1/B) Σ_b Σ_k target_bk · log softmax(z_b)_k — CE against any target distribution. */
export function softCrossEntropy(logits: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar);
}

/** one-hot(labels) as float32 [B, K]; labels must be int32 in [0, K). */
export function oneHotFloat(labels: tf.Tensor1D, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.cast(labels, 'int32'), numClasses), 'float32') as tf.Tensor2D);
}

/**
 * Per-sample D_KL(a ‖ b) = Σ_k a_k (log a_k − log b_k), given a (probabilities) and log b.
 * 0 · log 0 := 0: cached teacher probabilities can be exactly 0 (f16 underflow, or a softmax that
 * underflowed in f32), and log 0 = −∞ would turn 0·(−∞) into NaN. We take the log of
 * "safe" values (a where a > 0, else 1), so the a = 0 terms are 0·log 1 = 0 with no NaN anywhere —
 * not even in an unselected branch, which matters for gradients. Same convention as PyTorch's
 * `kl_div` (xlogy(target, target) − target · input).
 */
export function klRows(target: tf.Tensor2D, logB: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const safe = tf.where(tf.greater(target, 0), target, tf.onesLike(target));
    const aLogA = tf.mul(target, tf.log(safe));
    return tf.sum(tf.sub(aLogA, tf.mul(target, logB)), 1) as tf.Tensor1D;
  });
}

/**
 * D_KL reduced over the batch the way each fidelity mode does it:
 *  - `paper`: per-sample KL averaged over the batch — PyTorch `KLDivLoss(reduction='batchmean')`,
 *    the mathematically correct KL and standard practice (Hinton et al.; torchdistill's KDLoss).
 *  - `official`: `nn.KLDivLoss()` with PyTorch's default reduction `'mean'`, an average over all
 *    B·K elements, i.e. the batchmean KL divided by K (official repo issue #41).
 */
export function klReduced(target: tf.Tensor2D, logB: tf.Tensor2D, fidelity: Fidelity): tf.Scalar {
  return tf.tidy(() => {
    const perSample = tf.mean(klRows(target, logB));
    return (fidelity === 'official' ? tf.div(perSample, target.shape[1]) : perSample) as tf.Scalar;
  });
}

/** (1−α)·ce + w·kl with plain-number weights (w already folds α, τ², multiplier). */
export function mix(ce: tf.Scalar, ceWeight: number, kl: tf.Scalar, klWeight: number): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mul(ce, ceWeight), tf.mul(kl, klWeight)) as tf.Scalar);
}

/** Shape checks shared by the losses: a wrong shape is a programming error, said loudly. */
export function checkShapes(name: string, logits: tf.Tensor2D, labels: tf.Tensor1D, soft: tf.Tensor2D | null, numClasses: number): void {
  if (logits.rank !== 2) throw new Error(`${name}: logits must be [B, K], got [${logits.shape.join(', ')}]`);
  const [b, k] = logits.shape;
  if (k !== numClasses) throw new Error(`${name}: logits have K = ${k} classes but options say numClasses = ${numClasses}`);
  if (labels.rank !== 1 || labels.shape[0] !== b) throw new Error(`${name}: labels must be [${b}], got [${labels.shape.join(', ')}]`);
  if (soft && (soft.rank !== 2 || soft.shape[0] !== b || soft.shape[1] !== k)) {
    throw new Error(`${name}: soft targets must be [${b}, ${k}] like the logits, got [${soft.shape.join(', ')}]`);
  }
}

/**
 * x with no gradient (PyTorch's `.detach()`): tfjs has no stop-gradient op, so an identity whose
 * gradient is zero. For weights a loss computes from the student's own logits (WSLD's CE_s).
 */
export const detach = tf.customGrad((...args: unknown[]) => ({ value: tf.clone(args[0] as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as <T extends tf.Tensor>(x: T) => T;
