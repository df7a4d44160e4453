/**
 * The photo exercise (issue 19's acceptance), through the CLI as a user types it, over the real
 * photographs of test/fixtures/photos (36 files, 5 classes, mixed sizes and formats):
 *
 *   1. a teacher: torchvision mobilenet_v3_small, seeded and calibrated on the photos
 *      (scripts/torchvision_teacher.py), its 1000 outputs mapped onto the 5 classes;
 *   2. tfkd precompute --views 2 --augment rrc,flip            a multi-view teacher cache;
 *   3. a student: torchvision mobilenet_v3_small with K = 5 exported at 64×64 with its BatchNorms
 *      (scripts/torchvision_student.py), trained with
 *      tfkd train --model onnx:S --freeze features.0 --freeze features.1 --freeze features.2 --loss kd --cache …
 *      for 2 epochs (epoch 2 reads the rrc view of every photo);
 *   4. tfkd export RUN --out M.onnx: the frozen early blocks (weights and running statistics) are
 *      the source graph's bytes, the rest moved;
 *   5. tfkd precompute --teacher M.onnx --data folder:PHOTOS --out C, with no other flag: its
 *      preprocessing is the run's eval transform, and the cross-entropy / argmax of its rows over the
 *      photos' labels equal `tfkd eval RUN`'s (≤ 1e-5);
 *   6. tfkd eval M.onnx = tfkd eval RUN: the same confusion matrix, loss within 1e-5.
 * Small for CI: 36 photos, 64 px, batch 8, 2 epochs (≈ 30 s on 2 loaded cores, most of it the
 * teacher's calibration).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCache } from '../../../src/cache/reader.js';
import { readManifest } from '../../../src/cache/manifest.js';
import { openDataset } from '../../../src/data/open.js';
import { readOnnxGraph } from '../../../src/student/zoo/onnx-graph.js';
import { cli } from '../../cli/train-helpers.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { needs } from '../../helpers/needs.js';
import { PY, studentOnnx } from '../zoo/torchvision-students.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PHOTOS = path.join(ROOT, 'test/fixtures/photos');
const DATA = `folder:${PHOTOS}`;
const FROZEN = ['features.0', 'features.1', 'features.2'];

interface EvalJson {
  n: number;
  accuracy: number;
  loss: number;
  confusion: number[][];
}

describe('student/trainer: the photo exercise (ONNX mobilenet_v3_small student, --freeze, multi-view cache, export, precompute with no flags)', function () {
  this.timeout(600000);
  let tmp: string;
  before(function () {
    needs(this, 'python3-torch', 'python3-torchvision', 'python3-onnx', 'python3-pil');
    tmp = tmpDir('onnx-photos');
  });
  after(() => rmDir(tmp));

  it('distils, exports, precomputes as a teacher with no flags; ONNX eval = run eval', async function () {
    const run = async (...args: string[]): Promise<string> => {
      const r = await cli(...args);
      expect(r.code, `tfkd ${args.join(' ')}: ${r.err}`).to.equal(0);
      return r.out;
    };
    const teacher = path.join(tmp, 'teacher.onnx');
    const t = spawnSync(PY, ['scripts/torchvision_teacher.py', '--arch', 'mobilenet_v3_small', '--out', teacher, '--data', PHOTOS, '--no-pt', '--crops', '0'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONHASHSEED: '0' } });
    if (t.status !== 0) throw new Error(`torchvision_teacher.py failed (${t.status}): ${t.stderr}`);
    const teacherCache = path.join(tmp, 'teacher-cache');
    await run('precompute', '--teacher', teacher, '--data', DATA, '--preprocess', 'imagenet', '--class-map', '[1,101,201,301,401]',
      '--views', '2', '--augment', 'rrc,flip', '--augment-seed', '7', '--batch', '16', '--progress', 'off', '--out', teacherCache);
    expect(readManifest(teacherCache)).to.include({ views: 2, K: 5, N: 36 });

    const source = studentOnnx('mobilenet_v3_small', 5);
    const out = path.join(tmp, 'run');
    await run('train', '--data', DATA, '--input-size', '64', '--model', `onnx:${source}`, '--preprocess', 'imagenet', ...FROZEN.flatMap((f) => ['--freeze', f]),
      '--loss', 'kd', '--cache', teacherCache, '--alpha', '0.9', '--temperature', '4', '--epochs', '2', '--batch', '8', '--lr', '0.01',
      '--backend', 'wasm', '--progress', 'off', '--out', out);
    expect(fs.existsSync(path.join(out, 'summary.json'))).to.equal(true);

    const m = path.join(tmp, 'student.onnx');
    const said = await run('export', out, '--out', m);
    expect(said).to.match(/NCHW, opset 17, input = \(pixel·0\.00392157 − \[0\.485, 0\.456, 0\.406\]\) \/ \[0\.229, 0\.224, 0\.225\]/);
    const src = readOnnxGraph(source);
    const back = readOnnxGraph(m);
    let frozen = 0;
    let moved = 0;
    for (const w of src.weights) {
      const b = back.weights.find((x) => x.name === w.name);
      expect(b, w.name).to.not.equal(undefined);
      const same = b!.data.every((v, i) => v === w.data[i]);
      if (FROZEN.some((f) => w.name.startsWith(`${f}.`))) {
        expect(same, `${w.name} is frozen`).to.equal(true);
        frozen++;
      } else if (!same) moved++;
    }
    const others = src.weights.length - frozen;
    console.log(`      export: ${frozen} frozen initializers unchanged, ${moved} of the other ${others} moved`);
    // features.0: conv + BN (5); features.1: depthwise conv + BN, SE fc1/fc2 with biases, conv + BN (14); features.2: 3 × (conv + BN) (15).
    expect(frozen).to.equal(34);
    expect(moved).to.be.greaterThan(others / 2);

    // The exported student as a teacher: no flag but the data and the output.
    const cache = path.join(tmp, 'student-cache');
    await run('precompute', '--teacher', m, '--data', DATA, '--out', cache);
    // Its preprocessing: the run's eval transform (resize, crop) and the graph's normalisation
    // (--preprocess imagenet, applied inside the imported graph during training).
    const rm = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { preprocess: Record<string, unknown>; model: { onnx: { normalize: Record<string, unknown> } } };
    const cp = readManifest(cache).preprocess as unknown as Record<string, unknown>;
    for (const k of ['resize', 'crop', 'interpolation']) expect(cp[k], k).to.deep.equal(rm.preprocess[k]);
    for (const k of ['scale', 'mean', 'std']) expect(cp[k], k).to.deep.equal(rm.model.onnx.normalize[k]);
    expect(cp.mean).to.deep.equal([0.485, 0.456, 0.406]);

    const runEval = JSON.parse(await run('eval', out, '--data', DATA, '--backend', 'wasm', '--json')) as EvalJson;
    const onnxEval = JSON.parse(await run('eval', m, '--data', DATA, '--device', 'cpu', '--json')) as EvalJson;
    expect(runEval.n).to.equal(36);
    expect(onnxEval.confusion).to.deep.equal(runEval.confusion);
    const dEval = Math.abs(onnxEval.loss - runEval.loss);

    // The no-flag cache scores the photos as the run does (precompute reads the train split; a
    // folder without train/ and test/ gives both the same files in the same order).
    const ds = await openDataset(DATA, { split: 'train' });
    const rd = openCache(cache);
    let ce = 0;
    const confusion = runEval.confusion.map((r) => r.map(() => 0));
    try {
      const z = rd.readLogits(Int32Array.from({ length: ds.size }, (_, i) => i), new Int32Array(ds.size));
      for (let i = 0; i < ds.size; i++) {
        const row = Array.from(z.subarray(i * 5, i * 5 + 5));
        const mx = Math.max(...row);
        ce += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[ds.labels[i]];
        confusion[ds.labels[i]][row.indexOf(mx)]++;
      }
    } finally {
      rd.close();
    }
    ce /= ds.size;
    const dCache = Math.abs(ce - runEval.loss);
    console.log(`      eval RUN acc ${runEval.accuracy} loss ${runEval.loss.toFixed(6)} · eval M.onnx acc ${onnxEval.accuracy} |Δloss| ${dEval.toExponential(2)} · no-flag cache CE |Δ| ${dCache.toExponential(2)}`);
    expect(dEval).to.be.at.most(1e-5 * Math.max(1, runEval.loss));
    expect(confusion).to.deep.equal(runEval.confusion);
    expect(dCache).to.be.at.most(1e-5 * Math.max(1, runEval.loss));
  });
});
