/**
 * Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, §4.2):
 * one scalar T > 0 divides every logit, chosen to minimise the mean cross-entropy (NLL) of
 * softmax(z / T) over held-out samples. It leaves every ranking — top-1, top-5, the confusion
 * matrix — as it was and changes only the confidences, so "ECE at the fitted T" tells how much of
 * a model's miscalibration is a single temperature away (label smoothing's under-confidence, for
 * one: Müller et al., "When Does Label Smoothing Help?", NeurIPS 2019).
 *
 * The fit is exact rather than an optimiser's approximation: with β = 1/T the mean NLL
 *   f(β) = (1/n) Σ_i [log Σ_k exp(β z_ik) − β z_iy]
 * is convex in β, with f′(β) = mean_i (E_p[z_i] − z_iy) and f″(β) = mean_i Var_p[z_i] ≥ 0 under
 * p = softmax(β z_i). Newton's method on β, kept inside a bracket that every step narrows (a
 * bisection whenever Newton would leave it), finds f′ = 0 to float64 precision in a handful of
 * passes. Guo et al.'s own code (gpleiss/temperature_scaling) runs 50 L-BFGS iterations on T
 * from 1.5 with a learning rate of 0.01, which stops near this optimum, not at it
 * (scripts/eval_metrics_ref.py prints both; test/student/temperature.test.ts checks this one
 * against scipy's bounded minimiser).
 *
 * The logits are passed over several times; `evaluate` spills them to a temporary file
 * (LogitSpill) so memory does not grow with the data set.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkError } from '../errors.js';

/** The search range of T: [1/BETA_MAX, 1/BETA_MIN]. An optimum outside it is reported at the bound. */
const BETA_MIN = 0.01;
const BETA_MAX = 100;
const MAX_PASSES = 60;

export interface TemperatureFit {
  /** T* = 1/β*: the NLL-minimising temperature over the samples (within [0.01, 100]). */
  temperature: number;
  /**
   * 'low' when the NLL still falls as T → 0.01 (the samples are separated with a margin: every
   * one classified right, as on a training set learnt by heart), 'high' when it still falls as
   * T → 100; null for an interior optimum.
   */
  bound: 'low' | 'high' | null;
  /** Passes over the logits the fit took. */
  passes: number;
}

/** Rows of [n, K] float32 logits, read in order in chunks, any number of times. */
export interface LogitSource {
  readonly n: number;
  readonly numClasses: number;
  /** Calls fn(logits, first) for consecutive chunks of whole rows (row `first` of the source first). */
  forEachChunk(fn: (logits: Float32Array, first: number) => void): void;
}

/** f, f′, f″ of the mean NLL at β (float64, the max subtracted first). */
function nllDerivatives(src: LogitSource, labels: (row: number) => number, beta: number): { f: number; g: number; h: number } {
  const K = src.numClasses;
  let f = 0;
  let g = 0;
  let h = 0;
  const e = new Float64Array(K); // exp(β z_k − max) of the row: the variance pass reuses them
  src.forEachChunk((z, first) => {
    for (let o = 0, r = first; o < z.length; o += K, r++) {
      let max = -Infinity;
      for (let k = 0; k < K; k++) max = Math.max(max, beta * z[o + k]);
      let s = 0;
      let sz = 0;
      for (let k = 0; k < K; k++) {
        e[k] = Math.exp(beta * z[o + k] - max);
        s += e[k];
        sz += e[k] * z[o + k];
      }
      const mean = sz / s;
      let v = 0;
      for (let k = 0; k < K; k++) {
        const d = z[o + k] - mean;
        v += e[k] * d * d;
      }
      const zy = z[o + labels(r)];
      f += Math.log(s) + max - beta * zy;
      g += mean - zy;
      h += v / s;
    }
  });
  const n = src.n;
  return { f: f / n, g: g / n, h: h / n };
}

