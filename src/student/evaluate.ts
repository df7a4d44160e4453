/**
 * Evaluation of any classifier given as a batched forward function (decoded pixels → logits): a
 * tfjs student in inference mode, or an ONNX model through a teacher session. Top-1 and top-5
 * accuracy, the mean cross-entropy (NLL), the calibration error and the confusion matrix, over a
 * data set or a chosen subset of it.
 *
 * The cross-entropy of each sample, log Σ_k exp z_k − z_y, and its confidence max_k softmax(z)_k =
 * 1 / Σ_k exp(z_k − max z) are computed in float64 with the max subtracted first, so the figures
 * do not depend on how the logits were produced.
 *
 * Ranks break ties by class index (a stable descending sort): the top-1 prediction is the first
 * maximum, as an argmax gives, and label y is in the top 5 when fewer than 5 classes come before
 * it — #{k : z_k > z_y} + #{k < y : z_k = z_y} < 5.
 *
 * Calibration: the expected calibration error of Guo et al., "On Calibration of Modern Neural
 * Networks" (ICML 2017), as their code computes it (gpleiss/temperature_scaling, `_ECELoss`): 15
 * equal-width bins (lo, hi] of the confidence, ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|.
 * Checked against that code in PyTorch by scripts/eval_metrics_ref.py.
 *
 * Temperature scaling (temperature.ts): every figure can be of softmax(z / T) for a given T, and
 * the NLL-minimising T of the evaluated samples can be fitted, with the figures at it.
 *
 * Fidelity to a teacher (Stanton et al., "Does Knowledge Distillation Really Work?", NeurIPS 2021,
 * §3): given the teacher's outputs for the same samples, the top-1 agreement
 * (1/n) Σ_i 1[argmax_k z_ik = argmax_k t_ik] and the mean predictive KL
 * (1/n) Σ_i KL(softmax(t_i) ‖ softmax(z_i / T)), in nats, float64 — how closely the model
 * reproduces its teacher, apart from how well either predicts the labels.
 */
import type { Dataset, SampleShape } from '../data/dataset.js';
import { sampleBytes } from '../data/dataset.js';
import { WorkError } from '../errors.js';
import type { Image, PilMode } from '../data/image.js';
import { tf } from './tf.js';
import { fitTemperature, LogitSpill, type TemperatureFit } from './temperature.js';

/** Packed HWC uint8 pixels of `n` samples → `n·K` float32 logits, row-major. */
export type Forward = (pixels: Uint8Array, n: number) => Promise<Float32Array> | Float32Array;

export interface EvalResult {
  /** Samples evaluated. */
  n: number;
  numClasses: number;
  /** Top-1 accuracy in [0, 1]. */
  accuracy: number;
  /** Mean cross-entropy (natural log). */
  loss: number;
  /** Top-5 accuracy in [0, 1] (ties by class index); null when K ≤ 5, where it is always 1. */
  top5: number | null;
  /** Mean confidence (largest softmax probability) in [0, 1]: above `accuracy` = over-confident. */
  confidence: number;
  /** Expected calibration error over ECE_BINS equal-width confidence bins, in [0, 1]. */
  ece: number;
  /** The reliability diagram behind `ece`: per bin (lo, hi], its samples, mean confidence and accuracy (null when empty). */
  reliability: ReliabilityBin[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  classNames?: readonly string[];
  /** The temperature T the logits were divided by before scoring (EvaluateOptions.temperature); absent: 1. */
  temperature?: number;
  /** With EvaluateOptions.fitTemperature: the NLL-minimising T over these samples and the figures at it. */
  temperatureFit?: TemperatureScaled;
  /** With EvaluateOptions.teacher: agreement with that teacher and the KL from it. */
  fidelity?: Fidelity;
}

/** How closely a model reproduces a teacher on the evaluated samples (Stanton et al. 2021). */
export interface Fidelity {
  /** Top-1 agreement in [0, 1]: the model's first largest logit is the teacher's. */
  agreement: number;
  /** Mean KL(teacher ‖ model) in nats: the teacher at τ = 1, the model at the scoring temperature T. */
  kl: number;
  /** The teacher's own top-1 accuracy on the same samples. */
  teacherAccuracy: number;
}

/**
 * A teacher's outputs for a batch of samples: its logits (row-major n·K; the first largest is its
 * prediction), and, when the logits alone do not give its distribution (a top-k cache: the tail is
 * a stored mass, not logits), its probabilities at τ = 1.
 */
export interface TeacherRows {
  logits: Float32Array;
  probs?: Float32Array;
}

/** A fitted temperature (temperature.ts) with the loss, ECE, mean confidence and reliability bins at it. */
export interface TemperatureScaled extends TemperatureFit {
  loss: number;
  ece: number;
  confidence: number;
  reliability: ReliabilityBin[];
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  n: number;
  confidence: number | null;
  accuracy: number | null;
}

/** Guo et al.'s (and their code's) 15 bins. */
export const ECE_BINS = 15;

/** The bin (lo, hi] = (b/B, (b+1)/B] of a confidence in (0, 1]: exact comparisons, not a rounded product. */
export function confidenceBin(conf: number, bins = ECE_BINS): number {
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(conf * bins) - 1));
  while (b > 0 && conf <= b / bins) b--;
  while (b < bins - 1 && conf > (b + 1) / bins) b++;
  return b;
}

