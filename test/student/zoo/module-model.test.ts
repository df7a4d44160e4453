/**
 * tfjs students from code (issue 19): `--model ./my-model.mjs` (a module exporting a factory) trains,
 * checkpoints, resumes and exports (eval of the ONNX = eval of the run), its spec records the
 * module's sha256; an API factory trains through train({ config: { model: fn } }); a module that
 * exports no factory is one UsageError with nothing written; export names the first layer it
 * does not know.
 */
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getOptionStyle, setOptionStyle, UsageError } from '../../../src/errors.js';
import { exportRun } from '../../../src/export/export-run.js';
import { evaluateTarget } from '../../../src/student/evaluate-target.js';
import { readCheckpoint } from '../../../src/student/trainer/checkpoint.js';
import type { tf as TF } from '../../../src/student/tf.js';
import { cli } from '../../cli/train-helpers.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';

const DATA = 'synthetic:32:4:12x12x3:5';

const MODULE = `export default function (shape, classes, tf) {
  const x = tf.input({ shape });
  let y = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }).apply(x);
  y = tf.layers.batchNormalization().apply(y);
  y = tf.layers.globalAveragePooling2d({}).apply(y);
  y = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(y);
  return tf.model({ inputs: x, outputs: y });
}
`;

describe('student/zoo/module-model: tfjs students from code', function () {
  this.timeout(120000);
  let tmp: string;
  let train: typeof import('../../../src/index.js').train;
  let style: ReturnType<typeof getOptionStyle>;
  before(async () => {
    tmp = tmpDir('module-model');
    // Imported here, not at the top: the public entry switches messages to API names process-wide
    // when it is first imported, and a static import would do that while mocha loads every file,
    // before the tests that expect CLI flags in messages run.
    style = getOptionStyle();
    ({ train } = await import('../../../src/index.js'));
  });
  after(() => {
    setOptionStyle(style);
    rmDir(tmp);
  });

  it('a module student trains, checkpoints, resumes and exports', async function () {
    const file = path.join(tmp, 'my-model.mjs');
    fs.writeFileSync(file, MODULE);
    const out = path.join(tmp, 'run');
    const config = { data: DATA, model: file, loss: 'ce', epochs: 2, batch: 8, backend: 'wasm' as const };
    expect((await train({ config, out, stopAfter: 1 })).complete).to.equal(false);
    expect((await train({ config, out, resume: true })).complete).to.equal(true);
    const ck = readCheckpoint(path.join(out, 'checkpoints', 'last'));
    expect(ck.state.epoch).to.equal(2);
    expect(ck.spec.module?.sha256).to.equal(crypto.createHash('sha256').update(MODULE).digest('hex'));
    // Weight keys are position-based, not tfjs' process-global counters.
    expect(Object.keys(ck.weights).every((k) => /^l\d+_[a-z0-9]+\//.test(k)), Object.keys(ck.weights).join(', ')).to.equal(true);
    const m = path.join(tmp, 'm.onnx');
    await exportRun(out, { out: m, checkpoint: 'last' });
    const a = await evaluateTarget(out, { data: DATA, checkpoint: 'last', backend: 'wasm' });
    const b = await evaluateTarget(m, { data: DATA, device: 'cpu' });
    expect(b.confusion).to.deep.equal(a.confusion);
    expect(Math.abs(a.loss - b.loss)).to.be.at.most(1e-5);
  });

  it('an API factory trains (config.model = (shape, classes, tf) => model)', async function () {
    const factory = (shape: [number, number, number], classes: number, tf: typeof TF) => {
      const x = tf.input({ shape });
      const y = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(tf.layers.flatten().apply(x)) as ReturnType<typeof tf.input>;
      return tf.model({ inputs: x, outputs: y });
    };
    const r = await train({ config: { data: DATA, model: factory, loss: 'ce', epochs: 1, batch: 8, backend: 'wasm' }, out: path.join(tmp, 'api') });
    expect(r.complete).to.equal(true);
    expect(r.config.model).to.match(/^code:[0-9a-f]{16}$/);
  });

  it('a module that exports no factory: one UsageError (CLI: exit 2, one line), nothing written', async function () {
    const file = path.join(tmp, 'nothing.mjs');
    fs.writeFileSync(file, 'export const x = 1;\n');
    const out = path.join(tmp, 'bad');
    const err = await train({ config: { data: DATA, model: file, loss: 'ce', epochs: 1, backend: 'wasm' }, out }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(/exports no model factory/);
    expect(fs.existsSync(out)).to.equal(false);
    // The CLI: exit 2, one line (and a hint line at most).
    const r = await cli('train', '--data', DATA, '--model', file, '--loss', 'ce', '--epochs', '1', '--backend', 'wasm', '--progress', 'off', '--out', out);
    expect(r.code, r.err).to.equal(2);
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).to.match(/^tfkd: .*exports no model factory/);
    expect(lines.length, r.err).to.be.at.most(2);
    if (lines.length === 2) expect(lines[1]).to.match(/^hint: /);
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('export names the first layer it does not know', async function () {
    const file = path.join(tmp, 'upsample.mjs');
    fs.writeFileSync(file, MODULE.replace("y = tf.layers.batchNormalization().apply(y);", "y = tf.layers.upSampling2d({ size: [2, 2] }).apply(y);"));
    const out = path.join(tmp, 'up');
    await train({ config: { data: DATA, model: file, loss: 'ce', epochs: 1, batch: 8, backend: 'wasm' }, out });
    const err = await exportRun(out, { out: path.join(tmp, 'up.onnx') }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(/cannot export layer '.*' \(UpSampling2D\)/);
    expect(fs.existsSync(path.join(tmp, 'up.onnx'))).to.equal(false);
  });
});
