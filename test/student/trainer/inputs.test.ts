/**
 * Students on folders of images of mixed sizes (student/trainer/inputs.ts): --input-size, the
 * student's eval transform, rrc views rebuilt from a teacher cache, the exported student carrying
 * its eval preprocessing (precompute with no flags; ONNX eval = run eval), and the refusals.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readManifest } from '../../../src/cache/manifest.js';
import { decodeModel } from '../../../src/teacher/introspect.js';
import { openDataset } from '../../../src/data/open.js';
import { Rng } from '../../../src/data/rng.js';
import { renderStudentBatch, studentBatchSource, studentInputs } from '../../../src/student/trainer/inputs.js';
import { parseAugmentSpec } from '../../../src/data/augment.js';
import { train } from '../../../src/student/trainer/train.js';
import { metricValues } from '../../../src/student/trainer/run-dir.js';
import type { TrainConfigInput } from '../../../src/student/trainer/config.js';
import { cli } from '../../cli/train-helpers.js';
import { writeTinyTeacher } from '../../teacher/fixtures.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';

/** 3 classes × 20 images, W, H ∈ [20, 60], a class-dependent pattern plus noise, JPEG and PNG. */
async function makeFolder(dir: string): Promise<void> {
  const rng = new Rng(11);
  for (const split of ['train', 'test']) {
    for (let c = 0; c < 3; c++) {
      fs.mkdirSync(path.join(dir, split, `class${c}`), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 20 : 8); i++) {
        const w = 20 + rng.below(41);
        const h = 20 + rng.below(41);
        const px = Buffer.alloc(w * h * 3);
        for (let y = 0, p = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 3; k++, p++) px[p] = ((c === 0 ? x * 6 : c === 1 ? y * 6 : (x + y) * 3) + k * 40 + rng.below(40)) & 255;
        const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
        await (i % 2 ? img.png() : img.jpeg({ quality: 92 })).toFile(path.join(dir, split, `class${c}`, `${i}.${i % 2 ? 'png' : 'jpg'}`));
      }
    }
  }
}

