/**
 * `tfkd bench train` end to end on a tiny model (the figures themselves are in docs/PERFORMANCE.md):
 * the result carries img/s, spread, RSS and the backend that ran; the step really trains (the
 * loss stays finite); bad options exit 2.
 */
import { expect } from 'chai';
import { buildProgram } from '../../src/cli/main.js';
import { handleError } from '../../src/cli/handle-error.js';
import { formatTrainBench, profileKernels, runTrainBench } from '../../src/cli/commands/bench-train.js';
import { tf } from '../../src/student/tf.js';

describe('student/bench train (tfkd bench train)', () => {
  it('measures a tiny cnn on wasm: img/s median within [min, max], RSS, backend recorded, per-kernel profile', async () => {
    const r = await runTrainBench({ model: 'cnn', input: [10, 10, 1], classes: 3, batch: 4, steps: 3, warmup: 1, backend: 'wasm', seed: 1, profile: true });
    expect(r.backend.name).to.equal('wasm');
    // 'wasm+native-blas' when the optional addon is built (src/student/kernels/native.ts)
    expect(r.backend.kernels).to.be.oneOf(['wasm+tfkd-kernels', 'wasm+native-blas']);
    expect(r.img_per_s).to.be.greaterThan(0);
    expect(r.img_per_s).to.be.within(r.img_per_s_min, r.img_per_s_max);
    expect(r.peak_rss_mib).to.be.greaterThan(10);
    expect(r.params.trainable).to.equal(32 * 9 + 32 + 64 * 32 * 9 + 64 + 3 * 3 * 64 * 128 + 128 + 128 * 3 + 3);
    const names = r.profile!.kernels.map((k) => k.name);
    expect(names).to.include.members(['Conv2DBackpropFilter', 'Conv2D', 'BatchMatMul']);
    expect(formatTrainBench(r)).to.match(/img\/s .* median over 3 steps/);
    await tf.setBackend('cpu');
  });

  it('profileKernels restores the original kernels afterwards', async () => {
    await tf.setBackend('cpu');
    const before = tf.getKernel('Add', 'cpu')!.kernelFunc;
    const p = profileKernels('cpu', () => tf.tidy(() => tf.add(tf.ones([3]), tf.ones([3]))).dispose());
    expect(p.kernels.find((k) => k.name === 'Add')?.calls).to.equal(1);
    expect(tf.getKernel('Add', 'cpu')!.kernelFunc).to.equal(before);
  });

  for (const [args, re] of [
    [['--model', 'cnn', '--input', '28x28'], /--input.*HxWxC/],
    [['--model', 'cnn', '--batch', '0'], /--batch/],
    [['--model', 'cnn', '--backend', 'gpu'], /--backend/],
    [['--model', 'nope', '--steps', '1', '--warmup', '0', '--backend', 'cpu'], /unknown model 'nope'/],
  ] as const) {
    it(`BAD CALL - bench train ${args.join(' ')} → exit 2`, async () => {
      const errs: string[] = [];
      const orig = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
      let code = 0;
      try {
        await (await buildProgram()).parseAsync(['node', 'tfkd', 'bench', 'train', ...args]);
      } catch (e) {
        code = handleError(e);
      } finally {
        process.stderr.write = orig;
      }
      expect(code).to.equal(2);
      expect(errs.join('')).to.match(re);
    });
  }
});
