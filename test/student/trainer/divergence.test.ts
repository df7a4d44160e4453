/** The divergence guard (issue 14, finding 4): an exploding loss stops the run, naming step, samples and cache. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkError } from '../../../src/errors.js';
import type { LossContext } from '../../../src/student/losses/index.js';
import { tf } from '../../../src/student/tf.js';
import { LOSS_EXPLOSION_FACTOR } from '../../../src/student/trainer/divergence.js';
import { train } from '../../../src/student/trainer/train.js';
import { cli } from '../../cli/train-helpers.js';
import { DATA, tmpDir, writeImageCache } from './trainer-helpers.js';

const TINY = ['--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '64', '--backend', 'wasm', '--progress', 'off'];

describe('trainer/divergence guard', function () {
  this.timeout(120000);
  let root: string;
  let cache: string;
  before(async () => {
    root = tmpDir('diverge');
    cache = path.join(root, 'cache');
    await writeImageCache(cache);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it(`EXPECTED FAILURE - a loss above ${LOSS_EXPLOSION_FACTOR} × the first step's stops the run: exit 1, one line naming epoch, step and the batch's samples`, async () => {
    // lr 50 on this tiny mlp: the loss goes 98 → 1e10 within the first two epochs (exit 0 before the guard).
    const r = await cli('train', ...TINY, '--loss', 'ce', '--lr', '50', '--epochs', '3', '--out', path.join(root, 'ce'));
    expect(r.code, r.out).to.equal(1);
    const lines = r.err.trim().split('\n');
    expect(lines[0]).to.match(/^tfkd: loss exploded to [\d.]+e\+\d+ \(> 1000 × [\d.]+\) at epoch \d+, step \d+ \(global step \d+\): batch samples \d+(, \d+){7}, … \(64 in all\); no teacher cache$/);
    expect(lines[1]).to.match(/^hint: lower --lr/);
    expect(lines).to.have.length(2);
  });

  it('EXPECTED FAILURE - with a teacher loss, the message names the cache (its directory, key, top-k and dtype)', async () => {
    const r = await cli('train', ...TINY, '--loss', 'kd', '--cache', cache, '--lr', '50', '--epochs', '3', '--out', path.join(root, 'kd'));
    expect(r.code, r.out).to.equal(1);
    expect(r.err).to.match(/loss (exploded to|became) .* at epoch \d+, step \d+ .*batch samples .*; soft targets from cache .*cache \(key [0-9a-f]{12}…, all logits, f32\)/);
    expect(r.err).to.match(/hint: lower --lr, or check the soft targets \(tfkd verify CACHE\)/);
  });

  // A finite loss with a NaN gradient (DIST on a one-sample batch did this through tf.norm at 0)
  // made every weight NaN; the epoch was evaluated (test loss NaN) and saved as best/.
  for (const every of [undefined, 1]) {
    it(`EXPECTED FAILURE - a finite loss whose gradient is NaN stops the run before anything of it is evaluated or checkpointed${every ? ' (--checkpoint-every 1)' : ''}`, async () => {
      // ‖z − z‖ = 0, and d√u/du at u = 0 times 0 is NaN: a flat loss with a non-finite gradient
      // (kept finite, 0, once the weights are NaN, so that the loss guard never sees it).
      const flat = (ctx: LossContext) => {
        const v = tf.sqrt(tf.sum(tf.square(tf.sub(ctx.logits, ctx.logits))));
        return tf.where(tf.isNaN(v), tf.zerosLike(v), v) as tf.Scalar;
      };
      const out = path.join(root, `flat-${every ?? 0}`);
      const config = { data: DATA, model: 'mlp', widthMultiplier: 0.0625, batch: 64, limit: 128, testLimit: 64, backend: 'wasm', loss: flat, cache: [cache], epochs: 2, ...(every ? { checkpointEvery: every } : {}) } as never;
      let err: unknown;
      try {
        await train({ config, out });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(WorkError);
      expect((err as Error).message).to.match(new RegExp(`^weights became non-finite \\(\\d+ value\\(s\\) NaN or ±Inf\\) by epoch 1, step ${every ? 1 : 2} \\(global step ${every ? 1 : 2}\\), though every loss was finite: a gradient was not$`));
      expect(fs.existsSync(path.join(out, 'summary.json'))).to.equal(false);
      expect(fs.existsSync(path.join(out, 'metrics.jsonl')) ? fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8') : '').to.equal('');
      for (const c of ['best', 'last', 'epoch-1']) expect(fs.existsSync(path.join(out, 'checkpoints', c)), c).to.equal(false);
    });
  }
});