describe('student/trainer/inputs: students on image folders', function () {
  this.timeout(300000);
  let root: string;
  let data: string;
  before(async () => {
    root = tmpDir('inputs');
    data = path.join(root, 'imgs');
    await makeFolder(data);
  });
  after(() => rmDir(root));

  it('the eval transform: none for fixed-size data at its own size; resize floor(S / 0.875) + center crop otherwise', async () => {
    const none = { mode: 'none' as const, cacheViews: 1, spec: null, augmentSeed: 0 };
    const fixed = await openDataset('synthetic:10:3:8x8x1:1');
    const own = studentInputs(fixed, undefined, undefined, none);
    expect(own.rendered).to.equal(false);
    expect(own.preprocess).to.include({ resize: null, crop: null, channels: 'L' });
    const up = studentInputs(fixed, [16, 16], undefined, none);
    expect(up.rendered).to.equal(true);
    expect(up.preprocess).to.deep.include({ resize: 18, crop: [16, 16], interpolation: 'bilinear' });
    const folder = await openDataset(`folder:${data}`);
    expect(studentInputs(folder, [32, 24], 1, none).preprocess).to.deep.include({ resize: [32, 24], crop: [32, 24], channels: 'RGB' });
    const gray = studentInputs(folder, [32, 24], 1, none, 'L');
    expect(gray.preprocess).to.deep.include({ channels: 'L', mean: [0], std: [1] });
    expect(gray.shape.channels).to.equal(1);
    expect(gray.side.eval.mode).to.equal('L');
    expect(() => studentInputs(folder, undefined, undefined, none)).to.throw(/may differ in size/);
    // --eval-crop-pct acts only where the input is rendered (at the data's own size train.ts refuses it).
    expect(studentInputs(fixed, undefined, 0.5, none).preprocess).to.include({ resize: null, crop: null });
    expect(studentInputs(fixed, [16, 16], 0.5, none).preprocess).to.deep.include({ resize: 32, crop: [16, 16] });
  });

  it('batches from render workers are the main thread\'s bytes: 0, 1 or 3 workers, eval view, rrc boxes, a policy', async () => {
    const ds = await openDataset(`folder:${data}`);
    const plans = [
      { mode: 'none' as const, cacheViews: 1, spec: null, augmentSeed: 0 },
      { mode: 'fresh' as const, cacheViews: 1, spec: parseAugmentSpec('rrc:0.3-1,flip'), augmentSeed: 7 },
      { mode: 'fresh' as const, cacheViews: 1, spec: parseAugmentSpec('rrc:0.3-1,flip,randaugment:2:14'), augmentSeed: 7 },
    ];
    const samples = Int32Array.from({ length: 37 }, (_, k) => (k * 7) % ds.size);
    for (const plan of plans) {
      const inputs = studentInputs(ds, [24, 20], undefined, plan);
      const views = Int32Array.from(samples, (_, k) => (plan.mode === 'none' ? 0 : 1 + (k % 3)));
      const sb = 24 * 20 * 3;
      const ref = renderStudentBatch(inputs, plan, await ds.readImages(samples, 'RGB'), samples, views, new Uint8Array(samples.length * sb));
      for (const workers of [0, 1, 3]) {
        const source = studentBatchSource(ds, inputs, plan, workers);
        try {
          const [a, b] = await Promise.all([source.fetch(samples, views), source.fetch(samples.subarray(0, 5), views.subarray(0, 5))]);
          expect(Buffer.compare(Buffer.from(a), Buffer.from(ref)), `${plan.mode}, ${workers} workers`).to.equal(0);
          expect(Buffer.compare(Buffer.from(b), Buffer.from(ref.subarray(0, 5 * sb))), `${plan.mode}, ${workers} workers, second batch`).to.equal(0);
        } finally {
          await source.close();
        }
      }
    }
  });

  it('EXPECTED FAILURE - a file that cannot be decoded fails the batch naming it, with or without workers', async () => {
    const bad = path.join(root, 'bad');
    fs.cpSync(path.join(data, 'train'), bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'class1', '3.png'), 'not an image');
    const ds = await openDataset(`folder:${bad}`);
    const none = { mode: 'none' as const, cacheViews: 1, spec: null, augmentSeed: 0 };
    const inputs = studentInputs(ds, [16, 16], undefined, none);
    const samples = Int32Array.from({ length: ds.size }, (_, k) => k);
    for (const workers of [0, 2]) {
      const source = studentBatchSource(ds, inputs, none, workers);
      try {
        let err: Error | null = null;
        await source.fetch(samples, new Int32Array(samples.length)).catch((e: Error) => (err = e));
        expect(String(err), `${workers} workers`).to.match(/class1\/3\.png.*not .*image/);
      } finally {
        await source.close();
      }
    }
  });

  it('training on a folder gives the same run with 0 or 2 render workers (rrc views)', async () => {
    const cfg = { data: `folder:${data}`, model: 'mlp', widthMultiplier: 1 / 16, loss: 'ce', epochs: 2, batch: 16, seed: 4, backend: 'wasm', inputSize: [12, 12], augment: 'rrc:0.5-1,flip' } as unknown as TrainConfigInput;
    const a = await train({ config: cfg, out: path.join(root, 'w0'), renderWorkers: 0 });
    const b = await train({ config: cfg, out: path.join(root, 'w2'), renderWorkers: 2 });
    expect(b.metrics.map(metricValues)).to.deep.equal(a.metrics.map(metricValues));
    expect(fs.readFileSync(path.join(root, 'w2', 'summary.json'), 'utf8')).to.equal(fs.readFileSync(path.join(root, 'w0', 'summary.json'), 'utf8'));
  });

  it('trains from a folder with rrc views, exports with its eval transform; the export precomputes with no flags and evaluates like the run', async () => {
    const run = path.join(root, 'teacher-run');
    let r = await cli('train', '--data', `folder:${data}`, '--model', 'cnn', '--input-size', '16', '--loss', 'ce', '--epochs', '2', '--augment', 'rrc:0.5-1,flip', '--seed', '2', '--batch', '16', '--out', run, '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8'));
    expect(manifest.preprocess).to.deep.include({ size: [16, 16], resize: 18, crop: [16, 16], channels: 'RGB' });
    const onnx = path.join(root, 'teacher.onnx');
    r = await cli('export', run, '--out', onnx);
    expect(r.code, r.err).to.equal(0);
    const meta = JSON.parse(decodeModel(fs.readFileSync(onnx), 'teacher.onnx').metadata['tfkd.preprocess']);
    expect(meta).to.deep.include({ resize: 18, crop: [16, 16], interpolation: 'bilinear', channels: 'RGB' });
    // The exported student as a teacher over the same folder: no --preprocess needed.
    const cache = path.join(root, 'cache');
    r = await cli('precompute', '--teacher', onnx, '--data', `folder:${data}`, '--views', '3', '--augment', 'rrc:0.5-1,flip', '--augment-seed', '5', '--out', cache, '--device', 'cpu', '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    expect(readManifest(cache).preprocess).to.deep.include({ resize: 18, crop: [16, 16] });
    // tfkd eval of the ONNX (onnxruntime renders) = tfkd eval of the run (tfjs on the same renders).
    const a = await cli('eval', run, '--data', `folder:${data}`, '--json');
    const b = await cli('eval', onnx, '--data', `folder:${data}`, '--json', '--device', 'cpu');
    expect(a.code, a.err).to.equal(0);
    expect(b.code, b.err).to.equal(0);
    const ja = JSON.parse(a.out);
    const jb = JSON.parse(b.out);
    expect(jb.n).to.equal(24);
    expect(jb.accuracy).to.equal(ja.accuracy);
    expect(jb.confusion).to.deep.equal(ja.confusion);
    console.log(`      run vs ONNX eval: acc ${(100 * ja.accuracy).toFixed(2)} % both, loss ${ja.loss.toFixed(6)} vs ${jb.loss.toFixed(6)}`);
    expect(Math.abs(ja.loss - jb.loss)).to.be.below(1e-4);
    // A student trains with KD from the 3-view rrc cache, rebuilding each cached view at its own size.
    r = await cli('train', '--data', `folder:${data}`, '--model', 'mlp', '--input-size', '12', '--loss', 'kd', '--cache', cache, '--alpha', '0.5', '--temperature', '4', '--epochs', '1', '--batch', '16', '--out', path.join(root, 'student'), '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    const sm = JSON.parse(fs.readFileSync(path.join(root, 'student', 'manifest.json'), 'utf8'));
    expect(sm.views).to.deep.include({ mode: 'cache', cacheViews: 3, augmentSeed: 5 });
  });

  it('BAD CALL - no --input-size for a folder, an input the model cannot take, --augment other than the cache\'s views', async () => {
    let r = await cli('train', '--data', `folder:${data}`, '--model', 'cnn', '--loss', 'ce', '--epochs', '1', '--out', path.join(root, 'x1'), '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/may differ in size, so the student's input size is not taken from them\nhint: pass --input-size H\[,W\], e\.g\. --input-size \d+(,\d+)? \(the first image's size\)/);
    r = await cli('train', '--data', `folder:${data}`, '--model', 'cnn', '--input-size', '4', '--loss', 'ce', '--epochs', '1', '--out', path.join(root, 'x2'), '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/cnn needs inputs of at least 6×6 pixels, got 4×4/);
    r = await cli('train', '--data', `folder:${data}`, '--model', 'mlp', '--input-size', '12', '--loss', 'kd', '--cache', path.join(root, 'cache'), '--augment', 'crop:2,flip', '--epochs', '1', '--out', path.join(root, 'x3'), '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/--augment crop:2,flip differs from the augmentation the cache's views were made with \(rrc:0\.5-1/);
    r = await cli('train', '--data', `folder:${data}`, '--model', 'mlp', '--input-size', '12', '--loss', 'ce', '--augment', 'rrc:0.9-0.1', '--epochs', '1', '--out', path.join(root, 'x4'), '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/rrc scale range 0\.9-0\.1 .* is impossible/);
  });
});

/** 2 classes × 16 (train) / 6 (test) one-channel PNGs of 14–30 px: dark/bright stripes by class. */
async function makeGrayFolder(dir: string): Promise<void> {
  const rng = new Rng(23);
  for (const split of ['train', 'test']) {
    for (let c = 0; c < 2; c++) {
      fs.mkdirSync(path.join(dir, split, `class${c}`), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 16 : 6); i++) {
        const w = 14 + rng.below(17);
        const h = 14 + rng.below(17);
        const px = Buffer.alloc(w * h);
        for (let y = 0, p = 0; y < h; y++) for (let x = 0; x < w; x++, p++) px[p] = ((c === 0 ? x : y) % 4 < 2 ? 40 : 200) + rng.below(30);
        await sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toFile(path.join(dir, split, `class${c}`, `${i}.png`));
      }
    }
  }
}

describe('student/trainer/inputs: grayscale folders (--channels L)', function () {
  this.timeout(300000);
  let root: string;
  let data: string;
  before(async () => {
    root = tmpDir('gray');
    data = path.join(root, 'imgs');
    await makeGrayFolder(data);
  });
  after(() => rmDir(root));

  it('trains a 1-channel student, records L in config, manifest and export; the export precomputes with no flags; run and ONNX eval agree', async () => {
    const run = path.join(root, 'run');
    let r = await cli('train', '--data', `folder:${data}`, '--channels', 'L', '--model', 'cnn', '--input-size', '16', '--loss', 'ce', '--epochs', '2', '--batch', '8', '--seed', '3', '--out', run, '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    expect(JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'))).to.include({ channels: 'L' });
    const manifest = JSON.parse(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8'));
    expect(manifest.preprocess).to.deep.include({ size: [16, 16], channels: 'L', mean: [0], std: [1] });
    const onnx = path.join(root, 'gray.onnx');
    r = await cli('export', run, '--out', onnx);
    expect(r.code, r.err).to.equal(0);
    const model = decodeModel(fs.readFileSync(onnx), 'gray.onnx');
    expect(JSON.parse(model.metadata['tfkd.preprocess'])).to.deep.include({ channels: 'L', resize: 18, crop: [16, 16] });
    expect(model.inputs[0].shape.slice(1)).to.deep.equal([16, 16, 1]);
    const cache = path.join(root, 'cache');
    r = await cli('precompute', '--teacher', onnx, '--data', `folder:${data}`, '--out', cache, '--device', 'cpu', '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    expect(readManifest(cache).preprocess).to.deep.include({ channels: 'L', resize: 18, crop: [16, 16] });
    const a = await cli('eval', run, '--data', `folder:${data}`, '--json');
    const b = await cli('eval', onnx, '--data', `folder:${data}`, '--json', '--device', 'cpu');
    expect(a.code, a.err).to.equal(0);
    expect(b.code, b.err).to.equal(0);
    const [ja, jb] = [JSON.parse(a.out), JSON.parse(b.out)];
    expect(jb.n).to.equal(12);
    expect(jb.accuracy).to.equal(ja.accuracy);
    expect(jb.confusion).to.deep.equal(ja.confusion);
    console.log(`      gray run vs ONNX eval: acc ${(100 * ja.accuracy).toFixed(2)} % both, loss ${ja.loss.toFixed(6)} vs ${jb.loss.toFixed(6)}`);
    expect(Math.abs(ja.loss - jb.loss)).to.be.below(1e-4);
  });

  it('BAD CALL - a 1-channel teacher over a folder read as RGB names "channels": "L"; --channels on fixed-size data of other channels; a bad mode', async () => {
    const teacher = writeTinyTeacher(root, { height: 16, width: 16, channels: 1, numClasses: 2 }, 'gray-teacher.onnx');
    let r = await cli('precompute', '--teacher', teacher, '--data', `folder:${data}`, '--out', path.join(root, 'x1'), '--device', 'cpu', '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/has 1 channels|expects 1 \(NCHW\)/);
    expect(r.err).to.include(`hint: the model takes grayscale: pass --preprocess '{"channels": "L"}'`);
    // The fix named works (with a size for the folder's images).
    r = await cli('precompute', '--teacher', teacher, '--data', `folder:${data}`, '--preprocess', '{"channels": "L", "size": [16, 16]}', '--out', path.join(root, 'x2'), '--device', 'cpu', '--progress', 'off');
    expect(r.code, r.err).to.equal(0);
    r = await cli('train', '--data', 'synthetic:20:2:8x8x3:1', '--channels', 'L', '--model', 'mlp', '--loss', 'ce', '--epochs', '1', '--out', path.join(root, 'x3'), '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/--channels L: synthetic:20:2:8x8x3:1 has 3 channel\(s\)\nhint: --channels converts folder:\/list: images/);
    r = await cli('train', '--data', `folder:${data}`, '--channels', 'gray', '--model', 'mlp', '--input-size', '8', '--loss', 'ce', '--epochs', '1', '--out', path.join(root, 'x4'), '--progress', 'off');
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/channels/);
    expect(fs.existsSync(path.join(root, 'x4'))).to.equal(false);
  });
});

