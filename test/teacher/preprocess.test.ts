import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Float16Array } from '@petamoriken/float16';
import { UsageError } from '../../src/errors.js';
import {
  parsePreprocess,
  preprocessFromMetadata,
  Preprocessor,
  resolvePreprocess,
} from '../../src/teacher/preprocess.js';
import type { PreprocessSpec } from '../../src/teacher/types.js';
import { withTmpDir } from '../helpers/tmp-dir.js';

/** A full spec with no rendering (resize/crop null unless given), channels from mean's length. */
function plain(p: Pick<PreprocessSpec, 'layout' | 'size' | 'scale' | 'mean' | 'std'> & Partial<PreprocessSpec>): PreprocessSpec {
  return { resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear', channels: p.mean.length === 1 ? 'L' : 'RGB', ...p };
}

function bad(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    expect((e as Error).message).to.match(re);
    expect((e as Error).message).not.to.contain('\n');
    return;
  }
  throw new Error('expected a UsageError');
}

/** Seeded pixels (xorshift), so tests are reproducible. */
function pixels(n: number, seed = 7): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = x & 255;
  }
  return a;
}

const ctx3 = { layout: 'NCHW' as const, channels: 3, dataSize: [4, 5] as [number, number], modelSize: null, file: 'm.onnx' };

describe('teacher/preprocess', () => {
  it('parses a JSON string, a file, and an object; unknown keys are rejected', () => {
    expect(parsePreprocess('{"scale": 0.5, "mean": [1, 2, 3]}')).to.deep.equal({ scale: 0.5, mean: [1, 2, 3] });
    withTmpDir('pre', (dir) => {
      const f = join(dir, 'pre.json');
      writeFileSync(f, '{"layout": "NHWC", "size": [8, 9]}');
      expect(parsePreprocess(f)).to.deep.equal({ layout: 'NHWC', size: [8, 9] });
    });
    expect(parsePreprocess({ std: [2] })).to.deep.equal({ std: [2] });
  });

  it('BAD CALL - unknown keys, bad JSON, missing file, zero std, bad size', () => {
    bad(() => parsePreprocess('{"scale": 1, "meen": [0]}'), /invalid --preprocess: .*meen/i);
    bad(() => parsePreprocess('{"scale": '), /not valid JSON/);
    bad(() => parsePreprocess('/nonexistent/pre.json'), /neither a JSON object, imagenet, timm:FILE, hf:FILE nor an existing file/);
    bad(() => parsePreprocess('{"std": [0]}'), /std\.0: must be non-zero/);
    bad(() => parsePreprocess('{"size": [28]}'), /size/);
    bad(() => parsePreprocess('{"layout": "CHW"}'), /layout/);
  });

  it('defaults: the data size, scale 1/255, mean 0, std 1, the model layout', () => {
    expect(resolvePreprocess([], ctx3)).to.deep.equal({
      layout: 'NCHW', size: [4, 5], resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear', channels: 'RGB', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1],
    });
  });

  it('model metadata (tfkd.preprocess) is the default, the user spec overrides it key by key', () => {
    const meta = preprocessFromMetadata({ 'tfkd.preprocess': '{"scale": 0.5, "mean": [1, 1, 1]}' }, 'm.onnx');
    const r = resolvePreprocess([meta, { mean: [2, 2, 2] }], ctx3);
    expect(r).to.deep.include({ scale: 0.5, mean: [2, 2, 2] });
    expect(preprocessFromMetadata({}, 'm.onnx')).to.equal(undefined);
    bad(() => preprocessFromMetadata({ 'tfkd.preprocess': '{"x": 1}' }, 'm.onnx'), /tfkd\.preprocess metadata in m\.onnx/);
  });

  it('BAD CALL - mean/std length must equal the channels; layout and size must fit the model', () => {
    bad(() => resolvePreprocess([{ mean: [0.5] }], ctx3), /^preprocess mean has 1 value\(s\), the model is fed 3 channel\(s\) \(RGB\)$/);
    bad(() => resolvePreprocess([{ std: [1, 2] }], ctx3), /std has 2/);
    bad(() => resolvePreprocess([{ layout: 'NHWC' }], ctx3), /layout NHWC does not fit/);
    bad(() => resolvePreprocess([], { ...ctx3, modelSize: [8, 8] }), /takes 8x8 images, preprocessing gives 4x5/);
    expect(resolvePreprocess([{ size: [8, 8] }], { ...ctx3, modelSize: [8, 8] }).size).to.deep.equal([8, 8]);
  });

  for (const layout of ['NCHW', 'NHWC'] as const) {
    for (const C of [1, 3]) {
      it(`fill ${layout} C=${C} equals a naive per-element loop (float32 and float16 bits)`, () => {
        const H = 5, W = 6, n = 3;
        const spec: PreprocessSpec = plain({ layout, size: [H, W], scale: 1 / 255, mean: [0.1, 0.2, 0.3].slice(0, C), std: [0.5, 0.25, 2].slice(0, C) });
        const px = pixels(n * H * W * C);
        const want = new Float32Array(n * H * W * C);
        for (let s = 0; s < n; s++)
          for (let y = 0; y < H; y++)
            for (let x = 0; x < W; x++)
              for (let c = 0; c < C; c++) {
                const v = (px[((s * H + y) * W + x) * C + c] / 255 - spec.mean[c]) / spec.std[c];
                const o = layout === 'NCHW' ? ((s * C + c) * H + y) * W + x : ((s * H + y) * W + x) * C + c;
                want[o] = v;
              }
        const p32 = new Preprocessor(spec, { height: H, width: W, channels: C }, 'float32');
        const got = p32.fill(px, n, p32.alloc(n)) as Float32Array;
        let maxDiff = 0;
        for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
        expect(maxDiff).to.be.lessThan(1e-6);
        const p16 = new Preprocessor(spec, { height: H, width: W, channels: C }, 'float16');
        const bits = p16.fill(px, n, p16.alloc(n)) as Uint16Array;
        expect(bits).to.be.instanceOf(Uint16Array);
        // independent float16 rounding: the package's Float16Array
        const ref = new Uint16Array(new Float16Array(want).buffer);
        expect(Array.from(bits)).to.deep.equal(Array.from(ref));
      });
    }
  }

  it('renders with the PIL resampler when size differs (a constant image stays constant, shape follows size)', async () => {
    for (const C of [1, 3]) {
      const spec: PreprocessSpec = plain({ layout: 'NHWC', size: [8, 10], resize: [8, 10], scale: 1, mean: new Array(C).fill(0), std: new Array(C).fill(1) });
      const p = new Preprocessor(spec, { height: 4, width: 5, channels: C }, 'float32');
      expect(p.identity).to.equal(false);
      const px = new Uint8Array(2 * 4 * 5 * C);
      px.fill(200, 0, 4 * 5 * C); // sample 0 all 200, sample 1 all 0
      const out = (await p.apply(px, 2)) as Float32Array;
      expect(out.length).to.equal(2 * 8 * 10 * C);
      expect(new Set(out.subarray(0, 80 * C))).to.deep.equal(new Set([200]));
      expect(new Set(out.subarray(80 * C))).to.deep.equal(new Set([0]));
    }
  });
});
