/**
 * Soft-target sources as plain arrays: what the trainer feeds a teacher-based loss as `soft`.
 *  - one cache: the teacher's tempered probabilities p^t_τ = softmax(z_t / τ), row by row;
 *  - several caches (a teacher ensemble): the mean of the teachers' tempered probabilities
 *    (averaging probabilities, not logits, so each teacher keeps its own confidence profile);
 *  - the Tf-KD_reg virtual teacher (re-exported tensor builder + an array form here);
 *  - the uniform prior u = 1/K.
 * Row-major [n, K] Float32Arrays in and out; arithmetic in double (Float64 accumulation), rounded to
 * float32 once at the end, so results do not depend on the backend.
 */
import { virtualTeacherProbs } from './losses/virtual-teacher.js';
import type { Fidelity } from './losses/types.js';

export { uniformPrior as uniformPriorTensor, virtualTeacher as virtualTeacherTensor, virtualTeacherProbs } from './losses/virtual-teacher.js';

function checkRows(what: string, a: ArrayLike<number>, numClasses: number): number {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`${what}: K must be a positive integer, got ${numClasses}`);
  if (a.length % numClasses !== 0) throw new Error(`${what}: length ${a.length} is not a multiple of K = ${numClasses}`);
  return a.length / numClasses;
}

function checkTemperature(temperature: number): void {
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new Error(`τ must be > 0, got ${temperature}`);
}

/** Adds softmax(row / τ) of every row of `logits` into `acc` (double), scaled by `weight`. */
function accumulateTempered(acc: Float64Array, logits: ArrayLike<number>, numClasses: number, temperature: number, weight: number): void {
  const n = logits.length / numClasses;
  const e = new Float64Array(numClasses);
  for (let r = 0; r < n; r++) {
    const o = r * numClasses;
    let m = -Infinity;
    for (let k = 0; k < numClasses; k++) m = Math.max(m, logits[o + k] / temperature);
    if (!Number.isFinite(m)) throw new Error(`row ${r}: logits must be finite (max is ${m})`);
    let z = 0;
    for (let k = 0; k < numClasses; k++) z += e[k] = Math.exp(logits[o + k] / temperature - m);
    for (let k = 0; k < numClasses; k++) acc[o + k] += (weight * e[k]) / z;
  }
}

/** p^t_τ = softmax(logits / τ) per row; `logits` is [n, K] row-major (a cache's `logits`). */
export function temperedProbs(logits: ArrayLike<number>, numClasses: number, temperature: number): Float32Array {
  checkRows('temperedProbs', logits, numClasses);
  checkTemperature(temperature);
  const acc = new Float64Array(logits.length);
  accumulateTempered(acc, logits, numClasses, temperature, 1);
  return Float32Array.from(acc);
}

/**
 * A teacher ensemble: (1/T) Σ_t softmax(logits_t / τ), the mean of the T teachers' tempered
 * probabilities, for the same rows (same samples and views, in the same order) of every cache.
 */
export function ensembleProbs(teachers: readonly ArrayLike<number>[], numClasses: number, temperature: number): Float32Array {
  if (teachers.length === 0) throw new Error('ensembleProbs: needs at least one teacher');
  const n = checkRows('ensembleProbs', teachers[0], numClasses);
  checkTemperature(temperature);
  const acc = new Float64Array(n * numClasses);
  teachers.forEach((t, i) => {
    if (t.length !== acc.length) throw new Error(`ensembleProbs: teacher ${i} has ${t.length} values, teacher 0 has ${acc.length}`);
    accumulateTempered(acc, t, numClasses, temperature, 1 / teachers.length);
  });
  return Float32Array.from(acc);
}

/** The Tf-KD_reg virtual teacher for integer labels, [n, K] (see virtualTeacherProbs for both modes). */
export function virtualTeacherArray(labels: ArrayLike<number>, numClasses: number, correctProb: number, temperature: number, fidelity: Fidelity): Float32Array {
  const { target, other } = virtualTeacherProbs(numClasses, correctProb, temperature, fidelity);
  const out = new Float32Array(labels.length * numClasses).fill(other);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`virtual teacher: label ${c} at row ${i} is not in [0, ${numClasses})`);
    out[i * numClasses + c] = target;
  }
  return out;
}

/** The uniform prior: n rows of 1/K. */
export function uniformPriorArray(n: number, numClasses: number): Float32Array {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(numClasses) || numClasses < 1) throw new Error(`uniform prior: bad shape [${n}, ${numClasses}]`);
  return new Float32Array(n * numClasses).fill(1 / numClasses);
}
