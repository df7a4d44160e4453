import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryDataset } from '../../src/data/base.js';
import type { DatasetInit } from '../../src/data/base.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { openDataset } from '../../src/data/open.js';
import { withTmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const init = (over: Partial<DatasetInit> = {}): DatasetInit => ({
  kind: 'folder',
  spec: 'folder:/a',
  split: 'train',
  numClasses: 3,
  shape: { height: 2, width: 2, channels: 1 },
  labels: Int32Array.from([0, 2, 1]),
  ...over,
});
const px = () => Uint8Array.from({ length: 12 }, (_, i) => i * 10);

describe('data/fingerprint', () => {
  it('matches the independent Python reference on Fashion-MNIST (scripts/ref-fingerprint.py)', async function () {
    needs(this, 'dataset-fashion-mnist');
    const ds = await openDataset('fashion-mnist', { split: 'test' });
    expect(await fingerprint(ds)).to.equal('e29fed2a867c30e66caf6dc651660960468a75135e50e11fbde03fb4e95d200d');
  });

  it('is stable: same data → same hash, whatever the directory or the batch size', async () => {
    const a = await fingerprint(new MemoryDataset(init(), px()));
    expect(a).to.match(/^[0-9a-f]{64}$/);
    expect(await fingerprint(new MemoryDataset(init({ spec: 'folder:/elsewhere' }), px()), 1)).to.equal(a);
    const s1 = await fingerprint(await openDataset('synthetic:64:4:6x6x3:5'));
    expect(await fingerprint(await openDataset('synthetic:64:4:6x6x3:5'))).to.equal(s1);
  });

  it('is sensitive: one pixel, one label, the split, the kind or the shape change it', async () => {
    const a = await fingerprint(new MemoryDataset(init(), px()));
    const p = px();
    p[7] += 1;
    const variants = [
      new MemoryDataset(init(), p),
      new MemoryDataset(init({ labels: Int32Array.from([0, 2, 2]) }), px()),
      new MemoryDataset(init({ split: 'test' }), px()),
      new MemoryDataset(init({ kind: 'synthetic' }), px()),
      new MemoryDataset(init({ shape: { height: 1, width: 4, channels: 1 } }), px()),
    ];
    const all = await Promise.all(variants.map((d) => fingerprint(d)));
    for (const f of all) expect(f).to.not.equal(a);
    expect(new Set(all).size).to.equal(all.length);
  });

  it('the same files in two directories fingerprint alike; one changed byte does not', async () => {
    await withTmpDir('fp', async (tmp) => {
      const rec = (label: number, v: number) => Buffer.concat([Buffer.from([1, label]), Buffer.alloc(3072, v)]);
      for (const d of ['a', 'b', 'c']) mkdirSync(join(tmp, d));
      writeFileSync(join(tmp, 'a/test.bin'), Buffer.concat([rec(5, 1), rec(6, 2)]));
      writeFileSync(join(tmp, 'b/test.bin'), Buffer.concat([rec(5, 1), rec(6, 2)]));
      const c = Buffer.concat([rec(5, 1), rec(6, 2)]);
      c[3074 + 2 + 1500] = 3;
      writeFileSync(join(tmp, 'c/test.bin'), c);
      const fp = async (d: string) => fingerprint(await openDataset(`cifar100:${join(tmp, d)}`, { split: 'test' }));
      const fa = await fp('a');
      expect(await fp('b')).to.equal(fa);
      expect(await fp('c')).to.not.equal(fa);
    });
  });

  it('is computed once per data set object', async () => {
    const ds = new MemoryDataset(init(), px());
    const p1 = fingerprint(ds);
    expect(fingerprint(ds)).to.equal(p1);
    await p1;
  });
});
