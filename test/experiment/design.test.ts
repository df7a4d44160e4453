import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runnerFactory } from '../../src/cli/commands/experiment.js';
import { parseDesign } from '../../src/experiment/design.js';
import { resolveLoss } from '../../src/experiment/design-schema.js';
import { FakeRunner } from './fake-runner.js';
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

/** The error parseDesign throws for `text`, checked to be a usage error (exit 2). */
function usageOf(text: string, name: string): Error {
  let err: unknown;
  try {
    parseDesign(text, name);
  } catch (e) {
    err = e;
  }
  expect(err, 'parseDesign should throw').to.be.instanceOf(Error);
  expect((err as { exitCode?: number }).exitCode).to.equal(2);
  return err as Error;
}

function expectUsage(text: string, name: string, ...fragments: string[]): void {
  const err = usageOf(text, name);
  for (const f of fragments) expect(err.message).to.include(f);
}

/** parseDesign refuses `text` (exit 2) with exactly these problem lines, in this order, and nothing else. */
function expectRefusal(text: string, name: string, ...lines: string[]): void {
  expect(usageOf(text, name).message.split('\n').map((l) => l.trim())).to.deep.equal(lines);
}

/** A protocol design on Fashion-MNIST (nothing is opened by parseDesign), with `extra` lines. */
const PROTO = (...extra: string[]): string => ['data: fashion-mnist', 'model: mlp', 'seeds: [1]', 'train: { epochs: 1, limit: 300 }', 'validation: { fraction: 0.1 }', ...extra].join('\n');

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

  it('BAD CALL - a sweep point outside the loss\'s bounds (a run\'s own sweep, sweep.grids, a kd point, a sweep_from run) names the run and the point', () => {
    expectRefusal(PROTO('runs: [ { name: a, kind: lsr, sweep: { epsilon: [0.1, 1.5] } } ]'), 'x.yaml', 'x.yaml: runs[0].sweep: run "a", point { epsilon: 1.5 }: --epsilon 1.5: must be ≥ 0 and < 1 (loss lsr reads --epsilon)');
    expectRefusal(PROTO('sweep: { grids: { lsr: { epsilon: [-0.5] } } }', 'runs: [ { name: a, kind: lsr } ]'), 'x.yaml', 'x.yaml: sweep.grids.lsr: run "a", point { epsilon: -0.5 }: --epsilon -0.5: must be ≥ 0 and < 1 (loss lsr reads --epsilon)');
    // A bad value in a product is named once, with the first point that has it; a list of points likewise.
    const kd = (sweep: string) => PROTO('teachers: { t: { model: mlp } }', `runs: [ { name: k, kind: kd, teacher: t, sweep: ${sweep} } ]`);
    expectRefusal(kd('{ alpha: [0.5, 2], temperature: [2, 4] }'), 'x.yaml', 'x.yaml: runs[0].sweep: run "k", point { alpha: 2, temperature: 2 }: --alpha 2: must be ≥ 0 and ≤ 1 (loss kd reads --alpha, --temperature)');
    expectRefusal(kd('[{ alpha: 0.5 }, { alpha: 2 }]'), 'x.yaml', 'x.yaml: runs[0].sweep: run "k", point { alpha: 2 }: --alpha 2: must be ≥ 0 and ≤ 1 (loss kd reads --alpha, --temperature)');
    // A fixed value out of bounds is named once, at loss:, not again for every point.
    expectRefusal(PROTO('runs: [ { name: a, kind: kd, teacher: t, loss: { temperature: -1 }, sweep: { alpha: [2] } } ]', 'teachers: { t: { model: mlp } }'), 'x.yaml', 'x.yaml: runs[0].loss: --temperature -1: must be > 0 (loss kd reads --alpha, --temperature)');
    // sweep_from: the chosen point is trained over the taking run's options and loss — named there only
    // when the sweeping run itself is fine with it (dkd's α has no upper bound, kd's has), else once.
    const from = (src: string) => PROTO('teachers: { t: { model: mlp } }', `runs: [ { name: s, ${src}, teacher: t, sweep: { alpha: [1, 2] } }, { name: k, kind: kd, teacher: t, sweep_from: s } ]`);
    expectRefusal(from('kind: dkd'), 'x.yaml', 'x.yaml: runs[1].sweep_from: run "k", point { alpha: 2 } of run "s": --alpha 2: must be ≥ 0 and ≤ 1 (loss kd reads --alpha, --temperature)');
    expectRefusal(from('kind: kd'), 'x.yaml', 'x.yaml: runs[0].sweep: run "s", point { alpha: 2 }: --alpha 2: must be ≥ 0 and ≤ 1 (loss kd reads --alpha, --temperature)');
    // In bounds, the same designs pass.
    expect(() => parseDesign(PROTO('runs: [ { name: a, kind: lsr, sweep: { epsilon: [0.1, 0.5] } } ]'), 'x.yaml')).to.not.throw();
    expect(() => parseDesign(kd('{ alpha: [0.5, 1], temperature: [2, 4] }'), 'x.yaml')).to.not.throw();
  });

  it('BAD CALL - train options the trainer would refuse: augment and layer_groups (top level, a run\'s, a teacher\'s), with the valid forms', () => {
    const forms = '(augmentation spec: comma-separated "crop:P" (zero padding P), "rrc[:SMIN-SMAX[:RMIN-RMAX]]" (RandomResizedCrop), "flip", "randaugment[:OPS[:M[:BINS]]]", "trivialaugment[:BINS]", "autoaugment[:imagenet|cifar10|svhn]", "mixup[:ALPHA]", "cutmix[:ALPHA]", "switch-prob:P", "mix-prob:P", "none", or JSON';
    let err: unknown;
    try {
      parseDesign(variant('train: { epochs: 2, limit: 100 }', 'train: { epochs: 2, limit: 100, augment: bogus }'), 'x.yaml');
    } catch (e) {
      err = e;
    }
    expect((err as { exitCode?: number }).exitCode).to.equal(2);
    expect((err as Error).message).to.satisfy((m: string) => m.startsWith(`x.yaml: train.augment: unknown augmentation "bogus" in "bogus" ${forms}`));
    expect((err as Error).message.split('\n')).to.have.length(1);
    expectUsage(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, train: { augment: "crop:4,flop" } }'), 'x.yaml', 'x.yaml: runs[0].train.augment: unknown augmentation "flop" in "crop:4,flop" (augmentation spec:');
    expectUsage(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3, train: { augment: "crop:99" } }'), 'x.yaml', 'x.yaml: teachers.big.train.augment: crop padding 99 too large (max 64) (augmentation spec:');
    expectRefusal(variant('train: { epochs: 2, limit: 100 }', 'train: { epochs: 2, limit: 100, layer_decay: 0.7, layer_groups: vitt }'), 'x.yaml', 'x.yaml: train.layer_groups: "vitt" is neither a preset (vit, swin, convnext, torchvision-vit, torchvision-convnext, torchvision-swin) nor JSON');
    const good = parseDesign(variant('train: { epochs: 2, limit: 100 }', 'train: { epochs: 2, limit: 100, augment: "crop:4,flip", layer_decay: 0.7, layer_groups: vit }'), 'x.yaml');
    expect(good.train).to.include({ augment: 'crop:4,flip', layer_groups: 'vit' });
  });

  it('BAD CALL - a hold-out that leaves nothing to train or validate on (size ≥ subset, a fraction of a tiny subset)', () => {
    const v = (block: string) => PROTO('runs: [ { name: b, kind: baseline } ]').replace('validation: { fraction: 0.1 }', `validation: ${block}`);
    expectRefusal(v('{ size: 1000, subset: 500 }'), 'x.yaml', 'x.yaml: validation.size: 1000 held-out images out of a subset of 500 leaves nothing to train on (size must be below subset)');
    expectRefusal(v('{ size: 500, subset: 500 }'), 'x.yaml', 'x.yaml: validation.size: 500 held-out images out of a subset of 500 leaves nothing to train on (size must be below subset)');
    expectRefusal(v('{ fraction: 0.1, subset: 4 }'), 'x.yaml', 'x.yaml: validation.fraction: 0 held-out images out of a subset of 4 leaves nothing to validate on (raise fraction or subset)');
    expectRefusal(v('{ subset: 1 }'), 'x.yaml', 'x.yaml: validation.subset: 0 held-out images out of a subset of 1 leaves nothing to validate on (raise fraction or subset)');
    expect(() => parseDesign(v('{ size: 499, subset: 500 }'), 'x.yaml')).to.not.throw();
    expect(() => parseDesign(v('{ fraction: 0.1, subset: 5 }'), 'x.yaml')).to.not.throw();
  });

  it('BAD CALL - save_at and de-kd checkpoints past the last epoch of the teacher that saves them', () => {
    expectRefusal(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3, train: { epochs: 1 }, save_at: [1, 5] }'), 'x.yaml', 'x.yaml: teachers.big.save_at: epoch 5 is past the last epoch of teacher "big" (train.epochs 1), never reached; save at epochs ≤ 1 or raise its epochs');
    expectRefusal(variant('checkpoints: [1]', 'checkpoints: [epoch-2, 3, 4]'), 'x.yaml', 'x.yaml: runs[2].checkpoints: epoch 3, 4 are past the last epoch of teacher "big" (train.epochs 2), never reached; save at epochs ≤ 2 or raise its epochs');
    // A run as the teacher: its own epochs; without epochs anywhere, the trainer's default (10).
    expectRefusal(`${GOOD}\n  - { name: d2, kind: de-kd, teacher: baseline, checkpoints: [3], train: { epochs: 9 } }\n`.replace('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, train: { epochs: 2 } }'), 'x.yaml', 'x.yaml: runs[3].checkpoints: epoch 3 is past the last epoch of teacher "baseline" (train.epochs 2), never reached; save at epochs ≤ 2 or raise its epochs');
    expectRefusal(GOOD.replace('train: { epochs: 2, limit: 100 }', 'train: { limit: 100 }').replace('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3, save_at: [11] }'), 'x.yaml', 'x.yaml: teachers.big.save_at: epoch 11 is past the last epoch of teacher "big" (the trainer\'s default of 10 epochs), never reached; save at epochs ≤ 10 or raise its epochs');
    expectRefusal(`${GOOD}\n  - { name: r1, kind: baseline, train: { epochs: 1 } }\n`.replace('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3 }\n  r: { run: r1, save_at: [2] }'), 'x.yaml', 'x.yaml: teachers.r.save_at: epoch 2 is past the last epoch of teacher "r" (train.epochs 1), never reached; save at epochs ≤ 1 or raise its epochs');
    // Steps depend on the data (left to the trainer); --epochs in args is not seen into.
    expect(() => parseDesign(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3, save_at: [step-999999] }'), 'x.yaml')).to.not.throw();
    expect(() => parseDesign(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3, train: { args: [--epochs, "8"] }, save_at: [5] }'), 'x.yaml')).to.not.throw();
    expect(() => parseDesign(variant('big: { model: cnn, seed: 3 }', 'big: { model: cnn, seed: 3, save_at: [1, 2] }'), 'x.yaml')).to.not.throw();
  });

  it('BAD CALL - a seed listed twice (top level and per run)', () => {
    expectRefusal(variant('seeds: [1, 2]', 'seeds: [1, 2, 1]'), 'x.yaml', 'x.yaml: seeds: seed 1 is listed twice');
    expectRefusal(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, seeds: [4, 4] }'), 'x.yaml', 'x.yaml: runs[0].seeds: seed 4 is listed twice');
  });

  // They were passed to tfkd train, recorded in config.json and not read; the trainer now refuses them.
  it('BAD CALL - train options a run would not read (momentum under Adam, milestones or γ without a step schedule), at the key that sets them', () => {
    expectRefusal(
      variant('{ name: kd, kind: kd, teacher: big }', '{ name: kd, kind: kd, teacher: big, train: { optimizer: adam, momentum: 0.5 } }'),
      'x.yaml',
      "x.yaml: runs[1].train.momentum: not read by run \"kd\": optimizer adam has no momentum (only sgd reads it; Adam's is its β1, 0.9)",
    );
    // The top level's reaches every run; a teacher trained here is checked as a run.
    expectRefusal(
      variant('train: { epochs: 2, limit: 100 }', 'train: { epochs: 2, limit: 100, milestones: [1], gamma: 0.5 }'),
      'x.yaml',
      'x.yaml: train.milestones: not read by run "baseline", run "kd", run "sweep", teacher "big": schedule cosine has no milestones (only step reads them)',
      'x.yaml: train.gamma: not read by run "baseline", run "kd", run "sweep", teacher "big": schedule cosine has no milestones to decay the lr at (only step reads it)',
    );
    // Where they act, at their defaults, or left to args: accepted.
    for (const ok of ['train: { epochs: 2, limit: 100, schedule: step, milestones: [1], gamma: 0.5 }', 'train: { epochs: 2, limit: 100, optimizer: adam, momentum: 0.9 }', 'train: { epochs: 2, limit: 100, momentum: 0.5, args: [--optimizer, adam] }']) {
      expect(() => parseDesign(variant('train: { epochs: 2, limit: 100 }', ok), 'x.yaml'), ok).to.not.throw();
    }
  });

  it("fidelity: a top-level mode trains kinds whose two modes agree as paper (the same step key); BAD CALL - a run's own official on such a kind", () => {
    expect(resolveLoss('dkd', { fidelity: 'official' }, undefined)).to.deep.equal(resolveLoss('dkd', { fidelity: 'paper' }, undefined));
    expect(resolveLoss('kd', { fidelity: 'official', logit_standardization: true }, undefined).fidelity).to.equal('paper');
    expect(resolveLoss('kd', { fidelity: 'official' }, undefined).fidelity).to.equal('official');
    expectRefusal(
      `${GOOD}  - { name: d, kind: dkd, teacher: big, loss: { fidelity: official } }\n`,
      'x.yaml',
      'x.yaml: runs[3].loss.fidelity: kind "dkd" computes the same in both fidelity modes (official would not act)',
    );
    expect(() => parseDesign(`${GOOD}  - { name: d, kind: dkd, teacher: big, loss: { fidelity: paper } }\n`, 'x.yaml')).to.not.throw();
  });

  // Accepted and left out of the plan: the same step keys as without them.
  it('BAD CALL - a precompute: block on a run that learns from no cache, a default grid no run takes, a sweep seed with nothing swept', () => {
    expectRefusal(variant('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, precompute: { dtype: f16 } }'), 'x.yaml', 'x.yaml: runs[0].precompute: kind "baseline" learns from no teacher cache');
    expect(() => parseDesign(variant('{ name: kd, kind: kd, teacher: big }', '{ name: kd, kind: kd, teacher: big, precompute: { dtype: f16 } }'), 'x.yaml')).to.not.throw();
    expectRefusal(PROTO('sweep: { grids: { lsr: { epsilon: [0.1, 0.2] } } }', 'runs:', '  - { name: b, kind: baseline }'), 'x.yaml', 'x.yaml: sweep.grids.lsr: no run of kind "lsr" takes it (none, or each has its own sweep: or sweep: false)');
    expectRefusal(PROTO('sweep: { seed: 3 }', 'runs:', '  - { name: b, kind: baseline }'), 'x.yaml', 'x.yaml: sweep.seed: no run is swept (no sweep: of its own, no sweep.grids entry of its kind); it would seed nothing');
    expect(() => parseDesign(PROTO('sweep: { seed: 3, grids: { lsr: { epsilon: [0.1, 0.2] } } }', 'runs:', '  - { name: l, kind: lsr }'), 'x.yaml')).to.not.throw();
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

  it('BAD CALL - designs that used to fail at run time exit 2 before anything is written or run (CLI, without --dry-run)', async () => {
    const saved = runnerFactory.create;
    const runner = new FakeRunner();
    runnerFactory.create = () => runner;
    try {
      const data = 'fashion-mnist:data/fashion-mnist-subset';
      const d = (...extra: string[]) => PROTO(...extra).replace('data: fashion-mnist', `data: ${data}`);
      const cases: Array<[string, string]> = [
        [d('runs: [ { name: a, kind: lsr, sweep: { epsilon: [0.1, 1.5] } } ]'), 'runs[0].sweep: run "a", point { epsilon: 1.5 }: --epsilon 1.5: must be ≥ 0 and < 1'],
        [d('runs: [ { name: b, kind: baseline, train: { augment: bogus } } ]'), 'runs[0].train.augment: unknown augmentation "bogus" in "bogus" (augmentation spec:'],
        [d('runs: [ { name: b, kind: baseline } ]').replace('{ fraction: 0.1 }', '{ size: 1000, subset: 500 }'), 'validation.size: 1000 held-out images out of a subset of 500 leaves nothing to train on'],
        [d('teachers: { t: { model: mlp, save_at: [5] } }', 'runs: [ { name: k, kind: kd, teacher: t } ]'), 'teachers.t.save_at: epoch 5 is past the last epoch of teacher "t" (train.epochs 1), never reached'],
        [d('runs: [ { name: b, kind: baseline } ]').replace('seeds: [1]', 'seeds: [1, 1]'), 'seeds: seed 1 is listed twice'],
        // The data set's size is known to the preflight, which opens it (3000 training images here).
        [d('runs: [ { name: b, kind: baseline } ]').replace('{ fraction: 0.1 }', '{ subset: 5000 }'), `validation.subset: 5000 exceeds the 3000 training images of ${data}`],
        [d('runs: [ { name: b, kind: baseline } ]').replace('{ fraction: 0.1 }', '{ size: 3000 }'), `validation.size: 3000 held-out images out of the 3000 training images of ${data} leaves nothing to train on`],
      ];
      for (const [i, [text, msg]] of cases.entries()) {
        const f = path.join(dir, `late-${i}.yaml`);
        const out = path.join(dir, `late-out-${i}`);
        fs.writeFileSync(f, text);
        const r = await cli(['experiment', f, '--out', out]);
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stderr).to.include(`tfkd: ${f}: ${msg}`);
        expect(fs.existsSync(out), `nothing is written for ${f}`).to.equal(false);
      }
      expect(runner.calls, 'nothing ran').to.deep.equal({ train: 0, export: 0, precompute: 0 });
    } finally {
      runnerFactory.create = saved;
    }
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
