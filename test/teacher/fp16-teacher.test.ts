/**
 * A float16 teacher — float16 weights, input and output, computing in float16 where the provider
 * does (scripts/make_fp16_teacher.py turns the real PyTorch teacher of test/fixtures/torch-teacher
 * into one and restates it in float64 PyTorch with those weights, on the first 64 Fashion-MNIST test
 * images rounded to float16). `tfkd precompute` converts the inputs, widens the outputs, and the
 * cache must hold:
 *   - on `--device cpu`: PyTorch's logits within 1e-3 of the largest logit (onnxruntime's CPU
 *     provider computes in float32 between float16 weights and a float16 output);
 *   - on `--device webgpu` (real device: Mesa 25 lavapipe here and in CI): within 1e-2 (float16
 *     arithmetic: sums of 784 products with an 11-bit significand), the same top-1 class as PyTorch
 *     wherever PyTorch's margin exceeds that bound, and the same cache key as the cpu cache;
 *   - every cached value exactly a float16 value (the output widened, not recomputed or rounded twice).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readManifest } from '../../src/cache/manifest.js';
import { openCache } from '../../src/cache/reader.js';
import { f16ToF32, f32ToF16 } from '../../src/util/float16.js';
import { needs } from '../helpers/needs.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needWebgpu, ROOT } from '../helpers/webgpu.js';

const K = 10;
const BASE = ['precompute', '--data', 'fashion-mnist:data/fashion-mnist-subset', '--split', 'test', '--shard', '0/10', '--batch', '64', '--progress', 'off'];

describe('teacher: a float16 ONNX teacher (float16 weights, input and output) vs PyTorch', function () {
  this.timeout(300000);
  let tmp: string;
  let model: string;
  let ref: { rows: number; logits: number[][] };
  before(function () {
    needs(this, 'python3-torch', 'python3-onnx');
    tmp = tmpDir('fp16-teacher');
    model = path.join(tmp, 'fp16.onnx');
    const refFile = path.join(tmp, 'ref.json');
    const r = spawnSync('/usr/bin/python3', ['scripts/make_fp16_teacher.py', '--model', 'test/fixtures/torch-teacher/model.onnx', '--out', model, '--data', 'data/fashion-mnist-subset', '--rows', '64', '--ref', refFile], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`make_fp16_teacher.py: ${r.stderr}`);
    ref = JSON.parse(fs.readFileSync(refFile, 'utf8'));
  });
  after(() => tmp && rmDir(tmp));

  const precompute = (env: NodeJS.ProcessEnv, device: string): string => {
    const out = path.join(tmp, device);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...BASE, '--teacher', model, '--out', out, '--device', device], { cwd: ROOT, env: { ...env, TFKD_THREADS: '1' }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`precompute --device ${device} exited ${r.status}: ${r.stderr}`);
    return out;
  };

  /** Checks the cache against PyTorch; returns max |Δ| / max |z| and the rows' logits. */
  const check = (dir: string, tol: number, what: string): Float32Array => {
    const c = openCache(dir);
    let got: Float32Array;
    try {
      expect(c.manifest.teacher.inputDtype).to.equal('float16');
      got = c.readLogits(Int32Array.from({ length: ref.rows }, (_, i) => i), new Int32Array(ref.rows));
    } finally {
      c.close();
    }
    let d = 0;
    let scale = 0;
    let flips = 0;
    for (let r = 0; r < ref.rows; r++) {
      const want = ref.logits[r];
      for (let k = 0; k < K; k++) {
        d = Math.max(d, Math.abs(got[r * K + k] - want[k]));
        scale = Math.max(scale, Math.abs(want[k]));
      }
    }
    for (let r = 0; r < ref.rows; r++) {
      const want = ref.logits[r];
      const order = [...want.keys()].sort((a, b) => want[b] - want[a]);
      const top = [...got.subarray(r * K, r * K + K)].reduce((bi, v, i, a) => (v > a[bi] ? i : bi), 0);
      if (want[order[0]] - want[order[1]] > 2 * tol * scale && top !== order[0]) flips++;
    }
    const widened = f16ToF32(f32ToF16(got), new Float32Array(got.length));
    const notF16 = got.findIndex((v, i) => v !== widened[i]);
    console.log(`      ${what}: max |cache − PyTorch| = ${d.toExponential(2)} = ${(d / scale).toExponential(2)} of max |z| ${scale.toFixed(2)} (bound ${tol}); top-1 flips ${flips}`);
    expect(notF16, `value ${got[notF16]} at ${notF16} is not a float16 value`).to.equal(-1);
    expect(d / scale).to.be.at.most(tol);
    expect(flips).to.equal(0);
    return got;
  };

  it('--device cpu: PyTorch\'s logits within 1e-3 of the largest; every cached value a float16 value', () => {
    check(precompute(process.env, 'cpu'), 1e-3, 'cpu');
  });

  it('--device webgpu: within 1e-2 (float16 arithmetic), same top-1, same cache key as cpu', function () {
    const m = needWebgpu(this);
    const gpu = precompute(m.env, 'webgpu');
    check(gpu, 1e-2, 'webgpu');
    expect(readManifest(gpu).key).to.equal(readManifest(path.join(tmp, 'cpu')).key);
    expect(readManifest(gpu).runtime.provider).to.equal('webgpu');
  });
});
