/**
 * Evaluation of any classifier given as a batched forward function (decoded pixels → logits): a
 * tfjs student in inference mode, or an ONNX model through a teacher session. Top-1 accuracy, the
 * mean cross-entropy and the confusion matrix, over a data set or a chosen subset of it.
 *
 * The cross-entropy of each sample, log Σ_k exp z_k − z_y, is computed in float64 with the max
 * subtracted first, so the figure does not depend on how the logits were produced.
 */
import type { Dataset, SampleShape } from '../data/dataset.js';
import { sampleBytes } from '../data/dataset.js';
import { WorkError } from '../errors.js';
import type { Image, PilMode } from '../data/image.js';
import { tf } from './tf.js';

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
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  classNames?: readonly string[];
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
}

/** Runs `forward` over the data set (or `indices`) and scores it against the labels. */
export async function evaluate(forward: Forward, ds: Dataset, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const K = ds.numClasses;
  const batch = opts.batch ?? 256;
  const indices = opts.indices ?? Int32Array.from({ length: ds.size }, (_, i) => i);
  const total = indices.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const bytes = sampleBytes(ds.shape);
  const buf = opts.images ? new Uint8Array(0) : new Uint8Array(Math.min(batch, Math.max(total, 1)) * bytes);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < total; start += batch) {
    const idx = indices.subarray(start, Math.min(total, start + batch));
    const n = idx.length;
    let logits: Float32Array;
    if (opts.images) {
      const imgs = await ds.readImages(idx, opts.images.mode);
      logits = await opts.images.forward(imgs as Image[]); // readImages only gives null with skipBad
    } else logits = await forward(await ds.readBatch(idx, buf.subarray(0, n * bytes)), n);
    if (logits.length !== n * K) {
      throw new WorkError(`model returned ${logits.length} logits for ${n} samples; the data set has K = ${K} classes (expected ${n * K})`);
    }
    for (let r = 0; r < n; r++) {
      const y = ds.labels[idx[r]];
      const o = r * K;
      let arg = 0;
      let max = logits[o];
      for (let k = 1; k < K; k++) {
        if (logits[o + k] > max) {
          max = logits[o + k];
          arg = k;
        }
      }
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.exp(logits[o + k] - max);
      lossSum += Math.log(s) + max - logits[o + y];
      if (arg === y) correct++;
      confusion[y][arg]++;
    }
    opts.onBatch?.(start + n, total);
  }
  return {
    n: total,
    numClasses: K,
    accuracy: total ? correct / total : 0,
    loss: total ? lossSum / total : 0,
    confusion,
    ...(ds.classNames ? { classNames: ds.classNames } : {}),
  };
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
