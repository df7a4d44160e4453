/**
 * Issue 14, finding 7: one clear line for every failure — bad `--out` targets are exit 2, a full
 * disk names the file (exit 1, and the same command resumes), design-file mistakes are found
 * before anything is written, `--verbose` adds the stack.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { expectSameBytes, snapshot } from '../cache/helpers.js';
import { cli } from '../cli/train-helpers.js';
import { DATA, writeImageCache } from '../student/trainer/trainer-helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRAIN = ['train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '64', '--test-limit', '16', '--epochs', '1', '--backend', 'wasm', '--loss', 'ce', '--progress', 'off'];

/** One `tfkd: …` line, optionally a `hint: …` line, nothing else (no stack, no internal message). */
function expectOneLine(err: string): void {
  const lines = err.trimEnd().split('\n');
  expect(lines[0], err).to.match(/^tfkd: /);
  expect(lines.length, err).to.be.at.most(2);
  if (lines[1]) expect(lines[1], err).to.match(/^hint: /);
  expect(err).to.not.match(/Cannot read properties|undefined|outside data|\bat .*\.ts:\d+/);
}

function sh(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

describe('reliability: one clear line per failure', function () {
  this.timeout(180000);
  let root: string;
  let teacher: string;
  let cache: string;
  let run: string;
  let aFile: string;
  before(async () => {
    root = tmpDir('msg');
    teacher = writeTinyTeacher(root, { numClasses: 3 });
    cache = path.join(root, 'cache');
    await writeImageCache(cache);
    run = path.join(root, 'run');
    expect((await cli(...TRAIN, '--out', run)).code).to.equal(0);
    aFile = path.join(root, 'a-file');
    fs.writeFileSync(aFile, 'not a directory');
  });
  after(() => rmDir(root));

  it('EXPECTED FAILURE - an --out that is a file (or under one): exit 2, one line, for every writing command', async () => {
    const pc = ['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--device', 'cpu', '--progress', 'off'];
    const design = path.join(root, 'd.yaml');
    fs.writeFileSync(design, 'data: synthetic:64:3:8x8x1\nmodel: mlp\nseeds: [1]\ntrain: { epochs: 1 }\nruns:\n  - { name: base, kind: baseline }\n');
    const cases: string[][] = [
      [...pc, '--out', aFile],
      [...pc, '--out', path.join(aFile, 'sub')],
      [...TRAIN, '--out', aFile],
      [...TRAIN, '--out', path.join(aFile, 'sub')],
      ['merge', cache, '--out', aFile],
      ['experiment', design, '--out', aFile],
      ['report', root, '--out', aFile],
      ['export', run, '--out', path.join(aFile, 'm.onnx')],
    ];
    for (const args of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
      expectOneLine(r.err);
      expect(r.err, args.join(' ')).to.match(/is a file, not a directory|a parent of it is a file|whole cache/);
    }
    expect(fs.readFileSync(aFile, 'utf8')).to.equal('not a directory');
  });

  it('EXPECTED FAILURE - an --out that cannot be written (immutable directory): exit 2, one line', async function () {
    const ro = path.join(root, 'immutable');
    fs.mkdirSync(ro);
    if (!sh('chattr', ['+i', ro])) this.skip();
    try {
      for (const args of [
        ['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--device', 'cpu', '--progress', 'off', '--out', path.join(ro, 'c')],
        ['precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--device', 'cpu', '--progress', 'off', '--out', ro],
        [...TRAIN, '--out', path.join(ro, 'r')],
        [...TRAIN, '--out', ro],
      ]) {
        const r = await cli(...args);
        expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
        expectOneLine(r.err);
        expect(r.err).to.match(/not writable: operation not permitted \(EPERM\)/);
      }
    } finally {
      sh('chattr', ['-i', ro]);
    }
  });

  it('EXPECTED FAILURE - a full disk (200 KiB tmpfs): exit 1 naming the file; the same command resumes once there is space, byte-identical', async function () {
    const mnt = path.join(root, 'tmpfs');
    fs.mkdirSync(mnt);
    if (!sh('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt])) this.skip();
    try {
      const args = (out: string) => ['precompute', '--teacher', teacher, '--data', 'synthetic:20000:3:4x4x1:3', '--device', 'cpu', '--shard-rows', '2048', '--progress', 'off', '--out', out];
      const clean = path.join(root, 'full-clean');
      expect((await cli(...args(clean))).code).to.equal(0);
      const out = path.join(mnt, 'c');
      const r = await cli(...args(out));
      expect(r.code, r.err).to.equal(1);
      expectOneLine(r.err);
      expect(r.err).to.match(new RegExp(`^tfkd: ${mnt}/c/(shard-\\d{5}\\.safetensors|progress\\.jsonl|manifest\\.json): no space left on the device \\(ENOSPC\\)\\nhint: free some space, then run the same command again`));
      expect(sh('mount', ['-o', 'remount,size=4m', mnt])).to.equal(true);
      const again = await cli(...args(out));
      expect(again.code, again.err).to.equal(0);
      expectSameBytes(snapshot(clean), snapshot(out));
      // Training into a full disk: the write that fails names its file.
      fs.rmSync(out, { recursive: true, force: true });
      expect(sh('mount', ['-o', 'remount,size=12k', mnt])).to.equal(true);
      const t = await cli(...TRAIN, '--out', path.join(mnt, 'run'));
      expect(t.code, t.err).to.equal(1);
      expectOneLine(t.err);
      expect(t.err).to.match(new RegExp(`^tfkd: ${mnt}/run/\\S+: no space left on the device \\(ENOSPC\\)`));
    } finally {
      sh('umount', [mnt]);
    }
  });

  it('EXPECTED FAILURE - design-file mistakes (bad data:, unknown model:, a text file as onnx: teacher) are exit 2 before anything is written', async () => {
    const text = path.join(root, 'notes.onnx');
    fs.writeFileSync(text, 'this is not a model\n');
    const designs: Array<[string, RegExp]> = [
      [`data: fashion-mnist:${path.join(root, 'nowhere')}\nmodel: mlp\nseeds: [1]\nruns:\n  - { name: base, kind: baseline }\n`, /data: /],
      ['data: synthetic:64:3:8x8x1\nmodel: resnet99\nseeds: [1]\nruns:\n  - { name: base, kind: baseline }\n', /model: unknown model 'resnet99'/],
      [`data: synthetic:64:3:8x8x1\nmodel: mlp\nseeds: [1]\nteachers:\n  t: { onnx: ${text} }\nruns:\n  - { name: kd, kind: kd, teacher: t }\n`, /teachers\.t\.onnx: not an ONNX model/],
    ];
    for (const [i, [yaml, re]] of designs.entries()) {
      const f = path.join(root, `bad-${i}.yaml`);
      fs.writeFileSync(f, yaml);
      const out = path.join(root, `exp-bad-${i}`);
      const r = await cli('experiment', f, '--out', out);
      expect(r.code, r.err).to.equal(2);
      expect(r.err).to.match(re);
      expect(fs.existsSync(out), `${f}: nothing written`).to.equal(false);
    }
  });

  it('--verbose adds the stack to the one line; without it there is none', async () => {
    const r = await cli('--verbose', ...TRAIN, '--out', aFile);
    expect(r.code).to.equal(2);
    expect(r.err).to.match(/^tfkd: --out .* is a file, not a directory\nhint: .*\nUsageError: .*\n\s+at /);
    const q = spawnSync(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...TRAIN, '--out', aFile], { encoding: 'utf8' });
    expect(q.status).to.equal(2);
    expectOneLine(q.stderr);
  });
});
