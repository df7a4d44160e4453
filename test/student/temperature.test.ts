/**
 * src/student/temperature.ts on its own: the spill file gives back every row in order whatever
 * its chunk size, and the fit does not depend on the chunking; the fit's T is where the NLL's
 * derivative changes sign (checked by finite differences of an independent NLL); the file is
 * removed afterwards, and evaluate() leaves nothing in the temporary folder. The fit against
 * PyTorch (autograd derivative, bisection) is in evaluate.test.ts.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import { evaluate, type Forward } from '../../src/student/evaluate.js';
import { fitTemperature, LogitSpill } from '../../src/student/temperature.js';
import { openDataset } from '../../src/data/open.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

/** Seeded logits of n rows × K (a rough classifier: the label's logit raised by `lift`) and labels. */
function sample(n: number, K: number, lift: number, seed: number): { z: Float32Array; y: Int32Array } {
  let s = seed >>> 0;
  const rnd = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const z = new Float32Array(n * K);
  const y = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    y[r] = Math.floor(rnd() * K);
    for (let k = 0; k < K; k++) z[r * K + k] = 4 * (rnd() - 0.5) + (k === y[r] ? lift : 0);
  }
  return { z, y };
}

/** The mean NLL of softmax(z / T), in float64, written out plainly (no shared code with the fit). */
function nll(z: Float32Array, y: Int32Array, K: number, T: number): number {
  let sum = 0;
  for (let r = 0; r < y.length; r++) {
    const row = Array.from(z.subarray(r * K, (r + 1) * K), (v) => v / T);
    const m = Math.max(...row);
    sum += m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[y[r]];
  }
  return sum / y.length;
}

describe('student/temperature: the temperature fit and its spill file', () => {
  let tmp: string;
  const saved = process.env.TMPDIR;
  before(() => {
    tmp = tmpDir('temperature');
    process.env.TMPDIR = tmp; // os.tmpdir() reads it: the spill goes where this test can look
  });
  after(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    rmDir(tmp);
  });

  it('the spill gives back every row in order for any chunk size; the fit is the same; the file goes with dispose', () => {
    const K = 7;
    const { z, y } = sample(1000, K, 2, 1);
    const fits: number[] = [];
    for (const chunk of [4 << 20, 28 * 13, 1, 28 * 1000]) {
      const spill = new LogitSpill(K, chunk);
      for (let i = 0; i < 1000; i += 64) spill.append(z.subarray(i * K, Math.min(1000, i + 64) * K));
      expect(spill.n).to.equal(1000);
      const back = new Float32Array(1000 * K);
      let chunks = 0;
      spill.forEachChunk((c, first) => {
        back.set(c, first * K);
        chunks++;
      });
      expect(Buffer.from(back.buffer).equals(Buffer.from(z.buffer)), `chunk ${chunk}`).to.equal(true);
      expect(chunks, `chunk ${chunk} bytes`).to.equal(Math.ceil(1000 / Math.max(1, Math.min(1000, Math.floor(chunk / (4 * K))))));
      fits.push(fitTemperature(spill, (r) => y[r]).temperature);
      expect(fs.readdirSync(tmp).filter((f) => f.startsWith('tfkd-eval-'))).to.have.length(1);
      spill.dispose();
      expect(fs.readdirSync(tmp).filter((f) => f.startsWith('tfkd-eval-'))).to.have.length(0);
    }
    expect(new Set(fits).size, `fits ${fits.join(', ')}`).to.equal(1);
  });

  it('the fitted T sits at the NLL\'s minimum: finite differences of a plain NLL change sign there', () => {
    for (const [lift, K] of [[0.5, 3], [2, 10], [3, 10], [1, 100]]) {
      const { z, y } = sample(400, K, lift, 7 + K);
      const spill = new LogitSpill(K);
      try {
        spill.append(z);
        const f = fitTemperature(spill, (r) => y[r]);
        expect(f.bound).to.equal(null);
        const T = f.temperature;
        const h = 1e-4 * T;
        const left = nll(z, y, K, T - h) - nll(z, y, K, T);
        const right = nll(z, y, K, T + h) - nll(z, y, K, T);
        console.log(`      lift ${lift}, K ${K}: T ${T.toFixed(6)} in ${f.passes} passes; NLL(T ∓ 1e-4 T) − NLL(T) = ${left.toExponential(2)}, ${right.toExponential(2)}`);
        expect(left, 'NLL rises to the left').to.be.above(0);
        expect(right, 'NLL rises to the right').to.be.above(0);
      } finally {
        spill.dispose();
      }
    }
  });

  it('no samples: T = 1 without a pass; evaluate() with --fit-temperature leaves the temporary folder as it found it', async () => {
    const spill = new LogitSpill(4);
    try {
      expect(fitTemperature(spill, () => 0)).to.deep.equal({ temperature: 1, bound: null, passes: 0 });
    } finally {
      spill.dispose();
    }
    const ds = await openDataset('synthetic:300:5:2x2x1:2', { split: 'test' });
    const fwd: Forward = (px, n) => Float32Array.from({ length: n * 5 }, (_, i) => px[Math.floor(i / 5) * 4 + (i % 4)] / 64 + (i % 5) / 10);
    const r = await evaluate(fwd, ds, { batch: 64, fitTemperature: true });
    expect(r.temperatureFit!.passes).to.be.above(0);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('tfkd-eval-'))).to.deep.equal([]);
    // And when the model fails half way, too.
    let calls = 0;
    const failing: Forward = (px, n) => {
      if (++calls === 3) throw new Error('model failed');
      return fwd(px, n);
    };
    let err: Error | null = null;
    await evaluate(failing, ds, { batch: 64, fitTemperature: true }).catch((e: Error) => (err = e));
    expect(err).to.match(/model failed/);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('tfkd-eval-'))).to.deep.equal([]);
  });
});
