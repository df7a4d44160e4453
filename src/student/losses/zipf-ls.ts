import { tf } from '../tf.js';
import { checkShapes, crossEntropy, klRows, oneHotFloat } from './kl.js';
import { DROP } from './nkd.js';
import { weight } from './option-specs.js';
import type { LossEntry } from './types.js';

/**
 * The Zipf target over the non-target classes for each row, from the student's own logits (no
 * gradient): rank_k = 1 + #{j : z_j > z_k} (scipy `rankdata(-z, method='min')`, ties share the
 * smaller rank), P(k) ∝ rank_k^(−power) for k ≠ y, 0 at y, normalised. In double, on the host: the
 * reference that zipfTargetsTensor (what the loss runs) is tested against.
 */
export function zipfTargets(z: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, power: number): Float32Array {
  const K = numClasses;
  const B = labels.length;
  const out = new Float32Array(B * K);
  const order = new Int32Array(K);
  const w = new Float64Array(K);
  for (let b = 0; b < B; b++) {
    const row = (k: number) => z[b * K + k];
    for (let k = 0; k < K; k++) order[k] = k;
    order.sort((i, j) => row(j) - row(i));
    // Walk the classes from the largest logit down; a tie keeps the rank of its first member.
    let rank = 1;
    for (let r = 0; r < K; r++) {
      if (r > 0 && row(order[r]) !== row(order[r - 1])) rank = r + 1;
      w[order[r]] = Math.pow(rank, -power);
    }
    const y = labels[b];
    let sum = 0;
    for (let k = 0; k < K; k++) if (k !== y) sum += w[k];
    for (let k = 0; k < K; k++) out[b * K + k] = k === y || sum === 0 ? 0 : w[k] / sum;
  }
  return out;
}

/**
 * zipfTargets on the backend's own device, with no read to the host (webgpu in Node cannot read
 * synchronously, and a read per step would stall a GPU): each row sorted once (TopK, largest first),
 * then #{j : z_j > z_k} for every k by binary search in it (SearchSorted, left side, on the negated
 * row so that it ascends) — the same "min" rank with ties, without [B, K, K] comparisons. In
 * float32: rank^(−power) and the normalisation differ from the double reference by float rounding.
 * Off the gradient tape (the code ranks detached logits): computed inside a custom-gradient op with
 * no tensor inputs, whose inner ops tfjs does not record — so nothing after it (TopK, SearchSorted,
 * klRows's Greater, none with a gradient) lies between the variables and the loss. `detach` (an
 * identity with a zero gradient) would leave them on the tape, and the gradient would fail on them.
 */
export function zipfTargetsTensor(z: tf.Tensor2D, labels: tf.Tensor1D, power: number): tf.Tensor2D {
  const K = z.shape[1];
  const untaped = tf.customGrad(() => ({
    value: tf.tidy(() => {
      const desc = tf.topk(z, K, true).values;
      const above = tf.lowerBound(tf.neg(desc), tf.neg(z));
      const w = tf.mul(tf.pow(tf.add(tf.cast(above, 'float32'), 1), -power), tf.sub(1, oneHotFloat(labels, K)));
      return tf.divNoNan(w, tf.sum(w, 1, true)) as tf.Tensor2D;
    }),
    gradFunc: () => [],
  })) as () => tf.Tensor2D;
  return untaped();
}

/**
 * `zipf-ls` — Zipf's label smoothing (Liang et al., "Efficient One Pass Self-distillation with Zipf's
 * Label Smoothing", ECCV 2022), teacher-free: the student's own ranking of the classes shapes a
 * Zipf-law target for its non-target mass. As megvii-research/zipfls
 * `pytorch_zipfls/losses.py::zipf_loss` + `kl_loss` (commit 108e27aaf81aee0dc6dcd965ed6389f2ea06ba10)
 * compute it with the defaults of `pytorch_zipfls/train.py` (distribution `rank_zipf`, `--rank
 * hard`, power 1, no loss mask) and the README's CIFAR-100 weight `--loss_lambda 0.1`:
 *   loss = H(q, p) + λ·(1/B) Σ_b KL(P_b ‖ softmax_{k≠y}(z_b)),  P_b(k) ∝ rank_b(k)^(−power), k ≠ y
 * Not reproduced: the README's `--dense` ranking, which votes with the argmax of every spatial
 * position of the last feature map — a logit-only loss does not see feature maps — and its deep
 * supervision (`--alpha`, extra heads). Ranking uses the logits as float32, like the code's.
 */
export const zipfLs: LossEntry = {
  name: 'zipf-ls',
  summary: 'Zipf\'s label smoothing: CE + λ·KL(Zipf(rank of own logits) ‖ p over k≠y) (teacher-free)',
  formula: 'H(q,p) + λ·mean_b KL(P_b ‖ softmax_{k≠y}(z_b)), P_b(k) ∝ rank_b(k)^(−power) over k ≠ y, rank by the student\'s own (detached) logits',
  source: 'Liang et al. ECCV 2022; megvii-research/zipfls pytorch_zipfls/losses.py::zipf_loss, kl_loss @ 108e27aaf81aee0dc6dcd965ed6389f2ea06ba10',
  teacher: 'none',
  mixedTargets: 'Zipf-LS ranks the other classes around the one target class, and a mixed label has two',
  options: {
    kdWeight: weight('weight λ of the Zipf KL term (the code\'s loss_lambda)', 0.1),
    power: { help: 'exponent of the Zipf law P(k) ∝ rank^(−power)', default: 1, min: 0 },
  },
  fn: ({ logits, labels, options: o }) =>
    tf.tidy(() => {
      checkShapes('zipf-ls', logits, labels, null, o.numClasses);
      const K = o.numClasses;
      const target = zipfTargetsTensor(logits, labels, o.power!);
      const gt = oneHotFloat(labels, K);
      // log-softmax over the K − 1 other classes (the target pushed out, see nkd.ts's DROP).
      const logOther = tf.logSoftmax(tf.sub(logits, tf.mul(gt, DROP))) as tf.Tensor2D;
      const kl = tf.mean(klRows(target, logOther));
      return tf.add(crossEntropy(logits, labels), tf.mul(kl, o.kdWeight!)) as tf.Scalar;
    }),
};
