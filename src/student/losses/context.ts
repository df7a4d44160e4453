/**
 * LossContext from plain tensors, for computing a loss outside the trainer (tests, benchmarks,
 * library users): the teacher given as raw logits (every access derived from them, in float32 on
 * the tfjs backend) or as tempered probabilities at the options' τ (then only `probs(τ)` is there).
 */
import { tf } from '../tf.js';
import type { BatchTeacher, LossContext, LossOptions } from './types.js';

function logitsTeacher(teacherLogits: tf.Tensor2D): BatchTeacher {
  return {
    probs: (t) => tf.softmax(tf.div(teacherLogits, t)) as tf.Tensor2D,
    logProbs: (t) => tf.logSoftmax(tf.div(teacherLogits, t)) as tf.Tensor2D,
    logits: () => tf.clone(teacherLogits),
  };
}

function probsTeacher(soft: tf.Tensor2D, temperature: number): BatchTeacher {
  const only = (what: string) => () => {
    throw new Error(`this teacher holds tempered probabilities at τ = ${temperature} only (asked for ${what})`);
  };
  return {
    probs: (t) => {
      if (t !== temperature) only(`probs at τ = ${t}`)();
      return tf.clone(soft);
    },
    logProbs: (t) => (t === temperature ? (tf.log(soft) as tf.Tensor2D) : only(`log-probs at τ = ${t}`)()),
    logits: only('logits'),
  };
}

export interface ContextInput {
  logits: tf.Tensor2D;
  labels: tf.Tensor1D;
  /** Mixed labels [B, K] (mixed views); absent: one-hot(labels). */
  targets?: tf.Tensor2D | null;
  options: LossOptions;
  /** The teacher: raw logits, or tempered probabilities at options.temperature. */
  teacherLogits?: tf.Tensor2D | null;
  soft?: tf.Tensor2D | null;
  previous?: tf.Tensor2D | null;
  /** --distill-token: the distillation head's logits [B, K]. */
  distLogits?: tf.Tensor2D | null;
  epoch?: number;
  epochs?: number;
  step?: number;
}

export function lossContext(i: ContextInput): LossContext {
  const teacher = i.teacherLogits ? logitsTeacher(i.teacherLogits) : i.soft ? probsTeacher(i.soft, i.options.temperature ?? 1) : null;
  return { tf, logits: i.logits, ...(i.distLogits ? { distLogits: i.distLogits } : {}), labels: i.labels, targets: i.targets ?? null, teacher, previous: i.previous ?? null, epoch: i.epoch ?? 1, epochs: i.epochs ?? 1, step: i.step ?? 1, options: i.options };
}
