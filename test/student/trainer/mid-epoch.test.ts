/**
 * --checkpoint-every (loop.ts saveMidEpoch): last/ inside an epoch, so a run killed mid-epoch
 * resumes at the next batch and ends bit-identical to an uninterrupted run — with PS-KD's history
 * rows of the epoch so far, an EMA, gradient accumulation and a momentum optimizer in play. The
 * kills are real (SIGKILL at a seeded fault point, util/fault.ts), in a child process.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from '../../../src/student/trainer/checkpoint.js';
import { readMetrics } from '../../../src/student/trainer/run-dir.js';
import { train } from '../../../src/student/trainer/train.js';
import { configFlags, rmDir, tmpDir } from './trainer-helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// 6 batches of 16 per epoch in updates of 2: steps 3, 6, 9 end the epochs.
const config = { data: 'synthetic:256:4:8x8x1:5', model: 'cnn', loss: 'ps-kd', epochs: 3, batch: 16, gradAccumSteps: 2, limit: 96, testLimit: 32, lr: 0.05, momentum: 0.9, ema: 0.9, seed: 3, backend: 'wasm' as const };
const FILES = ['weights.safetensors', 'optimizer.safetensors', 'ema.safetensors'];

/** `tfkd train` with --checkpoint-every 1, SIGKILLed at a fault point. */
function killedAt(out: string, fault: string): void {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), 'train', ...configFlags(config), '--checkpoint-every', '1', '--out', out, '--progress', 'off'], {
    cwd: ROOT,
    env: { ...process.env, TFKD_FAULT: fault, TFKD_FAULT_ACTION: 'kill' },
    encoding: 'utf8',
  });
  expect(r.signal ?? r.status, r.stderr).to.equal('SIGKILL');
}

const values = (run: string) => readMetrics(path.join(run, 'metrics.jsonl')).map(({ seconds: _s, ...m }) => m);

describe('student/trainer --checkpoint-every: resume inside an epoch', function () {
  this.timeout(300_000);
  let root: string;
  let straight: string;
  before(async function () {
    root = tmpDir('mid-epoch');
    straight = path.join(root, 'straight');
    await train({ config, out: straight });
  });
  after(() => rmDir(root));

  // train-step:N kills right after step N, before its checkpoint: last/ is step N − 1's (steps 4
  // and 7 are the first of epochs 2 and 3, after their second batch); train-mid-epoch:2 kills right
  // after step 2's checkpoint was written (epoch 1, after batch 4).
  for (const [fault, at] of [['train-step:5', { epoch: 1, step: 4, batch: 2 }], ['train-step:8', { epoch: 2, step: 7, batch: 2 }], ['train-mid-epoch:2', { epoch: 0, step: 2, batch: 4 }]] as const) {
    it(`killed at ${fault}: last/ is inside epoch ${at.epoch + 1} after batch ${at.batch}; --resume ends bit-identical to an uninterrupted run`, async () => {
      const out = path.join(root, fault.replace(':', '-'));
      killedAt(out, fault);
      const st = readCheckpoint(path.join(out, 'checkpoints', 'last')).state;
      expect({ epoch: st.epoch, step: st.step, batch: st.batch }).to.deep.equal(at);
      const info: string[] = [];
      const r = await train({ config: {} as Parameters<typeof train>[0]['config'], explicit: new Set(), out, resume: true, hooks: { info: (l) => info.push(l) } });
      expect(r.complete).to.equal(true);
      expect(info.some((l) => l.includes(`inside epoch ${at.epoch + 1}, after batch ${at.batch} of 6 (step ${at.step})`)), info.join('\n')).to.equal(true);
      expect(values(out)).to.deep.equal(values(straight));
      for (const f of FILES) {
        const a = fs.readFileSync(path.join(straight, 'checkpoints', 'last', f));
        expect(a.equals(fs.readFileSync(path.join(out, 'checkpoints', 'last', f))), f).to.equal(true);
      }
      expect(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).to.equal(fs.readFileSync(path.join(straight, 'summary.json'), 'utf8'));
      const man = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { resumedAfterEpoch: number; resumedAfterBatch?: number };
      expect([man.resumedAfterEpoch, man.resumedAfterBatch]).to.deep.equal([at.epoch, at.batch]);
    });
  }

  it('refuses to end a run inside which its last checkpoint lies: --resume --epochs 1 from inside epoch 2 is exit 2, the run untouched', async () => {
    const out = path.join(root, 'fewer');
    killedAt(out, 'train-step:5');
    const before = fs.readFileSync(path.join(out, 'checkpoints', 'last', 'state.json'));
    const err = await train({ config: { epochs: 1 } as Parameters<typeof train>[0]['config'], explicit: new Set(['epochs']), out, resume: true }).catch((e: Error) => e);
    expect(String(err)).to.match(/--epochs 1: .* is already inside epoch 2 \(its last checkpoint is after batch 2\)/);
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'last', 'state.json')).equals(before)).to.equal(true);
    expect(fs.existsSync(path.join(out, 'summary.json'))).to.equal(false);
  });

  it('changes no number: a run with --checkpoint-every 2 has the metrics of one without; an epoch-end last/ has no batch', async () => {
    const out = path.join(root, 'every-2');
    await train({ config: { ...config, checkpointEvery: 2 }, out });
    expect(values(out)).to.deep.equal(values(straight));
    expect(readCheckpoint(path.join(out, 'checkpoints', 'last')).state.batch).to.equal(undefined);
  });
});