/** Running sums of the calibration figures, fed one sample at a time. */
class CalibrationSums {
  readonly count = new Float64Array(ECE_BINS);
  readonly confSum = new Float64Array(ECE_BINS);
  readonly correct = new Float64Array(ECE_BINS);

  add(conf: number, correct: boolean): void {
    const b = confidenceBin(conf);
    this.count[b]++;
    this.confSum[b] += conf;
    if (correct) this.correct[b]++;
  }

  /** ECE, mean confidence and the reliability bins over `n` samples. */
  result(n: number): { ece: number; confidence: number; reliability: ReliabilityBin[] } {
    let ece = 0;
    let conf = 0;
    const reliability: ReliabilityBin[] = [];
    for (let b = 0; b < ECE_BINS; b++) {
      const k = this.count[b];
      conf += this.confSum[b];
      if (k > 0) ece += (k / n) * Math.abs(this.correct[b] / k - this.confSum[b] / k);
      reliability.push({ lo: b / ECE_BINS, hi: (b + 1) / ECE_BINS, n: k, confidence: k ? this.confSum[b] / k : null, accuracy: k ? this.correct[b] / k : null });
    }
    return { ece: n ? ece : 0, confidence: n ? conf / n : 0, reliability };
  }
}

/**
 * Everything scored per sample, accumulated: hits, ranks, the cross-entropy and the calibration
 * sums of softmax(β·z) (β = 1/T; β = 1 multiplies nothing away: x · 1 is x).
 */
class Scores {
  correct = 0;
  correct5 = 0;
  lossSum = 0;
  /** log Σ_k exp(β z_k) of the row last added (FidelitySums reuses it). */
  lse = 0;
  readonly calib = new CalibrationSums();

  constructor(private readonly K: number, private readonly beta = 1) {}

  /** Scores row `o / K` of `logits` against label y; returns the predicted class. */
  add(logits: Float32Array, o: number, y: number): number {
    const { K, beta } = this;
    let arg = 0;
    let max = beta * logits[o];
    for (let k = 1; k < K; k++) {
      const z = beta * logits[o + k];
      if (z > max) {
        max = z;
        arg = k;
      }
    }
    let s = 0;
    let before = 0; // classes ranked before y (ties by index)
    const zy = beta * logits[o + y];
    for (let k = 0; k < K; k++) {
      const z = beta * logits[o + k];
      s += Math.exp(z - max);
      if (z > zy || (z === zy && k < y)) before++;
    }
    this.lse = Math.log(s) + max;
    this.lossSum += this.lse - zy;
    if (arg === y) this.correct++;
    if (before < 5) this.correct5++;
    this.calib.add(1 / s, arg === y);
    return arg;
  }

  /** Loss, ECE, mean confidence and reliability bins over n samples. */
  calibration(n: number): { loss: number; ece: number; confidence: number; reliability: ReliabilityBin[] } {
    return { loss: n ? this.lossSum / n : 0, ...this.calib.result(n) };
  }
}

/**
 * Running sums of the fidelity figures. Per sample, in float64 with each side's maximum subtracted:
 * log q_k = β z_k − log Σ_j exp(β z_j) for the model (the log-sum-exp Scores has just computed for
 * the same row), log p_k likewise from the teacher's logits
 * at τ = 1 (or log of its given probabilities), KL = Σ_{k: p_k > 0} p_k (log p_k − log q_k) —
 * the convention 0 · log 0 = 0 of torch's kl_div (xlogy).
 */
class FidelitySums {
  agree = 0;
  teacherCorrect = 0;
  klSum = 0;

  constructor(private readonly K: number, private readonly beta = 1) {}

