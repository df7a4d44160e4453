import { expect } from 'chai';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEBIAN_PYTHON } from '../../src/doctor/packages.js';
import { needs } from '../helpers/needs.js';
import { lnGamma, readingOf, regIncBeta, studentTCdf, studentTQuantile, welch } from '../../src/experiment/stats.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/welch-scipy.json', import.meta.url));

interface Fixture {
  source: string;
  quantiles: Array<{ p: number; df: number; t: number }>;
  welch: Array<{ a: number[]; b: number[]; level: number; diff: number; se: number; df: number; t: number; lo: number; hi: number }>;
}

describe('report statistics: Student-t quantile and Welch interval vs scipy', () => {
  const fx = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Fixture;

  it(`t quantiles at integer and fractional ν equal scipy.stats.t.ppf (relative 1e-10; ${fx.quantiles.length} cases)`, () => {
    let worst = 0;
    for (const q of fx.quantiles) {
      const got = studentTQuantile(q.p, q.df);
      const rel = Math.abs(got - q.t) / Math.abs(q.t);
      worst = Math.max(worst, rel);
      expect(rel, `p ${q.p} ν ${q.df}: ${got} vs scipy ${q.t}`).to.be.below(1e-10);
      expect(studentTQuantile(1 - q.p, q.df)).to.equal(-got);
    }
    console.log(`      max relative difference to scipy: ${worst.toExponential(2)}`);
  });

  it(`Welch intervals (Welch–Satterthwaite ν) equal scipy's ttest_ind(equal_var=False).confidence_interval (absolute 1e-10; ${fx.welch.length} cases)`, () => {
    let worst = 0;
    for (const c of fx.welch) {
      const w = welch(c.a, c.b, c.level)!;
      for (const k of ['diff', 'se', 'df', 't', 'lo', 'hi'] as const) {
        const d = Math.abs((w[k] as number) - c[k]);
        worst = Math.max(worst, k === 'df' ? 0 : d);
        expect(d, `${k}: ${w[k]} vs scipy ${c[k]} (${JSON.stringify(c.a)} vs ${JSON.stringify(c.b)})`).to.be.below(k === 'df' ? 1e-8 * c.df : 1e-10);
      }
    }
    console.log(`      max absolute difference to scipy: ${worst.toExponential(2)}`);
  });

  it('known values: Γ, I_x, the t distribution function, ν = 1 (Cauchy) and ν = 2 in closed form', () => {
    expect(lnGamma(5)).to.be.closeTo(Math.log(24), 1e-13);
    expect(lnGamma(0.5)).to.be.closeTo(0.5 * Math.log(Math.PI), 1e-13);
    expect(regIncBeta(0.3, 1, 1)).to.be.closeTo(0.3, 1e-15);
    expect(regIncBeta(0.25, 2, 3)).to.be.closeTo(0.26171875, 1e-14); // 1 − Σ_{j<2} C(4,j) x^j (1−x)^{4−j}
    for (const p of [0.6, 0.9, 0.975, 0.999]) {
      expect(studentTQuantile(p, 1)).to.be.closeTo(Math.tan(Math.PI * (p - 0.5)), 1e-9 * Math.tan(Math.PI * (p - 0.5)));
      const a = 4 * p * (1 - p);
      expect(studentTQuantile(p, 2)).to.be.closeTo((2 * p - 1) * Math.sqrt(2 / a), 1e-10);
      expect(studentTCdf(studentTQuantile(p, 7.3), 7.3)).to.be.closeTo(p, 1e-13);
    }
  });

  it('readings: within noise when the interval contains 0; better / worse otherwise; none with a single seed', () => {
    const base = [0.8, 0.81, 0.82];
    expect(readingOf(welch([0.805, 0.815, 0.812], base))).to.equal('within noise');
    expect(readingOf(welch([0.85, 0.851, 0.852], base))).to.equal('better');
    expect(readingOf(welch([0.7, 0.701, 0.702], base))).to.equal('worse');
    expect(welch([0.8], base)).to.equal(null);
    expect(readingOf(null)).to.equal(null);
    // no variance in either: the interval is the point Δ
    const z = welch([0.5, 0.5], [0.4, 0.4])!;
    expect([z.lo, z.hi, z.df]).to.deep.equal([z.diff, z.diff, null]);
    expect(readingOf(z)).to.equal('better');
  });

  // The fixture came from scipy 1.17 (pip); Debian 12's scipy 1.10 computes t.ppf less exactly in
  // the tails (up to 4.6e-9 relative; p 0.9995, ν 1: 6.6e-7 absolute), so the staleness check is
  // relative 1e-8: far above that version drift, far below any real change of the fixture.
  it('the fixture is what scipy says now (relative 1e-8)', function () {
    needs(this, 'python3-scipy');
    const r = spawnSync(DEBIAN_PYTHON, ['-c', `
import json, sys, scipy
from scipy import stats
fx = json.load(open(sys.argv[1]))
print(scipy.__version__, max(abs(stats.t.ppf(q["p"], q["df"]) - q["t"]) / abs(q["t"]) for q in fx["quantiles"]))`, FIXTURE], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const [version, rel] = r.stdout.trim().split(' ');
    console.log(`      scipy ${version}: max relative difference to the fixture ${Number(rel).toExponential(2)}`);
    expect(Number(rel)).to.be.below(1e-8);
  });
});
