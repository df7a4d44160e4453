/**
 * The function-matching design (issue 20, experiments/function-matching.yaml) expands as its
 * comments say: three caches of the one teacher (1 view; 8 crop/flip views; 32 Mixup/CutMix views)
 * through runs' own `precompute`, and the function-matching run is pure KD (α = 1) on the mixed one.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDesign } from '../../src/experiment/design.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { PrecomputeStep, TrainStep } from '../../src/experiment/plan-types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILE = path.join(ROOT, 'experiments/function-matching.yaml');

describe('experiment: the function-matching design (Mixup/CutMix views, α = 1, long schedule)', () => {
  const plan = expandDesign({ file: FILE, dir: path.dirname(FILE), design: parseDesign(fs.readFileSync(FILE, 'utf8'), FILE) });
  const steps = [...plan.steps.values()];
  const pre = steps.filter((s): s is PrecomputeStep => s.type === 'precompute');
  const train = (label: string) => steps.find((s): s is TrainStep => s.type === 'train' && s.label === label)!;

  it('one teacher, three caches: 1 view, 8 crop:2,flip views, 32 crop:2,flip,mixup:1,cutmix:1 views', () => {
    expect(pre.map((s) => s.options.args ?? [])).to.have.deep.members([
      [],
      ['--views', '8', '--augment', 'crop:2,flip', '--augment-seed', '0'],
      ['--views', '32', '--augment', 'crop:2,flip,mixup:1,cutmix:1', '--augment-seed', '0'],
    ]);
    expect(new Set(pre.map((s) => JSON.stringify(s.teacher))).size).to.equal(1);
    for (const s of pre) expect(s.options.dtype).to.equal('f16');
  });

  it('each arm trains on its own cache; function matching is α = 1 KD on the mixed views for 60 epochs', () => {
    const cacheArgs = (t: TrainStep) => (pre.find((p) => p.key === t.config.cache)?.options.args ?? null);
    const fm = train('function-matching s1');
    expect(fm.config.loss).to.equal('kd');
    expect(fm.config.loss_options.alpha).to.equal(1);
    expect(fm.config.train.augment).to.equal('crop:2,flip,mixup:1,cutmix:1');
    expect(fm.config.train.epochs).to.equal(60);
    expect(cacheArgs(fm)).to.include('32');
    const plain = train('kd-no-views s2');
    expect(plain.config.train.augment).to.equal('none');
    expect(cacheArgs(plain)).to.deep.equal([]);
    expect(cacheArgs(train('kd-views s3'))).to.include('crop:2,flip');
    expect(train('baseline s1').config.cache).to.equal(null);
  });
});
