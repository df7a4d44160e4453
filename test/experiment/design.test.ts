import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDesign } from '../../src/experiment/design.js';
import { resolveLoss } from '../../src/experiment/design-schema.js';
import { cli, rmDir, tmpDir, withTmpDir } from './helpers.js';

const GOOD = `
data: synthetic:200:10:8x8x1
model: mlp
seeds: [1, 2]
train: { epochs: 2, limit: 100 }
teachers:
  big: { model: cnn, seed: 3 }
runs:
  - { name: baseline, kind: baseline }
  - { name: kd, kind: kd, teacher: big }
  - { name: sweep, kind: de-kd, teacher: big, checkpoints: [1] }
`;

/** The GOOD design with one line replaced (`from` must occur). */
const variant = (from: string, to: string): string => {
  expect(GOOD).to.include(from);
  return GOOD.replace(from, to);
};

function expectUsage(text: string, name: string, ...fragments: string[]): void {
  let err: unknown;
  try {
    parseDesign(text, name);
  } catch (e) {
    err = e;
  }
  expect(err, 'parseDesign should throw').to.be.instanceOf(Error);
  expect((err as { exitCode?: number }).exitCode).to.equal(2);
  for (const f of fragments) expect((err as Error).message).to.include(f);
}

describe('experiment design file', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('design');
  });
  after(() => rmDir(dir));

  it('accepts a good design (YAML and the same as JSON)', () => {
    const d = parseDesign(GOOD, 'x.yaml');
    expect(d.runs.map((r) => r.kind)).to.deep.equal(['baseline', 'kd', 'de-kd']);
    const j = parseDesign(JSON.stringify(d), 'x.json');
    expect(j).to.deep.equal(d);
  });

  it('takes the registry\'s losses as kinds, with their own keys; BAD CALL - a value outside the loss\'s bounds, an option it does not read, a sweep of an option unread with logit standardization', () => {
    const base = ['data: fashion-mnist', 'model: mlp', 'seeds: [1]', 'validation: { fraction: 0.1 }', 'teachers: { t: { model: mlp } }'];
    const good = parseDesign([...base, 'runs:', '  - { name: dkd, kind: dkd, teacher: t, loss: { beta: 2, kd_warmup: 2 } }', '  - { name: z, kind: zipf-ls, loss: { power: 2 } }', '  - { name: ls, kind: kd, teacher: t, loss: { logit_standardization: true, kd_weight: 3 } }'].join('\n'), 'm.yaml');
    expect(good.runs.map((r) => r.kind)).to.deep.equal(['dkd', 'zipf-ls', 'kd']);
    expect(resolveLoss('kd', undefined, { logit_standardization: true })).to.deep.equal({ temperature: 2, ce_weight: 0.1, kd_weight: 9, logit_standardization: true });
    expectUsage([...base, 'runs:', '  - { name: dkd, kind: dkd, teacher: t, loss: { beta: -1 } }'].join('\n'), 'm.yaml', 'runs[0].loss: --beta -1: must be ≥ 0');
    expectUsage([...base, 'runs:', '  - { name: kd, kind: kd, teacher: t, loss: { multiplier: 2 } }'].join('\n'), 'm.yaml', 'runs[0].loss.multiplier: not used by kind "kd"');
    expectUsage([...base, 'sweep: { grids: { kd: { alpha: [0.3, 0.7] } } }', 'runs:', '  - { name: ls, kind: kd, teacher: t, loss: { logit_standardization: true } }'].join('\n'), 'm.yaml', 'runs[0]: its sweep varies alpha, which kind "kd" does not read with logit_standardization');
  });

  it('BAD CALL - unknown kind names the path, the value and the choices', () => {
    expectUsage(variant('kind: de-kd', 'kind: kdd'), 'experiments/x.yaml', 'experiments/x.yaml: runs[2].kind: unknown kind "kdd" (expected baseline|lsr|kd|re-kd|de-kd|tfkd-self|tfkd-reg|dkd|dist|nkd|wsld|ps-kd|zipf-ls|hard-kd)');
  });

  it('BAD CALL - kd without a teacher, and with an undefined teacher', () => {
    expectUsage(variant('{ name: kd, kind: kd, teacher: big }', '{ name: kd, kind: kd }'), 'x.yaml', 'x.yaml: runs[1].teacher: kind "kd" needs a teacher', 'defined teachers: big');
    expectUsage(variant('{ name: kd, kind: kd, teacher: big }', '{ name: kd, kind: kd, teacher: huge }'), 'x.yaml', 'runs[1].teacher: teacher "huge" is not defined');
  });

  it('BAD CALL - seeds not a list (top level and per run)', () => {
    expectUsage(variant('seeds: [1, 2]', 'seeds: 3'), 'x.yaml', 'x.yaml: seeds: seeds must be a list of integers');
    expectUsage(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, seeds: "1,2" }'), 'x.yaml', 'runs[0].seeds: seeds must be a list of integers');
  });

  it('BAD CALL - unknown keys at every level name the key', () => {
    expectUsage(`${GOOD}\nepoch: 3\n`, 'x.yaml', 'x.yaml: epoch: unknown key');
    expectUsage(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, sedes: [1] }'), 'x.yaml', 'runs[0].sedes: unknown key');
    expectUsage(variant('train: { epochs: 2, limit: 100 }', 'train: { epochs: 2, limt: 100 }'), 'x.yaml', 'train.limt: unknown key');
    expectUsage(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, sed: 3 }'), 'x.yaml', 'teachers.big.sed: unknown key');
  });

  it('BAD CALL - options a kind does not use, de-kd without checkpoints, duplicate names, a teacher with two sources', () => {
    expectUsage(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, loss: { temperature: 4 } }'), 'x.yaml', 'runs[0].loss.temperature: not used by kind "baseline"');
    expectUsage(variant('checkpoints: [1]', 'seeds: [1]'), 'x.yaml', 'runs[2]: kind "de-kd" needs exactly one of checkpoints | target_accuracies');
    expectUsage(variant('{ name: kd, kind: kd', '{ name: baseline, kind: kd'), 'x.yaml', 'runs[1].name: duplicate run name "baseline"');
    expectUsage(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, onnx: t.onnx }'), 'x.yaml', 'teachers.big: a teacher needs exactly one of model | onnx | run');
    expectUsage(variant('checkpoints: [1]', 'target_accuracies: [0.3]'), 'x.yaml', 'runs[2].target_accuracies: needs candidate checkpoints: set teachers.big.save_at');
  });

  it('BAD CALL - fidelity_teacher: an undefined teacher, a de-kd run, a --test-cache also in args', () => {
    expectUsage(`${GOOD}\nfidelity_teacher: huge\n`, 'x.yaml', 'x.yaml: fidelity_teacher: teacher "huge" is not defined', 'defined teachers: big');
    expectUsage(`${GOOD}\nfidelity_teacher: sweep\n`, 'x.yaml', 'fidelity_teacher: run "sweep" is a de-kd sweep');
    expectUsage(variant('train: { epochs: 2, limit: 100 }', 'train: { epochs: 2, limit: 100, args: [--test-cache, /c] }') + '\nfidelity_teacher: big\n', 'x.yaml', 'train.args: --test-cache is given by fidelity_teacher; drop one');
    expectUsage(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, train: { args: ["--test-cache=/c"] } }') + '\nfidelity_teacher: kd\n', 'x.yaml', 'runs[0].train.args: --test-cache is given by fidelity_teacher');
    expect(() => parseDesign(`${GOOD}\nfidelity_teacher: big\n`, 'x.yaml')).to.not.throw();
    expect(() => parseDesign(`${GOOD}\nfidelity_teacher: kd\n`, 'x.yaml')).to.not.throw();
  });

  it('per-kind loss defaults (PAPER.md) are overridden by the top level, then by the run', () => {
    expect(resolveLoss('re-kd', undefined, undefined)).to.deep.equal({ alpha: 0.6, temperature: 20 });
    expect(resolveLoss('kd', { alpha: 0.5, epsilon: 0.2 }, { temperature: 4 })).to.deep.equal({ alpha: 0.5, temperature: 4 });
    expect(resolveLoss('lsr', { alpha: 0.5 }, undefined)).to.deep.equal({ epsilon: 0.1 });
  });

  it('BAD CALL - the CLI exits 2 with the path for each kind of bad design (in process)', async () => {
    const cases: Array<[string, string]> = [
      [variant('kind: de-kd', 'kind: kdd'), 'runs[2].kind: unknown kind "kdd"'],
      [variant('{ name: kd, kind: kd, teacher: big }', '{ name: kd, kind: kd }'), 'runs[1].teacher: kind "kd" needs a teacher'],
      [variant('seeds: [1, 2]', 'seeds: 3'), 'seeds: seeds must be a list of integers'],
      [`${GOOD}\nbogus: 1\n`, 'bogus: unknown key'],
    ];
    for (const [i, [text, msg]] of cases.entries()) {
      const f = path.join(dir, `bad-${i}.yaml`);
      fs.writeFileSync(f, text);
      const r = await cli(['experiment', f, '--out', path.join(dir, 'out'), '--dry-run']);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(`${f}: ${msg}`);
    }
    expect(fs.existsSync(path.join(dir, 'out')), 'nothing is written for a bad design').to.equal(false);
  });

  it('BAD CALL - a real process exits with status 2', () => {
    const f = path.join(dir, 'bad-kind.yaml');
    fs.writeFileSync(f, variant('kind: de-kd', 'kind: kdd'));
    const r = spawnSync(process.execPath, ['bin/tfkd.js', 'experiment', f, '--out', path.join(dir, 'o2')], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.include('runs[2].kind: unknown kind "kdd"');
  });

  it('the shipped designs validate (every experiments/*.yaml)', () => {
    const files = fs.readdirSync('experiments').filter((f) => f.endsWith('.yaml')).map((f) => `experiments/${f}`);
    expect(files).to.include.members(['experiments/fashion-mnist-quick.yaml', 'experiments/fashion-mnist-vit.yaml']);
    for (const f of files) expect(() => parseDesign(fs.readFileSync(f, 'utf8'), f), f).not.to.throw();
  });
});

