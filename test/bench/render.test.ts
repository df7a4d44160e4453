/**
 * `tfkd bench render` (src/bench/render.ts): the report's shape and its byte-identity check against
 * Pillow + torchvision on real photographs (no timing thresholds: the figures go in
 * docs/PERFORMANCE.md). Needs Debian's python3-pil and python3-torchvision.
 */
import { needs } from '../helpers/needs.js';
import { expect } from 'chai';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatRenderBench, runRenderBench } from '../../src/bench/render.js';
import { UsageError } from '../../src/errors.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const PHOTOS = join(import.meta.dirname, '../fixtures/photos');

describe('bench/render: tfkd vs Pillow on the same images', function () {
  this.timeout(300_000);
  let tmp = '';
  before(function () {
    needs(this, 'python3-pil', 'python3-torchvision');
    // Two classes of the JPEG photographs (the folder's first images are what the bench reads).
    tmp = tmpDir('bench-render');
    for (const cls of ['flower', 'leaf']) {
      mkdirSync(join(tmp, cls));
      for (const f of readdirSync(join(PHOTOS, cls)).filter((n) => /\.(jpg|png)$/.test(n))) cpSync(join(PHOTOS, cls, f), join(tmp, cls, f));
    }
  });
  after(() => {
    if (tmp) rmDir(tmp);
  });

  for (const [what, opts, rows] of [
    ['eval transform, bicubic', { preprocess: 'imagenet', interpolation: 'bicubic' as const }, 8],
    ['rrc boxes with flips', { preprocess: 'imagenet', augment: 'rrc,flip' }, 8],
    ['a student input size, more rows than files (cycled)', { inputSize: '32' }, 16],
  ] as const) {
    it(`${what}: every rendered image equals Pillow's; ratios and shares reported`, async () => {
      const r = await runRenderBench({ data: `folder:${tmp}`, split: 'train', seed: 3, threads: 2, rows, reps: 1, ...opts });
      expect(r.rows).to.equal(rows);
      expect(r.files, 'distinct files: the folder has 12').to.equal(Math.min(rows, 12));
      expect(r.identical, 'images whose bytes equal Pillow + torchvision').to.equal(rows);
      for (const k of ['resize', 'resize_js', 'render', 'decode', 'decode_render_1', 'decode_render_n'] as const) expect(r.ratios[k].median, k).to.be.greaterThan(0);
      expect(r.share.tfkd.decode + r.share.tfkd.resample).to.be.closeTo(1, 1e-9);
      const text = formatRenderBench(r);
      expect(text).to.include(`output bytes equal to Pillow's: ${rows} / ${rows}`);
      console.log(text.replace(/^/gm, '      ').trimEnd());
    });
  }

  it('BAD CALL - both or neither of --preprocess / --input-size, an --augment without rrc, a non-folder data set', async () => {
    const base = { data: `folder:${tmp}`, split: 'train' as const, seed: 0, threads: 1, rows: 2, reps: 1 };
    for (const [o, re] of [
      [{}, /exactly one of --preprocess SPEC and --input-size S/],
      [{ preprocess: 'imagenet', inputSize: '32' }, /exactly one of/],
      [{ preprocess: 'imagenet', augment: 'flip' }, /has no rrc/],
      [{ preprocess: 'imagenet', data: 'synthetic:10:3:8x8x3:1' }, /not a folder of images/],
    ] as const) {
      let err: unknown = null;
      await runRenderBench({ ...base, ...o }).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(UsageError);
      expect(String(err)).to.match(re);
    }
  });
});
