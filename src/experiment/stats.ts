/**
 * The statistics of a report: mean and sample standard deviation over seeds, and the difference
 * of two methods' means with a Welch confidence interval:
 *
 *   Δ = m₁ − m₀,  se = √(s₁²/n₁ + s₀²/n₀),
 *   ν = se⁴ / ((s₁²/n₁)²/(n₁ − 1) + (s₀²/n₀)²/(n₀ − 1))      (Welch–Satterthwaite)
 *   CI = Δ ± t_{(1+level)/2, ν} · se                          (Student-t quantile at non-integer ν)
 *
 * The t quantile inverts the t distribution function, F(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0,
 * with I the regularized incomplete beta function (continued fraction, modified Lentz; Numerical
 * Recipes §6.4). scripts/welch_reference.py checks quantiles and intervals against scipy
 * (test/fixtures/welch-scipy.json; agreement ≤ 1e-10).
 */

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (Bessel's n − 1); null for fewer than two values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** ln Γ(x), x > 0 (Lanczos, g = 7, n = 9; relative error < 1e-15). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betacf(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) return h;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), 0 ≤ x ≤ 1, a, b > 0. */
export function regIncBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  return x < (a + 1) / (a + b + 2) ? (front * betacf(x, a, b)) / a : 1 - (front * betacf(1 - x, b, a)) / b;
}

/** Student-t distribution function with ν > 0 degrees of freedom (ν may be fractional). */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`degrees of freedom must be > 0, got ${df}`);
  if (t === 0) return 0.5;
  const tail = 0.5 * regIncBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1 - tail : tail;
}

/** The p-quantile of the Student-t distribution with ν degrees of freedom, 0 < p < 1. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`degrees of freedom must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  // Upper tail q = 1 − p, computed from I directly (no cancellation): q = ½ I_{ν/(ν+t²)}(ν/2, ½).
  const q = 1 - p;
  const upper = (t: number): number => 0.5 * regIncBeta(df / (df + t * t), df / 2, 0.5);
  let lo = 0;
  let hi = 1;
  while (upper(hi) > q) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Infinity;
  }
  for (let i = 0; i < 400 && hi - lo > 1e-15 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (upper(mid) > q) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

export interface WelchInterval {
  /** Difference of the means, a − b. */
  diff: number;
  se: number;
  /** Welch–Satterthwaite degrees of freedom (null when both samples have zero variance). */
  df: number | null;
  /** The t quantile used (null with zero variance). */
  t: number | null;
  lo: number;
  hi: number;
  level: number;
}

/**
 * Welch's confidence interval for mean(a) − mean(b); null when either sample has fewer than two
 * values (no variance estimate). With zero variance in both the interval is the point Δ.
 */
export function welch(a: readonly number[], b: readonly number[], level = 0.95): WelchInterval | null {
  if (a.length < 2 || b.length < 2) return null;
  const va = sampleStd(a)! ** 2 / a.length;
  const vb = sampleStd(b)! ** 2 / b.length;
  const diff = mean(a) - mean(b);
  const se = Math.sqrt(va + vb);
  if (se === 0) return { diff, se, df: null, t: null, lo: diff, hi: diff, level };
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const t = studentTQuantile((1 + level) / 2, df);
  return { diff, se, df, t, lo: diff - t * se, hi: diff + t * se, level };
}

export type Reading = 'within noise' | 'better' | 'worse';

/** "within noise" when the interval contains 0, else the sign of the difference; null without an interval. */
export function readingOf(ci: WelchInterval | null): Reading | null {
  if (!ci) return null;
  if (ci.lo <= 0 && ci.hi >= 0) return 'within noise';
  return ci.diff > 0 ? 'better' : 'worse';
}
