import { expect } from 'chai';
import { openDataset } from '../../../src/data/open.js';
import { evaluate, formatConfusion, pixelsToFloat, type Forward } from '../../../src/student/evaluate.js';
import { WorkError } from '../../../src/errors.js';
import { DATA } from './trainer-helpers.js';

describe('student/evaluate', () => {
  it('accuracy, mean cross-entropy and the confusion matrix of a known classifier', async () => {
    const ds = await openDataset(DATA, { split: 'test' });
    const K = ds.numClasses;
    // A fake model: logits from the first pixel; predicts class (first pixel mod K) with margin 2.
    const fwd: Forward = (pixels, n) => {
      const sb = ds.shape.height * ds.shape.width * ds.shape.channels;
      const z = new Float32Array(n * K);
      for (let r = 0; r < n; r++) z[r * K + (pixels[r * sb] % K)] = 2;
      return z;
    };
    const indices = Int32Array.from({ length: 50 }, (_, i) => i * 3);
    const r = await evaluate(fwd, ds, { indices, batch: 7 });
    // Independent scoring: −log softmax in double, one sample at a time.
    const all = await ds.readBatch(indices);
    const sb = all.length / indices.length;
    let correct = 0;
    let loss = 0;
    const conf = Array.from({ length: K }, () => new Array(K).fill(0));
    indices.forEach((s, r2) => {
      const pred = all[r2 * sb] % K;
      const y = ds.labels[s];
      const logZ = Math.log(Math.exp(2) + (K - 1));
      loss += logZ - (pred === y ? 2 : 0);
      if (pred === y) correct++;
      conf[y][pred]++;
    });
    expect(r.n).to.equal(50);
    expect(r.accuracy).to.equal(correct / 50);
    expect(r.loss).to.be.closeTo(loss / 50, 1e-6);
    expect(r.confusion).to.deep.equal(conf);
    expect(formatConfusion(r).split('\n')).to.have.length(K + 1);
  });

  it('pixelsToFloat is pixel / 255', () => {
    const x = pixelsToFloat(Uint8Array.from([0, 1, 128, 255]));
    expect(Array.from(x)).to.deep.equal([0, Math.fround(1 / 255), Math.fround(128 / 255), 1]);
  });

  it('EXPECTED FAILURE - a model with another K than the data set', async () => {
    const ds = await openDataset(DATA, { split: 'test' });
    const err = await evaluate((_p, n) => new Float32Array(n * 3), ds, { indices: Int32Array.from([0, 1]) }).catch((e) => e);
    expect(err).to.be.instanceOf(WorkError);
    expect(err.message).to.match(/3 logits|6 logits/);
  });
});
