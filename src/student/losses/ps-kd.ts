import { tf } from '../tf.js';
import { checkShapes, oneHotFloat } from './kl.js';
import { mixingAlpha } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * `ps-kd` — progressive self-knowledge distillation (Kim et al., "Self-Knowledge Distillation with
 * Progressive Refinement of Targets", ICCV 2021), as lgcnsai/PS-KD-Pytorch `main.py::train` +
 * `loss/pskd_loss.py::Custom_CrossEntropy_PSKD` (commit 9aa0828d099f2faed16bbac258e4153902a55021):
 *   α_t = α_T · t / T                    (t = 1 … T: the code's alpha_T·(epoch + 1)/end_epoch, epoch from 0)
 *   target_b = (1 − α_t)·q_b + α_t·p_{t−1,b}
 *   loss = (1/B) Σ_b Σ_k −target_b,k · log softmax(z_b)_k
 * p_{t−1,b} is the student's own softmax output for sample b in the previous epoch — the training
 * forward pass on that epoch's view of it, before that step's update, as the code stores it. In the
 * first epoch the code sets the stored prediction to the one-hot label, so the target is q. The
 * trainer keeps the previous epoch's predictions in a tfkd cache inside the run directory (written
 * during the epoch, committed with the epoch's checkpoint; `--resume` and `repro` read it back).
 * Default α_T 0.8 (the code's `--alpha_T`).
 */
export const psKd: LossEntry = {
  name: 'ps-kd',
  summary: 'progressive self-KD: CE against (1−α_t)q + α_t·p_{t−1}, α_t = α·t/T (own previous epoch)',
  formula: 'H((1 − α_t)·q + α_t·p_{t−1}, p), α_t = α_T·t/T, p_{t−1} the student\'s own prediction of the sample in the previous epoch (q in epoch 1)',
  source: 'Kim et al. ICCV 2021; lgcnsai/PS-KD-Pytorch main.py::train, loss/pskd_loss.py @ 9aa0828d099f2faed16bbac258e4153902a55021',
  teacher: 'none',
  mixedTargets: "PS-KD's target mixes the label with the student's last prediction for the sample, which was made on another (un-mixed) image",
  selfHistory: true,
  options: { alpha: mixingAlpha('final weight α_T ∈ [0, 1] of the own past prediction', 0.8) },
  fn: ({ logits, labels, previous, epoch, epochs, options: o }) =>
    tf.tidy(() => {
      checkShapes('ps-kd', logits, labels, previous, o.numClasses);
      const q = oneHotFloat(labels, o.numClasses);
      const alphaT = Math.max(0, (o.alpha! * epoch) / epochs);
      const target = previous ? tf.add(tf.mul(q, 1 - alphaT), tf.mul(previous, alphaT)) : q;
      return tf.sum(tf.mean(tf.neg(tf.mul(target, tf.logSoftmax(logits))), 0)) as tf.Scalar;
    }),
};
