import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Image, Interpolation } from '../../src/data/image.js';
import { INTERPOLATIONS, makeImage } from '../../src/data/image.js';
import { resize } from '../../src/data/pil/resample.js';
import { centerCrop, cropOffset, render, resizedSize, type CropRounding } from '../../src/data/render.js';
import { Rng } from '../../src/data/rng.js';
import { withTmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Case {
  mode: 'L' | 'RGB';
  width: number;
  height: number;
  resize: number;
  crop: [number, number];
  interpolation: Interpolation;
  src: string;
  round: string;
  round_size: [number, number];
  floor: string;
  floor_shape: [number, number];
}

describe('data/render: resize + center crop as torchvision and Hugging Face do', function () {
  this.timeout(60000);

  it("resizedSize is torchvision's Resize(int) rule; cropOffset rounds half to even ('round') or floors ('floor')", () => {
    expect(resizedSize(500, 375, 256)).to.deep.equal([341, 256]); // int(256 · 500 / 375) = 341
    expect(resizedSize(375, 500, 256)).to.deep.equal([256, 341]);
    expect(resizedSize(640, 480, [224, 200])).to.deep.equal([200, 224]);
    expect(cropOffset(257, 224, 'round')).to.equal(16); // round(16.5) = 16
    expect(cropOffset(259, 224, 'round')).to.equal(18); // round(17.5) = 18
    expect(cropOffset(259, 224, 'floor')).to.equal(17);
    expect(cropOffset(5, 8, 'round')).to.equal(-1); // torchvision pads (8 − 5) // 2 = 1 before
    expect(cropOffset(5, 8, 'floor')).to.equal(-2); // HF pads ceil(3 / 2) = 2 before
  });

  it('equals torchvision (T.Resize + T.CenterCrop) and HF (resize + center_crop) byte for byte on a seeded grid (scripts/render_reference.py)', function () {
    needs(this, 'python3-numpy', 'python3-pil', 'python3-torchvision');
    withTmpDir('render', (dir) => {
      const r = spawnSync('/usr/bin/python3', [path.join(ROOT, 'scripts/render_reference.py'), dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`render_reference.py failed: ${r.stderr}`);
      const { cases } = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { cases: Case[] };
      let bytes = 0;
      let differ = 0;
      for (const c of cases) {
        const C = c.mode === 'L' ? 1 : 3;
        const img = makeImage(c.width, c.height, C, new Uint8Array(fs.readFileSync(path.join(dir, c.src))));
        for (const rounding of ['round', 'floor'] as CropRounding[]) {
          const want = fs.readFileSync(path.join(dir, rounding === 'round' ? c.round : c.floor));
          const got = render(img, { mode: c.mode, resize: c.resize, crop: c.crop, cropRounding: rounding, interpolation: c.interpolation });
          expect([got.height, got.width], `${JSON.stringify(c)} ${rounding}`).to.deep.equal(c.crop);
          expect(got.data.length).to.equal(want.length);
          let d = 0;
          for (let i = 0; i < want.length; i++) if (want[i] !== got.data[i]) d++;
          if (d) console.log(`      ${c.width}x${c.height} ${c.mode} resize ${c.resize} crop ${c.crop} ${c.interpolation} ${rounding}: ${d} bytes differ`);
          differ += d;
          bytes += want.length;
        }
      }
      console.log(`      ${cases.length} cases × 2 roundings: ${bytes} bytes compared, ${differ} differ`);
      expect(differ).to.equal(0);
    });
  });

  it('a resize followed by a crop computes only the crop window: the same bytes as the full resize then the crop', () => {
    const rng = new Rng(7);
    let n = 0;
    for (let t = 0; t < 120; t++) {
      const C = rng.below(2) ? 3 : 1;
      const w = 1 + rng.below(90);
      const h = 1 + rng.below(90);
      const img: Image = makeImage(w, h, C as 1 | 3, Uint8Array.from({ length: w * h * C }, () => rng.below(256)));
      const S = 1 + rng.below(80);
      const crop: [number, number] = [1 + rng.below(90), 1 + rng.below(90)];
      const interpolation = INTERPOLATIONS[rng.below(INTERPOLATIONS.length)];
      const cropRounding: CropRounding = rng.below(2) ? 'round' : 'floor';
      const [rw, rh] = resizedSize(w, h, S);
      const full = centerCrop(rw === w && rh === h ? img : resize(img, rw, rh, interpolation), crop, cropRounding);
      const fast = render(img, { mode: C === 1 ? 'L' : 'RGB', resize: S, crop, cropRounding, interpolation });
      expect(Buffer.from(fast.data).equals(Buffer.from(full.data)), `case ${t}: ${w}x${h}x${C} S=${S} crop=${crop} ${interpolation} ${cropRounding}`).to.equal(true);
      n++;
    }
    expect(n).to.equal(120);
  });
});
