/**
 * `--lr-base` (timm's learning-rate scaling, src/student/trainer/resolve.ts scaledLr): the run's lr
 * is lr_base · (batch · A / size), or its square root, recorded in config.json with the rule; the
 * run is the one --lr of that value trains; contradictions and orphans are refused before anything
 * is written; --resume keeps the rule.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli } from '../../cli/train-helpers.js';
import { DATA, rmDir, tmpDir } from './trainer-helpers.js';

const BASE = ['train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.125', '--loss', 'ce', '--epochs', '1', '--batch', '32', '--limit', '128', '--backend', 'wasm', '--progress', 'off'];
const config = (run: string) => JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as Record<string, unknown>;
const weights = (run: string) => fs.readFileSync(path.join(run, 'checkpoints', 'last', 'weights.safetensors'));

describe('student/trainer: --lr-base (timm\'s learning-rate scaling)', function () {
  this.timeout(120000);
  let root: string;
  before(() => {
    root = tmpDir('lr-base');
  });
  after(() => rmDir(root));

  it('sgd: linear — lr = 0.1 · (32 · 4) / 256 = 0.05, recorded with its rule, the same run as --lr 0.05', async () => {
    const run = path.join(root, 'sgd');
    const r = await cli(...BASE, '--grad-accum-steps', '4', '--lr-base', '0.1', '--out', run);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.include('lr 0.05 = --lr-base 0.1 × 128 / 256 (linear scaling to the batch of an update)\n');
    expect(config(run)).to.include({ lr: 0.05, lrBase: 0.1, lrBaseSize: 256, lrBaseScale: 'linear' });
    const plain = path.join(root, 'sgd-lr');
    expect((await cli(...BASE, '--grad-accum-steps', '4', '--lr', '0.05', '--out', plain)).code).to.equal(0);
    expect(weights(run).equals(weights(plain)), 'the weights of --lr 0.05').to.equal(true);
    expect(config(plain)).to.not.have.property('lrBase');
    // --resume keeps the rule (the saved lr and lr_base agree); another --lr-base is refused.
    expect((await cli('train', '--resume', '--out', run, '--epochs', '2', '--progress', 'off')).code).to.equal(0);
    const other = await cli('train', '--resume', '--out', run, '--epochs', '3', '--lr-base', '0.2', '--progress', 'off');
    expect(other.code).to.equal(2);
    expect(other.err).to.match(/^tfkd: --resume: options differ from the run's config\.json \(lrBase: run has 0\.1, given 0\.2\)/);
  });

  it("adamw: timm's square root by default (5e-4 · √(32 / 512) = 1.25e-4), DeiT's linear rule when asked", async () => {
    const a = path.join(root, 'adamw');
    expect((await cli(...BASE, '--optimizer', 'adamw', '--lr-base', '5e-4', '--lr-base-size', '512', '--out', a)).code).to.equal(0);
    expect(config(a)).to.include({ lr: 1.25e-4, lrBaseScale: 'sqrt', lrBaseSize: 512 });
    const b = path.join(root, 'adamw-linear');
    expect((await cli(...BASE, '--optimizer', 'adamw', '--lr-base', '5e-4', '--lr-base-size', '512', '--lr-base-scale', 'linear', '--out', b)).code).to.equal(0);
    expect(config(b)).to.include({ lr: 3.125e-5, lrBaseScale: 'linear' });
  });

  it('BAD CALL - --lr that contradicts --lr-base, --lr-base-size or -scale without --lr-base, an unknown rule: exit 2, nothing written', async () => {
    const cases: Array<[string[], string]> = [
      [['--lr', '0.1', '--lr-base', '0.1'], 'tfkd: --lr 0.1 and --lr-base 0.1 contradict each other (--lr-base gives 0.0125 at batch 32)\nhint: give one of them\n'],
      [['--lr-base-size', '512'], 'tfkd: --lr-base-size scales --lr-base, which is not given\n'],
      [['--lr-base-scale', 'linear'], 'tfkd: --lr-base-scale scales --lr-base, which is not given\n'],
    ];
    for (const [flags, err] of cases) {
      const out = path.join(root, 'never');
      const r = await cli(...BASE, ...flags, '--out', out);
      expect(r.code, flags.join(' ')).to.equal(2);
      expect(r.err).to.equal(err);
      expect(fs.existsSync(out), 'nothing written').to.equal(false);
    }
    const rule = await cli(...BASE, '--lr-base', '0.1', '--lr-base-scale', 'cubic', '--out', path.join(root, 'never'));
    expect(rule.code).to.equal(2);
    expect(rule.err).to.match(/^tfkd: invalid options: --lr-base-scale: /);
  });
});
