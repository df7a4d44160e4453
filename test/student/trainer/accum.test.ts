/**
 * --grad-accum-steps (loop.ts): timm's gradient accumulation. Two epochs of 5 batches in updates of
 * 3 + 2 batches against a PyTorch restatement of timm's train_one_epoch (scripts/torch_accum_loop.py:
 * loss / group size, .backward() into .grad, clip, step, EMA, lr per update), with and without
 * --clip-grad; 4 batches of 8 accumulated equal one batch of 32; resume and --save-at steps count
 * updates; the option refused where it makes no sense.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from '../../../src/data/open.js';
import { hashU32, permutation, subset } from '../../../src/data/rng.js';
import { train } from '../../../src/student/trainer/train.js';
import { readCheckpoint } from '../../../src/student/trainer/checkpoint.js';
import { learningRate } from '../../../src/student/trainer/optimizer.js';
import { buildModel, saveWeights } from '../../../src/student/zoo/index.js';
import { needs } from '../../helpers/needs.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { changeError, changeErrors, readTorchResult, readTorchWeights, runTorchJob, writeTorchJob } from './torch-job.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DATA = `fashion-mnist:${path.join(ROOT, 'data/fashion-mnist-subset')}`;
const N = 80;
const B = 16;
const A = 3;
const EPOCHS = 2;
const SEED = 4;
// 5 batches per epoch: updates of 3 and 2 batches (the epoch's last takes the rest), 2 per epoch.
const base = { data: DATA, model: 'cnn', loss: 'lsr', epsilon: 0.1, epochs: EPOCHS, batch: B, gradAccumSteps: A, limit: N, testLimit: 8, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, ema: 0.9, schedule: 'cosine' as const, warmup: 1, seed: SEED };

describe('student/trainer --grad-accum-steps: timm\'s gradient accumulation', function () {
  this.timeout(300_000);
  let root: string;
  before(function () {
    root = tmpDir('accum');
  });
  after(() => process.env.KEEP ? undefined : rmDir(root));

  for (const clipGrad of [undefined, 9]) {
    it(`2 epochs of updates of 3 + 2 batches${clipGrad ? ', --clip-grad 9' : ''}: weights and EMA equal timm's loop in PyTorch to 1e-4 relative`, async function () {
      const config = { ...base, ...(clipGrad ? { clipGrad } : {}) };
      const out = path.join(root, `vs-torch-${clipGrad ?? 'noclip'}`);
      const r = await train({ config, out });
      expect(r.complete).to.equal(true);
      const man = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { stepsPerEpoch: number; batchesPerEpoch: number };
      expect([man.stepsPerEpoch, man.batchesPerEpoch]).to.deep.equal([2, 5]);
      expect(r.metrics.map((m) => m.step)).to.deep.equal([2, 4]);

      needs(this, 'python3-torch');
      const ds = await openDataset(DATA, { split: 'train' });
      const trainIdx = subset(ds.size, N, hashU32(SEED, 0x1111));
      const orders = Array.from({ length: EPOCHS }, (_, e) => Array.from(permutation(N, hashU32(SEED, e, 0xe0c4))));
      const before = saveWeights(buildModel('cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: SEED }));
      // tfkd's schedule at each update's index (timm: lr_scheduler.step_update(num_updates)).
      const lrs = Array.from({ length: EPOCHS * 2 }, (_, u) => learningRate(r.config, u, 2));
      const job = path.join(root, `job-${clipGrad ?? 'noclip'}`);
      writeTorchJob(job, { N, B, A, H: 28, W: 28, C: 1, K: 10, epochs: EPOCHS, lrs, momentum: base.momentum, weightDecay: base.weightDecay, epsilon: base.epsilon, clipGrad: clipGrad ?? null, ema: base.ema, orders }, {
        weights: before,
        pixels: await ds.readBatch(trainIdx),
        labels: Int32Array.from(trainIdx, (i) => ds.labels[i]),
      });
      runTorchJob(path.join(ROOT, 'scripts/torch_accum_loop.py'), job);
      const res = JSON.parse(fs.readFileSync(path.join(job, 'result.json'), 'utf8')) as { updates: number; grad_norms: number[] };
      expect(res.updates).to.equal(4);
      if (clipGrad) expect(res.grad_norms.some((n) => n > clipGrad), `gradient norms ${res.grad_norms.join(', ')}: the clip acts`).to.equal(true);
      // The same loop in PyTorch's float32: its distance from float64 is the rounding no float32
      // trainer avoids (a bias's change sums 12 544 terms with cancellation: ~3e-4 here on AVX2
      // kernels), measured in this run rather than assumed.
      const job32 = `${job}-f32`;
      fs.cpSync(job, job32, { recursive: true });
      runTorchJob(path.join(ROOT, 'scripts/torch_accum_loop.py'), job32, { TORCH_LOOP_DTYPE: 'float32' });
      const ck = readCheckpoint(path.join(out, 'checkpoints', 'last'));
      for (const [what, ours, suffix] of [['weights', ck.weights, 'final'], ['EMA', ck.ema!, 'ema']] as const) {
        const tfkd = changeErrors(before, ours, (k) => readTorchResult(job, k, suffix));
        const torch32 = changeErrors(before, readTorchWeights(job32, before, suffix), (k) => readTorchResult(job, k, suffix));
        // Every weight within 1e-4 of float64, or within 4× PyTorch float32's own worst distance
        // from it: rounding noise lands on different weights along different summation orders.
        const floor = Math.max(...Object.values(torch32));
        const worst = Object.keys(tfkd).reduce((a, k) => (tfkd[k]! > tfkd[a]! ? k : a));
        console.log(`      ${clipGrad ? 'clipped' : 'unclipped'} ${what}: ${tfkd[worst]!.toExponential(2)} (${worst}); PyTorch float32 ${floor.toExponential(2)}`);
        expect(tfkd[worst], `${what} ${worst}`).to.be.at.most(Math.max(1e-4, 4 * floor));
      }
    });
  }

  it('4 accumulated batches of 8 make the update of one batch of 32 (no BatchNorm: the same mean over the same samples)', async () => {
    const one = { ...base, loss: 'ce', epsilon: undefined, epochs: 1, limit: 64, ema: undefined, gradAccumSteps: undefined, batch: 32, schedule: 'constant' as const, warmup: 0 };
    const a = await train({ config: one, out: path.join(root, 'b32') });
    const b = await train({ config: { ...one, batch: 8, gradAccumSteps: 4 }, out: path.join(root, 'b8x4') });
    expect(b.metrics[0].step).to.equal(a.metrics[0].step);
    const before = saveWeights(buildModel('cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: SEED }));
    const wa = readCheckpoint(path.join(root, 'b32', 'checkpoints', 'last')).weights;
    const wb = readCheckpoint(path.join(root, 'b8x4', 'checkpoints', 'last')).weights;
    const d = changeError(before, wb, (k) => Float64Array.from(wa[k].data));
    console.log(`      batch 8 × 4 vs batch 32: ${d.worst.toExponential(2)} (${d.name})`);
    // float32 sums in another order: a few ulps of the update, not the 4× of an unscaled sum.
    expect(d.worst, d.name).to.be.at.most(1e-5);
    expect(Math.abs(b.metrics[0].train_loss - a.metrics[0].train_loss)).to.be.at.most(1e-6);
    // --grad-accum-steps 1 is no accumulation at all: bit-identical weights.
    await train({ config: { ...one, gradAccumSteps: 1 }, out: path.join(root, 'b32-a1') });
    const a1 = fs.readFileSync(path.join(root, 'b32-a1', 'checkpoints', 'last', 'weights.safetensors'));
    expect(a1.equals(fs.readFileSync(path.join(root, 'b32', 'checkpoints', 'last', 'weights.safetensors')))).to.equal(true);
  });

  it('stopped after epoch 1 and resumed: bit-identical; --save-at steps counts updates', async () => {
    const config = { ...base, saveAt: { unit: 'step' as const, at: [3] } };
    const straight = path.join(root, 'straight');
    const staged = path.join(root, 'staged');
    await train({ config, out: straight });
    await train({ config, out: staged, stopAfter: 1 });
    await train({ config, out: staged, resume: true });
    for (const f of ['weights.safetensors', 'ema.safetensors', 'optimizer.safetensors']) {
      const a = fs.readFileSync(path.join(straight, 'checkpoints', 'last', f));
      expect(a.equals(fs.readFileSync(path.join(staged, 'checkpoints', 'last', f))), f).to.equal(true);
    }
    // Update 3 is the first of epoch 2, after its third batch.
    const at = JSON.parse(fs.readFileSync(path.join(straight, 'checkpoints', 'step-3.json'), 'utf8')) as { step: number; epoch: number };
    expect(at).to.include({ step: 3, epoch: 1.6 });
    // 2 epochs × 2 updates: step 5 is never reached.
    let err: Error | null = null;
    await train({ config: { ...base, saveAt: { unit: 'step', at: [5] } }, out: path.join(root, 'past') }).catch((e: Error) => (err = e));
    expect(String(err)).to.match(/--save-at: step 5 is past the run's last step \(4\), never reached/);
    expect(fs.existsSync(path.join(root, 'past'))).to.equal(false);
  });
});
