/**
 * Top-k caches: what is stored besides the k kept logits, and how soft targets are rebuilt from it.
 *
 * Per row, in float32 (whatever `--dtype`), computed from the teacher's float32 row in double:
 *   logsumexp       log Σ_c exp(z_c)                       (the full row; tfkd-cache/1 only — no loss reads it)
 *   tail_logsumexp  F_j = log Σ_{c ∉ top-k} exp(z_c / τ_j)  for τ_j = TAIL_TEMPERATURES[j] = 1, 2, 4 … 32
 *   tail_mean       μ = mean of the K − k tail logits
 *
 * Soft targets at temperature τ (β = 1/τ): kept class c gets exp(v_c β), the tail as a whole gets
 * exp(f(β)), normalised together; each tail class gets the tail's share / (K − k). The kept values
 * v_c are the stored (possibly f16-rounded) logits, and the normalisation uses them, so the row
 * sums to 1 and the tail's mass can never be rounded away (the old layout computed the tail as
 * 1 − Σ exp(v − lse), which f16 rounding pushed to ≤ 0 for a third of the rows).
 *
 * f(β) = log Σ_tail exp(β z) is known exactly at β = 1/τ_j (the stored F_j). Between them it is
 * interpolated through g(β) = (f(β) − log m − μβ) / β² (m = K − k), linearly in β: exact at the
 * six temperatures, exact for a Gaussian-shaped tail at every τ, and exact to first order as
 * τ → ∞ (f(β) → log m + μβ). Beyond τ = 32, g is held at its τ = 32 value. Below τ = 1 nothing is
 * stored that bounds the tail well (it is dominated by its unknown largest logit), so τ < 1 is
 * refused. What remains approximate is the shape *inside* the tail (spread uniformly): docs/CACHE.md.
 */

/** The temperatures at which the tail's log-mass is stored (column j of `tail_logsumexp`). */
export const TAIL_TEMPERATURES: readonly number[] = Object.freeze([1, 2, 4, 8, 16, 32]);
export const TAIL_J = TAIL_TEMPERATURES.length;

/**
 * Tail statistics of one row: `tailLse[j]` and the mean, from `row` (K logits) and the set of kept
 * classes (`kept[c]` true). Double precision throughout.
 */
export function tailStats(row: ArrayLike<number>, kept: ArrayLike<boolean>, tailLse: Float32Array, at: number): number {
  const K = row.length;
  let mt = -Infinity;
  let sum = 0;
  let m = 0;
  for (let c = 0; c < K; c++) {
    if (kept[c]) continue;
    if (row[c] > mt) mt = row[c];
    sum += row[c];
    m++;
  }
  const s = new Float64Array(TAIL_J);
  for (let c = 0; c < K; c++) {
    if (kept[c]) continue;
    const d = row[c] - mt;
    for (let j = 0; j < TAIL_J; j++) s[j] += Math.exp(d / TAIL_TEMPERATURES[j]);
  }
  for (let j = 0; j < TAIL_J; j++) tailLse[at + j] = mt / TAIL_TEMPERATURES[j] + Math.log(s[j]);
  return sum / m;
}

/** The smallest temperature top-k soft targets are rebuilt at (see the module comment). */
export const MIN_TOPK_TEMPERATURE = 1;

/**
 * log Σ_tail exp(z/τ) estimated from the stored statistics (see the module comment), τ ≥ 1. `F`
 * holds the row's TAIL_J stored values, `m` = K − k.
 */
function tailLogMass(F: ArrayLike<number>, mu: number, m: number, temperature: number): number {
  if (!(temperature >= MIN_TOPK_TEMPERATURE)) throw new RangeError(`top-k soft targets need τ ≥ ${MIN_TOPK_TEMPERATURE}, got ${temperature}`);
  const beta = 1 / temperature;
  const logm = Math.log(m);
  const g = (j: number): number => {
    const b = 1 / TAIL_TEMPERATURES[j];
    return (F[j] - logm - mu * b) / (b * b);
  };
  // Exactly on a stored temperature: the stored value.
  for (let j = 0; j < TAIL_J; j++) if (temperature === TAIL_TEMPERATURES[j]) return F[j];
  let gb: number;
  if (beta <= 1 / TAIL_TEMPERATURES[TAIL_J - 1]) gb = g(TAIL_J - 1);
  else {
    let j = 0;
    while (1 / TAIL_TEMPERATURES[j + 1] > beta) j++;
    const b0 = 1 / TAIL_TEMPERATURES[j];
    const b1 = 1 / TAIL_TEMPERATURES[j + 1];
    const w = (beta - b1) / (b0 - b1);
    gb = w * g(j) + (1 - w) * g(j + 1);
  }
  // g ≥ 0 for a true tail (Jensen); keep it so under float32 noise.
  return logm + mu * beta + Math.max(0, gb) * beta * beta;
}

/**
 * softmax at `temperature` of a top-k row into `out` (K values): kept classes from `idx`/`vals`,
 * the tail's mass exp(tailLogMass) spread uniformly over the other K − k classes. Double inside.
 */
export function topkSoftRow(
  idx: ArrayLike<number>,
  vals: ArrayLike<number>,
  F: ArrayLike<number>,
  mu: number,
  K: number,
  temperature: number,
  out: Float32Array,
): void {
  const k = idx.length;
  const m = K - k;
  let vMax = -Infinity;
  for (let j = 0; j < k; j++) vMax = Math.max(vMax, vals[j]);
  const L = tailLogMass(F, mu, m, temperature);
  const shift = Math.max(vMax / temperature, L);
  const e = new Float64Array(k);
  let z = Math.exp(L - shift);
  for (let j = 0; j < k; j++) z += e[j] = Math.exp(vals[j] / temperature - shift);
  out.fill(Math.exp(L - shift) / z / m);
  for (let j = 0; j < k; j++) out[idx[j]] = e[j] / z;
}