  /** Row `o / K` of the model's `logits` (predicted class `arg`, log Σ exp(β z) `lseS`) against the teacher's row; label y. */
  add(logits: Float32Array, o: number, arg: number, lseS: number, t: TeacherRows, y: number): void {
    const { K, beta } = this;
    const tz = t.logits;
    let targ = 0;
    let tmax = tz[o];
    for (let k = 1; k < K; k++) {
      if (tz[o + k] > tmax) {
        tmax = tz[o + k];
        targ = k;
      }
    }
    if (targ === arg) this.agree++;
    if (targ === y) this.teacherCorrect++;
    let kl = 0;
    if (t.probs) {
      for (let k = 0; k < K; k++) {
        const p = t.probs[o + k];
        if (p > 0) kl += p * (Math.log(p) - (beta * logits[o + k] - lseS));
      }
    } else {
      let ts = 0;
      for (let k = 0; k < K; k++) ts += Math.exp(tz[o + k] - tmax);
      const lseT = tmax + Math.log(ts);
      for (let k = 0; k < K; k++) {
        const logP = tz[o + k] - lseT;
        const p = Math.exp(logP);
        if (p > 0) kl += p * (logP - (beta * logits[o + k] - lseS));
      }
    }
    this.klSum += kl;
  }

  result(n: number): Fidelity {
    return n ? { agreement: this.agree / n, kl: this.klSum / n, teacherAccuracy: this.teacherCorrect / n } : { agreement: 0, kl: 0, teacherAccuracy: 0 };
  }
}

/** Pixels → float32 inputs in [0, 1] (the student's preprocessing), into `out` when given. */
export function pixelsToFloat(pixels: Uint8Array, out = new Float32Array(pixels.length)): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255;
  return out;
}

/** A tfjs model as a Forward: inference mode (BN uses its moving statistics), no tensor kept. */
export function modelForward(model: tf.LayersModel, shape: SampleShape): Forward {
  return (pixels, n) => {
    const x = pixelsToFloat(pixels);
    const logits = tf.tidy(() => {
      const input = tf.tensor4d(x, [n, shape.height, shape.width, shape.channels], 'float32');
      return model.apply(input, { training: false }) as tf.Tensor;
    });
    // An asynchronous read: the webgpu backend cannot read synchronously in Node (tf.ts).
    return logits.data().then(
      (v) => (logits.dispose(), v as Float32Array),
      (e: unknown) => {
        logits.dispose();
        throw e;
      },
    );
  };
}

export interface EvaluateOptions {
  /** Samples to evaluate (data-set indices); default all, in order. */
  indices?: Int32Array;
  /** Batch size (default 256). */
  batch?: number;
  /** Called after each batch with (done, total). */
  onBatch?: (done: number, total: number) => void;
  /**
   * Feed decoded images at their own size instead of packed pixels (an ONNX model whose
   * preprocessing renders them: variable-size data). `forward` is then not called.
   */
  images?: { mode: PilMode; forward: (images: Image[]) => Promise<Float32Array> };
  /**
   * Logits looked up by data-set index instead of computed from pixels (a teacher's cached rows):
   * no sample is read. `forward` is then not called.
   */
  rows?: (indices: Int32Array) => Float32Array;
  /** Divide every logit by this T > 0 before scoring (temperature scaling; rankings do not change). Default 1. */
  temperature?: number;
  /**
   * Also fit the temperature that minimises the NLL over these samples (temperature.ts) and score
   * at it: `temperatureFit`. The logits wait in a temporary file meanwhile.
   */
  fitTemperature?: boolean;
  /**
   * The teacher's outputs by data-set index (a cache's rows): the result gains `fidelity`, the
   * model's agreement with it and the KL from it.
   */
  teacher?: (indices: Int32Array) => TeacherRows;
}

/** Runs `forward` over the data set (or `indices`) and scores it against the labels. */
export async function evaluate(forward: Forward, ds: Dataset, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const K = ds.numClasses;
  const batch = opts.batch ?? 256;
  const indices = opts.indices ?? Int32Array.from({ length: ds.size }, (_, i) => i);
  const total = indices.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const bytes = sampleBytes(ds.shape);
  const buf = opts.images || opts.rows ? new Uint8Array(0) : new Uint8Array(Math.min(batch, Math.max(total, 1)) * bytes);
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new RangeError(`temperature ${temperature}: must be a positive number`);
  const scores = new Scores(K, 1 / temperature);
  const fidelity = opts.teacher ? new FidelitySums(K, 1 / temperature) : null;
  // --fit-temperature passes over the logits several times: they wait in a temporary file.
  const spill = opts.fitTemperature ? new LogitSpill(K) : null;
  try {
    for (let start = 0; start < total; start += batch) {
      const idx = indices.subarray(start, Math.min(total, start + batch));
      const n = idx.length;
      let logits: Float32Array;
      if (opts.rows) logits = opts.rows(idx);
      else if (opts.images) {
        const imgs = await ds.readImages(idx, opts.images.mode);
        logits = await opts.images.forward(imgs as Image[]); // readImages only gives null with skipBad
      } else logits = await forward(await ds.readBatch(idx, buf.subarray(0, n * bytes)), n);
      if (logits.length !== n * K) {
        throw new WorkError(`model returned ${logits.length} logits for ${n} samples; the data set has K = ${K} classes (expected ${n * K})`);
      }
      spill?.append(logits);
      const t = opts.teacher?.(idx);
      if (t && (t.logits.length !== n * K || (t.probs && t.probs.length !== n * K))) {
        throw new WorkError(`the teacher gave ${t.logits.length} outputs for ${n} samples; the data set has K = ${K} classes (expected ${n * K})`);
      }
      for (let r = 0; r < n; r++) {
        const y = ds.labels[idx[r]];
        const arg = scores.add(logits, r * K, y);
        confusion[y][arg]++;
        if (t) fidelity!.add(logits, r * K, arg, scores.lse, t, y);
      }
      opts.onBatch?.(start + n, total);
    }
    const fitted = spill ? fittedScores(spill, (r) => ds.labels[indices[r]]) : null;
    return {
      n: total,
      numClasses: K,
      accuracy: total ? scores.correct / total : 0,
      top5: K > 5 ? (total ? scores.correct5 / total : 0) : null,
      ...scores.calibration(total),
      confusion,
      ...(ds.classNames ? { classNames: ds.classNames } : {}),
      ...(opts.temperature !== undefined ? { temperature } : {}),
      ...(fitted ? { temperatureFit: fitted } : {}),
      ...(fidelity ? { fidelity: fidelity.result(total) } : {}),
    };
  } finally {
    spill?.dispose();
  }
}

