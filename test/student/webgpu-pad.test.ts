/**
 * tfjs-backend-webgpu 4.22's PadV2 above rank 4 (src/student/webgpu-pad.ts): on the real device
 * (Mesa 25 lavapipe here and in CI) a rank-5 slice's gradient and a rank-5 pad of one axis equal the
 * cpu backend's (without tfkd's wrapper both are zeros), and a pad that stays above rank 4 after
 * merging unpadded axes is an error naming it; the merge rule itself on shapes.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { collapsePad } from '../../src/student/webgpu-pad.js';
import { needWebgpu, ROOT } from '../helpers/webgpu.js';

describe('student/webgpu-pad: pads above rank 4 on webgpu', function () {
  this.timeout(300000);

  it('merges runs of unpadded axes', () => {
    expect(collapsePad([3, 2, 3, 5, 4], [[1, 2], [0, 0], [0, 0], [0, 0], [0, 0]])).to.deep.equal({ shape: [3, 120], paddings: [[1, 2], [0, 0]] });
    expect(collapsePad([3, 2, 3, 5, 4], [[0, 0], [1, 0], [0, 0], [0, 0], [0, 1]])).to.deep.equal({ shape: [3, 2, 15, 4], paddings: [[0, 0], [1, 0], [0, 0], [0, 1]] });
    expect(collapsePad([2, 2, 2, 2, 2, 2], [[1, 0], [0, 1], [1, 0], [0, 1], [1, 1], [0, 0]]).shape).to.have.length(6);
  });

  it('on the device: a rank-5 slice gradient and pad equal cpu; five padded axes fail with a message', function () {
    const m = needWebgpu(this, { students: true });
    const r = spawnSync(process.execPath, ['--import', 'tsx/esm', path.join(ROOT, 'test/student/webgpu-pad-runner.ts')], { cwd: ROOT, env: m.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`runner exited ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { grad: number; gradAbs: number; pad: number; error: string };
    console.log(`      max |webgpu − cpu|: slice gradient ${out.grad.toExponential(2)} (max |grad| ${out.gradAbs.toFixed(3)}), pad ${out.pad.toExponential(2)}`);
    expect(out.gradAbs).to.be.greaterThan(1);
    expect(out.grad).to.be.at.most(1e-6);
    expect(out.pad).to.equal(0);
    expect(out.error).to.match(/pads at most 4 axes/);
  });
});
