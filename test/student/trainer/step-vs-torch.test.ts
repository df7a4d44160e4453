/**
 * Issue 18's acceptance on the real path: one full-batch SGD step of `cnn` through `train()` — the
 * data set, the teacher cache written by precompute, the loss registry's defaults, the trainer's
 * batch teacher and optimizer — against PyTorch running the authors' loss (scripts/torch_loss_step.py,
 * the functions of scripts/golden_authors_losses.py) on the same batch from the same weights. Every
 * weight's update must agree to 1e-4 relative (max |Δ| over the update's largest entry).
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
// Not through src/index.js: importing the public entry switches messages to API names process-wide.
import { runPrecompute as precompute } from '../../../src/cache/precompute-run.js';
import { openCache } from '../../../src/cache/reader.js';
import { openDataset } from '../../../src/data/open.js';
import { hashU32, subset } from '../../../src/data/rng.js';
import { train } from '../../../src/student/trainer/train.js';
import { readCheckpoint } from '../../../src/student/trainer/checkpoint.js';
import { buildModel, saveWeights } from '../../../src/student/zoo/index.js';
import { resolveLossOptions, lossEntry } from '../../../src/student/losses/index.js';
import { needs } from '../../helpers/needs.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { readTorchResult, runTorchJob, writeTorchJob } from './torch-job.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DATA = `fashion-mnist:${path.join(ROOT, 'data/fashion-mnist-subset')}`;
const TEACHER = path.join(ROOT, 'models/fmnist-good.onnx');
const B = 32;
const SEED = 3;
const LR = 0.1;

describe('student/trainer one SGD step of cnn vs PyTorch running the authors\' losses', function () {
  this.timeout(300_000);
  let root: string;
  let cache: string;
  before(async function () {
    needs(this, 'python3-torch');
    root = tmpDir('step-vs-torch');
    cache = path.join(root, 'cache');
    await precompute({ teacher: TEACHER, data: DATA, out: cache, device: 'cpu', threads: 1 });
  });
  after(() => root && rmDir(root));

  const cases: Array<[string, string, boolean]> = [
    ['dkd', 'dkd', false],
    ['dist', 'dist', false],
    ['nkd', 'nkd', false],
    ['wsld', 'wsld', false],
    ['kd-ls', 'kd', true],
    ['dkd-ls', 'dkd', true],
    ['zipf-ls', 'zipf-ls', false],
    ['hard-kd', 'hard-kd', false],
  ];
  for (const [label, loss, ls] of cases) {
    it(`${label}: every weight's update equals PyTorch's to 1e-4`, async () => {
      const out = path.join(root, `run-${label}`);
      const teacherFree = lossEntry(loss).teacher === 'none';
      const r = await train({
        config: { data: DATA, model: 'cnn', loss, cache: teacherFree ? [] : [cache], logitStandardization: ls, epochs: 1, batch: B, limit: B, testLimit: 8, lr: LR, momentum: 0, weightDecay: 0, schedule: 'constant', seed: SEED },
        out,
      });
      expect(r.complete).to.equal(true);
      // The batch, the weights before (the zoo's seeded init) and after (the run's last checkpoint).
      const ds = await openDataset(DATA, { split: 'train' });
      const samples = subset(ds.size, B, hashU32(SEED, 0x1111));
      const pixels = await ds.readBatch(samples);
      const labels = Int32Array.from(samples, (i) => ds.labels[i]);
      const c = openCache(cache);
      const teacher = c.readLogits(samples, new Int32Array(B));
      c.close();
      const before = saveWeights(buildModel('cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: SEED }));
      const after = readCheckpoint(path.join(out, 'checkpoints', 'last')).weights;
      const job = path.join(root, `job-${label}`);
      const options = resolveLossOptions(lossEntry(loss), 'paper', 10, ls, {});
      writeTorchJob(job, { loss: label, options, epoch: 1, epochs: 1, lr: LR, B, H: 28, W: 28, C: 1, K: 10 }, { weights: before, pixels, labels, teacher });
      runTorchJob(path.join(ROOT, 'scripts/torch_loss_step.py'), job);
      let worst = 0;
      for (const [name, e] of Object.entries(before)) {
        const ref = readTorchResult(job, name, 'update');
        const got = after[name].data;
        let scale = 0;
        let diff = 0;
        for (let i = 0; i < ref.length; i++) {
          scale = Math.max(scale, Math.abs(ref[i]));
          diff = Math.max(diff, Math.abs(got[i] - e.data[i] - ref[i]));
        }
        expect(scale, `${name}: the step moved nothing`).to.be.greaterThan(0);
        worst = Math.max(worst, diff / scale);
        expect(diff / scale, `${name}: max |Δ update| ${diff.toExponential(3)} of ${scale.toExponential(3)}`).to.be.at.most(1e-4);
      }
      console.log(`      ${label}: max relative difference of a weight update ${worst.toExponential(2)}`);
    });
  }
});
