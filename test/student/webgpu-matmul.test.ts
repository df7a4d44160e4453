/**
 * tfkd's webgpu matrix products use no float atomics (src/student/webgpu-matmul.ts), which is what
 * makes a webgpu run re-run bit for bit on the same adapter:
 *   - the rule picks out exactly the shapes tfjs-backend-webgpu 4.22 sends to its split-K program
 *     (the conditions of its BatchMatMul_impl.ts, restated in the test's cases);
 *   - on the real device (Mesa 25 lavapipe here and in CI), `cnn`'s dense layer at batch 4, its
 *     gradient, the fused form, a 1×1 convolution over 2048 channels at batch 1 and a convolution whose
 *     filter covers its input (both run by tfjs as products of those shapes) compile no split-K program — while the same product with split-K
 *     asked for explicitly does (so the check can see one), and gives the same values up to rounding.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { usesSplitK } from '../../src/student/webgpu-matmul.js';
import { needWebgpu, ROOT } from '../helpers/webgpu.js';

describe('student/webgpu-matmul: no split-K (atomic) matrix products on webgpu', function () {
  this.timeout(300000);

  it('the rule: split-K only for few output workgroups, batch 1, a shared dimension ≥ 2000', () => {
    // [a shape, b shape, transposeA, transposeB, threshold] → tfjs's choice
    const cases: Array<[number[], number[], boolean, boolean, number, boolean]> = [
      [[4, 9216], [9216, 128], false, false, 8, true], // cnn's dense at batch 4: 4 workgroups
      [[128, 9216], [9216, 128], false, false, 8, false], // batch 128: 16 workgroups, outer A > 8
      [[8, 9216], [9216, 128], false, false, 8, true], // outer A ≤ 8 and 4 ≤ 2·8
      [[4, 1999], [1999, 128], false, false, 8, false], // shared dimension < 2000
      [[4, 9216], [9216, 8], false, false, 8, false], // output 32 ≤ 128: the reduce program
      [[9216, 4], [9216, 128], true, false, 8, true], // transposed A (a weight gradient's form)
      [[2, 4, 9216], [2, 9216, 128], false, false, 8, false], // batch 2
      [[4, 9216], [9216, 1024], false, false, 8, false], // 32 workgroups > 2·8
      [[4, 9216], [9216, 1024], false, false, 16, true], // … but ≤ 2·16 on an Intel Gen 12+ adapter
    ];
    for (const [a, b, ta, tb, t, want] of cases) expect(usesSplitK(a, b, ta, tb, t), `${a} · ${b} (${ta}, ${tb}, ${t})`).to.equal(want);
  });

  it('on the device: no split-K program compiled for cnn\'s dense layer at batch 4 (value, gradient, fused) nor for convolutions run as products', function () {
    const m = needWebgpu(this, { students: true });
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', path.join(ROOT, 'test/student/webgpu-matmul-runner.ts')], { cwd: ROOT, env: m.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`runner exited ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { before: string[]; after: string[]; maxDiff: number };
    console.log(`      programs: ${out.before.join(', ')}; with split-K asked for: + ${out.after.filter((p) => !out.before.includes(p)).join(', ')}; max |Δ| ${out.maxDiff.toExponential(2)}`);
    expect(out.before).to.not.include('matMulSplitK');
    expect(out.after).to.include('matMulSplitK');
    expect(out.maxDiff).to.be.at.most(1e-3);
  });
});
