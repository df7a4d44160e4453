/**
 * Mixed views against PyTorch (issue 20's first acceptance point): over the folder of real
 * photographs and a torchvision teacher (scripts/torchvision_teacher.py, as torchvision.test.ts),
 *   - the `mix` records `tfkd data views --json --size 224,224` prints, rendered by PIL
 *     (torchvision's resized_crop + hflip of both boxes), mixed in float32 and run through PyTorch
 *     (scripts/mix_reference.py), equal the cache's view rows to ≤ 1e-4;
 *   - the student-side mixtures (`--out --format npy` at 64×64) equal the same computation at that
 *     size to ≤ 1e-6, and the trainer's own batches (mix-inputs.ts) are those very floats, with the
 *     labels λ·y_i + (1 − λ)·y_j of the printed records.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../src/cache/reader.js';
import { runPrecompute } from '../../src/cache/precompute-run.js';
import { runDataViews, type ViewRow } from '../../src/cli/commands/data.js';
import type { ImageFilesDataset } from '../../src/data/files.js';
import { openDataset } from '../../src/data/open.js';
import { mixedBatchSource, mixedTargets } from '../../src/student/trainer/mix-inputs.js';
import { studentInputs } from '../../src/student/trainer/inputs.js';
import { planViews } from '../../src/student/trainer/targets.js';
import { needs } from '../helpers/needs.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PHOTOS = path.join(ROOT, 'test/fixtures/photos');
const PY = '/usr/bin/python3';
const AUG = 'rrc,flip,mixup:0.4,cutmix,switch-prob:0.5';
const SEED = 11;
const V = 3;

function py(args: string[]): string {
  const r = spawnSync(PY, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONHASHSEED: '0' } });
  if (r.status !== 0) throw new Error(`${args[0]} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Reads a float32 .npy (format 1.0, C order) as written by numpy or by tfkd data views. */
function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const b = fs.readFileSync(file);
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString('latin1');
  expect(header).to.match(/'descr': '<f4'/);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(',').filter((s) => s.trim()).map(Number);
  const body = b.subarray(10 + hlen);
  return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)) };
}