describe('tfkd experiment --set: overrides of the design file', () => {
  const text = 'data: fashion-mnist\nmodel: mlp\nseeds: [1, 2, 3]\ntrain: { epochs: 20, limit: 5000 }\nteachers:\n  big: { model: cnn }\nruns:\n  - { name: b, kind: baseline }\n  - { name: k, kind: kd, teacher: big, seeds: [1] }\n';

  it('sets nested values (creating mappings), list items and YAML values; null removes a key', () => {
    const d = parseDesign(text, 'x.yaml', ['train.epochs=2', 'seeds=[4, 5]', 'teachers.big.train.epochs=1', 'runs[1].seeds=[9]', 'train.limit=null', 'name=smoke']);
    expect(d.train).to.deep.equal({ epochs: 2 });
    expect(d.seeds).to.deep.equal([4, 5]);
    expect(d.teachers!.big.train).to.deep.equal({ epochs: 1 });
    expect(d.runs[1].seeds).to.deep.equal([9]);
    expect(d.name).to.equal('smoke');
  });

  it('BAD CALL - a bad --set is a usage error naming it; the overridden design is validated like the file', () => {
    expect(() => parseDesign(text, 'x.yaml', ['train.epochs'])).to.throw(/--set train.epochs: expected PATH=VALUE/);
    expect(() => parseDesign(text, 'x.yaml', ['runs[5].seeds=[1]'])).to.throw(/--set runs\[5\].seeds=\[1\]: runs\[5\] does not exist/);
    expect(() => parseDesign(text, 'x.yaml', ['train.epochz=2'])).to.throw(/x.yaml: train.epochz: unknown key/);
    expect(() => parseDesign(text, 'x.yaml', ['train.epochs=two'])).to.throw(/train.epochs/);
  });

  it('the CLI records the overrides in plan.json', async () => {
    await withTmpDir('set', async (dir) => {
      const f = path.join(dir, 'd.yaml');
      fs.writeFileSync(f, text.replace('data: fashion-mnist', 'data: fashion-mnist:data/fashion-mnist-subset'));
      const r = await cli(['experiment', f, '--out', path.join(dir, 'o'), '--dry-run', '--json', '--set', 'seeds=[1]', '--set', 'runs[1].seeds=[1]']);
      expect(r.code, r.stderr).to.equal(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.plan.design.overrides).to.deep.equal(['seeds=[1]', 'runs[1].seeds=[1]']);
      expect(doc.plan.runs).to.have.length(2);
    });
  });
});
