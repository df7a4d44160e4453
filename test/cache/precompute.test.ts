import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { handleError } from '../../src/cli/handle-error.js';
import { UsageError, WorkError } from '../../src/errors.js';
import { resolvePart } from '../../src/cache/precompute-run.js';
import { readManifest, writeManifest } from '../../src/cache/manifest.js';
import { precompute, type PrecomputeOptions } from '../../src/cache/precompute.js';
import { openCache } from '../../src/cache/reader.js';
import { f32ToF16 } from '../../src/util/float16.js';
import { verifyRecompute } from '../../src/cache/verify.js';
import { augment, parseAugmentSpec } from '../../src/data/augment.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { openDataset } from '../../src/data/open.js';
import { openTeacher } from '../../src/teacher/session.js';
import { ORT_VERSION } from '../../src/teacher/ort.js';
import type { Teacher } from '../../src/teacher/types.js';
import { tinyTeacherForward, writeTinyTeacher, type TinyTeacherOptions } from '../teacher/fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { expectSameBytes, snapshot } from './helpers.js';

/** Runs the CLI in-process; returns the exit code and what went to stderr via the error handler. */
async function cli(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  // Keep the test output readable: swallow what the command prints.
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    await (await buildProgram()).parseAsync(['node', 'tfkd', ...args]);
    return { code: 0, err };
  } catch (e) {
    return { code: handleError(e, (s) => (err += s)), err };
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
}

