import { expect } from 'chai';
import { hashU32, permutation, Rng, subset } from '../../src/data/rng.js';

describe('data/rng', () => {
  it('hashU32 is MurmurHash3_x86_32 (published vectors and scripts/ref-murmur3.py)', () => {
    expect(hashU32()).to.equal(0);
    expect(hashU32(0x87654321)).to.equal(0xf55b516b);
    expect(hashU32(0)).to.equal(0x2362f9de);
    // Pinned from `python3 scripts/ref-murmur3.py` (an independent byte-wise implementation).
    expect(hashU32(1, 2, 3)).to.equal(0xe9d78ad6);
    expect(hashU32(42, 0, 1, 0)).to.equal(0xadb93a5d);
    expect(hashU32(0xffffffff, 7)).to.equal(0x625c2cc3);
    expect(hashU32(-1, 7)).to.equal(0x625c2cc3); // negative int32 = its uint32 bits
    expect(hashU32(12345, 678, 9, 2)).to.equal(0x52781d95);
  });

  it('BAD CALL - hashU32 refuses non-integers and values beyond 32 bits', () => {
    expect(() => hashU32(1.5)).to.throw(RangeError);
    expect(() => hashU32(2 ** 32)).to.throw(RangeError);
    expect(() => hashU32(Number.NaN)).to.throw(RangeError);
  });

  it('Rng streams are deterministic per seed and differ across seeds', () => {
    const a = new Rng(7, 1);
    const b = new Rng(7, 1);
    const c = new Rng(7, 2);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).to.deep.equal(sa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).to.not.deep.equal(sa);
    const r = new Rng(3);
    for (let i = 0; i < 1000; i++) {
      const v = r.below(7);
      expect(v).to.be.within(0, 6);
      const f = r.next();
      expect(f).to.be.at.least(0).and.below(1);
    }
  });

  it('below(n) is close to uniform', () => {
    const r = new Rng(11);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50000; i++) counts[r.below(5)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).to.be.below(400); // > 4 sigma (σ ≈ 89)
  });

  it('permutation is a seeded permutation', () => {
    const p = permutation(1000, 5);
    expect(Array.from(p).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(permutation(1000, 5))).to.deep.equal(Array.from(p));
    expect(Array.from(permutation(1000, 6))).to.not.deep.equal(Array.from(p));
    expect(Array.from(p.slice(0, 20))).to.not.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(permutation(0, 1).length).to.equal(0);
  });

  it('subset draws k distinct sorted indices, seeded', () => {
    const s = subset(100, 10, 3);
    expect(s.length).to.equal(10);
    expect(new Set(s).size).to.equal(10);
    for (let i = 1; i < s.length; i++) expect(s[i]).to.be.greaterThan(s[i - 1]);
    for (const v of s) expect(v).to.be.within(0, 99);
    expect(Array.from(subset(100, 10, 3))).to.deep.equal(Array.from(s));
    expect(Array.from(subset(100, 10, 4))).to.not.deep.equal(Array.from(s));
    expect(Array.from(subset(5, 5, 1))).to.deep.equal([0, 1, 2, 3, 4]);
    expect(() => subset(5, 6, 1)).to.throw(RangeError);
  });
});
