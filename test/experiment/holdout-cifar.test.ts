/**
 * The validation protocol's hold-out of CIFAR data (src/experiment/protocol.ts, writeCifarHoldout):
 * both parts written as CIFAR binary records — CIFAR-10's training part as five batch files, the
 * CIFAR-100 records with their coarse labels — read back with the source's pixels, labels and
 * class names; the validation images are the recorded ones and none is trained on; test/ links the
 * training part and the source's own test file; a CIFAR-10 training part under five images is a
 * usage error.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CifarDataset } from '../../src/data/cifar.js';
import type { Dataset } from '../../src/data/dataset.js';
import { openDataset } from '../../src/data/open.js';
import { Rng } from '../../src/data/rng.js';
import { UsageError } from '../../src/errors.js';
import { holdoutSpec, prepareHoldout } from '../../src/experiment/protocol.js';
import { rmDir, tmpDir } from './helpers.js';
import { expectTestSideAndSeeded, planStep } from './holdout-helpers.js';

/** `n` CIFAR records: label byte(s), then 3 × 1024 seeded random bytes (distinct images). */
function records(n: number, seed: number, labels: (i: number) => number[]): Buffer {
  const rng = new Rng(seed);
  return Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.from([...labels(i), ...Array.from({ length: 3072 }, () => rng.below(256))])));
}

const key = async (ds: Dataset, i: number): Promise<string> => `${Buffer.from(await ds.get(i)).toString('hex')}:${ds.labels[i]}`;

/** The recorded validation images are the source's, labels included; none of them is in the training part. */
async function expectDisjointParts(source: Dataset, tr: Dataset, va: Dataset, validation: number[]): Promise<void> {
  const trainKeys = new Set<string>();
  for (let j = 0; j < tr.size; j++) trainKeys.add(await key(tr, j));
  for (let j = 0; j < va.size; j++) {
    const want = await key(source, validation[j]);
    expect(await key(va, j)).to.equal(want);
    expect(trainKeys.has(want), `validation image ${validation[j]} is trained on`).to.equal(false);
  }
}

describe('validation protocol: a hold-out of CIFAR data', function () {
  this.timeout(60000);
  let dir: string;
  before(() => (dir = tmpDir('holdout-cifar')));
  after(() => rmDir(dir));

  it('cifar10: five batch files and a validation batch, the source classes; test/ links them and the source test batch', async () => {
    const src = path.join(dir, 'c10');
    fs.mkdirSync(src);
    for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(src, `data_batch_${b}.bin`), records(8, b, (i) => [(b * 3 + i) % 10]));
    fs.writeFileSync(path.join(src, 'test_batch.bin'), records(6, 9, (i) => [i % 10]));
    const names = ['plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    fs.writeFileSync(path.join(src, 'batches.meta.txt'), `${names.join('\n')}\n\n`);
    const step = planStep(`cifar10:${src}`, '{ fraction: 0.2, seed: 5 }');
    const out = path.join(dir, 'h1');
    const rec = await prepareHoldout(step, out);
    expect(rec).to.include({ source_train: 40, pool: 40, train: 32, validation: 8 });
    expect(fs.readdirSync(path.join(out, 'val')).sort()).to.deep.equal(['batches.meta.txt', 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']);
    const val = holdoutSpec(dir, { ...step, dir: 'h1' }, 'validation');
    const source = await openDataset(`cifar10:${src}`, { split: 'train' });
    const [tr, va] = await Promise.all([openDataset(val, { split: 'train' }), openDataset(val, { split: 'test' })]);
    expect([tr.size, va.size]).to.deep.equal([32, 8]);
    expect(tr.classNames).to.deep.equal(names);
    await expectDisjointParts(source, tr, va, rec.validation_indices);
    expect(fs.readlinkSync(path.join(out, 'test', 'test_batch.bin'))).to.equal(path.join(src, 'test_batch.bin'));
    expect(fs.lstatSync(path.join(out, 'test', 'data_batch_3.bin')).isSymbolicLink()).to.equal(true);
    expect(rec.test_links).to.deep.equal([path.join(src, 'test_batch.bin')]);
    await expectTestSideAndSeeded(dir, 'h1', step, rec, tr, `cifar10:${src}`);
  });

  it('cifar100: train.bin and test.bin keep each record coarse label; test/ links the source test.bin', async () => {
    const src = path.join(dir, 'c100');
    fs.mkdirSync(src);
    const fine = (seed: number) => (i: number) => (i * 7 + seed) % 100;
    const coarseOf = (f: number) => f % 20;
    fs.writeFileSync(path.join(src, 'train.bin'), records(30, 11, (i) => [coarseOf(fine(1)(i)), fine(1)(i)]));
    fs.writeFileSync(path.join(src, 'test.bin'), records(5, 12, (i) => [coarseOf(fine(2)(i)), fine(2)(i)]));
    const step = planStep(`cifar100:${src}`, '{ size: 6, seed: 2 }');
    const out = path.join(dir, 'h3');
    const rec = await prepareHoldout(step, out);
    expect(rec).to.include({ source_train: 30, train: 24, validation: 6 });
    const val = holdoutSpec(dir, { ...step, dir: 'h3' }, 'validation');
    const source = (await openDataset(`cifar100:${src}`, { split: 'train' })) as CifarDataset;
    const [tr, va] = (await Promise.all([openDataset(val, { split: 'train' }), openDataset(val, { split: 'test' })])) as CifarDataset[];
    await expectDisjointParts(source, tr, va, rec.validation_indices);
    rec.validation_indices.forEach((s, j) => expect(va.coarseLabels![j], `coarse label of validation image ${j}`).to.equal(source.coarseLabels![s]));
    for (let j = 0; j < tr.size; j++) expect(tr.coarseLabels![j]).to.equal(coarseOf(tr.labels[j]));
    expect(fs.readlinkSync(path.join(out, 'test', 'test.bin'))).to.equal(path.join(src, 'test.bin'));
  });

  it('BAD CALL - a cifar10 training part under five images (one per batch file) is a usage error, nothing written', async () => {
    const src = path.join(dir, 'c10-small');
    fs.mkdirSync(src);
    for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(src, `data_batch_${b}.bin`), records(1, b, () => [b]));
    fs.writeFileSync(path.join(src, 'test_batch.bin'), records(1, 9, () => [0]));
    const err = await prepareHoldout(planStep(`cifar10:${src}`, '{ size: 2, seed: 1 }'), path.join(dir, 'h4')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.equal('validation: a cifar10 hold-out needs at least 5 training images (five batch files)');
    expect(fs.existsSync(path.join(dir, 'h4')), 'h4/ was created').to.equal(false);
  });
});
