import { distill } from './kd.js';
import { mixingAlpha, temperature } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * `tfkd-self` — Tf-KD_self (paper Eq. 7): the KD loss whose teacher is a pre-trained model of the
 * student's own architecture (a self-teacher cache), with the official `multiplier` m on the KL:
 *  - `paper`: (1−α)·H(q,p) + α·τ²·m·(1/B) Σ_b KL(p^t_τ,b ‖ p_τ,b)  (batchmean; the paper has no m,
 *    so its default is m = 1 and any other value is the user's explicit choice).
 *  - `official` (`loss_kd_self` in my_loss_function.py): (1−α)·CE + α·τ²·m·KL_sum/(B·K) —
 *    'mean' reduction; m = 50 in the CIFAR-100 configs largely compensates for the 1/K (K = 100).
 * Defaults α 0.95, τ 6: the official ResNet18 self-training config.
 */
export const tfkdSelf: LossEntry = {
  name: 'tfkd-self',
  summary: 'KD from a self-teacher cache, KL × multiplier; paper: batchmean · official: KL/K',
  formula: '(1−α)·H(q,p) + α·τ²·m·KL(p^t_τ ‖ p_τ), the teacher a trained model of the student\'s own architecture',
  source: 'Yuan et al. CVPR 2020 Eq. 7; Teacher-free-Knowledge-Distillation my_loss_function.py::loss_kd_self',
  teacher: 'probs',
  fidelityModes: true,
  mixedTargets: true,
  options: {
    alpha: mixingAlpha('weight α ∈ [0, 1] of the KL term', 0.95),
    temperature: temperature(6),
    multiplier: { help: 'extra factor m > 0 on the KL term', default: { paper: 1, official: 50 }, min: 0, minExclusive: true },
  },
  fn: (ctx) => distill('tfkd-self', ctx, ctx.options.multiplier!),
};
