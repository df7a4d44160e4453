import { expect } from 'chai';
import { UsageError } from '../../src/errors.js';
import {
  applyAugment, augment, augmentBatch, augmentParams, formatAugmentSpec, NO_AUGMENT, parseAugmentSpec,
} from '../../src/data/augment.js';
import type { AugmentSpec } from '../../src/data/augment.js';
import { hashU32 } from '../../src/data/rng.js';

const S3 = { height: 3, width: 3, channels: 1 };
// 1 2 3 / 4 5 6 / 7 8 9
const img3 = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
const CF: AugmentSpec = { cropPad: 4, flip: true };

function noise(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => hashU32(seed, i) & 255);
}

describe('data/augment', () => {
  describe('spec', () => {
    it('parses strings, JSON and objects; formats canonically', () => {
      expect(parseAugmentSpec('crop:4,flip')).to.deep.equal({ cropPad: 4, flip: true });
      expect(parseAugmentSpec(' flip , crop:2 ')).to.deep.equal({ cropPad: 2, flip: true });
      expect(parseAugmentSpec('flip')).to.deep.equal({ cropPad: 0, flip: true });
      expect(parseAugmentSpec('none')).to.deep.equal(NO_AUGMENT);
      expect(parseAugmentSpec('')).to.deep.equal(NO_AUGMENT);
      expect(parseAugmentSpec(undefined)).to.deep.equal(NO_AUGMENT);
      expect(parseAugmentSpec('{"cropPad":4,"flip":true}')).to.deep.equal(CF);
      expect(parseAugmentSpec({ cropPad: 3 })).to.deep.equal({ cropPad: 3, flip: false });
      expect(formatAugmentSpec(CF)).to.equal('crop:4,flip');
      expect(formatAugmentSpec(NO_AUGMENT)).to.equal('none');
      expect(formatAugmentSpec(parseAugmentSpec('crop:2'))).to.equal('crop:2');
    });
    for (const bad of ['crop:x', 'rotate:15', 'flip,flip', 'crop:100', '{"cropPad":4,"rot":1}', '{"cropPad":-1}', '{bad json']) {
      it(`BAD CALL - augmentation spec ${JSON.stringify(bad)} is a UsageError`, () => {
        expect(() => parseAugmentSpec(bad)).to.throw(UsageError);
      });
    }
  });

  describe('applyAugment on a hand-checkable 3×3 image', () => {
    const run = (dy: number, dx: number, flip: boolean) => Array.from(applyAugment(img3, S3, { dy, dx, flip }));
    it('shifts content (zero fill) and flips after cropping, like RandomCrop(pad) + HorizontalFlip', () => {
      expect(run(0, 0, false)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      // window moved down by 1: content moves up
      expect(run(1, 0, false)).to.deep.equal([4, 5, 6, 7, 8, 9, 0, 0, 0]);
      // window moved left by 1: content moves right
      expect(run(0, -1, false)).to.deep.equal([0, 1, 2, 0, 4, 5, 0, 7, 8]);
      expect(run(0, 0, true)).to.deep.equal([3, 2, 1, 6, 5, 4, 9, 8, 7]);
      // crop dx=+1 gives [2 3 0], then the flip: [0 3 2]
      expect(run(0, 1, true)).to.deep.equal([0, 3, 2, 0, 6, 5, 0, 9, 8]);
      expect(run(-2, 2, false)).to.deep.equal([0, 0, 0, 0, 0, 0, 3, 0, 0]);
      expect(run(3, 0, false)).to.deep.equal(new Array(9).fill(0));
    });
    it('moves all channels of a pixel together', () => {
      const rgb = Uint8Array.from({ length: 2 * 2 * 3 }, (_, i) => i + 1); // (y,x,c) = 1 + (2y+x)*3 + c
      const out = applyAugment(rgb, { height: 2, width: 2, channels: 3 }, { dy: 0, dx: 1, flip: false });
      expect(Array.from(out)).to.deep.equal([4, 5, 6, 0, 0, 0, 10, 11, 12, 0, 0, 0]);
    });
    it('BAD CALL - too small input / out, or out overlapping the input', () => {
      expect(() => applyAugment(img3.subarray(0, 8), S3, { dy: 0, dx: 0, flip: false })).to.throw(RangeError);
      expect(() => applyAugment(img3, S3, { dy: 0, dx: 0, flip: false }, new Uint8Array(8))).to.throw(RangeError);
      const buf = new Uint8Array(20);
      expect(() => applyAugment(buf.subarray(0, 9), S3, { dy: 0, dx: 0, flip: false }, buf.subarray(5, 14))).to.throw(RangeError);
    });
  });

  describe('seeded views', () => {
    const shape = { height: 8, width: 8, channels: 3 };
    const x = noise(8 * 8 * 3, 1);

    it('view 0 is the identity (a copy)', () => {
      const v0 = augment(x, shape, CF, 7, 123, 0);
      expect(v0).to.not.equal(x);
      expect(Array.from(v0)).to.deep.equal(Array.from(x));
      expect(augmentParams(CF, 7, 123, 0)).to.deep.equal({ dy: 0, dx: 0, flip: false });
    });

    it('parameters are the stated hash of (seed, sample, view)', () => {
      for (const [s, i, v] of [[7, 123, 1], [0, 0, 5], [99, 59999, 2]]) {
        const p = augmentParams(CF, s, i, v);
        expect(p.dy).to.equal((hashU32(s, i, v, 0) % 9) - 4);
        expect(p.dx).to.equal((hashU32(s, i, v, 1) % 9) - 4);
        expect(p.flip).to.equal((hashU32(s, i, v, 2) & 1) === 1);
      }
      // Pinned from `python3 scripts/ref-murmur3.py` (independent implementation of the recipe).
      expect(augmentParams(CF, 1, 2, 3)).to.deep.equal({ dy: -4, dx: -3, flip: false });
      expect(augmentParams(CF, 7, 123, 1)).to.deep.equal({ dy: -3, dx: 4, flip: false });
      expect(augmentParams(CF, 0, 0, 5)).to.deep.equal({ dy: 0, dx: 0, flip: true });
      expect(augmentParams(CF, 99, 59999, 2)).to.deep.equal({ dy: 2, dx: 2, flip: false });
    });

    it('same (seed, sample, view) → same bytes; other view, sample or seed → other bytes', () => {
      const a = augment(x, shape, CF, 7, 5, 1);
      expect(Array.from(augment(x, shape, CF, 7, 5, 1))).to.deep.equal(Array.from(a));
      const differs = (b: Uint8Array) => !Buffer.from(a).equals(Buffer.from(b));
      expect(differs(augment(x, shape, CF, 7, 5, 2))).to.equal(true);
      expect(differs(augment(x, shape, CF, 7, 6, 1))).to.equal(true);
      expect(differs(augment(x, shape, CF, 8, 5, 1))).to.equal(true);
      // Across views the crop covers the whole range and both flips occur.
      const dys = new Set<number>();
      const flips = new Set<boolean>();
      for (let v = 1; v <= 300; v++) {
        const p = augmentParams(CF, 7, 5, v);
        dys.add(p.dy);
        flips.add(p.flip);
        expect(Math.abs(p.dx)).to.be.at.most(4);
      }
      expect([...dys].sort((p, q) => p - q)).to.deep.equal([-4, -3, -2, -1, 0, 1, 2, 3, 4]);
      expect([...flips].sort()).to.deep.equal([false, true]);
    });

    it('augment equals applyAugment of its parameters (a found view with dy=1, dx=-1, no flip on 3×3)', () => {
      const spec = { cropPad: 1, flip: true };
      let view = 1;
      for (; view < 1000; view++) {
        const p = augmentParams(spec, 3, 0, view);
        if (p.dy === 1 && p.dx === -1 && !p.flip) break;
      }
      expect(view).to.be.below(1000);
      expect(Array.from(augment(img3, S3, spec, 3, 0, view))).to.deep.equal([0, 4, 5, 0, 7, 8, 0, 0, 0]);
    });

    it('no-op spec leaves every view unchanged; flip-only never shifts', () => {
      for (let v = 0; v < 5; v++) expect(Array.from(augment(x, shape, NO_AUGMENT, 1, 2, v))).to.deep.equal(Array.from(x));
      for (let v = 1; v < 20; v++) {
        const p = augmentParams({ cropPad: 0, flip: true }, 1, 2, v);
        expect([p.dy, p.dx]).to.deep.equal([0, 0]);
      }
    });

    it('augmentBatch equals per-image augment', () => {
      const n = 4;
      const sb = 8 * 8 * 3;
      const batch = noise(n * sb, 2);
      const samples = [10, 11, 10, 500];
      const views = [0, 1, 2, 3];
      const out = augmentBatch(batch, shape, CF, 9, samples, views);
      for (let k = 0; k < n; k++) {
        const one = augment(batch.subarray(k * sb, (k + 1) * sb), shape, CF, 9, samples[k], views[k]);
        expect(Array.from(out.subarray(k * sb, (k + 1) * sb))).to.deep.equal(Array.from(one));
      }
      const same = augmentBatch(batch, shape, CF, 9, samples, 1);
      expect(Array.from(same.subarray(0, sb))).to.deep.equal(Array.from(augment(batch.subarray(0, sb), shape, CF, 9, 10, 1)));
    });
  });
});
