import { expect } from 'chai';
import { formatAugmentSpec, parseAugmentSpec } from '../../src/data/augment.js';
import { makeImage } from '../../src/data/image.js';
import { hflip, renderBox, renderView, viewBox } from '../../src/data/views.js';
import { usageError } from './helpers.js';

describe('data/views: RandomResizedCrop views as boxes in the original image', () => {
  const spec = parseAugmentSpec('rrc,flip');

  it('parses rrc with torchvision defaults, custom ranges and JSON; formats canonically', () => {
    expect(spec.rrc).to.deep.equal({ scale: [0.08, 1], ratio: [0.75, 4 / 3] });
    expect(spec.flip).to.equal(true);
    expect(formatAugmentSpec(spec)).to.equal('rrc:0.08-1:0.75-1.3333333333333333,flip');
    expect(parseAugmentSpec(formatAugmentSpec(spec))).to.deep.equal(spec);
    expect(parseAugmentSpec('rrc:0.35-1').rrc).to.deep.equal({ scale: [0.35, 1], ratio: [0.75, 4 / 3] });
    expect(parseAugmentSpec('{"rrc": {"scale": [0.5, 1]}, "flip": true}')).to.deep.equal({ cropPad: 0, flip: true, rrc: { scale: [0.5, 1], ratio: [0.75, 4 / 3] } });
  });

  it('BAD CALL - impossible ranges, rrc with crop:P, non-numbers', async () => {
    for (const [s, re] of [
      ['rrc:0.5-0.2', /scale range 0.5-0.2 .* is impossible/],
      ['rrc:0-1', /scale range 0-1 .* is impossible/],
      ['rrc:0.1-1.5', /scale range 0.1-1.5 .* is impossible/],
      ['rrc:0.1-1:2-1', /ratio range 2-1 .* is impossible/],
      ['rrc,crop:4', /rrc and crop:P are two different crops/],
      ['rrc:a-1', /"a" .* is not a number/],
      ['rrc,rrc', /given twice/],
    ] as const) {
      expect((await usageError(Promise.resolve().then(() => parseAugmentSpec(s)))).message, s).to.match(re);
    }
  });

  it('boxes are a pure function of (spec, seed, sample, view, size), inside the image, within the ranges', () => {
    let flips = 0;
    for (let i = 0; i < 200; i++) {
      const [W, H] = [50 + (i % 37) * 11, 40 + (i % 23) * 13];
      const b = viewBox(spec, 3, i, 1 + (i % 3), W, H);
      expect(viewBox(spec, 3, i, 1 + (i % 3), W, H)).to.deep.equal(b);
      expect(b.left).to.be.at.least(0);
      expect(b.top).to.be.at.least(0);
      expect(b.left + b.width).to.be.at.most(W);
      expect(b.top + b.height).to.be.at.most(H);
      // Rounding w and h to integers moves area and ratio a little off the sampled values.
      const area = (b.width * b.height) / (W * H);
      expect(area).to.be.within(0.08 * 0.8, 1);
      expect(b.width / b.height).to.be.within((3 / 4) * 0.8, (4 / 3) * 1.25);
      if (b.flip) flips++;
    }
    expect(flips).to.be.within(70, 130);
    expect(viewBox(spec, 4, 0, 1, 300, 200)).to.not.deep.equal(viewBox(spec, 3, 0, 1, 300, 200));
  });

  it("torchvision's fallback when no attempt fits: the centred whole image clamped to the ratio range", () => {
    const one = parseAugmentSpec('rrc:1-1:1-1');
    // 10 × 20: every attempt asks for a 14 × 14 square, too wide → the fallback: w = 10, h = round(10 / 1), centred.
    expect(viewBox(one, 0, 5, 1, 10, 20)).to.deep.equal({ left: 0, top: 5, width: 10, height: 10, flip: false });
    expect(viewBox(one, 0, 5, 1, 20, 10)).to.deep.equal({ left: 5, top: 0, width: 10, height: 10, flip: false });
  });

  it('renderBox crops, resizes to the side size and mirrors; view 0 is the eval transform', () => {
    const img = makeImage(4, 2, 1, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const b = renderBox(img, { left: 1, top: 0, width: 2, height: 2, flip: true }, [2, 2], 'nearest');
    expect(Array.from(b.data)).to.deep.equal([3, 2, 7, 6]);
    const side = { eval: { mode: 'L' as const, resize: null, crop: null, cropRounding: 'round' as const, interpolation: 'bilinear' as const }, size: [2, 4] as [number, number] };
    expect(Array.from(renderView(img, side, { spec, seed: 0 }, 0, 0).data)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('data/views: hflip', () => {
  it("mirrors every row (PIL's FLIP_LEFT_RIGHT) for 1 and 3 channels, odd and even widths", () => {
    for (const C of [1, 3] as const) {
      for (const [W, H] of [[1, 1], [2, 3], [7, 5], [224, 9]]) {
        const data = new Uint8Array(W * H * C).map((_, i) => (i * 31 + 7) & 255);
        const out = hflip({ data, width: W, height: H, channels: C });
        let bad = 0;
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) if (out.data[(y * W + (W - 1 - x)) * C + c] !== data[(y * W + x) * C + c]) bad++;
        expect(bad, `${C} channels, ${W}x${H}`).to.equal(0);
        expect(out.data).to.not.equal(data);
      }
    }
  });
});
