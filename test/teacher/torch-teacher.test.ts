/**
 * The real PyTorch teacher (scripts/make_torch_teacher.py → test/fixtures/torch-teacher/): tfkd's
 * onnxruntime path must reproduce PyTorch's logits for the same images, and its test accuracy.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openTeacher } from '../../src/teacher/session.js';
import { withFloat16Input } from './fixtures.js';
import { maxAbsDiff } from '../helpers/close.js';
import { withTmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const FIX = 'test/fixtures/torch-teacher';
const FMNIST = '/usr/share/datasets/fashion-mnist';

interface Reference {
  model_sha256: string;
  rows: number;
  test_accuracy: number;
  labels: number[];
  logits: number[][];
  logits_f16_inputs: number[][];
}

/** IDX (LeCun) reader, independent of src/data: magic, big-endian dims, raw bytes. */
function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  const raw = gunzipSync(readFileSync(path));
  const ndim = raw[3];
  const dims = Array.from({ length: ndim }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, data: new Uint8Array(raw.buffer, raw.byteOffset + 4 + 4 * ndim, dims.reduce((a, b) => a * b, 1)) };
}

/** max |a − b| against PyTorch's rows. */
const maxAbsDiffRows = (a: ArrayLike<number>, b: number[][]): number => maxAbsDiff(a, b.flat());

describe('teacher/torch-teacher (PyTorch-exported CNN, NCHW, opset 13)', () => {
  const ref = JSON.parse(readFileSync(join(FIX, 'reference.json'), 'utf8')) as Reference;
  let images: { dims: number[]; data: Uint8Array } = { dims: [], data: new Uint8Array() };
  let labels: Uint8Array = new Uint8Array();
  before(function () {
    needs(this, 'dataset-fashion-mnist');
    images = readIdx(join(FMNIST, 't10k-images-idx3-ubyte.gz'));
    labels = readIdx(join(FMNIST, 't10k-labels-idx1-ubyte.gz')).data;
  });
  const data = { shape: { height: 28, width: 28, channels: 1 }, numClasses: 10 };

  it('the committed model is the one the reference logits were made with, and small', () => {
    const bytes = readFileSync(join(FIX, 'model.onnx'));
    expect(createHash('sha256').update(bytes).digest('hex')).to.equal(ref.model_sha256);
    expect(bytes.length).to.be.lessThan(500_000);
    expect(Array.from(labels.subarray(0, ref.rows))).to.deep.equal(ref.labels);
  });

  it('float32: tfkd logits match PyTorch ≤ 1e-4 max abs diff; test accuracy matches', async () => {
    const t = await openTeacher(join(FIX, 'model.onnx'), { device: 'cpu', threads: 2, data });
    try {
      expect(t.info).to.deep.include({ layout: 'NCHW', inputDtype: 'float32', fixedBatch: null, numClasses: 10, inputName: 'input', outputName: 'logits' });
      expect(t.info.opset).to.be.greaterThanOrEqual(13);
      expect(t.info.inputShape).to.deep.equal(['batch', 1, 28, 28]);
      const logits = await t.run(images.data.subarray(0, ref.rows * 784), ref.rows);
      const d = maxAbsDiffRows(logits, ref.logits);
      console.log(`      float32: max |tfkd − PyTorch| over ${ref.rows}×10 logits = ${d.toExponential(3)} (tolerance 1e-4)`);
      expect(d).to.be.at.most(1e-4);

      // Whole test set, batches of 1000: same accuracy as PyTorch measured (ties aside).
      const N = images.dims[0];
      let correct = 0;
      for (let s = 0; s < N; s += 1000) {
        const n = Math.min(1000, N - s);
        const out = await t.run(images.data.subarray(s * 784, (s + n) * 784), n);
        for (let i = 0; i < n; i++) {
          let best = 0;
          for (let k = 1; k < 10; k++) if (out[i * 10 + k] > out[i * 10 + best]) best = k;
          if (best === labels[s + i]) correct++;
        }
      }
      console.log(`      test accuracy: tfkd ${(correct / N).toFixed(4)}, PyTorch ${ref.test_accuracy.toFixed(4)}`);
      expect(Math.abs(correct / N - ref.test_accuracy)).to.be.at.most(2 / N);
    } finally {
      await t.close();
    }
  });

  it('float16 inputs (same model, float16 input + Cast): matches PyTorch on f16-rounded inputs ≤ 1e-4, and float32 PyTorch within f16 rounding effects', async () => {
    await withTmpDir('torch16', async (dir) => {
      const p = join(dir, 'model-f16in.onnx');
      writeFileSync(p, withFloat16Input(readFileSync(join(FIX, 'model.onnx'))));
      const t = await openTeacher(p, { device: 'cpu', threads: 2, data });
      try {
        expect(t.info.inputDtype).to.equal('float16');
        const logits = await t.run(images.data.subarray(0, ref.rows * 784), ref.rows);
        const dSame = maxAbsDiffRows(logits, ref.logits_f16_inputs);
        const dF32 = maxAbsDiffRows(logits, ref.logits);
        // Input rounding to f16 moves each pixel by ≤ 2^-12 relative; through this small CNN the
        // logits move by far less than 1e-2 (PyTorch's own f32-vs-f16-input gap is the yardstick).
        const torchGap = maxAbsDiffRows(Float32Array.from(ref.logits.flat()), ref.logits_f16_inputs);
        console.log(`      float16 input: max |tfkd − PyTorch(f16 inputs)| = ${dSame.toExponential(3)}; vs PyTorch f32 = ${dF32.toExponential(3)} (PyTorch's own f16-input gap ${torchGap.toExponential(3)})`);
        expect(dSame).to.be.at.most(1e-4);
        expect(dF32).to.be.at.most(torchGap + 1e-4);
        // f16 storage of the float32 logits (what `--dtype f16` keeps): within half an f16 ulp.
        const f16 = new (await import('@petamoriken/float16')).Float16Array(logits);
        for (let i = 0; i < logits.length; i++) expect(Math.abs(f16[i] - logits[i])).to.be.at.most(Math.abs(logits[i]) * 2 ** -11 + 2 ** -25);
      } finally {
        await t.close();
      }
    });
  });
});
