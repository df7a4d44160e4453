import { distill } from './kd.js';
import type { LossFn } from './types.js';

/**
 * `tfkd-self` — Tf-KD_self (paper Eq. 7): the KD loss whose teacher is a pre-trained model of the
 * student's own architecture (a self-teacher cache), with the official `multiplier` m on the KL:
 *  - `paper`: (1−α)·H(q,p) + α·τ²·m·(1/B) Σ_b KL(p^t_τ,b ‖ p_τ,b)  (batchmean; the paper has no m,
 *    so its default is m = 1 and any other value is the user's explicit choice).
 *  - `official` (`loss_kd_self` in my_loss_function.py): (1−α)·CE + α·τ²·m·KL_sum/(B·K) —
 *    'mean' reduction; m = 50 in the CIFAR-100 configs largely compensates for the 1/K (K = 100).
 */
export const tfkdSelfLoss: LossFn = (logits, labels, soft, opts) => distill('tfkd-self', logits, labels, soft, opts, opts.multiplier);
