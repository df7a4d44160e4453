/** The divergence guard (issue 14, finding 4): an exploding loss stops the run, naming step, samples and cache. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOSS_EXPLOSION_FACTOR } from '../../../src/student/trainer/divergence.js';
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
});
