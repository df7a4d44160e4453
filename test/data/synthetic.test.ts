import { expect } from 'chai';
import { openDataset } from '../../src/data/open.js';

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('data/synthetic', () => {
  it('has the asked count, classes and shape, with balanced labels', async () => {
    const ds = await openDataset('synthetic:103:5:8x6x3:9');
    expect(ds.kind).to.equal('synthetic');
    expect(ds.spec).to.equal('synthetic:103:5:8x6x3:9');
    expect(ds.size).to.equal(103);
    expect(ds.numClasses).to.equal(5);
    expect(ds.shape).to.deep.equal({ height: 8, width: 6, channels: 3 });
    const hist = new Array(5).fill(0);
    for (const l of ds.labels) hist[l]++;
    expect(hist).to.deep.equal([21, 21, 21, 20, 20]);
    // Shuffled, not 0,1,2,3,4,0,…
    expect(Array.from(ds.labels.slice(0, 10))).to.not.deep.equal([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  });

  it('same seed → same bytes (fresh objects), different seed or split → different bytes', async () => {
    const a = await openDataset('synthetic:50:4:8x8x1:3');
    const b = await openDataset('synthetic:50:4:8x8x1:3');
    const c = await openDataset('synthetic:50:4:8x8x1:4');
    const t = await openDataset('synthetic:50:4:8x8x1:3', { split: 'test' });
    const pa = await a.readBatch(all(50));
    // b read in a different order first: memoisation must not change anything.
    await b.readBatch([49, 3, 17]);
    const pb = await b.readBatch(all(50));
    expect(Buffer.from(pa).equals(Buffer.from(pb))).to.equal(true);
    expect(Array.from(a.labels)).to.deep.equal(Array.from(b.labels));
    expect(Buffer.from(pa).equals(Buffer.from(await c.readBatch(all(50))))).to.equal(false);
    expect(Buffer.from(pa).equals(Buffer.from(await t.readBatch(all(50))))).to.equal(false);
    expect(Array.from(await a.get(7))).to.deep.equal(Array.from(pa.subarray(7 * 64, 8 * 64)));
  });

  it('pixels use the whole range and differ between samples', async () => {
    const ds = await openDataset('synthetic:20:2:16x16x3');
    const px = await ds.readBatch(all(20));
    let min = 255;
    let max = 0;
    for (const v of px) [min, max] = [Math.min(min, v), Math.max(max, v)];
    expect(min).to.be.below(20);
    expect(max).to.be.above(200);
    expect(Buffer.from(await ds.get(0)).equals(Buffer.from(await ds.get(1)))).to.equal(false);
  });

  it('is learnable: nearest-centroid on raw pixels beats chance (0.1) by far', async () => {
    const tr = await openDataset('synthetic:1000:10:12x12x3:1');
    const te = await openDataset('synthetic:300:10:12x12x3:1', { split: 'test' });
    const sb = 12 * 12 * 3;
    const X = await tr.readBatch(all(tr.size));
    const cent = new Float64Array(10 * sb);
    const cnt = new Array(10).fill(0);
    for (let i = 0; i < tr.size; i++) {
      const l = tr.labels[i];
      cnt[l]++;
      for (let j = 0; j < sb; j++) cent[l * sb + j] += X[i * sb + j];
    }
    for (let c = 0; c < 10; c++) for (let j = 0; j < sb; j++) cent[c * sb + j] /= cnt[c];
    const Y = await te.readBatch(all(te.size));
    let ok = 0;
    for (let i = 0; i < te.size; i++) {
      let best = -1;
      let bd = Infinity;
      for (let c = 0; c < 10; c++) {
        let d = 0;
        for (let j = 0; j < sb; j++) d += (Y[i * sb + j] - cent[c * sb + j]) ** 2;
        if (d < bd) [bd, best] = [d, c];
      }
      if (best === te.labels[i]) ok++;
    }
    const acc = ok / te.size;
    console.log(`      nearest-centroid accuracy ${acc.toFixed(3)}`);
    expect(acc).to.be.above(0.5);
  });
});
