import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDesign, type LoadedDesign } from '../../src/experiment/design.js';
import { expandDesign } from '../../src/experiment/plan.js';
import { stepKey } from '../../src/experiment/plan-keys.js';
import type { ExportStep, PrecomputeStep, TrainStep } from '../../src/experiment/plan-types.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { tmpDir } from './helpers.js';

const load = (text: string, dir = '/nonexistent'): LoadedDesign => ({ file: 'x.yaml', dir, design: parseDesign(text, 'x.yaml') });

const DESIGN = `
data: synthetic:200:10:8x8x1
model: mlp
seeds: [1, 2]
train: { epochs: 2 }
teachers:
  big: { model: cnn, seed: 3, save_at: [1, 2] }
  weak: { run: baseline }
runs:
  - { name: baseline, kind: baseline }
  - { name: kd, kind: kd, teacher: big }
  - { name: rekd, kind: re-kd, model: cnn, teacher: weak }
  - { name: sweep, kind: de-kd, teacher: big, checkpoints: [1, 2] }
  - { name: target, kind: de-kd, teacher: big, target_accuracies: [0.3] }
  - { name: self, kind: tfkd-self }
  - { name: reg, kind: tfkd-reg }
`;

describe('experiment expansion and keys', () => {
  it('is deterministic: the same design gives the same plan, byte for byte', () => {
    const a = expandDesign(load(DESIGN));
    const b = expandDesign(load(DESIGN));
    expect(canonicalJson(a)).to.equal(canonicalJson(b));
    expect(a.steps.length).to.be.greaterThan(10);
  });

  it('canonical JSON ignores key order; keys change with any value', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).to.equal('{"a":{"c":null,"d":[1,2]},"b":1}');
    expect(stepKey({ a: 1, b: 2 })).to.equal(stepKey({ b: 2, a: 1 }));
    expect(stepKey({ a: 1 })).to.not.equal(stepKey({ a: 2 }));
  });

  it('expands each kind into the expected steps and students', () => {
    const p = expandDesign(load(DESIGN));
    const count = (t: string) => p.steps.filter((s) => s.type === t).length;
    // students: baseline 2, kd 2, rekd 2, sweep 2×2, target 2, self 2, reg 2 = 16
    expect(p.runs).to.have.length(16);
    // train: 16 student steps + the cnn teacher; no extra steps for self's teachers (they ARE the baseline runs)
    expect(count('train')).to.equal(17);
    // exports: big final, big@epoch-1, big@epoch-2, big@acc-0.30, baseline s1 final (= weak = self s1's teacher), baseline s2 final
    expect(count('export')).to.equal(6);
    expect(count('precompute')).to.equal(6);
    // inputs always come first
    const seen = new Set<string>();
    for (const s of p.steps) {
      for (const i of s.inputs) expect(seen.has(i), `${s.label} after its input`).to.equal(true);
      seen.add(s.key);
    }
  });

  it('equal work shares one step: the tfkd-self teacher of seed s is the baseline run of seed s', () => {
    const p = expandDesign(load(DESIGN));
    const base1 = p.runs.find((r) => r.name === 'baseline' && r.seed === 1)!;
    const self1 = p.runs.find((r) => r.name === 'self' && r.seed === 1)!;
    expect(self1.teacher!.name).to.equal('self-mlp-s1');
    const exp = p.steps.find((s) => s.key === self1.teacher!.export)!;
    expect(exp.inputs).to.deep.equal([base1.step]);
    expect(base1.dir).to.match(/^runs\/baseline-s1-[0-9a-f]{8}$/);
  });

  it('a tfkd-self teacher of an onnx: or module student is named by the file, not its path (no directories in its files)', () => {
    const dir = tmpDir('plan-slug');
    fs.mkdirSync(path.join(dir, 'models'));
    fs.writeFileSync(path.join(dir, 'models', 'vit.onnx'), 'bytes');
    fs.writeFileSync(path.join(dir, 'models', 'my-net.mjs'), 'export default () => null;');
    for (const [model, name] of [['onnx:models/vit.onnx', 'self-onnx-vit-s1'], ['./models/my-net.mjs', 'self-my-net-s1']]) {
      const p = expandDesign(load(`data: synthetic:200:10:8x8x1\nmodel: ${model}\nseeds: [1]\nruns:\n  - { name: self, kind: tfkd-self }\n`, dir));
      const self1 = p.runs.find((r) => r.name === 'self')!;
      expect(self1.teacher!.name).to.equal(name);
      const exp = p.steps.find((s) => s.key === self1.teacher!.export)!;
      expect(exp.type).to.equal('export');
      expect((exp as { out: string }).out).to.match(new RegExp(`^teachers/${name}-final-[0-9a-f]{8}\\.onnx$`));
    }
  });

  it('the teacher run keeps every checkpoint asked for; the key does not depend on them', () => {
    const p = expandDesign(load(DESIGN));
    const big = p.steps.find((s) => s.type === 'train' && s.config.model === 'cnn' && s.config.seed === 3) as TrainStep;
    expect(big.save_at).to.deep.equal(['epoch-1', 'epoch-2']);
    expect(big.dir).to.match(/^teachers\/big-s3-/);
    const noSave = expandDesign(load(DESIGN.replace('save_at: [1, 2] ', '').replace('target_accuracies: [0.3]', 'checkpoints: [1]')));
    const big2 = noSave.steps.find((s) => s.type === 'train' && s.config.model === 'cnn' && s.config.seed === 3) as TrainStep;
    expect(big2.key).to.equal(big.key);
  });

  it('a change in one run changes its key and the keys downstream, not the others', () => {
    const a = expandDesign(load(DESIGN));
    const b = expandDesign(load(DESIGN.replace('{ name: baseline, kind: baseline }', '{ name: baseline, kind: baseline, train: { epochs: 3 } }')));
    const key = (p: typeof a, name: string, seed: number) => p.runs.find((r) => r.name === name && r.seed === seed)!.step;
    expect(key(b, 'baseline', 1)).to.not.equal(key(a, 'baseline', 1));
    expect(key(b, 'rekd', 1), 're-kd learns from baseline s1').to.not.equal(key(a, 'rekd', 1));
    expect(key(b, 'kd', 1)).to.equal(key(a, 'kd', 1));
    expect(key(b, 'reg', 2)).to.equal(key(a, 'reg', 2));
  });

  it('an ONNX teacher is keyed by its content, not its path', () => {
    const dir = tmpDir('plan');
    try {
      fs.writeFileSync(path.join(dir, 'a.onnx'), 'model bytes');
      fs.writeFileSync(path.join(dir, 'b.onnx'), 'model bytes');
      const d = (f: string) => `data: synthetic:20:2:2x2x1\nmodel: mlp\nseeds: [1]\nteachers: { t: { onnx: ${f} } }\nruns: [{ name: kd, kind: kd, teacher: t }]\n`;
      const a = expandDesign(load(d('a.onnx'), dir));
      const b = expandDesign(load(d('b.onnx'), dir));
      expect(a.runs[0].step).to.equal(b.runs[0].step);
      expect(() => expandDesign(load(d('missing.onnx'), dir))).to.throw(/teachers\.t\.onnx: file not found/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every loss that reads a teacher (dkd, dist, nkd, ...) learns from its teacher\'s cache, in its sweep and its runs', () => {
    const d = `data: fashion-mnist\nmodel: mlp\nseeds: [1]\nvalidation: { fraction: 0.1, seed: 0 }\nteachers:\n  big: { model: cnn, seed: 3 }\nsweep: { seed: 1, grids: { dkd: { beta: [2, 8] } } }\nruns:\n  - { name: dkd, kind: dkd, teacher: big }\n  - { name: dist, kind: dist, teacher: big }\n  - { name: nkd, kind: nkd, teacher: big }\n  - { name: ps, kind: ps-kd }\n`;
    const plan = expandDesign(load(d));
    const trains = plan.steps.filter((s): s is TrainStep => s.type === 'train' && s.config.loss !== 'ce');
    expect(trains.map((s) => s.config.loss).sort()).to.deep.equal(['dist', 'dkd', 'dkd', 'dkd', 'nkd', 'ps-kd']);
    for (const s of trains) {
      if (s.config.loss === 'ps-kd') expect(s.config.cache).to.equal(null);
      else expect(s.config.cache, s.config.loss).to.be.a('string');
    }
  });

  it('fidelity_teacher: one test-split cache of that teacher; every reported student (de-kd included) measures against it; no key moves, shared work stays shared', () => {
    const plain = expandDesign(load(DESIGN));
    const plan = expandDesign(load(`${DESIGN}fidelity_teacher: big\n`));
    const tests = plan.steps.filter((s): s is PrecomputeStep => s.type === 'precompute' && s.split === 'test');
    expect(tests).to.have.length(1);
    const tc = tests[0];
    // the teacher's final weights: an export of big's run
    const ex = plan.steps.find((s): s is ExportStep => s.key === (tc.teacher as { step: string }).step)!;
    expect(ex).to.include({ checkpoint: null, target: null });
    const big = plan.steps.find((s): s is TrainStep => s.key === ex.run)!;
    expect(big.config).to.include({ model: 'cnn', seed: 3, loss: 'ce' });
    expect(tc.label).to.equal('big-final (test)');
    const measured = plan.steps.filter((s): s is TrainStep => s.type === 'train' && s.test_cache !== undefined);
    expect(new Set(measured.map((s) => s.key))).to.deep.equal(new Set(plan.runs.map((r) => r.step)));
    expect(plan.runs.filter((r) => r.kind === 'de-kd')).to.have.length(6);
    for (const s of measured) {
      expect(s.test_cache).to.deep.equal({ step: tc.key, dir: tc.dir });
      expect(s.inputs).to.include(tc.key);
    }
    expect(big.test_cache, 'a teacher that is no reported student').to.equal(undefined);
    // every key is the plain design's, plus the one new step; the tfkd-self teacher of seed s is still the baseline run of seed s
    expect(plan.steps.map((s) => s.key).filter((k) => k !== tc.key).sort()).to.deep.equal(plain.steps.map((s) => s.key).sort());
    const self = plan.runs.find((r) => r.kind === 'tfkd-self' && r.seed === 1)!;
    const selfCache = plan.steps.find((s): s is PrecomputeStep => s.key === (plan.steps.find((t) => t.key === self.step) as TrainStep).config.cache)!;
    const selfExport = plan.steps.find((s): s is ExportStep => s.key === (selfCache.teacher as { step: string }).step)!;
    expect(selfExport.run).to.equal(plan.runs.find((r) => r.name === 'baseline' && r.seed === 1)!.step);
  });

  it('fidelity_teacher: a run as the teacher is not measured against itself, nor is what it learns from (no cycle); under validation the cache is made from the test side', () => {
    const d = `data: fashion-mnist\nmodel: mlp\nseeds: [1, 2]\nvalidation: { fraction: 0.1, seed: 0 }\nfidelity_teacher: kd\nruns:\n  - { name: base, kind: baseline }\n  - { name: weak, kind: baseline, model: cnn, seeds: [4] }\n  - { name: kd, kind: kd, teacher: weak, seeds: [7] }\n  - { name: rekd, kind: re-kd, teacher: kd }\n`;
    const plan = expandDesign(load(d));
    const tc = plan.steps.find((s): s is PrecomputeStep => s.type === 'precompute' && s.split === 'test')!;
    expect(tc.holdout).to.be.a('string');
    expect(tc.label).to.equal('kd-final (test)');
    const of = (name: string) => plan.runs.filter((r) => r.name === name).map((r) => plan.steps.find((s) => s.key === r.step) as TrainStep);
    for (const name of ['kd', 'weak']) for (const s of of(name)) expect(s.test_cache, name).to.equal(undefined);
    for (const name of ['base', 'rekd']) {
      expect(of(name)).to.have.length(2);
      for (const s of of(name)) expect(s.test_cache?.step, name).to.equal(tc.key);
    }
    for (const s of of('rekd')) expect(s.config.holdout?.eval).to.equal('test');
    // the train step kd's cache comes from is kd s7's, the one reported
    const ex = plan.steps.find((s): s is ExportStep => s.key === (tc.teacher as { step: string }).step)!;
    expect(ex.run).to.equal(plan.runs.find((r) => r.name === 'kd')!.step);
    // the plan is in an order that runs: every input before the step that needs it
    const seen = new Set<string>();
    for (const s of plan.steps) {
      for (const i of s.inputs) expect(seen.has(i), `${s.label} needs ${i.slice(0, 8)}`).to.equal(true);
      seen.add(s.key);
    }
  });

  it('BAD CALL - a teacher cycle is a usage error naming the cycle', () => {
    const d = `data: synthetic:20:2:2x2x1\nmodel: mlp\nseeds: [1]\nruns:\n  - { name: a, kind: kd, teacher: b }\n  - { name: b, kind: kd, teacher: a }\n`;
    expect(() => expandDesign(load(d))).to.throw(/teacher cycle: a → b → a/);
  });
});
