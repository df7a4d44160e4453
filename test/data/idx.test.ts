import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openDataset } from '../../src/data/open.js';
import { usageError } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';

function be32(...vals: number[]): Buffer {
  const b = Buffer.alloc(vals.length * 4);
  vals.forEach((v, i) => b.writeUInt32BE(v, i * 4));
  return b;
}

/** A tiny IDX pair: n images of rows×cols with pixel (i, y, x) = (i*31 + y*7 + x) & 255. */
function writeIdx(dir: string, prefix: string, n: number, rows: number, cols: number, labels: number[], opts: { gzip?: boolean; imagesMagic?: number; labelCount?: number } = {}) {
  const px = Buffer.alloc(n * rows * cols);
  for (let i = 0; i < n; i++) for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) px[(i * rows + y) * cols + x] = (i * 31 + y * 7 + x) & 255;
  const images = Buffer.concat([be32(opts.imagesMagic ?? 0x803, n, rows, cols), px]);
  const lab = Buffer.concat([be32(0x801, opts.labelCount ?? labels.length), Buffer.from(labels)]);
  const gz = (b: Buffer) => (opts.gzip ? gzipSync(b) : b);
  const ext = opts.gzip ? '.gz' : '';
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte${ext}`), gz(images));
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte${ext}`), gz(lab));
}