/** The NLL-minimising temperature of the spilled logits, and the loss and calibration at it. */
function fittedScores(spill: LogitSpill, label: (row: number) => number): TemperatureScaled {
  const fit = fitTemperature(spill, label);
  const at = new Scores(spill.numClasses, 1 / fit.temperature);
  spill.forEachChunk((z, first) => {
    for (let o = 0, r = first; o < z.length; o += spill.numClasses, r++) at.add(z, o, label(r));
  });
  return { ...fit, ...at.calibration(spill.n) };
}

/** The confusion matrix as aligned text rows (true class down, predicted across). */
export function formatConfusion(r: EvalResult): string {
  const K = r.numClasses;
  // Widest count by a loop: a spread of the K·K counts would overflow the stack for large K.
  let w = 4;
  for (const row of r.confusion) for (const v of row) w = Math.max(w, String(v).length);
  w += 1;
  const head = ' true\\pred' + Array.from({ length: K }, (_, k) => String(k).padStart(w)).join('');
  const rows = r.confusion.map((row, y) => String(y).padStart(10) + row.map((v) => String(v).padStart(w)).join(''));
  return [head, ...rows].join('\n');
}

/** Up to this many classes `tfkd eval` prints the whole confusion matrix; above, formatConfusionSummary. */
export const CONFUSION_MATRIX_MAX_K = 20;

/**
 * What a K×K matrix too wide to read says, in a few lines: the classes with the lowest accuracy
 * and the most frequent confusions (true → predicted), each with the class names when known.
 */
export function formatConfusionSummary(r: EvalResult, top = 10): string {
  const K = r.numClasses;
  const name = (k: number) => (r.classNames && r.classNames[k] !== String(k) ? `${k} ${r.classNames[k]}` : String(k));
  const classes: Array<{ k: number; n: number; acc: number }> = [];
  const pairs: Array<{ y: number; p: number; n: number }> = [];
  for (let y = 0; y < K; y++) {
    const row = r.confusion[y];
    let n = 0;
    for (let p = 0; p < K; p++) {
      n += row[p];
      if (p !== y && row[p] > 0) pairs.push({ y, p, n: row[p] });
    }
    if (n > 0) classes.push({ k: y, n, acc: row[y] / n });
  }
  // Ties in order of class index: the same text on every run.
  classes.sort((a, b) => a.acc - b.acc || a.k - b.k);
  pairs.sort((a, b) => b.n - a.n || a.y - b.y || a.p - b.p);
  const present = classes.length;
  const lines = [`confusion matrix: ${K} × ${K}, not printed (--json has it); ${present} classes have samples`];
  if (present) {
    const worst = classes.slice(0, top);
    lines.push(`lowest accuracy (${worst.length} of ${present} classes):`);
    for (const c of worst) lines.push(`  ${(100 * c.acc).toFixed(1).padStart(5)} % of ${String(c.n).padEnd(6)} ${name(c.k)}`);
  }
  if (pairs.length) {
    const most = pairs.slice(0, top);
    lines.push(`most frequent confusions (${most.length} of ${pairs.length} pairs), count  true → predicted:`);
    for (const q of most) lines.push(`  ${String(q.n).padStart(5)}  ${name(q.y)} → ${name(q.p)}`);
  } else lines.push('most frequent confusions: none (every sample predicted as its class)');
  return lines.join('\n');
}