describe('cache/precompute (tiny ONNX teachers, synthetic data)', function () {
  this.timeout(60000);
  let root: string;
  const d = (n: string) => path.join(root, n);
  beforeEach(() => {
    root = tmpDir('pc');
  });
  afterEach(() => rmDir(root));

  async function setup(t: TinyTeacherOptions, data: string) {
    const file = writeTinyTeacher(root, t);
    const dataset = await openDataset(data);
    const teacher = await openTeacher(file, { device: 'cpu', threads: 1, data: { shape: dataset.shape, numClasses: dataset.numClasses } });
    return { file, dataset, teacher, fp: await fingerprint(dataset) };
  }
  const base = (x: Awaited<ReturnType<typeof setup>>, out: string): PrecomputeOptions => ({
    teacher: x.teacher,
    dataset: x.dataset,
    fingerprint: x.fp,
    out,
    dtype: 'f32',
    topk: null,
    views: 1,
    augment: null,
    part: null,
    batch: 16,
    shardRows: 32,
    ortVersion: ORT_VERSION,
  });

  it('f32 cache equals an independent float64 forward pass of the teacher (≤ 1e-5) and the manifest records the run', async () => {
    const topts = { height: 4, width: 4, channels: 1, numClasses: 3 };
    const x = await setup(topts, 'synthetic:70:3:4x4x1:5');
    try {
      const r = await precompute(base(x, d('c')));
      expect(r.state).to.equal('fresh');
      const m = readManifest(d('c'));
      expect(m).to.deep.include({ N: 70, K: 3, rows: 70, dtype: 'f32', topk: null, views: 1, shardRows: 32 });
      expect(m.teacher.sha256).to.equal(createHash('sha256').update(fs.readFileSync(x.file)).digest('hex'));
      expect(m.runtime).to.deep.include({ provider: 'cpu', threads: 1, onnxruntime: ORT_VERSION });
      expect(m.data).to.deep.include({ kind: 'synthetic', split: 'train', fingerprint: x.fp });
      const pixels = await x.dataset.readBatch(Int32Array.from({ length: 70 }, (_, i) => i));
      const ref = tinyTeacherForward(topts, pixels, 70);
      const rd = openCache(d('c'), { fingerprint: x.fp, split: 'train', numClasses: 3 });
      const got = rd.readLogits(Array.from({ length: 70 }, (_, i) => i), new Array(70).fill(0));
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
      console.log(`      max |cache − float64 reference| = ${maxDiff.toExponential(2)}`);
      expect(maxDiff).to.be.at.most(1e-5);
      rd.close();
    } finally {
      await x.teacher.close();
    }
  });

  it('views: row (sample, v) holds the teacher logits of exactly augment(sample, v); verify recompute agrees', async () => {
    const x = await setup({ height: 6, width: 6, channels: 2, numClasses: 4, layout: 'NHWC' }, 'synthetic:25:4:6x6x2:1');
    try {
      const spec = parseAugmentSpec('crop:2,flip');
      await precompute({ ...base(x, d('v')), views: 3, augment: { spec, seed: 9 }, batch: 7 });
      const rd = openCache(d('v'));
      expect(rd.manifest.augment).to.deep.equal({ spec: 'crop:2,flip', seed: 9 });
      for (const [s, v] of [[0, 0], [3, 1], [24, 2], [11, 2]]) {
        const img = await x.dataset.get(s);
        const aug = v === 0 ? img : augment(img, x.dataset.shape, spec, 9, s, v);
        const want = await x.teacher.run(aug, 1);
        const got = rd.readLogits([s], [v]);
        for (let k = 0; k < 4; k++) expect(got[k]).to.be.closeTo(want[k], 1e-6);
      }
      const rep = await verifyRecompute(rd, x.teacher, x.dataset, { sample: 75, seed: 1, fingerprint: x.fp, augment: { spec, seed: 9 } });
      expect(rep.ok).to.equal(true);
      expect(rep.rowsChecked).to.equal(75);
      expect(rep.maxAbsDiff).to.be.at.most(1e-5);
      expect(rep.meanKL).to.be.at.most(1e-9);
      rd.close();
    } finally {
      await x.teacher.close();
    }
  });

  it('float16-input teacher, f16 top-2 cache: verify recompute passes within the f16 tolerance', async () => {
    const x = await setup({ height: 4, width: 4, channels: 3, numClasses: 5, inputDtype: 'float16' }, 'synthetic:40:5:4x4x3');
    try {
      await precompute({ ...base(x, d('t')), dtype: 'f16', topk: 2 });
      const rd = openCache(d('t'));
      const p = rd.softTargets([7], [0], 4);
      expect(Array.from(p).reduce((a, b) => a + b)).to.be.closeTo(1, 1e-6);
      const rep = await verifyRecompute(rd, x.teacher, x.dataset, { sample: 40, seed: 3, fingerprint: x.fp, augment: null });
      expect(rep.ok, JSON.stringify(rep)).to.equal(true);
      rd.close();
    } finally {
      await x.teacher.close();
    }
  });

  it('EXPECTED FAILURE - verify recompute catches a cached logit that is off (checksums fixed up), naming the row', async () => {
    const x = await setup({}, 'synthetic:20:3:4x4x1');
    try {
      await precompute(base(x, d('c')));
      // Re-write shard 0 with sample 5's class 1 logit nudged by 1e-3, and fix the manifest checksum,
      // so only the recompute can notice.
      const f = path.join(d('c'), 'shard-00000.safetensors');
      const b = fs.readFileSync(f);
      const n = Number(b.readBigUInt64LE(0));
      const off = 8 + n + (5 * 3 + 1) * 4;
      b.writeFloatLE(b.readFloatLE(off) + 1e-3, off);
      fs.writeFileSync(f, b);
      const m = readManifest(d('c'));
      m.shards[0].sha256 = createHash('sha256').update(b).digest('hex');
      writeManifest(d('c'), m);
      const rd = openCache(d('c'));
      const rep = await verifyRecompute(rd, x.teacher, x.dataset, { sample: 20, seed: 0, fingerprint: x.fp, augment: null });
      expect(rep.ok).to.equal(false);
      expect(rep.worst).to.deep.include({ sample: 5, view: 0, class: 1 });
      rd.close();
    } finally {
      await x.teacher.close();
    }
  });

  it('EXPECTED FAILURE - NaN logits stop the run naming (sample, view); earlier shards stay, nothing of that shard is committed', async () => {
    const x = await setup({}, 'synthetic:100:3:4x4x1');
    const real = x.teacher;
    let seen = 0;
    const nanTeacher: Teacher = {
      info: real.info,
      preprocess: real.preprocess,
      async run(pixels, n) {
        const out = await real.run(pixels, n);
        for (let r = 0; r < n; r++) if (seen + r === 41) out[r * 3 + 2] = NaN;
        seen += n;
        return out;
      },
      runImages: () => Promise.reject(new Error('not used: fixed-size data')),
      runRendered: () => Promise.reject(new Error('not used: fixed-size data')),
      close: () => real.close(),
    };
    try {
      let err: unknown;
      await precompute({ ...base(x, d('n')), teacher: nanTeacher, views: 1, batch: 10 }).catch((e) => (err = e));
      expect(err).to.be.instanceOf(WorkError);
      expect((err as Error).message).to.match(/NaN\/Inf logits for 1 row\(s\): row 41 \(sample 41, view 0\)/);
      expect(fs.readdirSync(d('n')).sort()).to.deep.equal(['progress.jsonl', 'shard-00000.safetensors']);
    } finally {
      await real.close();
    }
  });

  it('batches in flight at once (a teacher with sessions side by side) finishing in reverse order are still written in row order: the same bytes', async () => {
    const x = await setup({}, 'synthetic:100:3:4x4x1');
    const staged = x.teacher.staged!;
    // Results are held back and handed out last-first whenever three are pending (the depth
    // precompute gives this teacher), and at the tenth and last batch (100 rows / 10).
    const held: Array<() => void> = [];
    let asked = 0;
    let reversed = 0;
    const releaseAll = () => {
      if (held.length > 1) reversed++;
      for (const go of held.splice(0).reverse()) go();
    };
    const lanes: Teacher = {
      info: x.teacher.info,
      preprocess: x.teacher.preprocess,
      staged: {
        concurrency: 3,
        prepare: (px, n) => staged.prepare(px, n),
        prepareRendered: (px, n) => staged.prepareRendered(px, n),
        infer: (b) =>
          new Promise<Float32Array>((resolve, reject) => {
            asked++;
            held.push(() => staged.infer(b).then(resolve, reject));
            if (held.length === 3 || asked === 10) releaseAll();
          }),
      },
      run: () => Promise.reject(new Error('not used: staged')),
      runImages: () => Promise.reject(new Error('not used: fixed-size data')),
      runRendered: () => Promise.reject(new Error('not used: fixed-size data')),
      close: () => x.teacher.close(),
    };
    try {
      await precompute({ ...base(x, d('one')), batch: 10 });
      await precompute({ ...base(x, d('three')), teacher: lanes, batch: 10 });
      expect(asked).to.equal(10);
      expect(reversed).to.be.greaterThan(0);
      expectSameBytes(snapshot(d('one')), snapshot(d('three')));
    } finally {
      await x.teacher.close();
    }
  });

  describe('CLI', () => {
    it('precompute → already complete → verify OK; flipped byte and deleted shard fail verify naming the shard', async () => {
      const t = writeTinyTeacher(root, {});
      const args = ['precompute', '--teacher', t, '--data', 'synthetic:50:3:4x4x1', '--out', d('c'), '--device', 'cpu', '--threads', '1', '--shard-rows', '16', '--progress', 'off'];
      expect((await cli(args)).code).to.equal(0);
      const snap = fs.readFileSync(path.join(d('c'), 'manifest.json'));
      expect((await cli(args)).code).to.equal(0);
      expect(fs.readFileSync(path.join(d('c'), 'manifest.json')).equals(snap)).to.equal(true);
      expect((await cli(['verify', d('c'), '--teacher', t, '--data', 'synthetic:50:3:4x4x1', '--sample', '10'])).code).to.equal(0);
      // another key at --out: exit 2 unless --force
      const r = await cli([...args, '--dtype', 'f16']);
      expect(r.code).to.equal(2);
      expect(r.err).to.match(/different cache key/);
      const f = path.join(d('c'), 'shard-00001.safetensors');
      const b = fs.readFileSync(f);
      b[b.length - 50] ^= 0x80;
      fs.writeFileSync(f, b);
      const v1 = await cli(['verify', d('c')]);
      expect(v1.code).to.equal(1);
      expect(v1.err).to.match(/shard-00001\.safetensors \(rows 16–31\): sha256/);
      fs.rmSync(path.join(d('c'), 'shard-00002.safetensors'));
      const v2 = await cli(['verify', d('c'), '--json']);
      expect(v2.code).to.equal(1);
      // The flipped byte (in the logits: tfkd-cache/2 rows store nothing else) and the deleted shard.
      expect(v2.err).to.match(/shard-00001.*\(\+1 more\)/);
    });

    it('BAD CALL - bad input exits 2 with one line and writes nothing', async () => {
      const t = writeTinyTeacher(root, {}); // K = 3, 4x4x1
      fs.writeFileSync(d('junk.onnx'), 'not a model');
      const common = ['--data', 'synthetic:20:3:4x4x1', '--device', 'cpu', '--threads', '1', '--progress', 'off'];
      const cases: Array<[string[], RegExp]> = [
        [['--teacher', t, '--topk', '3'], /--topk 3 must be an integer in \[1, K\).*K = 3/],
        [['--teacher', t, '--preprocess', '{"scale":1,"colour":2}'], /colour|unrecognized|unknown/i],
        [['--teacher', t, '--preprocess', '{"mean":[0.1,0.2]}'], /mean/],
        [['--teacher', d('junk.onnx')], /ONNX/],
        [['--teacher', t, '--views', '2'], /--views 2 needs --augment/],
        [['--teacher', t, '--shard', '3/3'], /need 0 ≤ I < N/],
        [['--teacher', t, '--dtype', 'f64'], /dtype/],
      ];
      for (const [extra, re] of cases) {
        const out = d(`o${extra.join('_').replace(/[^a-z0-9]/gi, '')}`.slice(0, 60));
        const r = await cli(['precompute', ...common, '--out', out, ...extra]);
        expect(r.code, `${extra.join(' ')}: ${r.err}`).to.equal(2);
        expect(r.err, extra.join(' ')).to.match(re);
        expect(r.err.trim().split('\n').filter((l) => !l.startsWith('hint:'))).to.have.length(1);
        expect(fs.existsSync(out), `${extra.join(' ')} wrote ${out}`).to.equal(false);
      }
    });

    it('resolvePart: --shard I/N, --shards N with JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID, --shard auto', () => {
      expect(resolvePart({})).to.equal(null);
      expect(resolvePart({ shard: '1/4' })).to.deep.equal({ index: 1, count: 4 });
      expect(resolvePart({ shards: 3 }, { JOB_COMPLETION_INDEX: '2' })).to.deep.equal({ index: 2, count: 3 });
      expect(resolvePart({ shards: 8 }, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '4', SLURM_ARRAY_TASK_COUNT: '3' })).to.deep.equal({ index: 5, count: 8 });
      // One index resubmitted alone (sbatch --array=3): part 3 of 8, whatever the array's own count.
      expect(resolvePart({ shards: 8 }, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '3', SLURM_ARRAY_TASK_MAX: '3', SLURM_ARRAY_TASK_COUNT: '1' })).to.deep.equal({ index: 3, count: 8 });
      expect(resolvePart({ shard: 'auto' }, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '4', SLURM_ARRAY_TASK_COUNT: '3' })).to.deep.equal({ index: 1, count: 3 });
      expect(resolvePart({ shard: 'auto' }, { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2' })).to.deep.equal({ index: 0, count: 2 });
      expect(() => resolvePart({ shards: 3 }, {})).to.throw(UsageError, /JOB_COMPLETION_INDEX/);
      expect(() => resolvePart({ shards: 3 }, { JOB_COMPLETION_INDEX: '3' })).to.throw(UsageError, /0 ≤ I < N/);
      expect(() => resolvePart({ shards: 2 }, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' })).to.throw(UsageError, /SLURM_ARRAY_TASK_ID=2: the array indices are the parts 0…1/);
      expect(() => resolvePart({ shard: 'x' })).to.throw(UsageError, /expected I\/N/);
    });

    it('--shard 0/3 … 2/3 + tfkd merge equals the single-process cache (shards byte-identical); verify passes', async () => {
      const t = writeTinyTeacher(root, { numClasses: 4 });
      const common = ['--teacher', t, '--data', 'synthetic:45:4:4x4x1', '--device', 'cpu', '--threads', '1', '--shard-rows', '16', '--progress', 'off', '--dtype', 'f16', '--views', '2', '--augment', 'flip'];
      expect((await cli(['precompute', ...common, '--out', d('single')])).code).to.equal(0);
      for (const i of [0, 1, 2]) expect((await cli(['precompute', ...common, '--shard', `${i}/3`, '--out', d(`p${i}`)])).code).to.equal(0);
      expect((await cli(['merge', d('p2'), d('p0'), d('p1'), '--out', d('merged')])).code).to.equal(0);
      const files = fs.readdirSync(d('single')).filter((f) => f.startsWith('shard-'));
      expect(files).to.have.length(6);
      expect(fs.readdirSync(d('merged')).sort()).to.deep.equal(fs.readdirSync(d('single')).sort());
      for (const f of files) expect(fs.readFileSync(path.join(d('merged'), f)).equals(fs.readFileSync(path.join(d('single'), f))), f).to.equal(true);
      expect((await cli(['verify', d('merged'), '--teacher', t, '--data', 'synthetic:45:4:4x4x1', '--sample', '90'])).code).to.equal(0);
    });
  });

  it('f32 → f16 stored values are the round-to-nearest of the f32 logits', async () => {
    const x = await setup({}, 'synthetic:10:3:4x4x1');
    try {
      await precompute({ ...base(x, d('a')), dtype: 'f32' });
      await precompute({ ...base(x, d('b')), dtype: 'f16' });
      const a = openCache(d('a')).readLogits([0, 9], [0, 0]);
      const b = openCache(d('b')).readBlock(0, 10).logits as Uint16Array;
      const want = f32ToF16(a);
      expect(Array.from(b.subarray(0, 3))).to.deep.equal(Array.from(want.subarray(0, 3)));
      expect(Array.from(b.subarray(27, 30))).to.deep.equal(Array.from(want.subarray(3, 6)));
    } finally {
      await x.teacher.close();
    }
  });
});
