/**
 * Issue 3's acceptance on a real PyTorch-exported teacher (NCHW, opset 13; made by
 * scripts/make_torch_teacher.py, PyTorch's logits for the first 64 Fashion-MNIST test images
 * committed beside it): the whole path `tfkd precompute` → cache on disk → reader must give back
 * PyTorch's logits — f32 within 1e-4 max abs diff, f16 within f16 rounding of each logit.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli/main.js';
import { openCache } from '../../src/cache/reader.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { needs } from '../helpers/needs.js';

const FIX = 'test/fixtures/torch-teacher';

describe('cache/precompute of a real PyTorch teacher vs PyTorch', function () {
  this.timeout(120000);
  let root: string;
  before(function () {
    needs(this, 'dataset-fashion-mnist');
    root = tmpDir('torch-cache');
  });
  after(() => root && rmDir(root));

  const ref = JSON.parse(fs.readFileSync(path.join(FIX, 'reference.json'), 'utf8')) as { rows: number; logits: number[][] };

  for (const dtype of ['f32', 'f16'] as const) {
    it(`--dtype ${dtype}: cached logits equal PyTorch's ${dtype === 'f32' ? '(≤ 1e-4)' : '(within f16 rounding)'}`, async () => {
      const out = path.join(root, dtype);
      const saved = process.exitCode;
      await main(['node', 'tfkd', 'precompute', '--teacher', path.join(FIX, 'model.onnx'), '--data', 'fashion-mnist', '--split', 'test',
        '--out', out, '--dtype', dtype, '--device', 'cpu', '--progress', 'off']);
      expect(process.exitCode).to.equal(0);
      process.exitCode = saved;
      const cache = openCache(out, { split: 'test', numClasses: 10 });
      try {
        const n = ref.rows;
        const got = cache.readLogits(Int32Array.from({ length: n }, (_, i) => i), new Int32Array(n));
        let maxDiff = 0;
        let worstExcess = -Infinity;
        for (let r = 0; r < n; r++) {
          for (let k = 0; k < 10; k++) {
            const want = ref.logits[r][k];
            const d = Math.abs(got[r * 10 + k] - want);
            maxDiff = Math.max(maxDiff, d);
            // f16 keeps 11 significant bits: rounding moves a value by ≤ 2^-11·|z| (+ the f32 path's 1e-4).
            const tol = dtype === 'f32' ? 1e-4 : 2 ** -11 * Math.abs(want) + 1e-4;
            worstExcess = Math.max(worstExcess, d - tol);
          }
        }
        console.log(`      ${dtype}: max |cache − PyTorch| = ${maxDiff.toExponential(3)} over ${n}×10 logits`);
        expect(worstExcess, `max diff ${maxDiff}`).to.be.at.most(0);
      } finally {
        cache.close();
      }
    });
  }
});
