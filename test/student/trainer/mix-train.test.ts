/**
 * Training on mixed views end to end (docs/MIXING.md): from a Mixup/CutMix cache (the trainer
 * rebuilds the cache's mixtures and labels) and with fresh mixed views (no cache); the run records
 * the mixing plan; two identical runs give identical metrics (nothing depends on timing or workers).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPrecompute } from '../../../src/cache/precompute-run.js';
import { cli } from '../../cli/train-helpers.js';
import { writeTinyTeacher } from '../../teacher/fixtures.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';

const DATA = 'synthetic:48:4:12x12x1:5';
const AUG = 'crop:2,flip,mixup:0.4,cutmix:1';

describe('student/trainer: training on Mixup/CutMix views', function () {
  this.timeout(300000);
  let root: string;
  let cache: string;
  before(async () => {
    process.env.TFKD_THREADS = '1';
    root = tmpDir('mixtrain');
    const teacher = writeTinyTeacher(root, { height: 12, width: 12, channels: 1, numClasses: 4 });
    cache = path.join(root, 'cache');
    await runPrecompute({ teacher, data: DATA, out: cache, split: 'train', device: 'cpu', threads: 1, batch: 16, dtype: 'f32', views: 4, augment: AUG, augmentSeed: 3 });
  });
  after(() => rmDir(root));

  const metrics = (run: string) => fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => {
    const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, number>;
    return rest;
  });

  it('from a mixing cache: trains (kd, α = 1), records the plan, and is reproducible run to run', async () => {
    const runs = [path.join(root, 'a'), path.join(root, 'b')];
    for (const out of runs) {
      const r = await cli('train', '--data', DATA, '--model', 'mlp', '--loss', 'kd', '--alpha', '1', '--temperature', '1', '--cache', cache, '--epochs', '2', '--batch', '16', '--out', out);
      expect(r.code, r.err).to.equal(0);
    }
    const m = JSON.parse(fs.readFileSync(path.join(runs[0], 'manifest.json'), 'utf8')) as { views: { mode: string; cacheViews: number; spec: { mix?: unknown } } };
    expect(m.views.mode).to.equal('cache');
    expect(m.views.cacheViews).to.equal(4);
    expect(m.views.spec.mix).to.deep.equal({ mixup: 0.4, cutmix: 1, switchProb: 0.5, mixProb: 1 });
    const [a, b] = runs.map(metrics);
    expect(a).to.have.length(2);
    for (const line of a) expect(Number.isFinite(line.train_loss)).to.equal(true);
    expect(a).to.deep.equal(b);
  });

  it('without a cache: fresh mixed views every epoch, mixed labels in the CE', async () => {
    const out = path.join(root, 'fresh');
    const r = await cli('train', '--data', DATA, '--model', 'mlp', '--loss', 'ce', '--augment', AUG, '--epochs', '1', '--batch', '16', '--out', out);
    expect(r.code, r.err).to.equal(0);
    expect(metrics(out)[0].train_loss).to.be.greaterThan(0);
  });
});
