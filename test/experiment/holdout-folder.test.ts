/**
 * The validation protocol's hold-out of a `folder:` data set (src/experiment/holdout-folder.ts):
 * trees of links to the source's own files, read back as folders with the source's classes; the
 * validation images are the recorded ones and none is trained on; test/ scores on the source's
 * test split; a class left without images on one side, or a folder without train/ and test/, is a
 * usage error naming the cause.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { UsageError } from '../../src/errors.js';
import { openDataset } from '../../src/data/open.js';
import { loadDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { DataStep, TrainStep } from '../../src/experiment/plan-types.js';
import { CliRunner, stepEnv } from '../../src/experiment/runner.js';
import { holdoutSpec, prepareHoldout } from '../../src/experiment/protocol.js';
import { rmDir, tmpDir } from './helpers.js';
import { expectTestSideAndSeeded, planStep as holdoutPlanStep } from './holdout-helpers.js';

const CLASSES = ['cat', 'dog', 'eel'];

/** DIR/<split>/<class>/<n>.png: seeded flat-colour PNGs of a few sizes; `perClass` images per class and split. */
async function writeFolder(dir: string, perClass: { train: number; test: number }): Promise<void> {
  for (const split of ['train', 'test'] as const) {
    for (const [c, name] of CLASSES.entries()) {
      fs.mkdirSync(path.join(dir, split, name), { recursive: true });
      for (let i = 0; i < perClass[split]; i++) {
        const background = { r: (40 * c + 7 * i) % 256, g: (13 * i) % 256, b: split === 'train' ? 30 : 200 };
        await sharp({ create: { width: 6 + (i % 3), height: 5 + (i % 2), channels: 3, background } }).png().toFile(path.join(dir, split, name, `${String(i).padStart(2, '0')}.png`));
      }
    }
  }
}

/** A data step whose training runs read the folder at 8×8. */
const planStep = (data: string, validation: string): DataStep => holdoutPlanStep(data, validation, '{ epochs: 1, args: [--input-size, "8"] }');

describe('validation protocol: a hold-out of folder data', function () {
  this.timeout(60000);
  let dir: string;
  let src: string;
  before(async () => {
    dir = tmpDir('holdout-folder');
    src = path.join(dir, 'src');
    await writeFolder(src, { train: 10, test: 4 });
  });
  after(() => rmDir(dir));

  it('links the training part, the validation images and the source test split; reads back with the source classes', async () => {
    const step = planStep(`folder:${src}`, '{ fraction: 0.2, seed: 5 }');
    const out = path.join(dir, 'h1');
    const rec = await prepareHoldout(step, out);
    expect(rec).to.include({ source_train: 30, pool: 30, train: 24, validation: 6 });
    const source = await openDataset(`folder:${src}`, { split: 'train' });
    const val = holdoutSpec(dir, { ...step, dir: 'h1' }, 'validation');
    expect(val).to.equal(`folder:${path.join(out, 'val')}`);
    const [tr, va] = await Promise.all([openDataset(val, { split: 'train' }), openDataset(val, { split: 'test' })]);
    expect([tr.size, va.size]).to.deep.equal([24, 6]);
    expect(tr.classNames).to.deep.equal(CLASSES);
    expect(va.classNames).to.deep.equal(CLASSES);
    // each validation image is the recorded source file with its label; none is in the training part
    const file = (ds: typeof source, i: number) => fs.realpathSync(ds.path!(i));
    const trainFiles = new Set(Array.from({ length: tr.size }, (_, i) => file(tr, i)));
    rec.validation_indices.forEach((s, j) => {
      expect(file(va, j)).to.equal(file(source, s));
      expect(va.labels[j]).to.equal(source.labels[s]);
      expect(trainFiles.has(file(source, s)), `validation image ${s} is trained on`).to.equal(false);
    });
    for (let i = 0; i < tr.size; i++) expect(tr.labels[i]).to.equal(CLASSES.indexOf(path.basename(path.dirname(file(tr, i)))));
    // links, not copies; test/ trains on the same part (same fingerprint) and scores on the source test split
    expect(fs.lstatSync(path.join(out, 'val', 'test', source.classNames![source.labels[rec.validation_indices[0]]])).isDirectory()).to.equal(true);
    expect(fs.lstatSync(tr.path!(0)).isSymbolicLink()).to.equal(true);
    expect(rec.test_links).to.deep.equal([path.join(src, 'test')]);
    await expectTestSideAndSeeded(dir, 'h1', step, rec, tr, `folder:${src}`);
  });

  it('BAD CALL - a class without validation images, or a folder without train/ and test/, is a usage error', async () => {
    const small = path.join(dir, 'small');
    await writeFolder(small, { train: 2, test: 1 });
    const err = await prepareHoldout(planStep(`folder:${small}`, '{ size: 1, seed: 1 }'), path.join(dir, 'h3')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(/^validation: class .* gets no image in the validation part/);
    const flat = path.join(src, 'train');
    const err2 = await prepareHoldout(planStep(`folder:${flat}`, '{ fraction: 0.2, seed: 1 }'), path.join(dir, 'h4')).catch((e: unknown) => e);
    expect((err2 as Error).message).to.match(/has no train\/ and test\/ sub-folders/);
  });

  it('with the real trainer: a teacher, its cache and a KD sweep on the hold-out; finals on the test split', async function () {
    this.timeout(300_000);
    const design = path.join(dir, 'd.yaml');
    fs.writeFileSync(design, `data: folder:${src}
model: mlp
seeds: [1]
train: { epochs: 1, batch: 8, args: [--input-size, "8"] }
validation: { fraction: 0.2, seed: 5 }
teachers:
  t: { model: mlp, seed: 3 }
runs:
  - { name: kd, kind: kd, teacher: t, sweep: { alpha: [0.3, 0.7] } }
`);
    const out = path.join(dir, 'runs');
    const plan = expandDesign(loadDesign(design));
    const r = await executePlan(plan, { outDir: out, runner: new CliRunner({ env: stepEnv(process.env, 1) }), jobs: 1, log: () => undefined });
    expect(r.outcomes.filter((o) => o.status !== 'ran').map((o) => `${o.key} ${o.status}`)).to.deep.equal([]);
    const final = plan.steps.find((s): s is TrainStep => s.key === plan.runs[0].step)!;
    const summary = JSON.parse(fs.readFileSync(path.join(out, final.dir, 'summary.json'), 'utf8')) as { test_size?: number; final_test_acc: number };
    const manifest = fs.readFileSync(path.join(out, final.dir, 'manifest.json'), 'utf8');
    expect(manifest).to.include(path.join(out, plan.steps.find((s) => s.type === 'data')!.dir, 'test'));
    expect(summary.final_test_acc).to.be.a('number');
  });
});