describe('data/idx', () => {
  let tmp: string;
  beforeEach(() => (tmp = tmpDir('idx')));
  afterEach(() => rmDir(tmp));

  // Reference values from numpy (gzip + np.frombuffer(offset=16/8)) on the Debian files:
  // labels[:10], sums of single images and of the whole split, single pixels.
  it('reads the real Fashion-MNIST training split (60000, 10 classes, 28x28x1, 6000 per class)', async function () {
    needs(this, 'dataset-fashion-mnist');
    const ds = await openDataset('fashion-mnist');
    expect(ds.kind).to.equal('fashion-mnist');
    expect(ds.split).to.equal('train');
    expect(ds.spec).to.equal(`fashion-mnist:${FMNIST}`);
    expect(ds.size).to.equal(60000);
    expect(ds.numClasses).to.equal(10);
    expect(ds.shape).to.deep.equal({ height: 28, width: 28, channels: 1 });
    const hist = new Array(10).fill(0);
    for (const l of ds.labels) hist[l]++;
    expect(hist).to.deep.equal(new Array(10).fill(6000));
    expect(Array.from(ds.labels.slice(0, 10))).to.deep.equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect(ds.labels[59999]).to.equal(5);
    const x0 = await ds.get(0);
    expect(x0.length).to.equal(784);
    expect(x0.reduce((a, b) => a + b, 0)).to.equal(76247);
    expect(x0[14 * 28 + 14]).to.equal(217);
    expect(x0[5 * 28 + 20]).to.equal(23);
    expect((await ds.get(59999)).reduce((a, b) => a + b, 0)).to.equal(16684);
    let total = 0;
    for await (const b of ds.iterate(4096)) for (let i = 0; i < b.pixels.length; i++) total += b.pixels[i];
    expect(total).to.equal(3431114169);
    expect(ds.classNames?.[9]).to.equal('Ankle boot');
  });

  it('reads the real test split (10000, 1000 per class)', async function () {
    needs(this, 'dataset-fashion-mnist');
    const ds = await openDataset('fashion-mnist', { split: 'test' });
    expect(ds.size).to.equal(10000);
    expect(Array.from(ds.labels.slice(0, 10))).to.deep.equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    const x0 = await ds.get(0);
    expect(x0.reduce((a, b) => a + b, 0)).to.equal(33456);
    expect(x0[20 * 28 + 10]).to.equal(126);
    const hist = new Array(10).fill(0);
    for (const l of ds.labels) hist[l]++;
    expect(hist).to.deep.equal(new Array(10).fill(1000));
  });

  it('readBatch packs samples in the order asked and writes into out', async function () {
    needs(this, 'dataset-fashion-mnist');
    const ds = await openDataset('fashion-mnist', { split: 'test' });
    const out = new Uint8Array(3 * 784 + 5);
    const r = await ds.readBatch([7, 0, 7], out);
    expect(r).to.equal(out);
    const x0 = await ds.get(0);
    const x7 = await ds.get(7);
    expect(Array.from(out.subarray(784, 1568))).to.deep.equal(Array.from(x0));
    expect(Array.from(out.subarray(0, 784))).to.deep.equal(Array.from(x7));
    expect(Array.from(out.subarray(1568, 2352))).to.deep.equal(Array.from(x7));
    // get() hands out a copy: writing into it does not change the data set.
    x0[0] = 99;
    expect((await ds.get(0))[0]).to.equal(0);
  });

  it('BAD CALL - out-of-range indices and a too small out buffer', async function () {
    needs(this, 'dataset-fashion-mnist');
    const ds = await openDataset('fashion-mnist', { split: 'test' });
    let err: unknown;
    await ds.get(10000).catch((e) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
    err = undefined;
    await ds.readBatch([0, 1], new Uint8Array(784)).catch((e) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
  });

  it('reads ungzipped and gzipped IDX files alike (mnist:DIR)', async () => {
    writeIdx(tmp, 'train', 3, 2, 4, [1, 0, 9]);
    writeIdx(tmp, 't10k', 2, 2, 4, [4, 5], { gzip: true });
    const tr = await openDataset(`mnist:${tmp}`);
    expect(tr.kind).to.equal('mnist');
    expect(tr.size).to.equal(3);
    expect(tr.shape).to.deep.equal({ height: 2, width: 4, channels: 1 });
    expect(Array.from(tr.labels)).to.deep.equal([1, 0, 9]);
    // sample 2, y=1, x=3: (2*31 + 7 + 3) = 72
    expect((await tr.get(2))[1 * 4 + 3]).to.equal(72);
    const te = await openDataset(`mnist:${tmp}`, { split: 'test' });
    expect(Array.from(te.labels)).to.deep.equal([4, 5]);
    expect(Array.from(await te.get(1))).to.deep.equal([31, 32, 33, 34, 38, 39, 40, 41]);
  });

  it('EXPECTED FAILURE - bad magic number names the file', async () => {
    writeIdx(tmp, 'train', 2, 2, 2, [0, 1], { imagesMagic: 0x802 });
    const e = await usageError(openDataset(`mnist:${tmp}`));
    expect(e.message).to.include('bad IDX magic 0x00000802');
    expect(e.message).to.include(join(tmp, 'train-images-idx3-ubyte'));
  });

  it('EXPECTED FAILURE - label count differs from the header / from the images', async () => {
    writeIdx(tmp, 'train', 2, 2, 2, [0, 1], { labelCount: 3 });
    expect((await usageError(openDataset(`mnist:${tmp}`))).message).to.match(/header says 11 \(3 labels\)/);
    writeIdx(tmp, 'train', 2, 2, 2, [0, 1, 2]);
    expect((await usageError(openDataset(`mnist:${tmp}`))).message).to.match(/count mismatch: 2 images .* but 3 labels/);
  });

  it('EXPECTED FAILURE - truncated image file, label out of range', async () => {
    writeIdx(tmp, 'train', 2, 2, 2, [0, 1]);
    const p = join(tmp, 'train-images-idx3-ubyte');
    writeFileSync(p, Buffer.concat([be32(0x803, 2, 2, 2), Buffer.alloc(7)]));
    expect((await usageError(openDataset(`mnist:${tmp}`))).message).to.include(`${p} has 23 bytes, header says 24`);
    writeIdx(tmp, 'train', 2, 2, 2, [0, 10]);
    expect((await usageError(openDataset(`mnist:${tmp}`))).message).to.match(/label 10 of sample 1 .* outside \[0, 10\)/);
  });

  it('EXPECTED FAILURE - missing directory or files name the path', async () => {
    const missing = join(tmp, 'nope');
    expect((await usageError(openDataset(`mnist:${missing}`))).message).to.equal(`mnist data directory not found: ${missing}`);
    expect((await usageError(openDataset(`fashion-mnist:${tmp}`))).message).to.include(join(tmp, 'train-images-idx3-ubyte.gz'));
  });
});
