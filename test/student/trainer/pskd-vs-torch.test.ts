/**
 * PS-KD over three epochs (issue 18): tfkd's trainer — the previous epoch's predictions kept as a
 * tfkd cache in the run directory (self-history.ts) — against a PyTorch restatement of the official
 * training loop (scripts/torch_pskd_loop.py: all_predictions in memory, one-hot in the first epoch),
 * the same samples in the same order, SGD with momentum and weight decay. Every weight's total change
 * must agree to 1e-4 relative. Then the same run stopped after epoch 1 and resumed, and killed
 * after writing epoch 2's predictions but before its checkpoint, ends bit-identical.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from '../../../src/data/open.js';
import { hashU32, permutation, subset } from '../../../src/data/rng.js';
import { train } from '../../../src/student/trainer/train.js';
import { readCheckpoint } from '../../../src/student/trainer/checkpoint.js';
import { buildModel, saveWeights } from '../../../src/student/zoo/index.js';
import { runVerify as verifyCache } from '../../../src/cache/verify-run.js';
import { needs } from '../../helpers/needs.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { changeError, readTorchResult, runTorchJob, writeTorchJob } from './torch-job.js';
import { configFlags } from './trainer-helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DATA = `fashion-mnist:${path.join(ROOT, 'data/fashion-mnist-subset')}`;
const N = 64;
const B = 32;
const EPOCHS = 3;
const SEED = 4;
const config = { data: DATA, model: 'cnn', loss: 'ps-kd', epochs: EPOCHS, batch: B, limit: N, testLimit: 8, lr: 0.05, momentum: 0.9, weightDecay: 5e-4, schedule: 'constant' as const, seed: SEED };

describe('student/trainer ps-kd over three epochs vs the official loop in PyTorch', function () {
  this.timeout(300_000);
  let root: string;
  before(function () {
    root = tmpDir('pskd');
  });
  after(() => rmDir(root));

  it('every weight\'s change after 3 epochs equals PyTorch\'s to 1e-4; the history is a verified tfkd cache', async function () {
    const out = path.join(root, 'run');
    const r = await train({ config, out });
    expect(r.complete).to.equal(true);
    // The last epoch's predictions are kept as a cache that verifies like any other.
    const hist = path.join(out, 'history', `epoch-${EPOCHS}`);
    expect(fs.readdirSync(path.join(out, 'history'))).to.deep.equal([`epoch-${EPOCHS}`]);
    const v = await verifyCache(hist);
    expect(v.ok, JSON.stringify(v)).to.equal(true);

    needs(this, 'python3-torch');
    const ds = await openDataset(DATA, { split: 'train' });
    const trainIdx = subset(ds.size, N, hashU32(SEED, 0x1111));
    const orders = Array.from({ length: EPOCHS }, (_, e) => Array.from(permutation(N, hashU32(SEED, e, 0xe0c4))));
    const pixels = await ds.readBatch(trainIdx);
    const labels = Int32Array.from(trainIdx, (i) => ds.labels[i]);
    const before = saveWeights(buildModel('cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: SEED }));
    const after = readCheckpoint(path.join(out, 'checkpoints', 'last')).weights;
    const job = path.join(root, 'job');
    writeTorchJob(job, { N, B, H: 28, W: 28, C: 1, K: 10, epochs: EPOCHS, lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay, alphaT: 0.8, orders }, { weights: before, pixels, labels });
    runTorchJob(path.join(ROOT, 'scripts/torch_pskd_loop.py'), job);
    const { worst, name } = changeError(before, after, (k) => readTorchResult(job, k, 'final'));
    console.log(`      ps-kd, 3 epochs: max relative difference of a weight's change ${worst.toExponential(2)} (${name})`);
    expect(worst, name).to.be.at.most(1e-4);
  });

  it('stopped after epoch 1 and resumed, or killed between epoch 2\'s predictions and its checkpoint: bit-identical', async () => {
    const straight = path.join(root, 'run');
    const staged = path.join(root, 'staged');
    await train({ config, out: staged, stopAfter: 1 });
    await train({ config, out: staged, resume: true });
    const killed = path.join(root, 'killed');
    // A real process killed at a seeded fault point (util/fault.ts): the history of epoch 2 is committed, its checkpoint not.
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), 'train', ...configFlags(config), '--out', killed, '--progress', 'off'], {
      cwd: ROOT,
      env: { ...process.env, TFKD_FAULT: 'train-history-committed:2', TFKD_FAULT_ACTION: 'kill' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).to.not.equal(0);
    expect(fs.existsSync(path.join(killed, 'history', 'epoch-2', 'manifest.json'))).to.equal(true);
    await train({ config, out: killed, resume: true });
    for (const dir of [staged, killed]) {
      const a = fs.readFileSync(path.join(straight, 'checkpoints', 'last', 'weights.safetensors'));
      const b = fs.readFileSync(path.join(dir, 'checkpoints', 'last', 'weights.safetensors'));
      expect(a.equals(b), dir).to.equal(true);
    }
  });
});
