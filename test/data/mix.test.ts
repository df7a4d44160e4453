import { expect } from 'chai';
import { formatAugmentSpec, isIdentity, parseAugmentSpec } from '../../src/data/augment.js';
import { betaSample, cutPixels, labelLambda, mixLambda, mixParams, mixPixels, type MixParams } from '../../src/data/mix.js';
import { hashU32 } from '../../src/data/rng.js';
import { UsageError } from '../../src/errors.js';

describe('data/mix: Mixup / CutMix parameters', () => {
  describe('spec', () => {
    it('parses mixup[:A], cutmix[:A], switch-prob, mix-prob beside rrc/crop/flip; formats canonically; JSON too', () => {
      const s = parseAugmentSpec('rrc,flip,mixup:0.2,cutmix');
      expect(s.mix).to.deep.equal({ mixup: 0.2, cutmix: 1, switchProb: 0.5, mixProb: 1 });
      expect(formatAugmentSpec(s)).to.equal('rrc:0.08-1:0.75-1.3333333333333333,flip,mixup:0.2,cutmix:1,switch-prob:0.5');
      expect(formatAugmentSpec(parseAugmentSpec('crop:4,flip,cutmix:1,mix-prob:0.5'))).to.equal('crop:4,flip,cutmix:1,mix-prob:0.5');
      expect(formatAugmentSpec(parseAugmentSpec('mixup'))).to.equal('mixup:1');
      expect(isIdentity(parseAugmentSpec('mixup'))).to.equal(false);
      // The canonical form parses back to the same spec, and the JSON form agrees.
      expect(parseAugmentSpec(formatAugmentSpec(s))).to.deep.equal(s);
      expect(parseAugmentSpec({ flip: true, mix: { mixup: 0.2, cutmix: 1 }, rrc: {} })).to.deep.equal(s);
      // No mixing: the spec has no `mix` key, so old caches' keys do not change.
      expect(parseAugmentSpec('crop:4,flip')).to.deep.equal({ cropPad: 4, flip: true });
    });
    for (const bad of ['mixup:0', 'mixup:-0.5', 'cutmix:0', 'cutmix:x', 'mixup,mixup:2', 'mixup,switch-prob:0.3', 'mix-prob:0.5', 'mixup,mix-prob:0', 'mixup,cutmix,switch-prob:1.5', 'cutmixup', 'mixup,switch-prob', '{"mix":{"mixup":0}}', '{"mix":{"mixup":1,"kind":"x"}}']) {
      it(`BAD CALL - ${JSON.stringify(bad)} is a UsageError`, () => {
        expect(() => parseAugmentSpec(bad)).to.throw(UsageError);
      });
    }
  });

  describe('parameters: a pure function of (spec, seed, i, v, N)', () => {
    const mix = parseAugmentSpec('mixup:0.4,cutmix:1').mix!;
    it('view 0 is never mixed; the partner is never the sample and is uniform over the others', () => {
      expect(mixParams(mix, 1, 5, 0, 10)).to.equal(null);
      const N = 7;
      const counts = new Array<number>(N).fill(0);
      for (let v = 1; v <= 7000; v++) {
        const p = mixParams(mix, 3, 2, v, N)!;
        expect(p.partner).to.not.equal(2);
        counts[p.partner]++;
      }
      expect(counts[2]).to.equal(0);
      for (const [j, c] of counts.entries()) if (j !== 2) expect(c).to.be.within(7000 / 6 - 150, 7000 / 6 + 150);
      // N = 2: the other one, always.
      for (let v = 1; v < 20; v++) expect(mixParams(mix, 0, 1, v, 2)!.partner).to.equal(0);
    });
    it('switch-prob picks CutMix that often; mix-prob leaves the rest unmixed', () => {
      const both = parseAugmentSpec('mixup,cutmix,switch-prob:0.25,mix-prob:0.6').mix!;
      let cut = 0;
      let mixed = 0;
      const n = 8000;
      for (let i = 0; i < n; i++) {
        const p = mixParams(both, 9, i, 1, 100000);
        if (p) {
          mixed++;
          if (p.kind === 'cutmix') cut++;
        }
      }
      expect(mixed / n).to.be.closeTo(0.6, 0.025);
      expect(cut / mixed).to.be.closeTo(0.25, 0.025);
    });
    it('the same arguments give the same parameters; any other argument changes them', () => {
      const a = mixParams(mix, 7, 3, 2, 50);
      expect(mixParams(mix, 7, 3, 2, 50)).to.deep.equal(a);
      for (const b of [mixParams(mix, 8, 3, 2, 50), mixParams(mix, 7, 4, 2, 50), mixParams(mix, 7, 3, 3, 50)]) expect(b).to.not.deep.equal(a);
    });
  });

  describe('Beta(α, α) from the hashed uniform stream', () => {
    for (const alpha of [0.1, 0.4, 1, 2, 8]) {
      it(`α = ${alpha}: mean 1/2 and variance 1/(4(2α+1)) over 20 000 draws; λ in [0, 1]`, () => {
        let m = 0;
        let m2 = 0;
        const n = 20000;
        for (let i = 0; i < n; i++) {
          const l = mixLambda(alpha, 5, i, 1);
          expect(l).to.be.within(0, 1);
          m += l;
          m2 += l * l;
        }
        m /= n;
        const v = m2 / n - m * m;
        const want = 1 / (4 * (2 * alpha + 1));
        console.log(`      α ${alpha}: mean ${m.toFixed(4)}, variance ${v.toFixed(5)} (Beta: ${want.toFixed(5)})`);
        expect(m).to.be.closeTo(0.5, 0.01);
        expect(v).to.be.closeTo(want, want * 0.05);
      });
    }
    it('a Gamma draw consumes its own uniforms: the sampler reads only the stream it is given', () => {
      let t = 0;
      const stream = () => (hashU32(1, t++) + 0.5) / 4294967296;
      const l1 = betaSample(1, stream);
      t = 0;
      expect(betaSample(1, stream)).to.equal(l1);
    });
  });

  describe('CutMix box and pixels', () => {
    const p: MixParams = { kind: 'cutmix', partner: 1, lambda: 0.75, cut: [0.125, 0.3, 0.625, 0.8] };
    it('rounds the cut to each grid by ⌊f·n + 0.5⌋ and corrects λ to the cut\'s pixels', () => {
      expect(cutPixels(p, 8, 10)).to.deep.equal([3, 1, 8, 5]);
      expect(labelLambda(p, 8, 10)).to.equal(1 - (5 * 4) / 80);
      expect(cutPixels(p, 224, 224)).to.deep.equal([67, 28, 179, 140]);
      expect(labelLambda({ kind: 'mixup', partner: 1, lambda: 0.3 }, 8, 8)).to.equal(0.3);
    });
    it('the cut of an un-clamped box has side √(1 − λ)', () => {
      for (let v = 1; v < 200; v++) {
        const q = mixParams(parseAugmentSpec('cutmix').mix, 1, 0, v, 10)!;
        const [y0, x0, y1, x1] = q.cut!;
        const r = Math.sqrt(1 - q.lambda);
        expect(y1 - y0).to.be.at.most(r + 1e-12);
        if (y0 > 0 && y1 < 1) expect(y1 - y0).to.be.closeTo(r, 1e-12);
        if (x0 > 0 && x1 < 1) expect(x1 - x0).to.be.closeTo(r, 1e-12);
      }
    });
    it('mixes pixels: Mixup λa + (1−λ)b on [0, 1]; CutMix pastes the partner inside the cut', () => {
      const a = Uint8Array.from({ length: 8 * 10 }, (_, k) => k);
      const b = Uint8Array.from({ length: 8 * 10 }, (_, k) => 255 - k);
      const out = mixPixels(a, b, 8, 10, 1, p, new Float32Array(80));
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 10; x++) {
          const inside = y >= 1 && y < 5 && x >= 3 && x < 8;
          expect(out[y * 10 + x]).to.equal(Math.fround((inside ? b : a)[y * 10 + x] / 255));
        }
      const m = mixPixels(a, b, 8, 10, 1, { kind: 'mixup', partner: 1, lambda: 0.3 }, new Float32Array(80));
      for (let k = 0; k < 80; k++) expect(m[k]).to.equal(Math.fround(0.3 * (a[k] / 255) + 0.7 * (b[k] / 255)));
    });
  });
});
