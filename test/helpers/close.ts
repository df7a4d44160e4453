/**
 * Comparing numbers that should agree up to rounding (a tensor's values against a reference, one
 * backend against another). Plain arrays, no tfjs, so the teacher and export tests use it too.
 */
import { expect } from 'chai';

/** max |a − b| over equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length, 'lengths').to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export interface RelDiff {
  /** max |got − want| */
  diff: number;
  /** max |want| */
  scale: number;
  /** diff / scale: one number for "how close" whatever the values' magnitude */
  rel: number;
}

export function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): RelDiff {
  expect(got.length, 'lengths').to.equal(want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return { diff, scale, rel: diff / Math.max(scale, 1e-30) };
}

/**
 * Asserts max |got − want| ≤ tol · max |want| (both arrays a tensor's values), naming `what` and
 * the numbers when it fails; returns them so a suite can report its worst case.
 */
export function expectTensorsClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): RelDiff {
  const d = relDiff(got, want);
  expect(d.rel, `${what}: max |Δ| ${d.diff.toExponential(3)} (scale ${d.scale.toExponential(3)}, rel ${d.rel.toExponential(3)}, tol ${tol})`).to.be.at.most(tol);
  return d;
}
