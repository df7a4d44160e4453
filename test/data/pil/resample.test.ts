import { expect } from 'chai';
import { join } from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { INTERPOLATIONS } from '../../../src/data/image.js';
import type { Image, Interpolation } from '../../../src/data/image.js';
import { coefficients, resize, resizeBox } from '../../../src/data/pil/resample.js';
import { cropWindow } from '../../../src/data/render.js';
import { hflip } from '../../../src/data/views.js';
import { setResamplePath, type ResamplePath } from '../../../src/data/pil/native.js';
import { readdirSync } from 'node:fs';
import { decodeImage } from '../../../src/data/pil/decode.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { needs } from '../../helpers/needs.js';
import { byteDiff, pilReference } from './pil-reference.js';

// PIL's Image.resize (Pillow 9.4, Debian's /usr/bin/python3) is the reference: scripts/pil_reference.py
// writes photo-like L/RGB images and PIL's output for every filter and many target sizes, and
// every output must match byte for byte.

interface Source {
  mode: 'L' | 'RGB';
  width: number;
  height: number;
  data: [number, number];
}
interface Case {
  src: number;
  toWidth: number;
  toHeight: number;
  filter: Interpolation;
  out: [number, number];
}

const img = (width: number, height: number, channels: 1 | 3, fill: (i: number) => number): Image => {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  return { data, width, height, channels };
};

describe('data/pil/resample: PIL resize, byte for byte', function () {
  this.timeout(60_000);
  let tmp = '';
  let sources: Source[] = [];
  let cases: Case[] = [];
  let blob: Buffer = Buffer.alloc(0);
  const bytes = (at: [number, number]) => new Uint8Array(blob.buffer, blob.byteOffset + at[0], at[1]);

  before(function () {
    needs(this, 'python3-pil');
    tmp = tmpDir('pil-resize');
    const ref = pilReference('resize', tmp);
    expect(ref.index.pil, 'the reference is Pillow 9.4').to.match(/^9\.4\./);
    sources = ref.index.sources as Source[];
    cases = ref.index.resize as Case[];
    blob = ref.blob;
  });

  after(() => {
    if (tmp) rmDir(tmp);
  });

  // Every path: the JS passes (the reference and fallback), and the image add-on's C passes,
  // scalar and AVX2, when it is built (scripts/build-native.mjs) and the CPU has AVX2.
  const paths: ResamplePath[] = ['js'];
  for (const want of ['portable', 'avx2'] as const) if (setResamplePath(want) === want) paths.push(want);
  setResamplePath('auto');
  if (paths.length === 1) console.log('      (image add-on not built: the C passes are not tested; node scripts/build-native.mjs)');
  afterEach(() => setResamplePath('auto'));

  for (const path of paths) for (const filter of INTERPOLATIONS) {
    it(`${filter} [${path} passes]: every case equals PIL's resize (up, down, one axis, to 1 px, same size)`, () => {
      expect(setResamplePath(path)).to.equal(path);
      const mine = cases.filter((c) => c.filter === filter);
      expect(mine.length).to.be.greaterThan(100);
      const failures: string[] = [];
      let pixels = 0;
      for (const c of mine) {
        const s = sources[c.src];
        const input: Image = { data: bytes(s.data), width: s.width, height: s.height, channels: s.mode === 'L' ? 1 : 3 };
        const out = resize(input, c.toWidth, c.toHeight, filter);
        expect([out.width, out.height, out.channels]).to.deep.equal([c.toWidth, c.toHeight, input.channels]);
        const d = byteDiff(out.data, bytes(c.out));
        pixels += c.toWidth * c.toHeight;
        if (d.count) failures.push(`${s.mode} ${s.width}x${s.height} → ${c.toWidth}x${c.toHeight}: ${d.count} bytes differ, max diff ${d.max}`);
      }
      const sizes = new Set(mine.map((c) => `${sources[c.src].width}x${sources[c.src].height}`));
      console.log(`      ${mine.length} resizes from ${sizes.size} source sizes (${pixels} output pixels): ${failures.length} differ`);
      expect(failures, failures.slice(0, 10).join('\n')).to.deep.equal([]);
    });
  }
});

describe('data/pil/resample: the C passes equal the JS passes on the test photographs', function () {
  this.timeout(120_000);
  const native = (['portable', 'avx2'] as const).filter((p) => setResamplePath(p) === p);
  setResamplePath('auto');
  afterEach(() => setResamplePath('auto'));
  const root = join(import.meta.dirname, '../../fixtures/photos');
  const files = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => readdirSync(join(root, d.name)).map((f) => join(root, d.name, f)));

  it(`every filter, down and up, whole images and windows: ${native.join(', ') || 'no C path built'} vs JS`, async function () {
    if (native.length === 0) this.skip();
    let compared = 0;
    for (const file of files) {
      for (const mode of ['RGB', 'L'] as const) {
        const src = await decodeImage(file, mode);
        const sizes: Array<[number, number]> = [[Math.max(1, Math.round(src.width * 0.6)), Math.max(1, Math.round(src.height * 0.6))], [224, 224], [src.width + 17, Math.max(1, src.height - 5)], [3, 2]];
        for (const filter of INTERPOLATIONS) {
          for (const [w, h] of sizes) {
            const win = { left: Math.floor(w / 5), top: Math.floor(h / 7), width: Math.max(1, w - Math.floor(w / 5) - 1), height: Math.max(1, h - Math.floor(h / 7)) };
            setResamplePath('js');
            const ref = resize(src, w, h, filter);
            const refWin = resize(src, w, h, filter, win);
            for (const p of native) {
              setResamplePath(p);
              const d = byteDiff(resize(src, w, h, filter).data, ref.data);
              const dw = byteDiff(resize(src, w, h, filter, win).data, refWin.data);
              expect(d.count + dw.count, `${p} ${file} ${mode} → ${w}x${h} ${filter}: ${d.count} + ${dw.count} bytes differ, max ${Math.max(d.max, dw.max)}`).to.equal(0);
              compared += 2;
            }
          }
        }
      }
    }
    console.log(`      ${files.length} photographs, ${compared / native.length} resizes per C path compared with JS: all equal`);
  });
});

