/**
 * `tfkd eval CACHE --data SPEC` (src/student/evaluate-target.ts): a cache evaluated as its teacher,
 * from its rows, equals the teacher evaluated by inference over the same images — f32 caches to
 * the last bit of the logits, f16 and top-k caches within their storage's rounding; caches of
 * views use view 0; skipped samples are left out; other data, another split and parts are refused.
 *
 * `--teacher-cache` (fidelity to a teacher): the agreement and KL equal PyTorch's on the same rows
 * (scripts/fidelity_ref.py), for a full and a top-k teacher cache, at T = 1 and T = 2, on a subset.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { runPrecompute } from '../../src/cache/precompute-run.js';
import { openDataset } from '../../src/data/open.js';
import { getOptionStyle, setOptionStyle, UsageError } from '../../src/errors.js';
import { evaluateTarget, type EvalReport, type EvaluateTargetOptions } from '../../src/student/evaluate-target.js';
import { setSettings } from '../../src/settings.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';
import { py } from '../cache/python-helpers.js';
import { spawnSync } from 'node:child_process';
import { DEBIAN_PYTHON } from '../../src/doctor/packages.js';
import { writeNpyInts } from '../helpers/npy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TEACHER = path.join(ROOT, 'models/fmnist-good.onnx');
const POOR = path.join(ROOT, 'models/fmnist-poor.onnx');
const SUBSET = `fashion-mnist:${path.join(ROOT, 'data/fashion-mnist-subset')}`;

function same(a: EvalReport, b: EvalReport, tol: { loss: number; ece: number }): void {
  expect(a.n).to.equal(b.n);
  expect(a.accuracy).to.equal(b.accuracy);
  expect(a.top5).to.equal(b.top5);
  expect(a.confusion).to.deep.equal(b.confusion);
  expect(Math.abs(a.loss - b.loss), `loss ${a.loss} vs ${b.loss}`).to.be.at.most(tol.loss);
  expect(Math.abs(a.ece - b.ece), `ECE ${a.ece} vs ${b.ece}`).to.be.at.most(tol.ece);
}

describe('student/evaluate-target: a cache evaluated as its teacher (no inference)', function () {
  this.timeout(300000);
  let tmp: string;
  let byTeacher: EvalReport;
  before(async () => {
    tmp = tmpDir('evalcache');
    byTeacher = await evaluateTarget(TEACHER, { data: SUBSET, split: 'train', device: 'cpu' });
  });
  after(() => rmDir(tmp));

  it('f32, f16 and top-5 caches of the train split equal the ONNX teacher run over the same images', async () => {
    const runs: Array<[string, { dtype?: 'f16' | 'f32'; topk?: number }, { loss: number; ece: number }]> = [
      ['f32', {}, { loss: 1e-6, ece: 1e-6 }],
      ['f16', { dtype: 'f16' }, { loss: 1e-3, ece: 1e-3 }],
      ['top5', { topk: 5 }, { loss: 1e-3, ece: 1e-6 }],
    ];
    for (const [name, o, tol] of runs) {
      const dir = path.join(tmp, name);
      await runPrecompute({ teacher: TEACHER, data: SUBSET, out: dir, device: 'cpu', threads: 1, ...o });
      const r = await evaluateTarget(dir, { data: SUBSET });
      expect(r.kind).to.equal('cache');
      expect(r.split, 'a cache is evaluated on its own split').to.equal('train');
      expect(r.cache).to.include({ teacher: 'fmnist-good.onnx', topk: o.topk ?? null, views: 1, skipped: 0 });
      console.log(`      ${name}: accuracy ${(100 * r.accuracy).toFixed(2)} % (teacher ${(100 * byTeacher.accuracy).toFixed(2)} %), |Δ loss| ${Math.abs(r.loss - byTeacher.loss).toExponential(1)}, |Δ ECE| ${Math.abs(r.ece - byTeacher.ece).toExponential(1)}`);
      same(r, byTeacher, tol);
    }
    // --limit draws the same seeded subset as for a model.
    const part = await evaluateTarget(path.join(tmp, 'f32'), { data: SUBSET, limit: 500, seed: 3 });
    same(part, await evaluateTarget(TEACHER, { data: SUBSET, split: 'train', device: 'cpu', limit: 500, seed: 3 }), { loss: 1e-6, ece: 1e-6 });
  });

  it("the accuracy and confusion matrix equal those of the cache's rows read by Python (python/tfkd_cache.py)", async function () {
    needs(this, 'python3-numpy');
    const dir = path.join(tmp, 'f32');
    const r = await evaluateTarget(dir, { data: SUBSET });
    const labels = Array.from((await openDataset(SUBSET, { split: 'train' })).labels);
    const got = py<{ accuracy: number; confusion: number[][] }>(
      `import numpy as np, tfkd_cache
a = json.load(sys.stdin)
c = tfkd_cache.open_cache(a["dir"])
y = np.array(a["labels"])
p = c.logits(np.arange(len(y)), np.zeros(len(y), dtype=np.int64)).argmax(axis=1)
m = np.zeros((10, 10), dtype=np.int64)
np.add.at(m, (y, p), 1)
print(json.dumps({"accuracy": float((p == y).mean()), "confusion": m.tolist()}))`,
      { dir, labels },
    );
    expect(got.accuracy).to.equal(r.accuracy);
    expect(got.confusion).to.deep.equal(r.confusion);
  });

  it('a cache of views is read at view 0: the un-augmented image', async () => {
    const dir = path.join(tmp, 'views');
    await runPrecompute({ teacher: TEACHER, data: SUBSET, out: dir, device: 'cpu', threads: 1, views: 3, augment: 'crop:4,flip', augmentSeed: 5 });
    const r = await evaluateTarget(dir, { data: SUBSET });
    expect(r.cache!.views).to.equal(3);
    same(r, byTeacher, { loss: 1e-6, ece: 1e-6 });
  });

  it('samples a --skip-bad precompute could not decode are left out, and counted', async () => {
    // A folder of 10 classes × 3 images from the subset, one of them not an image.
    const ds = await openDataset(SUBSET, { split: 'test' });
    const root = path.join(tmp, 'folder');
    const perClass = new Map<number, number>();
    const full = () => perClass.size === 10 && [...perClass.values()].every((c) => c === 3);
    for (let i = 0; i < ds.size && !full(); i++) {
      const y = ds.labels[i];
      const have = perClass.get(y) ?? 0;
      if (have >= 3) continue;
      perClass.set(y, have + 1);
      const d = path.join(root, `c${y}`);
      fs.mkdirSync(d, { recursive: true });
      const px = await ds.readBatch(Int32Array.from([i]));
      await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(d, `${i}.png`));
    }
    fs.writeFileSync(path.join(root, 'c3', 'broken.png'), 'not a png');
    const data = `folder:${root}`;
    const dir = path.join(tmp, 'skipped');
    await runPrecompute({ teacher: TEACHER, data, out: dir, device: 'cpu', threads: 1, skipBad: true, preprocess: '{"channels":"L"}' });
    const r = await evaluateTarget(dir, { data });
    const all = (await openDataset(data, { split: 'train' })).size;
    expect(r.cache!.skipped).to.equal(1);
    expect(r.n).to.equal(all - 1);
    expect(r.confusion.flat().reduce((a, b) => a + b, 0)).to.equal(all - 1);
    // As the teacher of --teacher-cache: the sample it has no row for is left out (never read: it is not an image).
    const self = await evaluateTarget(TEACHER, { data, split: 'train', device: 'cpu', preprocess: '{"channels":"L"}', teacherCache: dir });
    expect(self.n).to.equal(all - 1);
    expect(self.teacherCache!.skipped).to.equal(1);
    expect(self.fidelity!.agreement).to.equal(1);
    expect(self.fidelity!.kl).to.be.below(1e-12);
  });

  it('BAD CALL - other data, another split, a part of a job array, options that do not apply: exit 2 naming why', async () => {
    const f32 = path.join(tmp, 'f32');
    const other = await evaluateTarget(f32, { data: 'fashion-mnist:/nonexistent' }).catch((e: unknown) => e);
    expect(other).to.be.instanceOf(Error);
    const fp = await evaluateTarget(f32, { data: 'synthetic:3000:10:28x28x1:1' }).catch((e: unknown) => e);
    expect(fp).to.be.instanceOf(UsageError);
    expect((fp as Error).message).to.match(/does not match: the data fingerprint/);
    const split = await evaluateTarget(f32, { data: SUBSET, split: 'test' }).catch((e: unknown) => e);
    expect(split).to.be.instanceOf(UsageError);
    expect((split as Error).message).to.equal(`cache ${f32} holds the teacher's outputs on the train split; --split test asks for another`);
    const ck = await evaluateTarget(f32, { data: SUBSET, checkpoint: 'last' }).catch((e: unknown) => e);
    expect((ck as Error).message).to.equal("--checkpoint does not apply to a cache: its rows are the teacher's outputs as recorded");
    const partDir = path.join(tmp, 'part');
    await runPrecompute({ teacher: TEACHER, data: SUBSET, out: partDir, device: 'cpu', threads: 1, shard: '1/2' });
    const part = await evaluateTarget(partDir, { data: SUBSET }).catch((e: unknown) => e);
    expect(part).to.be.instanceOf(UsageError);
    expect((part as Error).message).to.match(/is part 2 of 2 of a job array \(samples 1500–2999\)/);
  });

  it('BAD CALL - an option set that does nothing for the kind of target is refused (UsageError, exit 2); one left unset, or the configure() backend, is a default', async () => {
    const f32 = path.join(tmp, 'f32');
    const refusal = async (target: string, o: Omit<EvaluateTargetOptions, 'data'>): Promise<[string, string | undefined]> => {
      const e = await evaluateTarget(target, { data: SUBSET, ...o }).catch((x: unknown) => x);
      expect(e, JSON.stringify(o)).to.be.instanceOf(UsageError);
      expect((e as UsageError).exitCode).to.equal(2);
      return [(e as Error).message, (e as UsageError).hint];
    };
    expect(await refusal(TEACHER, { device: 'cpu', checkpoint: 'best' })).to.deep.equal([
      `--checkpoint applies to runs: ${TEACHER} is an ONNX file, one model with no checkpoints`,
      'leave out --checkpoint, or evaluate the run it was exported from',
    ]);
    expect(await refusal(TEACHER, { device: 'cpu', backend: 'auto' })).to.deep.equal([
      `--backend applies to runs (the tfjs backend): ${TEACHER} is an ONNX file, run on onnxruntime`,
      "leave out --backend; onnxruntime's device is --device",
    ]);
    const labels = path.join(tmp, 'labels.json');
    fs.writeFileSync(labels, JSON.stringify(Array.from({ length: 10 }, (_, i) => `c${i}`)));
    expect(await refusal(TEACHER, { device: 'cpu', teacherLabels: labels })).to.deep.equal([
      "--teacher-labels needs --class-map: the teacher's class names are read only to map data classes to teacher outputs by name",
      'e.g. --class-map names, or leave out --teacher-labels',
    ]);
    for (const name of ['backend', 'device'] as const) {
      const flag = `--${name}`;
      expect(await refusal(f32, { [name]: name === 'backend' ? 'wasm' : 'cpu' })).to.deep.equal([
        `${flag} does not apply to a cache: its rows are the teacher's outputs as recorded`,
        `leave out ${flag}: a cache is scored from its rows, with no inference`,
      ]);
    }
    expect(await refusal(f32, { classMap: '[0,1,2,3,4,5,6,7,8,9]' })).to.deep.equal([
      "--class-map does not apply to a cache: its rows are the teacher's outputs as recorded",
      'leave out --class-map: a cache is scored from its rows, with no inference',
    ]);
    for (const target of [f32, TEACHER]) {
      expect(await refusal(target, { seed: 0 })).to.deep.equal([
        '--seed picks the --limit subset; without --limit every sample is evaluated',
        'add --limit N, or leave out --seed',
      ]);
    }
    // The configure({ backend }) default is not the caller's: the library's evaluate() of an ONNX
    // file or a cache goes through (a backend set by the caller is still refused).
    setSettings({ backend: 'wasm' });
    const style = getOptionStyle();
    try {
      expect((await refusal(f32, { backend: 'wasm' }))[0]).to.equal("--backend does not apply to a cache: its rows are the teacher's outputs as recorded");
      // The public entry switches messages to API names when first imported: restored below.
      const { evaluate } = await import('../../src/index.js');
      expect((await evaluate(TEACHER, { data: SUBSET, split: 'train', device: 'cpu', limit: 100 })).kind).to.equal('onnx');
      expect((await evaluate(f32, { data: SUBSET, limit: 100 })).kind).to.equal('cache');
    } finally {
      setOptionStyle(style);
      setSettings({ backend: undefined });
    }
  });
});

describe('student/evaluate-target: fidelity to a teacher cache (--teacher-cache), against PyTorch', function () {
  this.timeout(300000);
  let tmp: string;
  const c = (name: string) => path.join(tmp, name);
  before(async function () {
    needs(this, 'python3-torch');
    tmp = tmpDir('fidelity');
    // The teacher (full f32 and top-3 f16), the evaluated model's own rows (for the reference), a test-split cache.
    await runPrecompute({ teacher: TEACHER, data: SUBSET, out: c('good'), device: 'cpu', threads: 1 });
    await runPrecompute({ teacher: TEACHER, data: SUBSET, out: c('good-top3'), device: 'cpu', threads: 1, topk: 3, dtype: 'f16' });
    await runPrecompute({ teacher: POOR, data: SUBSET, out: c('poor'), device: 'cpu', threads: 1 });
    await runPrecompute({ teacher: TEACHER, data: SUBSET, out: c('good-test'), device: 'cpu', threads: 1, split: 'test' });
  });
  after(() => tmp && rmDir(tmp));

  /** PyTorch's figures for the samples `r` evaluated (all of the split, or the `limit` subset drawn again by indices). */
  async function reference(teacher: string, indices: Int32Array, T?: number): Promise<{ n: number; agreement: number; kl: number; teacher_accuracy: number }> {
    const labels = (await openDataset(SUBSET, { split: 'train' })).labels;
    writeNpyInts(c('samples.npy'), indices);
    writeNpyInts(c('labels.npy'), Array.from(indices, (i) => labels[i]));
    const args = ['scripts/fidelity_ref.py', c('poor'), teacher, c('samples.npy'), c('labels.npy'), ...(T === undefined ? [] : [String(T)])];
    const p = spawnSync(DEBIAN_PYTHON, args, { cwd: ROOT, encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`fidelity_ref.py failed (${p.status}): ${p.stderr}`);
    return JSON.parse(p.stdout) as { n: number; agreement: number; kl: number; teacher_accuracy: number };
  }

  it('the shipped poor teacher as the model, the good one as the teacher: agreement exactly, KL within 1e-12 of PyTorch, full and top-3 f16 caches, T = 1, 1.5 and 2', async () => {
    const all = Int32Array.from({ length: 3000 }, (_, i) => i);
    const good = await evaluateTarget(c('good'), { data: SUBSET });
    for (const [teacher, T] of [['good', undefined], ['good', 2], ['good-top3', undefined], ['good-top3', 1.5]] as const) {
      const r = await evaluateTarget(POOR, { data: SUBSET, split: 'train', device: 'cpu', teacherCache: c(teacher), temperature: T });
      const ref = await reference(c(teacher), all, T);
      const f = r.fidelity!;
      const dKl = Math.abs(f.kl - ref.kl);
      console.log(`      ${teacher} at T = ${T ?? 1}: agreement ${(100 * f.agreement).toFixed(2)} % (PyTorch ${(100 * ref.agreement).toFixed(2)} %), KL ${f.kl.toFixed(6)} (|Δ| ${dKl.toExponential(1)}), teacher ${(100 * f.teacherAccuracy).toFixed(2)} %`);
      expect(r.n).to.equal(3000);
      expect(f.agreement).to.equal(ref.agreement);
      expect(f.teacherAccuracy).to.equal(ref.teacher_accuracy);
      expect(f.teacherAccuracy, "the teacher's accuracy is that of its cache evaluated").to.equal(good.accuracy);
      expect(dKl, 'KL(teacher ‖ model) against PyTorch').to.be.below(1e-12 * Math.max(1, ref.kl));
      // Not degenerate: a poor model disagrees often and is far from the teacher.
      expect(f.agreement).to.be.above(0.05).and.below(0.9);
      expect(f.kl).to.be.above(0.1);
      expect(r.teacherCache).to.include({ dir: c(teacher), teacher: 'fmnist-good.onnx', topk: teacher === 'good' ? null : 3, skipped: 0 });
      // The fidelity figures leave the model's own untouched.
      const alone = await evaluateTarget(POOR, { data: SUBSET, split: 'train', device: 'cpu', temperature: T });
      expect({ ...r, fidelity: undefined, teacherCache: undefined }).to.deep.equal({ ...alone, fidelity: undefined, teacherCache: undefined });
    }
  });

  it('a seeded subset (--limit), a cache as the model, and a teacher against itself (agreement 1, KL 0)', async () => {
    const sub = await evaluateTarget(c('poor'), { data: SUBSET, teacherCache: c('good'), limit: 700, seed: 4 });
    // The same subset by the ONNX model: its f32 cache is its output bit for bit, so every figure is equal.
    const byModel = await evaluateTarget(POOR, { data: SUBSET, split: 'train', device: 'cpu', teacherCache: c('good'), limit: 700, seed: 4 });
    expect(sub.fidelity).to.deep.equal(byModel.fidelity);
    const { subset, hashU32 } = await import('../../src/data/rng.js');
    const ref = await reference(c('good'), subset(3000, 700, hashU32(4, 0xe7a1)));
    expect(sub.n).to.equal(700);
    expect(sub.fidelity!.agreement).to.equal(ref.agreement);
    expect(Math.abs(sub.fidelity!.kl - ref.kl)).to.be.below(1e-12 * Math.max(1, ref.kl));
    const self = await evaluateTarget(c('good'), { data: SUBSET, teacherCache: c('good') });
    expect(self.fidelity!.agreement).to.equal(1);
    expect(self.fidelity!.kl).to.be.at.least(0).and.below(1e-12);
  });

  it('BAD CALL - a teacher cache of another split, other data, a part, not a cache: refused (exit 2) naming why', async () => {
    const split = await evaluateTarget(POOR, { data: SUBSET, split: 'train', device: 'cpu', teacherCache: c('good-test') }).catch((e: unknown) => e);
    expect(split).to.be.instanceOf(UsageError);
    expect((split as Error).message).to.equal(`--teacher-cache ${c('good-test')} holds the teacher's outputs on the test split; the model is evaluated on the train split`);
    expect((split as UsageError).hint).to.match(/--split test/);
    const other = await evaluateTarget(POOR, { data: 'synthetic:3000:10:28x28x1:1', split: 'train', device: 'cpu', teacherCache: c('good') }).catch((e: unknown) => e);
    expect(other).to.be.instanceOf(UsageError);
    expect((other as Error).message).to.match(/does not match: the data fingerprint/);
    await runPrecompute({ teacher: TEACHER, data: SUBSET, out: c('part'), device: 'cpu', threads: 1, shard: '1/2' });
    const part = await evaluateTarget(POOR, { data: SUBSET, split: 'train', device: 'cpu', teacherCache: c('part') }).catch((e: unknown) => e);
    expect((part as Error).message).to.match(/^--teacher-cache .* is part 2 of 2 of a job array/);
    const notCache = await evaluateTarget(POOR, { data: SUBSET, split: 'train', device: 'cpu', teacherCache: ROOT }).catch((e: unknown) => e);
    expect(notCache).to.be.instanceOf(UsageError);
    expect((notCache as Error).message).to.match(/is not a complete tfkd cache/);
  });
});
