// A user loss for `tfkd train --loss ./examples/sym-kd.mjs` (or train({ config: { loss } })): KD with
// a symmetric KL, (1−α)·CE + α·τ²·½·(KL(p^t_τ‖p_τ) + KL(p_τ‖p^t_τ)). ctx.tf is tfkd's own tfjs.
export default {
  name: 'sym-kd',
  summary: 'KD with the symmetric KL',
  teacher: 'probs',
  options: {
    alpha: { help: 'weight α of the KL term', default: 0.5, min: 0, max: 1 },
    temperature: { help: 'temperature τ', default: 4, min: 0, minExclusive: true },
  },
  fn: ({ tf, logits, labels, teacher, options: { alpha, temperature: t } }) =>
    tf.tidy(() => {
      const logP = tf.logSoftmax(tf.div(logits, t));
      const pT = teacher.probs(t);
      const logPT = teacher.logProbs(t);
      const kl = tf.add(tf.sum(tf.mul(pT, tf.sub(logPT, logP)), 1), tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logPT)), 1));
      const ce = tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), tf.logSoftmax(logits)), 1)));
      return tf.add(tf.mul(ce, 1 - alpha), tf.mul(tf.mean(kl), (alpha * t * t) / 2));
    }),
};