describe('data/pil/resample: resizeBox (resized_crop + hflip in one resampling) equals crop → resize → mirror', function () {
  this.timeout(120_000);
  afterEach(() => setResamplePath('auto'));
  const root = join(import.meta.dirname, '../../fixtures/photos');
  const files = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => readdirSync(join(root, d.name)).map((f) => join(root, d.name, f)));
  const paths = (['js', 'portable', 'avx2'] as const).filter((p) => setResamplePath(p) === p);

  it(`every filter, boxes at the edges and inside, up and down, flipped or not, on the ${paths.join(', ')} paths`, async () => {
    let compared = 0;
    for (const file of files) {
      for (const mode of ['RGB', 'L'] as const) {
        const src = await decodeImage(file, mode);
        const { width: W, height: H } = src;
        const boxes = [
          { left: 0, top: 0, width: W, height: H },
          { left: Math.floor(W / 3), top: Math.floor(H / 4), width: Math.max(1, Math.floor(W / 2)), height: Math.max(1, Math.floor(H / 2)) },
          { left: W - Math.max(1, Math.floor(W / 5)), top: H - Math.max(1, Math.floor(H / 3)), width: Math.max(1, Math.floor(W / 5)), height: Math.max(1, Math.floor(H / 3)) },
        ];
        for (const filter of INTERPOLATIONS) {
          for (const box of boxes) {
            for (const [w, h] of [[224, 224], [13, 7], [box.width, 31]] as const) {
              for (const flip of [false, true]) {
                setResamplePath('js');
                const crop = cropWindow(src, box.top, box.left, box.height, box.width);
                const r = crop.width === w && crop.height === h ? crop : resize(crop, w, h, filter);
                const ref = flip ? hflip(r) : r;
                for (const p of paths) {
                  setResamplePath(p);
                  const got = resizeBox(src, box, w, h, filter, flip);
                  const d = byteDiff(got.data, ref.data);
                  expect(d.count, `${p} ${file} ${mode} box ${JSON.stringify(box)} → ${w}x${h} ${filter} flip ${flip}: ${d.count} bytes differ, max ${d.max}`).to.equal(0);
                  compared++;
                }
              }
            }
          }
        }
      }
    }
    console.log(`      ${files.length} photographs, ${compared} boxes compared: all equal`);
  });
});

describe('data/pil/resample: rules checked without PIL', () => {
  it('same size is a copy, not the same buffer', () => {
    const src = img(5, 4, 3, (i) => i);
    for (const f of INTERPOLATIONS) {
      const out = resize(src, 5, 4, f);
      expect(out.data).to.not.equal(src.data);
      expect(Array.from(out.data)).to.deep.equal(Array.from(src.data));
    }
  });

  it('nearest follows ImagingScaleAffine: the running sum of w_in / w_out from half a step', () => {
    // 3 → 2: xo = 0.75, 2.25 → columns 0 and 2; 2 → 5: 0.2, 0.6, 1.0, 1.4, 1.8 → 0 0 1 1 1
    const row = img(3, 1, 1, (i) => 10 * (i + 1));
    expect(Array.from(resize(row, 2, 1, 'nearest').data)).to.deep.equal([10, 30]);
    const two = img(2, 1, 1, (i) => 10 * (i + 1));
    expect(Array.from(resize(two, 5, 1, 'nearest').data)).to.deep.equal([10, 10, 20, 20, 20]);
  });

  it('coefficients are 22-bit fixed point summing to 1 within rounding; a constant image stays constant', () => {
    for (const f of INTERPOLATIONS.filter((x) => x !== 'nearest') as Exclude<Interpolation, 'nearest'>[]) {
      for (const [a, b] of [
        [500, 298],
        [7, 31],
        [64, 1],
      ]) {
        const c = coefficients(a, b, f);
        for (let i = 0; i < b; i++) {
          let sum = 0;
          for (let j = 0; j < c.size[i]; j++) sum += c.k[i * c.ksize + j];
          expect(Math.abs(sum - (1 << 22)), `${f} ${a}→${b} #${i}`).to.be.at.most(c.size[i]);
        }
      }
      const flat = resize(img(37, 23, 3, () => 200), 11, 50, f);
      expect(flat.data.every((v) => v === 200), f).to.equal(true);
    }
  });

  it('BAD CALL - sizes below 1 or not integers, an unknown filter, a short buffer → UsageError', () => {
    const src = img(4, 4, 1, () => 0);
    expect(() => resize(src, 0, 4, 'bilinear')).to.throw(UsageError, /width and height must be integers > 0, got 0x4/);
    expect(() => resize(src, 2.5, 4, 'bilinear')).to.throw(UsageError, /integers > 0/);
    expect(() => resize(src, 2, 2, 'cubic' as Interpolation)).to.throw(UsageError, /unknown filter 'cubic'/);
    expect(() => resize({ ...src, data: new Uint8Array(3) }, 2, 2, 'box')).to.throw(UsageError, /needs 16 bytes, got 3/);
  });
});
