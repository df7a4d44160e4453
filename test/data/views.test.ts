import { expect } from 'chai';
import { hflip } from '../../src/data/views.js';

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
