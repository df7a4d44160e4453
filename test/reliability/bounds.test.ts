/**
 * Issue 26 in `npm test`: the slice of `npm run faults` sections bounds and scale
 * (scripts/faults/bounds.ts, scale.ts) — label lists past the old stack limit, readers bounded by
 * type and size (shards, hashes, image files), an --out below a read-only location, NaN model
 * outputs, a foreign manifest.json. The CLI cases run as child processes with a time limit, so a
 * regression to a hang fails the test instead of stalling the suite.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openList } from '../../src/data/list.js';
import { maxImageBytes, DEFAULT_MAX_IMAGE_BYTES } from '../../src/data/pil/limits.js';
import { decodeImage } from '../../src/data/pil/decode.js';
import { sha256File } from '../../src/util/hash.js';
import { endlessShards, oddInputs, oversizedImages, readOnlyOut } from '../../scripts/faults/bounds.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const PHOTOS = new URL('../fixtures/photos/', import.meta.url).pathname;

describe('reliability: bounded reads, lists of any length (issue 26)', function () {
  this.timeout(600000);
  let root: string;
  let teacher: string;
  before(() => {
    root = tmpDir('bounds');
    teacher = writeTinyTeacher(root, { numClasses: 3 });
  });
  after(() => rmDir(root));

  it('a list: of 200 000 integer-labelled lines opens (past the ~120 000 where Math.max(...labels) overflowed the stack)', async () => {
    const file = path.join(root, 'big.txt');
    const photos = ['flower/01_jpeg.jpg', 'leaf/08_jpeg.jpg', 'landscape/16_jpeg.jpg'];
    let text = '';
    for (let i = 0; i < 200000; i++) text += `${PHOTOS}${photos[i % 3]} ${(i * 7) % 1000}\n`;
    fs.writeFileSync(file, text);
    const ds = await openList(file, 'train', `list:${file}`);
    expect(ds.size).to.equal(200000);
    expect(ds.numClasses).to.equal(1000); // the largest label (999) + 1, found by a loop
    expect(ds.labels[199999]).to.equal((199999 * 7) % 1000);
  });

  it('sha256File refuses a device (it would never end) and hashes a regular file', () => {
    expect(() => sha256File('/dev/zero')).to.throw(/\/dev\/zero: not a regular file \(a character device/);
    const f = path.join(root, 'x.bin');
    fs.writeFileSync(f, 'abc');
    expect(sha256File(f)).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('image files: the encoded-size limit applies before reading; TFKD_MAX_IMAGE_BYTES overrides it', async () => {
    const saved = process.env.TFKD_MAX_IMAGE_BYTES;
    try {
      delete process.env.TFKD_MAX_IMAGE_BYTES;
      expect(maxImageBytes()).to.equal(DEFAULT_MAX_IMAGE_BYTES);
      process.env.TFKD_MAX_IMAGE_BYTES = '512M';
      expect(maxImageBytes()).to.equal(512 * 2 ** 20);
      process.env.TFKD_MAX_IMAGE_BYTES = 'lots';
      expect(() => maxImageBytes()).to.throw(/TFKD_MAX_IMAGE_BYTES must be a size/);
      delete process.env.TFKD_MAX_IMAGE_BYTES;
      const photo = path.join(PHOTOS, 'flower/01_jpeg.jpg');
      const size = fs.statSync(photo).size;
      await decodeImage(photo, 'RGB', { maxFileBytes: size }); // exactly at the limit: read
      let err: unknown;
      await decodeImage(photo, 'RGB', { maxFileBytes: size - 1 }).catch((e) => (err = e));
      expect(String(err)).to.match(new RegExp(`01_jpeg\\.jpg: ${size} bytes exceeds the encoded-image limit of ${size - 1} bytes \\(not read\\)`));
    } finally {
      if (saved === undefined) delete process.env.TFKD_MAX_IMAGE_BYTES;
      else process.env.TFKD_MAX_IMAGE_BYTES = saved;
    }
  });

  it('a shard linked to /dev/zero: verify and train fail in seconds naming it; the --out is not locked and the same command runs once mended', () => {
    const f = endlessShards(root, teacher, ['/dev/zero']);
    console.log(`      ${f.ok}/${f.cases} shard cases`);
    expect(f.failures).to.deep.equal([]);
    expect(f.ok).to.equal(2);
  });

  it('image files that are a 1.9 GiB sparse file or /dev/zero are refused before they are read', () => {
    const f = oversizedImages(root);
    console.log(`      ${f.ok}/${f.cases} image cases, peak RSS with the 1.9 GiB file: ${f.peakMiB} MiB`);
    expect(f.failures).to.deep.equal([]);
  });

  it('--out below a read-only location: precompute, train, merge, experiment exit 2 with one line, nothing written', function () {
    const f = readOnlyOut(root, teacher);
    if (f.skipped) this.skip();
    console.log(`      ${f.ok}/${f.cases} (${f.how})`);
    expect(f.failures).to.deep.equal([]);
  });

  it('eval of a model whose outputs are NaN is exit 1 with the count; a foreign manifest.json is one short line', () => {
    const f = oddInputs(root);
    expect(f.failures).to.deep.equal([]);
    expect(f.ok).to.equal(4);
  });
});