/** The temperature minimising the mean NLL of softmax(z / T) over the rows of `src` (labels by row). */
export function fitTemperature(src: LogitSource, labels: (row: number) => number): TemperatureFit {
  if (src.n === 0) return { temperature: 1, bound: null, passes: 0 };
  let passes = 0;
  const at = (b: number): { f: number; g: number; h: number } => {
    passes++;
    return nllDerivatives(src, labels, b);
  };
  let beta = 1;
  let d = at(beta);
  // f′ increases with β: its sign at β says on which side the optimum lies; the far bound says
  // whether it lies inside the range at all.
  let lo = BETA_MIN;
  let hi = BETA_MAX;
  if (d.g < 0) {
    if (at(BETA_MAX).g <= 0) return { temperature: 1 / BETA_MAX, bound: 'low', passes };
    lo = beta;
  } else if (d.g > 0) {
    if (at(BETA_MIN).g >= 0) return { temperature: 1 / BETA_MIN, bound: 'high', passes };
    hi = beta;
  } else return { temperature: 1, bound: null, passes };
  while (passes < MAX_PASSES) {
    const newton = d.h > 0 ? beta - d.g / d.h : NaN;
    // Newton inside the bracket, else the bracket's geometric middle (β spans four decades).
    const next = newton > lo && newton < hi ? newton : Math.sqrt(lo * hi);
    if (Math.abs(next - beta) <= 1e-13 * beta) break;
    beta = next;
    d = at(beta);
    if (d.g === 0) break;
    if (d.g < 0) lo = beta;
    else hi = beta;
    if (hi - lo <= 1e-13 * beta) break;
  }
  return { temperature: 1 / beta, bound: null, passes };
}

/** A failed write of the spill as one line naming the file (fd errors carry no path). */
function spillFailure(file: string, e: unknown): WorkError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? `no space left on the device (${err.code})` : (err.message ?? String(e)).split('\n')[0];
  return new WorkError(`the temperature fit's logits (n · K · 4 bytes) cannot be kept in ${file}: ${why}`, 'point TMPDIR at a disk with room for them, or leave out --fit-temperature');
}

/** Float32 rows appended to a temporary file, read back in chunks of about CHUNK_BYTES. */
const CHUNK_BYTES = 4 << 20;

export class LogitSpill implements LogitSource {
  private readonly dir: string;
  private readonly file: string;
  private readonly fd: number;
  private rows = 0;

  /** `chunkBytes`: about how much one chunk of forEachChunk holds (whole rows, at least one). */
  constructor(readonly numClasses: number, private readonly chunkBytes = CHUNK_BYTES) {
    const base = path.join(os.tmpdir(), 'tfkd-eval-');
    try {
      this.dir = fs.mkdtempSync(base);
    } catch (err) {
      throw spillFailure(`${base}XXXXXX`, err);
    }
    this.file = path.join(this.dir, 'logits.f32');
    try {
      this.fd = fs.openSync(this.file, 'w+');
    } catch (err) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      throw spillFailure(this.file, err);
    }
  }

  get n(): number {
    return this.rows;
  }

  append(logits: Float32Array): void {
    const bytes = Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength);
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.rows * this.numClasses * 4 + done);
    } catch (err) {
      throw spillFailure(this.file, err);
    }
    this.rows += logits.length / this.numClasses;
  }

  forEachChunk(fn: (logits: Float32Array, first: number) => void): void {
    const rowBytes = this.numClasses * 4;
    const per = Math.max(1, Math.floor(this.chunkBytes / rowBytes));
    const buf = new Float32Array(Math.min(per, Math.max(this.rows, 1)) * this.numClasses);
    const view = Buffer.from(buf.buffer);
    for (let first = 0; first < this.rows; first += per) {
      const n = Math.min(per, this.rows - first);
      const want = n * rowBytes;
      let got = 0;
      while (got < want) {
        const r = fs.readSync(this.fd, view, got, want - got, first * rowBytes + got);
        if (r === 0) throw new WorkError(`${this.file} ended early: the temperature fit's logits were cut short`);
        got += r;
      }
      fn(buf.subarray(0, n * this.numClasses), first);
    }
  }

  /** Closes and deletes the file (idempotent enough for a finally). */
  dispose(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
