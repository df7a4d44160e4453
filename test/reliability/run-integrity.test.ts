/**
 * Issue 14, findings 2–3: `train --resume`, `eval`, `export` and `repro` check the caches and
 * checkpoints a run recorded; `verify` recomputes the key; `experiment` re-verifies what it reuses.
 * Every mismatch is exit 1 naming the file and what differs.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST } from '../../src/cache/manifest.js';
import { parseDesign } from '../../src/experiment/design.js';
import { executePlan } from '../../src/experiment/execute.js';
import { recordPath } from '../../src/experiment/step-records.js';
import { expandDesign } from '../../src/experiment/plan.js';
import type { PrecomputeStep } from '../../src/experiment/plan-types.js';
import { cli } from '../cli/train-helpers.js';
import { FakeRunner } from '../experiment/fake-runner.js';
import { DATA, tmpDir, writeImageCache } from '../student/trainer/trainer-helpers.js';

const TINY = ['--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '64', '--backend', 'wasm', '--progress', 'off'];

/** Flips one bit in the middle of a file. */
function flipMiddle(file: string): void {
  const b = fs.readFileSync(file);
  b[Math.floor(b.length / 2)] ^= 0x10;
  fs.writeFileSync(file, b);
}

describe('reliability: runs check what they recorded (resume, eval, export, repro, experiment)', function () {
  this.timeout(180000);
  let root: string;
  let cache: string;
  let other: string;
  let done: string;
  before(async () => {
    root = tmpDir('run-integrity');
    cache = path.join(root, 'cache');
    other = path.join(root, 'other-teacher');
    await writeImageCache(cache);
    await writeImageCache(other, { teacherSha: 'b'.repeat(64), logitScale: 2 });
    done = path.join(root, 'done');
    const r = await cli('train', ...TINY, '--loss', 'kd', '--cache', cache, '--epochs', '2', '--out', done);
    expect(r.code, r.err).to.equal(0);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const copyRun = (name: string): string => {
    const dst = path.join(root, name);
    fs.cpSync(done, dst, { recursive: true });
    return dst;
  };

  it('EXPECTED FAILURE - train --resume with another teacher\'s cache at the recorded path: exit 1, the run\'s record untouched', async () => {
    const swapped = path.join(root, 'swapped-cache');
    fs.cpSync(cache, swapped, { recursive: true });
    const run = path.join(root, 'resume-swap');
    const first = await cli('train', ...TINY, '--loss', 'kd', '--cache', swapped, '--epochs', '3', '--stop-after', '1', '--out', run);
    expect(first.code, first.err).to.equal(0);
    fs.rmSync(swapped, { recursive: true });
    fs.cpSync(other, swapped, { recursive: true });
    const before = fs.readFileSync(path.join(run, 'manifest.json'), 'utf8');
    const r = await cli('train', '--out', run, '--resume', '--progress', 'off');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(new RegExp(`cache ${swapped} is not the cache the run trained on: its key is [0-9a-f]{16}…, ${run}/manifest.json records [0-9a-f]{16}…`));
    expect(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8')).to.equal(before);
  });

  it('EXPECTED FAILURE - train --resume with a changed last checkpoint: exit 1 naming the weights file', async () => {
    const run = path.join(root, 'resume-ck');
    expect((await cli('train', ...TINY, '--loss', 'ce', '--epochs', '3', '--stop-after', '1', '--out', run)).code).to.equal(0);
    flipMiddle(path.join(run, 'checkpoints/last/weights.safetensors'));
    const r = await cli('train', '--out', run, '--resume', '--progress', 'off');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/checkpoints\/last\/weights\.safetensors changed after it was written: sha256 [0-9a-f]{16}…, \S*checkpoints\/last\/state\.json recorded [0-9a-f]{16}…/);
  });

  for (const cmd of ['eval', 'export'] as const) {
    const args = (run: string) => (cmd === 'eval' ? ['eval', run, '--data', DATA, '--backend', 'wasm'] : ['export', run, '--out', path.join(root, `${path.basename(run)}.onnx`)]);
    it(`EXPECTED FAILURE - ${cmd} of a run whose checkpoint changed after training: exit 1 naming the file (also when state.json is resealed)`, async () => {
      const a = copyRun(`${cmd}-flip`);
      flipMiddle(path.join(a, 'checkpoints/best/weights.safetensors'));
      const r1 = await cli(...args(a));
      expect(r1.code, r1.out).to.equal(1);
      expect(r1.err).to.match(/checkpoints\/best\/weights\.safetensors changed after it was written/);
      // Another run's checkpoint copied in whole (its own hashes consistent): the run's record differs.
      const b = copyRun(`${cmd}-swap`);
      const donor = path.join(root, `${cmd}-donor`);
      expect((await cli('train', ...TINY, '--loss', 'ce', '--epochs', '1', '--seed', '9', '--out', donor)).code).to.equal(0);
      fs.rmSync(path.join(b, 'checkpoints/best'), { recursive: true });
      fs.cpSync(path.join(donor, 'checkpoints/best'), path.join(b, 'checkpoints/best'), { recursive: true });
      const r2 = await cli(...args(b));
      expect(r2.code).to.equal(1);
      expect(r2.err).to.match(/checkpoints\/best\/weights\.safetensors changed after training: sha256 [0-9a-f]{16}…, .*manifest\.json recorded/);
      // The untouched run still works.
      expect((await cli(...args(done))).code).to.equal(0);
    });
  }

  it('EXPECTED FAILURE - repro with another teacher\'s cache at the recorded path: exit 1 naming the cache', async () => {
    const swapped = path.join(root, 'repro-cache');
    fs.cpSync(cache, swapped, { recursive: true });
    const run = path.join(root, 'repro-run');
    expect((await cli('train', ...TINY, '--loss', 'kd', '--cache', swapped, '--epochs', '1', '--out', run)).code).to.equal(0);
    fs.rmSync(swapped, { recursive: true });
    fs.cpSync(other, swapped, { recursive: true });
    const r = await cli('repro', run);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/cache .*repro-cache is not the cache the run trained on/);
  });

  it('EXPECTED FAILURE - verify recomputes the key and the checksum: edits to teacher.sha256, teacher.file, preprocess, augment, data.* fail it (exit 1)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form edits of parsed JSON
    const edits: Array<[string, (m: Record<string, any>) => void]> = [
      ['teacher.sha256', (m) => (m.teacher.sha256 = 'e'.repeat(64))],
      ['teacher.file', (m) => (m.teacher.file = 'other.onnx')],
      ['preprocess', (m) => (m.preprocess.scale = 1)],
      ['augment', (m) => (m.augment = { spec: 'flip', seed: 1 })],
      ['data.spec', (m) => (m.data.spec = 'mnist')],
      ['data.fingerprint', (m) => (m.data.fingerprint = 'x')],
      ['data.split', (m) => (m.data.split = 'test')],
    ];
    for (const [what, edit] of edits) {
      const dir = path.join(root, `edit-${what}`);
      fs.cpSync(cache, dir, { recursive: true });
      const f = path.join(dir, MANIFEST);
      const m = JSON.parse(fs.readFileSync(f, 'utf8'));
      edit(m);
      fs.writeFileSync(f, JSON.stringify(m, null, 2));
      const r = await cli('verify', dir);
      expect(r.code, `${what}: ${r.out}`).to.equal(1);
      expect(r.out + r.err, what).to.match(/manifest\.json: (key .* recomputed from its fields|checksum .* of its fields)/);
    }
  });

  it('EXPECTED FAILURE - experiment: a reused cache replaced by another teacher\'s fails its step (exit 1 naming the file); the others are reused', async () => {
    const design = parseDesign(
      `data: synthetic:200:10:8x8x1\nmodel: mlp\nseeds: [1]\ntrain: { epochs: 1 }\nteachers:\n  big: { model: cnn, seed: 3 }\nruns:\n  - { name: kd, kind: kd, teacher: big }\n  - { name: base, kind: baseline }\n`,
      'x.yaml',
    );
    const plan = expandDesign({ file: 'x.yaml', dir: '/nonexistent', design });
    const dir = path.join(root, 'exp');
    const r1 = await executePlan(plan, { outDir: dir, runner: new FakeRunner() });
    expect(r1.failed).to.equal(0);
    const pc = plan.steps.find((s) => s.type === 'precompute') as PrecomputeStep;
    expect(fs.existsSync(recordPath(dir, pc))).to.equal(true);
    // Another teacher's cache in its place (the fake runner's manifest names its teacher).
    fs.writeFileSync(path.join(dir, pc.dir, 'manifest.json'), JSON.stringify({ teacher: '/elsewhere/other.onnx' }));
    // And the kd student unfinished, so that it would have to train from that cache.
    const kd = plan.steps.find((x) => x.type === 'train' && x.inputs.includes(pc.key))!;
    fs.rmSync(path.join(dir, (kd as { dir: string }).dir, 'summary.json'));
    const runner = new FakeRunner();
    const r2 = await executePlan(plan, { outDir: dir, runner });
    const o = r2.outcomes.find((x) => x.key === pc.key)!;
    expect(o.status).to.equal('failed');
    expect(o.error).to.match(new RegExp(`reused precompute output .*${pc.dir}/manifest\\.json changed since the step finished`));
    expect(r2.outcomes.find((x) => x.key === kd.key)!.status).to.equal('blocked');
    expect(r2.failed).to.equal(1);
    expect(runner.calls).to.deep.equal({ train: 0, export: 0, precompute: 0 });
  });
});
