import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../src/errors.js';
import { decodeModel } from '../../src/teacher/introspect.js';
import { f32ToF16 } from '../../src/util/float16.js';
import { openTeacher, type OpenTeacherOptions } from '../../src/teacher/session.js';
import { pixels, tinyTeacherForward, writeTinyTeacher, type TinyTeacherOptions } from './fixtures.js';
import { maxAbsDiff } from '../helpers/close.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';


/** Rounds to the nearest float16 (via the product's f32→f16 bits) and decodes by the IEEE formula. */
const roundF16 = (v: number): number => halfToNumber(f32ToF16([v])[0]);
function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

describe('teacher/session (tiny in-process ONNX teachers)', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('teacher');
  });
  after(() => rmDir(dir));

  let count = 0;
  const write = (o: TinyTeacherOptions): string => writeTinyTeacher(dir, o, `m${count++}.onnx`);
  const data = (o: TinyTeacherOptions, numClasses?: number): OpenTeacherOptions['data'] => ({
    shape: { height: o.height ?? 4, width: o.width ?? 4, channels: o.channels ?? 1 },
    numClasses,
  });

  it('runs NCHW and NHWC builds of the same function to the same logits, equal to a float64 reference', async () => {
    const base: TinyTeacherOptions = { height: 5, width: 6, channels: 3, numClasses: 4, seed: 5 };
    const n = 7;
    const px = pixels(n * 5 * 6 * 3);
    const ref = tinyTeacherForward(base, px, n);
    const outs: Float32Array[] = [];
    for (const layout of ['NCHW', 'NHWC'] as const) {
      const o = { ...base, layout };
      const p = write(o);
      const t = await openTeacher(p, { device: 'cpu', threads: 1, data: data(o, 4) });
      try {
        expect(t.info).to.deep.include({ layout, inputDtype: 'float32', fixedBatch: null, numClasses: 4, opset: 13, provider: 'cpu', threads: 1, inputName: 'pixels', outputName: 'logits' });
        expect(t.info.sha256).to.equal(createHash('sha256').update(readFileSync(p)).digest('hex'));
        expect(t.info.file).to.match(/^m\d+\.onnx$/);
        expect(t.preprocess).to.deep.equal({
          layout, size: [5, 6], resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1],
        });
        const logits = await t.run(px, n);
        expect(logits).to.be.instanceOf(Float32Array);
        expect(logits.length).to.equal(n * 4);
        outs.push(logits);
        const d = maxAbsDiff(logits, ref);
        console.log(`      ${layout}: max |ort − float64 ref| = ${d.toExponential(2)}`);
        expect(d).to.be.lessThan(1e-5);
      } finally {
        await t.close();
      }
    }
    expect(maxAbsDiff(outs[0], outs[1])).to.be.lessThan(1e-5);
  });

  it('float16 input (Cast inside) and float16 output: logits as float32 within f16 rounding of the reference', async () => {
    const o: TinyTeacherOptions = { inputDtype: 'float16', outputDtype: 'float16', height: 4, width: 4, channels: 1, numClasses: 3 };
    const t = await openTeacher(write(o), { device: 'cpu', threads: 1, data: data(o) });
    try {
      expect(t.info.inputDtype).to.equal('float16');
      const n = 5;
      const px = pixels(n * 16);
      const logits = await t.run(px, n);
      expect(logits).to.be.instanceOf(Float32Array);
      // reference with float16-rounded inputs; the output is then rounded to float16 once more
      const ref = tinyTeacherForward(o, px, n, {}, roundF16);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) {
        const tol = Math.abs(ref[i]) * 2 ** -11 + 1e-4; // half an f16 ulp + float32 accumulation
        worst = Math.max(worst, Math.abs(logits[i] - ref[i]) / tol);
        expect(logits[i]).to.equal(roundF16(logits[i])); // exactly representable in f16
      }
      console.log(`      float16 model: worst |diff| / (f16 rounding bound) = ${worst.toFixed(3)}`);
      expect(worst).to.be.lessThan(1);
    } finally {
      await t.close();
    }
  });

  it('fixed-batch model: pads the last batch and runs n not divisible by the batch', async () => {
    const o: TinyTeacherOptions = { fixedBatch: 4, numClasses: 3 };
    const t = await openTeacher(write(o), { device: 'cpu', threads: 1, data: data(o, 3) });
    try {
      expect(t.info.fixedBatch).to.equal(4);
      for (const n of [1, 4, 10]) {
        const px = pixels(n * 16, n);
        const d = maxAbsDiff(await t.run(px, n), tinyTeacherForward(o, px, n));
        expect(d).to.be.lessThan(1e-5);
      }
      expect((await t.run(new Uint8Array(0), 0)).length).to.equal(0);
    } finally {
      await t.close();
    }
  });

  it('symbolic K declared in the output shape: K still comes from the model', async () => {
    const o: TinyTeacherOptions = { numClasses: 7, symbolicClasses: true, fixedBatch: 2 };
    const p = write(o);
    expect(decodeModel(readFileSync(p), 'm').outputs[0].shape).to.deep.equal([2, 'k']);
    const t = await openTeacher(p, { device: 'cpu', threads: 1, data: data(o, 7) });
    try {
      // onnxruntime's shape inference resolves it here; otherwise a probe run on zeros would.
      expect(t.io.outputShape[1]).to.be.oneOf([7, 'k']);
      expect(t.info.numClasses).to.equal(7);
      const px = pixels(3 * 16, 9);
      expect(maxAbsDiff(await t.run(px, 3), tinyTeacherForward(o, px, 3))).to.be.lessThan(1e-5);
    } finally {
      await t.close();
    }
  });

  it('concurrent run() calls are serialized and each gets its own logits', async () => {
    const o: TinyTeacherOptions = { numClasses: 3 };
    const t = await openTeacher(write(o), { device: 'cpu', threads: 1, data: data(o) });
    try {
      const batches = [1, 2, 3, 4].map((s) => pixels(6 * 16, s));
      const got = await Promise.all(batches.map((b) => t.run(b, 6)));
      got.forEach((g, i) => expect(maxAbsDiff(g, tinyTeacherForward(o, batches[i], 6))).to.be.lessThan(1e-5));
    } finally {
      await t.close();
    }
  });

  it('prepare/infer: input buffers are reused once inferred; a spent batch cannot be inferred again', async () => {
    const o: TinyTeacherOptions = { numClasses: 3 };
    const t = await openTeacher(write(o), { device: 'cpu', threads: 1, data: data(o) });
    try {
      const p1 = pixels(5 * 16, 1);
      const p2 = pixels(5 * 16, 2);
      const a = await t.prepare(p1, 5);
      const b = await t.prepare(p2, 5); // a is not inferred yet: b must get its own buffer
      expect(b.feeds.pixels.data).not.to.equal(a.feeds.pixels.data);
      expect(maxAbsDiff(await t.infer(a), tinyTeacherForward(o, p1, 5))).to.be.lessThan(1e-5);
      const c = await t.prepare(p2, 5);
      expect((c.feeds.pixels.data as Float32Array).buffer).to.equal((a.feeds.pixels.data as Float32Array).buffer);
      expect(maxAbsDiff(await t.infer(b), tinyTeacherForward(o, p2, 5))).to.be.lessThan(1e-5);
      expect(maxAbsDiff(await t.infer(c), tinyTeacherForward(o, p2, 5))).to.be.lessThan(1e-5);
      const err = await t.infer(a).catch((e) => e);
      expect(err).to.be.instanceOf(Error);
      expect(err.message).to.match(/inferred twice/);
    } finally {
      await t.close();
    }
  });

  it('mean/std/scale from --preprocess and from tfkd.preprocess metadata are applied', async () => {
    const pre = { scale: 1 / 127.5, mean: [1], std: [0.5] };
    const o: TinyTeacherOptions = { metadata: { 'tfkd.preprocess': JSON.stringify({ ...pre, layout: 'NCHW', size: [4, 4] }) } };
    const px = pixels(3 * 16);
    const ref = tinyTeacherForward(o, px, 3, pre);
    const t1 = await openTeacher(write(o), { device: 'cpu', threads: 1, data: data(o) });
    const t2 = await openTeacher(write({}), { device: 'cpu', threads: 1, data: data({}), preprocess: JSON.stringify(pre) });
    try {
      expect(t1.preprocess).to.deep.include(pre);
      expect(t1.info.metadata).to.have.property('tfkd.preprocess');
      expect(maxAbsDiff(await t1.run(px, 3), ref)).to.be.lessThan(1e-5);
      expect(maxAbsDiff(await t2.run(px, 3), ref)).to.be.lessThan(1e-5);
    } finally {
      await t1.close();
      await t2.close();
    }
  });

  it('resizes data to the model size given in --preprocess', async () => {
    const o: TinyTeacherOptions = { height: 8, width: 8 };
    const t = await openTeacher(write(o), { device: 'cpu', threads: 1, data: { shape: { height: 4, width: 4, channels: 1 } }, preprocess: { size: [8, 8] } });
    try {
      const px = new Uint8Array(2 * 16).fill(51);
      const big = new Uint8Array(2 * 64).fill(51);
      expect(maxAbsDiff(await t.run(px, 2), tinyTeacherForward(o, big, 2))).to.be.lessThan(1e-5);
    } finally {
      await t.close();
    }
  });

  it('two outputs: picks the 2-D one; two 2-D outputs need --output', async () => {
    const o1: TinyTeacherOptions = { extraOutputs: ['features'] };
    const t1 = await openTeacher(write(o1), { device: 'cpu', threads: 1, data: data(o1) });
    expect(t1.info.outputName).to.equal('logits');
    await t1.close();
    const o2: TinyTeacherOptions = { extraOutputs: ['probs'] };
    const p2 = write(o2);
    const err = await openTeacher(p2, { device: 'cpu', threads: 1, data: data(o2) }).catch((e) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect(err.message).to.match(/several 2-D outputs \(logits, probs\)/);
    const t2 = await openTeacher(p2, { device: 'cpu', threads: 1, data: data(o2), output: 'probs' });
    try {
      const out = await t2.run(pixels(16), 1);
      expect(out.reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-5); // softmax row
    } finally {
      await t2.close();
    }
  });

  describe('BAD CALL - one-line UsageErrors', () => {
    async function bad(p: string, opts: Partial<OpenTeacherOptions>, re: RegExp): Promise<void> {
      const err = await openTeacher(p, { device: 'cpu', threads: 1, data: { shape: { height: 4, width: 4, channels: 1 } }, ...opts }).catch((e) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect(err.message).to.match(re);
      expect(err.message).not.to.contain('\n');
    }
    it('BAD CALL - a file that is not ONNX', async () => {
      const p = join(dir, 'notes.onnx');
      writeFileSync(p, 'this is not a model\n');
      await bad(p, {}, /^not an ONNX model: notes\.onnx$/);
    });
    it('BAD CALL - a missing file', () => bad(join(dir, 'missing.onnx'), {}, /cannot read teacher .*ENOENT/));
    it('BAD CALL - a model whose output is 4-D', () => bad(write({ output4d: true }), {}, /no 2-D output \(outputs: logits \[batch, 3, 1, 1\]\)/));
    it('BAD CALL - channels that do not fit the data', () => bad(write({ channels: 3 }), {}, /expects 3 \(NCHW\) or 4 \(NHWC\) channels, the data has 1/));
    it('BAD CALL - a fixed spatial size different from the data without a resize', () => bad(write({ height: 8, width: 8 }), {}, /takes 8x8 images, preprocessing gives 4x4/));
    it('BAD CALL - preprocess with unknown keys / a wrong-length mean', async () => {
      await bad(write({}), { preprocess: '{"mean": [0], "foo": 1}' }, /invalid --preprocess: .*foo/);
      await bad(write({}), { preprocess: '{"mean": [0, 0, 0]}' }, /mean has 3 value\(s\), the model is fed 1 channel\(s\) \(L\)/);
    });
    it('BAD CALL - K of the model differs from the data set', () => bad(write({ numClasses: 3 }), { data: { shape: { height: 4, width: 4, channels: 1 }, numClasses: 10 } }, /outputs 3 classes, the data set has 10/));
  });
});
