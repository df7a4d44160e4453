/**
 * The tempered softmax, once: softmax(z / τ) of every row of a row-major [n, K] array — what a
 * cache's soft targets are (cache/reader.ts `softTargets`, and through it every teacher-based loss),
 * and its log form for the losses that take log p^t_τ (student/trainer/targets.ts). The golden loss
 * tests read soft targets through the reader, so they check this function on the trainer's path.
 */

/**
 * softmax(row / τ) of every row of `rows`, in place: e_c = exp((z_c − max z) / τ) in double, stored
 * as float32, summed in double, each divided by the sum and rounded to float32 once more. A very
 * confident row underflows to exact zeros in float32 (the KL terms handle them).
 */
export function temperedSoftmaxRows(rows: Float32Array, K: number, temperature: number): Float32Array {
  const n = rows.length / K;
  for (let r = 0; r < n; r++) {
    const row = rows.subarray(r * K, (r + 1) * K);
    let max = -Infinity;
    for (let c = 0; c < K; c++) if (row[c] > max) max = row[c];
    let s = 0;
    for (let c = 0; c < K; c++) {
      const e = Math.exp((row[c] - max) / temperature);
      row[c] = e;
      s += e;
    }
    for (let c = 0; c < K; c++) row[c] /= s;
  }
  return rows;
}

/** log softmax(row / τ) of every row, in double, rounded to float32 once (no underflow to −∞). */
export function temperedLogSoftmaxRows(logits: Float32Array, K: number, temperature: number): Float32Array {
  return logSoftmaxRowsInto(new Float32Array(logits.length), logits, K, temperature);
}

/** log softmax(row / τ) of every row, in double, kept in double (an ensemble combines them in log space). */
export function temperedLogSoftmaxRows64(logits: Float32Array, K: number, temperature: number): Float64Array {
  return logSoftmaxRowsInto(new Float64Array(logits.length), logits, K, temperature);
}

function logSoftmaxRowsInto<T extends Float32Array | Float64Array>(out: T, logits: Float32Array, K: number, temperature: number): T {
  for (let r = 0; r < logits.length / K; r++) {
    let max = -Infinity;
    for (let c = 0; c < K; c++) max = Math.max(max, logits[r * K + c] / temperature);
    let s = 0;
    for (let c = 0; c < K; c++) s += Math.exp(logits[r * K + c] / temperature - max);
    const lse = max + Math.log(s);
    for (let c = 0; c < K; c++) out[r * K + c] = logits[r * K + c] / temperature - lse;
  }
  return out;
}
