import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FolderDataset } from '../../src/data/folder.js';
import { openDataset } from '../../src/data/open.js';
import { usageError } from './helpers.js';

/** An H×W×C image whose pixel (y, x, c) = (y*20 + x*7 + c*60 + seed) & 255. */
function pattern(h: number, w: number, c: number, seed: number): Buffer {
  const b = Buffer.alloc(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) b[(y * w + x) * c + k] = (y * 20 + x * 7 + k * 60 + seed) & 255;
  return b;
}
const png = (h: number, w: number, c: 1 | 3 | 4, seed: number) => {
  const img = sharp(pattern(h, w, c, seed), { raw: { height: h, width: w, channels: c } });
  // sharp writes 1-channel raw input as an RGB PNG unless told the colour space is b-w.
  return (c === 1 ? img.toColourspace('b-w') : img).png().toBuffer();
};
/** A smooth image (JPEG is lossy; a gradient survives it within a few grey levels). */
const smooth = (h: number, w: number) => {
  const b = Buffer.alloc(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 3; k++) b[(y * w + x) * 3 + k] = 60 + y * 4 + x * 3 + k * 20;
  return b;
};


describe('data/folder', () => {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'tfkd-folder-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  /**
   * bird/bad.png         not an image (random bytes)
   * cat/a.png            12×8 RGB  (first readable image: fixes the size H=12, W=8)
   * cat/b.jpg            12×8 RGB JPEG (smooth gradient)
   * dog/c.png            24×16 RGBA (resized, alpha dropped)
   * dog/e_trunc.png      a PNG cut after its header (metadata reads, decoding fails)
   * dog/sub/d.png        12×8 grey (nested; converted to 3 channels)
   * dog/notes.txt, .hidden/x.png   ignored
   */
  async function makeTree(): Promise<Record<string, string>> {
    for (const d of ['bird', 'cat', 'dog/sub', '.hidden']) mkdirSync(join(tmp, d), { recursive: true });
    const f = {
      bad: join(tmp, 'bird/bad.png'),
      a: join(tmp, 'cat/a.png'),
      b: join(tmp, 'cat/b.jpg'),
      c: join(tmp, 'dog/c.png'),
      e: join(tmp, 'dog/e_trunc.png'),
      d: join(tmp, 'dog/sub/d.png'),
    };
    writeFileSync(f.bad, Buffer.from('this is not a png file at all, just text'));
    writeFileSync(f.a, await png(12, 8, 3, 1));
    writeFileSync(f.b, await sharp(smooth(12, 8), { raw: { height: 12, width: 8, channels: 3 } }).jpeg({ quality: 95 }).toBuffer());
    writeFileSync(f.c, await png(24, 16, 4, 2));
    writeFileSync(f.e, (await png(40, 40, 3, 3)).subarray(0, 60));
    writeFileSync(f.d, await png(12, 8, 1, 4));
    writeFileSync(join(tmp, 'dog/notes.txt'), 'not an image');
    writeFileSync(join(tmp, '.hidden/x.png'), await png(2, 2, 3, 0));
    return f;
  }

  it('EXPECTED FAILURE - a corrupt image is an error naming the file', async () => {
    const f = await makeTree();
    const e = await usageError(openDataset(`folder:${tmp}`));
    expect(e.message).to.match(new RegExp(`^cannot decode image ${f.bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .* \\(and 1 more\\)$`));
    expect(e.hint).to.include('--skip-bad');
  });

  it('with skipBad: decodes PNG + JPEG, resizes, fixes channels, lists what was skipped', async () => {
    const f = await makeTree();
    const ds = (await openDataset(`folder:${tmp}`, { skipBad: true })) as FolderDataset;
    expect(ds.kind).to.equal('folder');
    expect(ds.skipped).to.deep.equal([f.bad, f.e]);
    expect(ds.classNames).to.deep.equal(['bird', 'cat', 'dog']);
    expect(ds.numClasses).to.equal(3);
    expect(ds.files).to.deep.equal([f.a, f.b, f.c, f.d]);
    expect(Array.from(ds.labels)).to.deep.equal([1, 1, 2, 2]);
    expect(ds.shape).to.deep.equal({ height: 12, width: 8, channels: 3 });
    // PNG is lossless and a.png has the target size: exact bytes.
    expect(Buffer.from(await ds.get(0)).equals(pattern(12, 8, 3, 1))).to.equal(true);
    // JPEG: within a few grey levels of the gradient it encoded.
    const jb = await ds.get(1);
    const ref = smooth(12, 8);
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(jb[i] - ref[i]));
    expect(maxDiff).to.be.below(12);
    // Grey image → 3 equal channels holding the grey value.
    const g = await ds.get(3);
    const grey = pattern(12, 8, 1, 4);
    for (let p = 0; p < 12 * 8; p++) for (let c = 0; c < 3; c++) expect(g[p * 3 + c]).to.equal(grey[p]);
    // The RGBA 24×16 image was resized to 12×8 and lost its alpha: sharp on its own gives the same.
    const want = await sharp(readFileSync(f.c)).removeAlpha().resize(8, 12, { fit: 'fill' }).raw().toBuffer();
    expect(Buffer.from(await ds.get(2)).equals(want)).to.equal(true);
  });

  it('folderSize resizes everything; an all-grey tree has 1 channel', async () => {
    mkdirSync(join(tmp, 'x'));
    mkdirSync(join(tmp, 'y'));
    writeFileSync(join(tmp, 'x/1.png'), await png(10, 10, 1, 0));
    writeFileSync(join(tmp, 'y/1.png'), await png(6, 6, 1, 9));
    const ds = await openDataset(`folder:${tmp}`, { folderSize: [4, 5], concurrency: 1 });
    expect(ds.shape).to.deep.equal({ height: 4, width: 5, channels: 1 });
    expect(ds.skipped).to.deep.equal([]);
    expect((await ds.readBatch([0, 1])).length).to.equal(40);
    const own = await openDataset(`folder:${tmp}`);
    expect(own.shape).to.deep.equal({ height: 10, width: 10, channels: 1 });
    expect(Buffer.from(await own.get(0)).equals(pattern(10, 10, 1, 0))).to.equal(true);
  });

  it('a tree with only train/ and test/ holds both splits', async () => {
    for (const s of ['train', 'test']) for (const c of ['a', 'b']) mkdirSync(join(tmp, s, c), { recursive: true });
    writeFileSync(join(tmp, 'train/a/1.png'), await png(4, 4, 3, 0));
    writeFileSync(join(tmp, 'train/b/1.png'), await png(4, 4, 3, 1));
    writeFileSync(join(tmp, 'train/b/2.png'), await png(4, 4, 3, 2));
    writeFileSync(join(tmp, 'test/a/1.png'), await png(4, 4, 3, 3));
    expect((await openDataset(`folder:${tmp}`)).size).to.equal(3);
    const te = await openDataset(`folder:${tmp}`, { split: 'test' });
    expect(te.size).to.equal(1);
    expect(Buffer.from(await te.get(0)).equals(pattern(4, 4, 3, 3))).to.equal(true);
  });

  it('EXPECTED FAILURE - no class folders / no images / missing directory', async () => {
    expect((await usageError(openDataset(`folder:${tmp}`))).message).to.match(/has no class sub-folders/);
    mkdirSync(join(tmp, 'a'));
    expect((await usageError(openDataset(`folder:${tmp}`))).message).to.match(/has no image files/);
    expect((await usageError(openDataset(`folder:${join(tmp, 'zzz')}`))).message).to.equal(`folder data directory not found: ${join(tmp, 'zzz')}`);
  });
});