describe('teacher/mix-torch: Mixup/CutMix views over real photographs match PIL + PyTorch', function () {
  this.timeout(900000);
  let tmp: string;
  let model: string;
  let files: string;
  before(function () {
    needs(this, 'python3-torch', 'python3-torchvision', 'python3-onnx', 'python3-pil');
    tmp = tmpDir('mixtv');
    model = path.join(tmp, 'resnet18.onnx');
    console.log(`      ${py(['scripts/torchvision_teacher.py', '--arch', 'resnet18', '--out', model, '--data', PHOTOS]).trim().slice(0, 160)}`);
  });
  after(() => rmDir(tmp));

  it(`cache rows (${AUG}) = PyTorch on PIL renders of the printed mix records (≤ 1e-4)`, async () => {
    const ds = (await openDataset(`folder:${PHOTOS}`)) as ImageFilesDataset;
    files = path.join(tmp, 'files.json');
    fs.writeFileSync(files, JSON.stringify(ds.files));
    const map = ds.classNames!.map((_, c) => 100 + 7 * c);
    const out = path.join(tmp, 'mix-cache');
    await runPrecompute({
      teacher: model, data: `folder:${PHOTOS}`, out, split: 'train', device: 'cpu', threads: 2, batch: 8, dtype: 'f32', views: V, augment: AUG, augmentSeed: SEED,
      shardRows: 64, preprocess: 'imagenet', classMap: JSON.stringify(map),
    });
    const views = await runDataViews({ data: `folder:${PHOTOS}`, split: 'train', augment: AUG, augmentSeed: SEED, views: V, size: [224, 224], interpolation: 'bilinear', json: true });
    const mixed = views.rows.filter((r) => r.mix);
    expect(mixed.some((r) => r.mix!.kind === 'mixup') && mixed.some((r) => r.mix!.kind === 'cutmix'), 'both kinds occur').to.equal(true);
    const rowsFile = path.join(tmp, 'rows-224.json');
    fs.writeFileSync(rowsFile, JSON.stringify(views.rows));
    const refOut = path.join(tmp, 'ref-224.json');
    console.log(`      ${py(['scripts/mix_reference.py', '--rows', rowsFile, '--data', PHOTOS, '--files', files, '--size', '224', '--model', model.replace(/\.onnx$/, '.pt'), '--out', refOut]).trim()}`);
    const ref = JSON.parse(fs.readFileSync(refOut, 'utf8')) as { rows: Array<{ sample: number; view: number }>; logits: number[][] };
    expect(ref.rows).to.have.length(ds.size * (V - 1));
    const rd = openCache(out);
    let maxAbs = 0;
    try {
      const got = rd.readLogits(Int32Array.from(ref.rows, (r) => r.sample), Int32Array.from(ref.rows, (r) => r.view));
      ref.rows.forEach((_, r) => map.forEach((t, j) => (maxAbs = Math.max(maxAbs, Math.abs(ref.logits[r][t] - got[r * map.length + j])))));
    } finally {
      rd.close();
    }
    console.log(`      ${ref.rows.length} mixed views (${mixed.length} mixed): cache vs PyTorch on PIL's resized_crop + hflip, mixed in float32: max |Δ| ${maxAbs.toExponential(2)}`);
    expect(maxAbs).to.be.at.most(1e-4);
  });

  it('student side at 64×64: --format npy = the same computation in PyTorch (≤ 1e-6); the trainer\'s batches and labels are those', async () => {
    const size: [number, number] = [64, 64];
    const npy = path.join(tmp, 'student-npy');
    const views = await runDataViews({ data: `folder:${PHOTOS}`, split: 'train', augment: AUG, augmentSeed: SEED, views: V, size, interpolation: 'bilinear', out: npy, format: 'npy', json: true });
    const rowsFile = path.join(tmp, 'rows-64.json');
    fs.writeFileSync(rowsFile, JSON.stringify(views.rows));
    const dump = path.join(tmp, 'ref-64');
    console.log(`      ${py(['scripts/mix_reference.py', '--rows', rowsFile, '--data', PHOTOS, '--files', files, '--size', '64', '--out', path.join(tmp, 'ref-64.json'), '--dump', dump]).trim()}`);
    const rows = views.rows.filter((r) => r.view >= 1);
    let maxAbs = 0;
    for (const r of rows) {
      const got = readNpy(path.join(npy, `${r.sample}-${r.view}.npy`));
      const want = readNpy(path.join(dump, `${r.sample}-${r.view}.npy`));
      expect(got.shape).to.deep.equal([64, 64, 3]);
      expect(want.shape).to.deep.equal(got.shape);
      for (let k = 0; k < want.data.length; k++) maxAbs = Math.max(maxAbs, Math.abs(want.data[k] - got.data[k]));
    }
    console.log(`      ${rows.length} student views at 64x64: tfkd --format npy vs PyTorch float32 mixture: max |Δ| ${maxAbs.toExponential(2)}`);
    expect(maxAbs).to.be.at.most(1e-6);

    // The trainer's batches (render workers and the main thread) are the npy floats bit for bit,
    // and its labels are λ·onehot(y_i) + (1 − λ)·onehot(y_j) with the printed λ.
    const ds = await openDataset(`folder:${PHOTOS}`);
    const plan = planViews(AUG, [], SEED, false);
    const inputs = studentInputs(ds, size, undefined, plan);
    const samples = Int32Array.from(rows, (r) => r.sample);
    const vs = Int32Array.from(rows, (r) => r.view);
    for (const workers of [0, 2]) {
      const src = mixedBatchSource(ds, inputs, plan, workers);
      try {
        const x = await src.fetch(samples, vs);
        const sb = 64 * 64 * 3;
        rows.forEach((r: ViewRow, k) => {
          const want = readNpy(path.join(npy, `${r.sample}-${r.view}.npy`)).data;
          expect(Buffer.from(x.buffer, x.byteOffset + k * sb * 4, sb * 4).equals(Buffer.from(want.buffer)), `sample ${r.sample} view ${r.view}, ${workers} workers`).to.equal(true);
        });
      } finally {
        await src.close();
      }
    }
    const K = ds.numClasses;
    const t = mixedTargets(plan, ds, inputs, samples, vs)!;
    rows.forEach((r, k) => {
      const want = new Float64Array(K);
      if (r.mix) {
        want[ds.labels[r.sample]] += r.mix.lambda;
        want[ds.labels[r.mix.partner]] += 1 - r.mix.lambda;
      } else want[ds.labels[r.sample]] = 1;
      for (let c = 0; c < K; c++) expect(t[k * K + c]).to.be.closeTo(want[c], 1e-7);
    });
  });
});
