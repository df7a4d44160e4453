/**
 * `tfkd bench train` end to end on a tiny model (the figures themselves are in docs/PERFORMANCE.md):
 * the result carries img/s, spread, RSS and the backend that ran; the step really trains (the
 * loss stays finite); bad options exit 2.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { needWebgpu, ROOT } from '../helpers/webgpu.js';
import { buildProgram } from '../../src/cli/main.js';
import { handleError } from '../../src/cli/handle-error.js';
import { formatTrainBench, runTrainBench } from '../../src/bench/train.js';
import { openBenchCaches } from '../../src/bench/train-step.js';
import { profileKernels } from '../../src/bench/profile.js';
import { referenceTemperedProbs } from '../helpers/soft-targets.js';
import { synthLogits, writeSynth } from '../cache/helpers.js';
import { tf } from '../../src/student/tf.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';
import { requireTorch } from '../student/zoo/torchvision-students.js';

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
    // Conv2D → Add → Relu: outputs this small are not fused (kernels/conv-bias-act.ts).
    expect(names).to.include.members(['Conv2DBackpropFilter', 'Conv2D', 'BatchMatMul']);
    expect(formatTrainBench(r)).to.match(/img\/s .* median over 3 steps/);
    await tf.setBackend('cpu');
  });

  describe('--cache: soft targets read from a cache on disk', () => {
    let dir = '';
    before(() => {
      dir = tmpDir('bench-cache');
      writeSynth(dir, { N: 30, K: 3, shardRows: 8 });
    });
    after(() => rmDir(dir));

    it('each call yields B cache rows as softmax(z/τ), every sample once per pass (seeded shuffle)', async () => {
      await tf.setBackend('cpu');
      const want = referenceTemperedProbs(synthLogits(0, 30, 3), 3, 4);
      const r = openBenchCaches([dir], 3, 5, 1, 4);
      const seen: number[] = [];
      try {
        for (let call = 0; call < 6; call++) {
          const t = r.next();
          const got = t.dataSync();
          t.dispose();
          for (let i = 0; i < 5; i++) {
            const row = got.subarray(i * 3, i * 3 + 3);
            const s = [...Array(30).keys()].find((j) => want.subarray(j * 3, j * 3 + 3).every((v, k) => Math.abs(v - row[k]) < 1e-6));
            expect(s, `call ${call} row ${i} is a cache row`).to.not.equal(undefined);
            seen.push(s!);
          }
        }
      } finally {
        r.close();
      }
      expect([...seen].sort((a, b) => a - b)).to.deep.equal([...Array(30).keys()]);
      expect(seen).to.not.deep.equal([...Array(30).keys()]); // shuffled, not in cache order
    });

    it('bench train --cache reports the read time and its share of the step', async () => {
      const r = await runTrainBench({ model: 'cnn', input: [10, 10, 1], classes: 3, batch: 4, steps: 3, warmup: 1, backend: 'cpu', seed: 1, cache: [dir] });
      expect(r.cache_read!.ms_median).to.be.greaterThan(0);
      expect(r.cache_read!.share_median).to.be.within(0, 1);
      expect(formatTrainBench(r)).to.match(/cache read .* % of the step/);
    });

    it('BAD CALL - a cache with another K is refused', async () => {
      let err: unknown;
      try {
        await runTrainBench({ model: 'cnn', input: [10, 10, 1], classes: 5, batch: 4, steps: 1, warmup: 0, backend: 'cpu', seed: 1, cache: [dir] });
      } catch (e) {
        err = e;
      }
      expect(String(err)).to.match(/K \(classes\) is 3, expected 5/);
    });
  });

  it('--torch: PyTorch trains torchvision\'s mobilenet_v3_small in the same run, same trainable parameters; the ratio is of the medians', async function () {
    this.timeout(300_000);
    requireTorch(this);
    const r = await runTrainBench({ model: 'mobilenet_v3_small', input: [32, 32, 3], classes: 10, batch: 2, steps: 2, warmup: 1, backend: 'wasm', seed: 1, torch: true });
    const t = r.torch!;
    expect(t.arch).to.equal('torchvision:mobilenet_v3_small');
    expect(t.trainable).to.equal(r.params.trainable);
    expect(t.img_per_s).to.be.greaterThan(0);
    expect(t.ratio).to.be.closeTo(r.img_per_s / t.img_per_s, 1e-9);
    expect(t.cpu_ratio).to.be.closeTo(t.cpu_ms_median / r.cpu_ms_median, 1e-9);
    expect(t.loadavg).to.have.length(2);
    expect(formatTrainBench(r)).to.match(/ratio +tfkd ÷ PyTorch \d+\.\d\d by wall time, \d+\.\d\d by CPU time .*load average/);
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
    [['--model', 'cnn', '--torch'], /--torch without a name needs --model resnet18 or mobilenet_v3_small/],
    [['--model', 'resnet18', '--torch', 'resnet18;rm'], /--torch resnet18;rm: not a torchvision model name/],
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

// The step read its loss with dataSync(), which on webgpu in Node needs OffscreenCanvas: every
// `bench train --backend webgpu` failed with "OffscreenCanvas is not defined".
describe('bench train on webgpu (real device: lavapipe here and in CI)', function () {
  this.timeout(300000);
  it('measures a step of mlp on webgpu: a finite loss, img/s, the backend recorded', function () {
    const m = needWebgpu(this, { students: true });
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), 'bench', 'train', '--model', 'mlp', '--steps', '2', '--warmup', '1', '--batch', '8', '--backend', 'webgpu', '--json'], {
      cwd: ROOT,
      env: { ...m.env, TFKD_THREADS: '1' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout) as { backend: { name: string }; img_per_s: number; loss?: number };
    expect(j.backend.name).to.equal('webgpu');
    expect(j.img_per_s).to.be.greaterThan(0);
  });
});
