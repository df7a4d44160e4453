import { expect } from 'chai';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CifarDataset } from '../../src/data/cifar.js';
import { openDataset } from '../../src/data/open.js';
import { usageError } from './helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

/**
 * Fixture records in the official layout: [label] (cifar10) or [coarse, fine] (cifar100), then
 * 1024 R, 1024 G, 1024 B bytes, each plane 32×32 row-major. Record r, channel c, pixel (y, x)
 * holds (r*13 + c*50 + y*3 + x) & 255, so the HWC value at (y, x, c) is checkable by hand.
 */
function record(r: number, labels: number[]): Buffer {
  const b = Buffer.alloc(labels.length + 3072);
  labels.forEach((l, i) => (b[i] = l));
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) b[labels.length + c * 1024 + y * 32 + x] = (r * 13 + c * 50 + y * 3 + x) & 255;
  return b;
}
const expected = (r: number, y: number, x: number, c: number) => (r * 13 + c * 50 + y * 3 + x) & 255;


describe('data/cifar', () => {
  let tmp: string;
  beforeEach(() => (tmp = tmpDir('cifar')));
  afterEach(() => rmDir(tmp));

  function writeCifar10(dir: string) {
    // 5 training batches of 2 records (labels 2b, 2b+1), a test batch of 3 records.
    let r = 0;
    for (let b = 1; b <= 5; b++) {
      writeFileSync(join(dir, `data_batch_${b}.bin`), Buffer.concat([record(r++, [(2 * b - 2) % 10]), record(r++, [(2 * b - 1) % 10])]));
    }
    writeFileSync(join(dir, 'test_batch.bin'), Buffer.concat([record(100, [3]), record(101, [9]), record(102, [0])]));
  }

  it('CIFAR-10: 5 training batches in order, CHW → HWC, labels', async () => {
    writeCifar10(tmp);
    const ds = await openDataset(`cifar10:${tmp}`);
    expect(ds.kind).to.equal('cifar10');
    expect(ds.size).to.equal(10);
    expect(ds.numClasses).to.equal(10);
    expect(ds.shape).to.deep.equal({ height: 32, width: 32, channels: 3 });
    expect(Array.from(ds.labels)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const x7 = await ds.get(7);
    // HWC index of (y=5, x=9, c=2) = (5*32 + 9)*3 + 2
    expect(x7[(5 * 32 + 9) * 3 + 2]).to.equal(expected(7, 5, 9, 2));
    expect(x7[0]).to.equal(expected(7, 0, 0, 0));
    expect(x7[1]).to.equal(expected(7, 0, 0, 1));
    expect(x7[3]).to.equal(expected(7, 0, 1, 0));
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) {
      if (x7[(y * 32 + x) * 3 + c] !== expected(7, y, x, c)) throw new Error(`pixel (${y},${x},${c}) wrong`);
    }
    expect(ds.classNames?.[0]).to.equal('airplane');
    const te = await openDataset(`cifar10:${tmp}`, { split: 'test' });
    expect(te.size).to.equal(3);
    expect(Array.from(te.labels)).to.deep.equal([3, 9, 0]);
    expect((await te.get(2))[(31 * 32 + 31) * 3 + 1]).to.equal(expected(102, 31, 31, 1));
  });

  it('CIFAR-10: also accepts the tarball folder cifar-10-batches-bin below DIR, and its label names', async () => {
    const inner = join(tmp, 'cifar-10-batches-bin');
    mkdirSync(inner);
    writeCifar10(inner);
    writeFileSync(join(inner, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
    const ds = await openDataset(`cifar10:${tmp}`, { split: 'test' });
    expect(ds.size).to.equal(3);
    expect(ds.classNames).to.deep.equal(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  });

  it('CIFAR-100: fine labels used, coarse kept, K = 100', async () => {
    writeFileSync(join(tmp, 'train.bin'), Buffer.concat([record(0, [19, 99]), record(1, [0, 42]), record(2, [5, 7])]));
    writeFileSync(join(tmp, 'test.bin'), record(3, [1, 63]));
    const ds = (await openDataset(`cifar100:${tmp}`)) as CifarDataset;
    expect(ds.kind).to.equal('cifar100');
    expect(ds.numClasses).to.equal(100);
    expect(Array.from(ds.labels)).to.deep.equal([99, 42, 7]);
    expect(Array.from(ds.coarseLabels!)).to.deep.equal([19, 0, 5]);
    const x1 = await ds.get(1);
    expect(x1[(10 * 32 + 20) * 3 + 1]).to.equal(expected(1, 10, 20, 1));
    const te = await openDataset(`cifar100:${tmp}`, { split: 'test' });
    expect(Array.from(te.labels)).to.deep.equal([63]);
    expect((await te.get(0))[2]).to.equal(expected(3, 0, 0, 2));
  });

  it('EXPECTED FAILURE - a missing batch file is named', async () => {
    writeCifar10(tmp);
    rmSync(join(tmp, 'data_batch_4.bin'));
    expect((await usageError(openDataset(`cifar10:${tmp}`))).message).to.equal(`cifar10 file not found: ${join(tmp, 'data_batch_4.bin')}`);
  });

  it('EXPECTED FAILURE - a truncated file and an out-of-range label', async () => {
    writeFileSync(join(tmp, 'test.bin'), Buffer.concat([record(0, [1, 2]), Buffer.alloc(10)]));
    expect((await usageError(openDataset(`cifar100:${tmp}`, { split: 'test' }))).message).to.match(/has 3084 bytes, not a whole number of 3074-byte records/);
    writeFileSync(join(tmp, 'test.bin'), record(0, [1, 100]));
    expect((await usageError(openDataset(`cifar100:${tmp}`, { split: 'test' }))).message).to.match(/label 100 of record 0 .* outside \[0, 100\)/);
  });
});
