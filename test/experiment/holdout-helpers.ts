/** What the hold-out tests of each data kind (holdout-folder, holdout-cifar) share. */
import { expect } from 'chai';
import * as path from 'node:path';
import type { Dataset } from '../../src/data/dataset.js';
import { fingerprint } from '../../src/data/fingerprint.js';
import { openDataset } from '../../src/data/open.js';
import { parseDesign } from '../../src/experiment/design.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { DataStep } from '../../src/experiment/plan-types.js';
import { holdoutSpec, prepareHoldout, type HoldoutRecord } from '../../src/experiment/protocol.js';

/** The data step of a one-run design over `data` with this `validation:` block (and `train:` block). */
export function planStep(data: string, validation: string, train = '{ epochs: 1 }'): DataStep {
  const text = `data: ${data}\nmodel: mlp\nseeds: [1]\ntrain: ${train}\nvalidation: ${validation}\nruns:\n  - { name: baseline, kind: baseline }\n`;
  return expandDesign({ file: 'x.yaml', dir: '/nonexistent', design: parseDesign(text, 'x.yaml') }).steps.find((s): s is DataStep => s.type === 'data')!;
}

/**
 * The hold-out `rec` that prepareHoldout wrote to DIR/`sub` for `step`: its test/ side trains on
 * the same part as the validation side (`tr`, same fingerprint) and scores on the source's own
 * test split (`source`, a data spec); the same step again (into DIR/`sub`-again) gives the same
 * split: it is seeded.
 */
export async function expectTestSideAndSeeded(dir: string, sub: string, step: DataStep, rec: HoldoutRecord, tr: Dataset, source: string): Promise<void> {
  const test = holdoutSpec(dir, { ...step, dir: sub }, 'test');
  const [tt, te, srcTest] = await Promise.all([openDataset(test, { split: 'train' }), openDataset(test, { split: 'test' }), openDataset(source, { split: 'test' })]);
  expect(await fingerprint(tt)).to.equal(await fingerprint(tr));
  expect(await fingerprint(te)).to.equal(await fingerprint(srcTest));
  const again = await prepareHoldout(step, path.join(dir, `${sub}-again`));
  expect(again.validation_indices).to.deep.equal(rec.validation_indices);
  expect(again.fingerprints).to.deep.equal(rec.fingerprints);
}
