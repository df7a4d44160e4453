import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ImageFilesDataset } from '../../src/data/files.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { parseList } from '../../src/data/list.js';
import { openDataset } from '../../src/data/open.js';
import { usageError } from './helpers.js';
import { DEBIAN_PYTHON } from '../../src/doctor/packages.js';
import { needs } from '../helpers/needs.js';
import { rmDir, tmpDir, withTmpDir } from '../helpers/tmp-dir.js';

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

describe('data/folder and data/list (streaming image files)', () => {
  let tmp: string;
  beforeEach(() => (tmp = tmpDir('folder')));
  afterEach(() => {
    try {
      chmodSync(join(tmp, 'locked'), 0o755);
    } catch {
      // only the unreadable-directory test makes it
    }
    rmDir(tmp);
  });

  /**
   * bird/bad.png     not an image (text)
   * cat/a.png        12×8 RGB (the first image: fixes the face's size)
   * cat/z.png        12×8 RGB — before cat/sub/… (ImageFolder walks a directory's files first)
   * cat/sub/d.png    12×8 grey (nested)
   * cat-x/…          a class whose name sorts between "cat" and "cat/sub" as a path
   * dog/c.png        24×16 RGBA
   * dog/notes.txt, .hidden/x.png, dog/.y.png   ignored
   */
  async function makeTree(): Promise<void> {
    for (const d of ['bird', 'cat/sub', 'cat-x', 'dog', '.hidden']) mkdirSync(join(tmp, d), { recursive: true });
    writeFileSync(join(tmp, 'bird/bad.png'), 'this is not a png file at all, just text');
    writeFileSync(join(tmp, 'cat/a.png'), await png(12, 8, 3, 1));
    writeFileSync(join(tmp, 'cat/z.png'), await png(12, 8, 3, 2));
    writeFileSync(join(tmp, 'cat/sub/d.png'), await png(12, 8, 1, 4));
    writeFileSync(join(tmp, 'cat-x/e.PNG'), await png(6, 6, 3, 5));
    writeFileSync(join(tmp, 'dog/c.png'), await png(24, 16, 4, 2));
    writeFileSync(join(tmp, 'dog/notes.txt'), 'not an image');
    writeFileSync(join(tmp, 'dog/.y.png'), await png(2, 2, 3, 0));
    writeFileSync(join(tmp, '.hidden/x.png'), await png(2, 2, 3, 0));
  }

  it('opens by listing names only (a corrupt file is no error until it is read), in ImageFolder order', async () => {
    await makeTree();
    const ds = (await openDataset(`folder:${tmp}`)) as ImageFilesDataset;
    expect(ds.kind).to.equal('folder');
    expect(ds.variableSize).to.equal(true);
    expect(ds.classNames).to.deep.equal(['bird', 'cat', 'cat-x', 'dog']);
    expect(ds.files).to.deep.equal(['bird/bad.png', 'cat/a.png', 'cat/z.png', 'cat/sub/d.png', 'cat-x/e.PNG', 'dog/c.png']);
    expect(Array.from(ds.labels)).to.deep.equal([0, 1, 1, 1, 2, 3]);
    // The face: the first image's size (bird/bad.png cannot be read, so its header is tried first…)
    expect(ds.shape.channels).to.equal(3);
  });

  // Dirent.isDirectory() is false for a link: linked class folders and sub-directories were
  // dropped, so classes and labels differed from ImageFolder's (which follows links) silently.
  it("symbolic links to directories are followed, as ImageFolder's is_dir() and os.walk(followlinks=True) do (checked against torchvision)", async function () {
    needs(this, 'python3-torchvision');
    for (const d of ['data/a', 'data/real_b', 'extra']) mkdirSync(join(tmp, d), { recursive: true });
    writeFileSync(join(tmp, 'data/a/0.png'), await png(4, 4, 3, 1));
    writeFileSync(join(tmp, 'data/real_b/0.png'), await png(4, 4, 3, 2));
    writeFileSync(join(tmp, 'extra/0.png'), await png(4, 4, 3, 3));
    symlinkSync('real_b', join(tmp, 'data/b_link')); // a linked class folder
    symlinkSync('../../extra', join(tmp, 'data/a/linked')); // a linked sub-directory
    symlinkSync('0.png', join(tmp, 'data/a/file-link.png')); // a linked file
    const ds = (await openDataset(`folder:${join(tmp, 'data')}`)) as ImageFilesDataset;
    const py = execFileSync(DEBIAN_PYTHON, ['-c', 'import json,sys; from torchvision.datasets import ImageFolder as F; d=F(sys.argv[1], loader=lambda p: p); print(json.dumps({"classes": d.classes, "samples": [[p[len(sys.argv[1]) + 1:], y] for p, y in d.samples]}))', join(tmp, 'data')], { encoding: 'utf8' });
    const want = JSON.parse(py) as { classes: string[]; samples: Array<[string, number]> };
    expect(want.classes).to.deep.equal(['a', 'b_link', 'real_b']);
    expect(ds.classNames).to.deep.equal(want.classes);
    expect(ds.files.map((f, i) => [f, ds.labels[i]])).to.deep.equal(want.samples);
    // A link back into its own path is not entered again (os.walk would loop): from real_b/up
    // (= data), a/ is walked, but b_link and real_b (both real_b, on the path) are not.
    symlinkSync('..', join(tmp, 'data/real_b/up'));
    const looped = (await openDataset(`folder:${join(tmp, 'data')}`)) as ImageFilesDataset;
    expect(looped.files.filter((f) => f.startsWith('real_b/'))).to.deep.equal(['real_b/0.png', 'real_b/up/a/0.png', 'real_b/up/a/file-link.png', 'real_b/up/a/linked/0.png']);
  });

  it('readImages: each image at its own size in mode RGB or L, as PIL converts; a bad file names itself', async () => {
    await makeTree();
    const ds = await openDataset(`folder:${tmp}`, { folderSize: [12, 8] });
    const [a, d, c] = await ds.readImages([1, 3, 5], 'RGB');
    expect([a!.width, a!.height, a!.channels]).to.deep.equal([8, 12, 3]);
    expect(Buffer.from(a!.data).equals(pattern(12, 8, 3, 1))).to.equal(true);
    // grey → RGB: the grey level in each channel
    const grey = pattern(12, 8, 1, 4);
    for (let p = 0; p < 96; p++) for (let k = 0; k < 3; k++) expect(d!.data[p * 3 + k]).to.equal(grey[p]);
    // RGBA → RGB drops alpha (PIL's convert('RGB'))
    expect([c!.width, c!.height]).to.deep.equal([16, 24]);
    const rgba = pattern(24, 16, 4, 2);
    for (let p = 0; p < 24 * 16; p += 37) for (let k = 0; k < 3; k++) expect(c!.data[p * 3 + k]).to.equal(rgba[p * 4 + k]);
    const [dl] = await ds.readImages([3], 'L');
    expect(dl!.channels).to.equal(1);
    expect(Buffer.from(dl!.data).equals(grey)).to.equal(true);
    const e = await usageError(ds.readImages([0, 1], 'RGB'));
    expect(e.message).to.match(new RegExp(`^${join(tmp, 'bird/bad.png').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    const seen: string[] = [];
    const got = await ds.readImages([0, 1], 'RGB', { skipBad: true, onBad: (b) => seen.push(b.file) });
    expect(got[0]).to.equal(null);
    expect(got[1]).to.not.equal(null);
    expect(seen).to.deep.equal([join(tmp, 'bird/bad.png')]);
  });

  it('readBatch (the fixed-shape face): every image stretched to the face size with PIL bilinear', async () => {
    await makeTree();
    const ds = await openDataset(`folder:${tmp}`, { folderSize: [12, 8] });
    expect(ds.shape).to.deep.equal({ height: 12, width: 8, channels: 3 });
    const b = await ds.readBatch([1, 5]);
    expect(b.length).to.equal(2 * 12 * 8 * 3);
    expect(Buffer.from(b.subarray(0, 288)).equals(pattern(12, 8, 3, 1))).to.equal(true);
    const gray = await openDataset(`folder:${tmp}`, { folderSize: [4, 5], mode: 'L' });
    expect(gray.shape).to.deep.equal({ height: 4, width: 5, channels: 1 });
    expect((await gray.readBatch([3])).length).to.equal(20);
  });

  it('the cheap fingerprint: names, labels and sizes — not the pixels, not the directory', async () => {
    await makeTree();
    const fp = async (dir = tmp) => fingerprint(await openDataset(`folder:${dir}`));
    const f0 = await fp();
    expect(f0).to.match(/^[0-9a-f]{64}$/);
    // Same names, sizes and labels in another directory: same fingerprint.
    await withTmpDir('folder2', async (other) => {
      await (async () => {
        const save = tmp;
        tmp = other;
        await makeTree();
        tmp = save;
      })();
      expect(await fp(other)).to.equal(f0);
    });
    // A file of another size changes it.
    writeFileSync(join(tmp, 'cat/z.png'), await png(12, 9, 3, 2));
    const f1 = await fp();
    expect(f1).to.not.equal(f0);
    // A rename changes it.
    writeFileSync(join(tmp, 'cat/y.png'), await png(2, 2, 3, 2));
    expect(await fp()).to.not.equal(f1);
  });

  it('a tree with only train/ and test/ holds both splits', async () => {
    for (const s of ['train', 'test']) for (const c of ['a', 'b']) mkdirSync(join(tmp, s, c), { recursive: true });
    writeFileSync(join(tmp, 'train/a/1.png'), await png(4, 4, 3, 0));
    writeFileSync(join(tmp, 'train/b/1.png'), await png(4, 4, 3, 1));
    writeFileSync(join(tmp, 'train/b/2.png'), await png(4, 4, 3, 2));
    writeFileSync(join(tmp, 'test/a/1.png'), await png(4, 4, 3, 3));
    writeFileSync(join(tmp, 'test/b/1.png'), await png(4, 4, 3, 4));
    expect((await openDataset(`folder:${tmp}`)).size).to.equal(3);
    const te = await openDataset(`folder:${tmp}`, { split: 'test' });
    expect(te.size).to.equal(2);
    expect(Buffer.from(await te.get(0)).equals(pattern(4, 4, 3, 3))).to.equal(true);
  });

  it('EXPECTED FAILURE - no class folders / an empty class folder / missing or unreadable directory', async () => {
    expect((await usageError(openDataset(`folder:${tmp}`))).message).to.match(/has no class sub-folders/);
    mkdirSync(join(tmp, 'a'));
    writeFileSync(join(tmp, 'a/1.png'), await png(2, 2, 3, 0));
    mkdirSync(join(tmp, 'b'));
    expect((await usageError(openDataset(`folder:${tmp}`))).message).to.match(/class folder b\/ has no image files/);
    expect((await usageError(openDataset(`folder:${join(tmp, 'zzz')}`))).message).to.equal(`folder data directory not found: ${join(tmp, 'zzz')}`);
    if (process.getuid?.() !== 0) {
      // root reads any directory; the check below only means something for other users
      mkdirSync(join(tmp, 'locked'));
      chmodSync(join(tmp, 'locked'), 0);
      expect((await usageError(openDataset(`folder:${tmp}`))).message).to.match(/cannot read directory .*locked: EACCES/);
    }
  });

  describe('list:FILE', () => {
    it('path,label CSV with a header, quoted fields, class names sorted like ImageFolder', async () => {
      mkdirSync(join(tmp, 'img'));
      writeFileSync(join(tmp, 'img/1.png'), await png(4, 4, 3, 1));
      writeFileSync(join(tmp, 'img/a, b.png'), await png(4, 4, 3, 2));
      writeFileSync(join(tmp, 'list.csv'), 'path,label\nimg/1.png,zebra\n"img/a, b.png",ant\n');
      const ds = (await openDataset(`list:${join(tmp, 'list.csv')}`)) as ImageFilesDataset;
      expect(ds.kind).to.equal('list');
      expect(ds.classNames).to.deep.equal(['ant', 'zebra']);
      expect(Array.from(ds.labels)).to.deep.equal([1, 0]);
      expect(ds.files).to.deep.equal(['img/1.png', 'img/a, b.png']);
      expect(Buffer.from(await ds.get(1)).equals(pattern(4, 4, 3, 2))).to.equal(true);
    });

    // The mark was stripped from unquoted fields only (by trim): a quoted first field kept its
    // quotes, and the header went unrecognised.
    it('a UTF-8 byte-order mark before the first field, quoted or not, is ignored', () => {
      for (const text of ['\uFEFF"path","label"\n"a.jpg","cat"\n', '\uFEFFpath,label\na.jpg,cat\n', '\uFEFF"a.jpg",cat\n', '\uFEFFa.jpg\tcat\n']) {
        expect(parseList(text, 'l.csv'), JSON.stringify(text)).to.deep.equal({ paths: ['a.jpg'], rawLabels: ['cat'] });
      }
    });

    it('TSV and ImageNet val.txt style (space, integer labels)', () => {
      expect(parseList('a.jpg\t3\nb.jpg\t0\n', 'l.tsv')).to.deep.equal({ paths: ['a.jpg', 'b.jpg'], rawLabels: ['3', '0'] });
      expect(parseList('ILSVRC2012_val_00000001.JPEG 65\n# comment\n\nILSVRC2012_val_00000002.JPEG 970\n', 'val.txt')).to.deep.equal({
        paths: ['ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000002.JPEG'],
        rawLabels: ['65', '970'],
      });
    });

    it('integer labels are class indices (K = max + 1); the list file is part of the fingerprint', async () => {
      writeFileSync(join(tmp, '1.png'), await png(4, 4, 3, 1));
      writeFileSync(join(tmp, '2.png'), await png(4, 4, 3, 2));
      writeFileSync(join(tmp, 'l.txt'), '1.png 4\n2.png 0\n');
      const ds = await openDataset(`list:${join(tmp, 'l.txt')}`);
      expect(ds.numClasses).to.equal(5);
      expect(Array.from(ds.labels)).to.deep.equal([4, 0]);
      const f0 = await fingerprint(ds);
      writeFileSync(join(tmp, 'l.txt'), '1.png 4\n2.png 0\n# same rows, other bytes\n');
      expect(await fingerprint(await openDataset(`list:${join(tmp, 'l.txt')}`))).to.not.equal(f0);
    });

    it('EXPECTED FAILURE - empty list, a line without a label, mixed label kinds, missing file', async () => {
      writeFileSync(join(tmp, 'e.csv'), 'path,label\n');
      expect((await usageError(openDataset(`list:${join(tmp, 'e.csv')}`))).message).to.match(/lists no images/);
      writeFileSync(join(tmp, 'b.csv'), 'a.png,1\nb.png\n');
      expect((await usageError(openDataset(`list:${join(tmp, 'b.csv')}`))).message).to.match(/b\.csv line 2: expected "path,label"/);
      writeFileSync(join(tmp, 'm.csv'), 'a.png,1\nb.png,cat\n');
      expect((await usageError(openDataset(`list:${join(tmp, 'm.csv')}`))).message).to.match(/mix class indices/);
      expect((await usageError(openDataset(`list:${join(tmp, 'none.csv')}`))).message).to.match(/cannot read list data file .*none\.csv: ENOENT/);
    });
  });
});
