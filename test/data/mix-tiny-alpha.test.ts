/**
 * Mixup/CutMix λ ~ Beta(α, α) for a tiny α (below about 1e-307, where ln(u)/α overflows to −∞ in
 * both Gamma draws and the plain 1/(1 + exp(ln Y − ln X)) was −∞ − (−∞) = NaN). The reference is
 * Beta(α, α)'s limit as α → 0, a Bernoulli(1/2) on {0, 1}: numpy's `Generator.beta` (numpy 2.4.6,
 * `np.random.default_rng(0).beta(a, a, 2000)`) gives 993 zeros, 1007 ones and no NaN for
 * a = 1e-308 and 1e-320 (its legacy `RandomState.beta`, which timm calls, gives 52 and 2000 NaN:
 * the same overflow). Every α where the plain formula is defined must keep its draws bit for bit
 * (cached views are rebuilt from them): checked against the formula as it stood before the fix.
 */
import { expect } from 'chai';
import { betaSample, mixLambda, mixParams } from '../../src/data/mix.js';
import { hashU32 } from '../../src/data/rng.js';

const TWO32 = 4294967296;

/** mix.ts's Gamma/Beta sampler before the tiny-α fix (the plain formula), for bit-identity. */
function plainLogGamma(a: number, next: () => number): number {
  if (a < 1) {
    const g = plainLogGamma(a + 1, next);
    return g + Math.log(next()) / a;
  }
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (let t = 0; t < 64; t++) {
    const x = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
    const w0 = 1 + c * x;
    const u3 = next();
    if (w0 <= 0) continue;
    const w = w0 * w0 * w0;
    if (Math.log(u3) < 0.5 * x * x + d - d * w + d * Math.log(w)) return Math.log(d * w);
  }
  return Math.log(d);
}
function plainBeta(alpha: number, seed: number, sample: number, view: number): number {
  let t = 128;
  const next = () => (hashU32(seed, sample, view, t++) + 0.5) / TWO32;
  const lx = plainLogGamma(alpha, next);
  const ly = plainLogGamma(alpha, next);
  return 1 / (1 + Math.exp(ly - lx));
}

describe('data/mix: Beta(α, α) for a tiny α', () => {
  for (const alpha of [1e-308, 1e-320, Number.MIN_VALUE]) {
    it(`α = ${alpha}: λ is 0 or 1 (never NaN), each about half the time over 2000 draws, as numpy's Generator.beta`, () => {
      const n = 2000;
      let ones = 0;
      let plainNaN = 0;
      for (let i = 0; i < n; i++) {
        const l = mixLambda(alpha, 5, i, 1);
        expect(l === 0 || l === 1, `draw ${i}: λ = ${l}`).to.equal(true);
        ones += l;
        const p = plainBeta(alpha, 5, i, 1);
        if (Number.isNaN(p)) plainNaN++;
        else expect(l, `draw ${i}: the plain formula's λ`).to.equal(p);
      }
      // Bernoulli(1/2): σ of the fraction = √(1/4/n) ≈ 0.011; 4σ.
      console.log(`      α ${alpha}: ${ones}/${n} draws λ = 1 (numpy Generator: 1007/2000), ${plainNaN} NaN before the fix`);
      expect(ones / n).to.be.closeTo(0.5, 4 * Math.sqrt(0.25 / n));
      expect(plainNaN).to.be.greaterThan(0);
    });
  }

  it('λ = 1 exactly when ln u_X > ln u_Y (the sign of (ln u_Y − ln u_X)/α, the exact value of ln Y − ln X)', () => {
    const stream = (us: number[]) => {
      let t = 0;
      return () => us[t++];
    };
    // α < 1: Gamma(α + 1) by three uniforms (accepted at once for these), then u.
    const g = [0.5, 0.25, 0.5];
    expect(betaSample(1e-320, stream([...g, 0.9, ...g, 0.1]))).to.equal(1);
    expect(betaSample(1e-320, stream([...g, 0.1, ...g, 0.9]))).to.equal(0);
    // Equal uniforms: ln Y − ln X is the Gamma(α + 1) parts' difference, here 0: λ = 1/2.
    expect(betaSample(1e-320, stream([...g, 0.3, ...g, 0.3]))).to.equal(0.5);
  });

  for (const alpha of [1e-300, 1e-5, 0.05, 0.4, 1, 2.5]) {
    it(`α = ${alpha}: the same draws as before the fix, bit for bit (2000 draws)`, () => {
      for (let i = 0; i < 2000; i++) expect(mixLambda(alpha, 9, i, 2)).to.equal(plainBeta(alpha, 9, i, 2));
    });
  }

  it('CutMix with α = 1e-320: a finite box (empty or the whole image) and λ in {0, 1}', () => {
    const mix = { mixup: null, cutmix: 1e-320, switchProb: 0.5, mixProb: 1 };
    for (let i = 0; i < 200; i++) {
      const p = mixParams(mix, 3, i, 1, 50)!;
      expect(p.lambda === 0 || p.lambda === 1).to.equal(true);
      for (const c of p.cut!) expect(Number.isFinite(c)).to.equal(true);
    }
  });
});
