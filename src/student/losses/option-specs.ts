/**
 * Option specs several losses share (each loss may still declare its own: DKD's α is a weight ≥ 0,
 * KD's α a mixing weight in [0, 1]). Bounds are why each is what it is:
 *  - a mixing weight α ∈ [0, 1]; a term weight ≥ 0 (0 switches the term off, which is allowed);
 *  - τ > 0, finite: logits are divided by it;
 *  - multiplier > 0: 0 would leave (1−α)·CE, i.e. `ce` at a smaller learning rate — a slip, never a
 *    method; use `--loss ce`;
 *  - a ∈ (0, 1]: the virtual teacher's probability of the true class (checked against 1/K too);
 *  - ε ∈ [0, 1): ε = 1 would replace the label by the uniform distribution.
 */
import type { LossOptionSpec } from './types.js';

export function mixingAlpha(help: string, def: LossOptionSpec['default']): LossOptionSpec {
  return { help, default: def, min: 0, max: 1 };
}

export function weight(help: string, def: LossOptionSpec['default']): LossOptionSpec {
  return { help, default: def, min: 0 };
}

export function temperature(def: LossOptionSpec['default'], help = 'temperature τ of the softmax of student and teacher logits'): LossOptionSpec {
  return { help, default: def, min: 0, minExclusive: true };
}

export function ceWeight(def: number): LossOptionSpec {
  return weight('weight of the cross-entropy with the labels', def);
}
