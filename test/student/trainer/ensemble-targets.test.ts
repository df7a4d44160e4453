/**
 * Teacher ensembles (several --cache) on the trainer's path: each teacher written as an f32 cache,
 * read back by `batchTeacher` (student/trainer/targets.ts), fed to `dkd`, `nkd` and `wsld`.
 *
 * The ensemble's log-probabilities were log(mean of float32 probabilities): −∞ on every class more
 * than about 104·τ below its row's max in every teacher, so WSLD's CE_t was 0·(−∞) = NaN and the
 * non-target softmax of NKD and DKD collapsed onto the target (1e9 and 1000/τ per row). They are now
 * logsumexp_m(log p_m) − log M in double. Checked against:
 *  - scripts/golden_authors_losses.py `ensembleCases`: float64 PyTorch with the teacher the mean of
 *    the teachers' probabilities (DKD through its authors' function, NKD and WSLD restated from
 *    cls_KD with the ensemble's p_1 and p_τ): value and gradient within 1e-5 relative, the
 *    tolerance of losses-authors.test.ts (max |Δ grad| / max |grad|);
 *  - the same cache given 2 and 3 times: the one-cache loss and gradient within 1e-6 relative
 *    (they agree exactly), and the authors' golden value for that one teacher (1e-5) — on every
 *    golden fixture, the one-hot (gap 1e4) and extreme (scale 40) teachers included.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openCache, type CacheReader } from '../../../src/cache/reader.js';
import { encodeRows } from '../../../src/cache/rows.js';
import { CacheWriter } from '../../../src/cache/writer.js';
import { lossContext, lossEntry, type LossOptions } from '../../../src/student/losses/index.js';
import type { BatchTeacher } from '../../../src/student/losses/types.js';
import { tf } from '../../../src/student/tf.js';
import { batchTeacher } from '../../../src/student/trainer/targets.js';
import { synthSetup } from '../../cache/helpers.js';

interface Fx {
  id: string;
  B: number;
  K: number;
  logits: number[];
  labels: number[];
  teacherLogits?: number[];
  teachers?: number[][];
}
interface Case {
  fixture: string;
  loss: string;
  epoch: number;
  epochs?: number;
  options: Record<string, number>;
  value: number;
  grad: number[];
}
const golden = JSON.parse(fs.readFileSync(new URL('../../fixtures/golden/losses-authors.json', import.meta.url), 'utf8')) as {
  fixtures: Fx[];
  cases: Case[];
  ensembleFixtures: Fx[];
  ensembleCases: Case[];
};
const RTOL = 1e-5;
const SAME_RTOL = 1e-6;

describe('student/trainer: teacher ensembles in log space (dkd, nkd, wsld)', () => {
  let root: string;
  const caches: CacheReader[] = [];
  before(async () => {
    await tf.setBackend('cpu');
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-ens-'));
  });
  after(() => {
    for (const c of caches) c.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Writes `logits` (B·K) as a one-view f32 cache and opens it. */
  function cacheOf(logits: ArrayLike<number>, B: number, K: number): CacheReader {
    const dir = path.join(root, `c${caches.length}`);
    const { layout, base } = synthSetup({ N: B, K, shardRows: B });
    const w = CacheWriter.open(dir, layout);
    w.append(encodeRows(Float32Array.from(logits), B, K, 'f32', null, 0, 1));
    w.finish(base);
    const c = openCache(dir);
    caches.push(c);
    return c;
  }

  function run(loss: string, fx: Fx, teacher: BatchTeacher, c: Case): { value: number; grad: Float32Array } {
    const options: LossOptions = { numClasses: fx.K, fidelity: 'paper', logitStandardization: false, ...c.options };
    const logits = tf.tensor2d(fx.logits, [fx.B, fx.K], 'float32');
    const labels = tf.tensor1d(fx.labels, 'int32');
    const fn = lossEntry(loss).fn;
    const { value, grad } = tf.valueAndGrad((z: tf.Tensor) =>
      fn({ ...lossContext({ logits: z as tf.Tensor2D, labels, options, epoch: c.epoch, epochs: c.epochs ?? 240 }), teacher }),
    )(logits);
    const out = { value: value.dataSync()[0], grad: grad.dataSync() as Float32Array };
    tf.dispose([logits, labels, value, grad]);
    return out;
  }

  function rel(v: number, g: ArrayLike<number>, c: { value: number; grad: ArrayLike<number> }): { relV: number; relG: number; maxD: number } {
    let scale = 0;
    let maxD = 0;
    for (let i = 0; i < g.length; i++) {
      scale = Math.max(scale, Math.abs(c.grad[i]));
      maxD = Math.max(maxD, Math.abs(g[i] - c.grad[i]));
    }
    return { relV: Math.abs(v - c.value) / Math.abs(c.value), relG: maxD / scale, maxD };
  }

  const all = (B: number) => ({ samples: Int32Array.from({ length: B }, (_, i) => i), views: new Int32Array(B) });
  const worst = { ens: { v: 0, g: 0 }, same: { v: 0, g: 0 }, sameVsAuthors: { v: 0, g: 0 } };

  describe('M different teachers vs float64 PyTorch (ensembleCases)', () => {
    const fixtures = new Map(golden.ensembleFixtures.map((f) => [f.id, f]));
    for (const c of golden.ensembleCases) {
      it(`${c.loss} on ${c.fixture} (epoch ${c.epoch}): value and gradient within ${RTOL} relative`, () => {
        const fx = fixtures.get(c.fixture)!;
        const readers = fx.teachers!.map((t) => cacheOf(t, fx.B, fx.K));
        const { samples, views } = all(fx.B);
        const { value, grad } = run(c.loss, fx, batchTeacher(readers, samples, views), c);
        const r = rel(value, grad, c);
        worst.ens.v = Math.max(worst.ens.v, r.relV);
        worst.ens.g = Math.max(worst.ens.g, r.relG);
        expect(Number.isFinite(value), `value ${value}`).to.equal(true);
        expect(r.relV, `value ${value} vs ${c.value}`).to.be.at.most(RTOL);
        expect(r.relG, `grad max |Δ| ${r.maxD.toExponential(3)}`).to.be.at.most(RTOL);
      });
    }
  });

  describe('the same cache M times = that cache once = the authors\' code on it', () => {
    const fixtures = new Map(golden.fixtures.map((f) => [f.id, f]));
    for (const c of golden.cases.filter((k) => ['dkd', 'nkd', 'wsld'].includes(k.loss))) {
      it(`${c.loss} on ${c.fixture} (epoch ${c.epoch}): M = 2, 3 give the one-cache loss (${SAME_RTOL}) and the golden (${RTOL})`, () => {
        const fx = fixtures.get(c.fixture)!;
        const one = cacheOf(fx.teacherLogits!, fx.B, fx.K);
        const { samples, views } = all(fx.B);
        const single = run(c.loss, fx, batchTeacher([one], samples, views), c);
        const a = rel(single.value, single.grad, c);
        worst.sameVsAuthors.v = Math.max(worst.sameVsAuthors.v, a.relV);
        worst.sameVsAuthors.g = Math.max(worst.sameVsAuthors.g, a.relG);
        expect(a.relV, `one cache: value ${single.value} vs ${c.value}`).to.be.at.most(RTOL);
        expect(a.relG, `one cache: grad max |Δ| ${a.maxD.toExponential(3)}`).to.be.at.most(RTOL);
        for (const M of [2, 3]) {
          const copies = Array.from({ length: M }, () => cacheOf(fx.teacherLogits!, fx.B, fx.K));
          const ens = run(c.loss, fx, batchTeacher(copies, samples, views), c);
          const r = rel(ens.value, ens.grad, { value: single.value, grad: Array.from(single.grad) });
          worst.same.v = Math.max(worst.same.v, r.relV);
          worst.same.g = Math.max(worst.same.g, r.relG);
          expect(r.relV, `M = ${M}: value ${ens.value} vs one cache ${single.value}`).to.be.at.most(SAME_RTOL);
          expect(r.relG, `M = ${M}: grad max |Δ| ${r.maxD.toExponential(3)}`).to.be.at.most(SAME_RTOL);
        }
      });
    }
  });

  it('log-probabilities of the same cache twice equal its own log-softmax exactly, finite at a gap of 1e4', () => {
    const fx = golden.fixtures.find((f) => f.id === 'onehot')!;
    const { samples, views } = all(fx.B);
    const one = cacheOf(fx.teacherLogits!, fx.B, fx.K);
    for (const t of [1, 3, 4]) {
      const a = batchTeacher([one], samples, views).logProbs(t);
      const b = batchTeacher([one, cacheOf(fx.teacherLogits!, fx.B, fx.K)], samples, views).logProbs(t);
      const [av, bv] = [a.dataSync(), b.dataSync()];
      tf.dispose([a, b]);
      for (let i = 0; i < av.length; i++) expect(Number.isFinite(bv[i]) && bv[i] === av[i], `τ ${t}, entry ${i}: ${bv[i]} vs ${av[i]}`).to.equal(true);
    }
  });

  after(() => {
    console.log(
      `      ensembles: max relative difference vs float64 torch — value ${worst.ens.v.toExponential(2)}, gradient ${worst.ens.g.toExponential(2)} (tolerance ${RTOL}); ` +
        `same cache M times vs once — value ${worst.same.v.toExponential(2)}, gradient ${worst.same.g.toExponential(2)} (tolerance ${SAME_RTOL}); ` +
        `one cache vs the authors — value ${worst.sameVsAuthors.v.toExponential(2)}, gradient ${worst.sameVsAuthors.g.toExponential(2)}`,
    );
  });
});
