/**
 * The slice of `npm run faults` (scripts/faults.ts) that runs in `npm test`: crafted safetensors
 * headers, the bad-input matrix and checkpoint corruptions in-process (fast), and short kill -9
 * chains of the real train CLI. Cache corruptions, concurrent writers, disk full and precompute
 * kills have their own test files here and in test/cache/kill.test.ts.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badInputs } from '../../scripts/faults/bad-inputs.js';
import { checkpointCorruptions } from '../../scripts/faults/checkpoints.js';
import { runCraftedHeaders } from '../../scripts/faults/headers.js';
import { killTrain, oneClearLine } from '../../scripts/faults/suite.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { cli } from '../cli/train-helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const DATA = 'synthetic:256:4:8x8x1:5';
const TRAIN = ['train', '--data', DATA, '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '32', '--epochs', '2', '--loss', 'ce', '--backend', 'wasm', '--progress', 'off'];

describe('reliability: the faults slice (scripts/faults.ts)', function () {
  this.timeout(600000);
  let root: string;
  before(() => {
    root = tmpDir('slice');
  });
  after(() => rmDir(root));

  it('1 000 crafted safetensors headers: every one accepted and read inside the file, or refused with a SafetensorsError', () => {
    const f = runCraftedHeaders(path.join(root, 'headers'), 1000, 14);
    console.log(`      ${f.cases} crafted: ${f.accepted} valid, ${f.refused} refused, ${f.unclean} unclean`);
    expect(f.unclean, f.examples.join('\n')).to.equal(0);
    expect(f.refused).to.be.above(800);
  });

  it('the bad-input matrix: every command, every bad input → exit 2, one line, nothing written', async () => {
    const teacher = writeTinyTeacher(root, { numClasses: 3 });
    const cache = path.join(root, 'cache');
    expect((await cli('precompute', '--teacher', teacher, '--data', 'synthetic:40:3:4x4x1', '--out', cache, '--device', 'cpu', '--progress', 'off')).code).to.equal(0);
    const run = path.join(root, 'run');
    expect((await cli(...TRAIN, '--out', run)).code).to.equal(0);
    const design = path.join(root, 'd.yaml');
    fs.writeFileSync(design, 'data: synthetic:64:3:8x8x1\nmodel: mlp\nseeds: [1]\ntrain: { epochs: 1 }\nruns:\n  - { name: base, kind: baseline }\n');
    const scratch = path.join(root, 'scratch');
    fs.mkdirSync(scratch);
    const bad: string[] = [];
    const cases = badInputs({ teacher, data: 'synthetic:40:3:4x4x1', cache, run, runData: DATA, design, scratch });
    for (const [label, args] of cases) {
      const r = await cli(...args);
      const wrote = fs.existsSync(path.join(scratch, 'never'));
      if (r.code !== 2 || !oneClearLine(r.err) || wrote) bad.push(`${label}: exit ${r.code}${wrote ? ', wrote files' : ''}: ${r.err.trim()}`);
      fs.rmSync(path.join(scratch, 'never'), { recursive: true, force: true });
    }
    console.log(`      ${cases.length - bad.length}/${cases.length} bad inputs: exit 2, one line`);
    expect(bad, bad.join('\n')).to.deep.equal([]);
  });

  it('checkpoint corruptions: eval, export and train --resume refuse each, naming the file', async () => {
    const run = path.join(root, 'ck-run');
    const other = path.join(root, 'ck-other');
    expect((await cli(...TRAIN, '--seed', '1', '--out', run)).code).to.equal(0);
    expect((await cli(...TRAIN, '--seed', '9', '--out', other)).code).to.equal(0);
    const bad: string[] = [];
    const cases = checkpointCorruptions(30, 14);
    for (const [n, c] of cases.entries()) {
      const dir = path.join(root, `ck-${n}`);
      fs.cpSync(run, dir, { recursive: true });
      c.apply(dir, other);
      const consumers: string[][] = [
        ['eval', dir, '--data', DATA, '--checkpoint', c.checkpoint, '--backend', 'wasm'],
        ['export', dir, '--checkpoint', c.checkpoint, '--out', path.join(dir, 'm.onnx')],
      ];
      if (c.checkpoint === 'last') consumers.push(['train', '--out', dir, '--resume', '--epochs', '3', '--progress', 'off']);
      for (const args of consumers) {
        const r = await cli(...args);
        if (r.code === 0) bad.push(`${args[0]} accepted: ${c.name}`);
        else if (!r.err.includes(c.file) || !oneClearLine(r.err)) bad.push(`${args[0]}: ${c.name}: ${r.err.trim()}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`      ${cases.length} checkpoint corruptions: ${bad.length} accepted or not named`);
    expect(bad, bad.join('\n')).to.deep.equal([]);
  });

  it('kill -9 of train at 6 seeded points (creation, checkpoint swaps, steps): resumed byte-identical', () => {
    const k = killTrain(root, 6, 14);
    console.log(`      ${k.points.join(', ')} → ${k.landed}/${k.kills} landed, identical ${k.identical}`);
    expect(k.landed).to.equal(k.kills);
    expect(k.differences).to.deep.equal([]);
  });
});
