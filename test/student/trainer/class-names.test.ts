/**
 * Class indices mean the same classes only when the names agree: `train` compared only K between a
 * folder's train/ and test/ splits, and `eval RUN` compared only K between the checkpoint and the
 * data — a test split with other class folders (or a run evaluated on other classes) was scored
 * against the wrong labels with exit 0.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { classNamesDiffer } from '../../../src/data/dataset.js';
import { cli } from '../../cli/train-helpers.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';

/** DIR/<split>/<class>/<i>.png: 3 small images a class. */
async function folder(dir: string, splits: Record<string, string[]>): Promise<void> {
  for (const [split, classes] of Object.entries(splits)) {
    for (const [k, name] of classes.entries()) {
      fs.mkdirSync(path.join(dir, split, name), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const px = Buffer.alloc(8 * 8 * 3, (k * 70 + i * 20) & 255);
        fs.writeFileSync(path.join(dir, split, name, `${i}.png`), await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer());
      }
    }
  }
}

describe('trainer/class names: equal K is not enough (train splits, eval of a run)', function () {
  this.timeout(120_000);
  let root = '';
  before(() => (root = tmpDir('class-names')));
  after(() => rmDir(root));
  const TINY = ['--model', 'mlp', '--width-multiplier', '0.0625', '--input-size', '8', '--loss', 'ce', '--epochs', '1', '--batch', '4', '--backend', 'cpu', '--progress', 'off'];

  it('classNamesDiffer names the first class that differs; integer labels (named by index) are not compared', () => {
    expect(classNamesDiffer(['cat', 'dog', 'eel'], 'A', ['cat', 'eel', 'zebra'], 'B')).to.equal('class 1 is dog in A, eel in B');
    expect(classNamesDiffer(['cat', 'dog'], 'A', ['cat', 'dog'], 'B')).to.equal(null);
    expect(classNamesDiffer(['0', '1', '2'], 'A', ['cat', 'dog', 'eel'], 'B')).to.equal(null);
    expect(classNamesDiffer(undefined, 'A', ['cat'], 'B')).to.equal(null);
  });

  it('BAD CALL - a folder whose test split has other class folders than its train split (same K): exit 2, nothing written', async () => {
    const data = path.join(root, 'mismatched');
    await folder(data, { train: ['cat', 'dog', 'eel'], test: ['cat', 'eel', 'zebra'] });
    const out = path.join(root, 'run-mismatched');
    const r = await cli('train', '--data', `folder:${data}`, ...TINY, '--out', out);
    expect(r.code, r.err).to.equal(2);
    expect(r.err.trim().split('\n')).to.deep.equal([`tfkd: folder:${data}: class 1 is dog in the train split, eel in the test split: the test accuracy would count other classes`, 'hint: give both splits the same class folders']);
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('BAD CALL - eval of a run on data whose classes are others (same K): exit 2; on its own classes it evaluates', async () => {
    const good = path.join(root, 'good');
    await folder(good, { train: ['cat', 'dog', 'eel'], test: ['cat', 'dog', 'eel'] });
    const other = path.join(root, 'other');
    await folder(other, { train: ['cat', 'eel', 'zebra'], test: ['cat', 'eel', 'zebra'] });
    const run = path.join(root, 'run');
    const t = await cli('train', '--data', `folder:${good}`, ...TINY, '--out', run);
    expect(t.code, t.err).to.equal(0);
    const bad = await cli('eval', run, '--data', `folder:${other}`);
    expect(bad.code, bad.err).to.equal(2);
    expect(bad.err).to.match(new RegExp(`^tfkd: .*checkpoints/best was trained on other classes than folder:${other}'s: class 1 is dog in .*checkpoints/best, eel in folder:${other}\\n`));
    const ok = await cli('eval', run, '--data', `folder:${good}`);
    expect(ok.code, ok.err).to.equal(0);
  });
});
