/**
 * experiment/runner.ts: each step's process gets its share of the cores (TFKD_THREADS = cores /
 * jobs, at least 1) unless the user chose TFKD_THREADS; CliRunner passes that environment on.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { register as registerTrain } from '../../src/cli/commands/train.js';
import { CliRunner, precomputeArgs, stepEnv, trainArgs } from '../../src/experiment/runner.js';
import { withTmpDir } from '../helpers/tmp-dir.js';

describe('experiment/runner: threads per step', () => {
  it('stepEnv divides the cores among the jobs, at least 1 each; a TFKD_THREADS the user set wins', () => {
    expect(stepEnv({}, 1, 2).TFKD_THREADS).to.equal('2');
    expect(stepEnv({}, 2, 2).TFKD_THREADS).to.equal('1');
    expect(stepEnv({}, 3, 2).TFKD_THREADS).to.equal('1');
    expect(stepEnv({}, 2, 16).TFKD_THREADS).to.equal('8');
    expect(stepEnv({ TFKD_THREADS: '4', HOME: '/h' }, 2, 2)).to.deep.equal({ TFKD_THREADS: '4', HOME: '/h' });
    expect(stepEnv({ HOME: '/h' }, 2, 2)).to.deep.equal({ HOME: '/h', TFKD_THREADS: '1' });
  });

  it('CliRunner hands that environment to the step process', async () => {
    await withTmpDir('runner', async (dir) => {
      // A stand-in for bin/tfkd.js that prints the variable the kernels read.
      const bin = path.join(dir, 'fake-tfkd.mjs');
      fs.writeFileSync(bin, "console.log(`TFKD_THREADS=${process.env.TFKD_THREADS}`);\n");
      const log = path.join(dir, 'step.log');
      const runner = new CliRunner({ bin, env: stepEnv({ PATH: process.env.PATH }, 2, 2) });
      await runner.precompute({ teacher: 't.onnx', data: 'synthetic:4:2:4x4x1', split: 'train', out: path.join(dir, 'c'), options: {}, log });
      expect(fs.readFileSync(log, 'utf8')).to.match(/^TFKD_THREADS=1$/m);
    });
  });
});

describe('experiment/runner: step arguments', () => {
  it('a boolean option is a bare switch (true) or absent (false), and `tfkd train` parses every argument as an option', () => {
    const req = { data: 'fashion-mnist', model: 'mlp', loss: 'kd', cache: '/c', seed: 1, saveAt: [], out: '/o', train: { epochs: 2, augment: 'crop:2,flip' } };
    const on = trainArgs({ ...req, lossOptions: { kd_weight: 3, logit_standardization: true } } as never);
    const off = trainArgs({ ...req, lossOptions: { kd_weight: 3, logit_standardization: false } } as never);
    expect(on).to.include('--logit-standardization');
    expect(on[on.indexOf('--logit-standardization') + 1]).to.match(/^--/);
    expect(off).to.not.include('--logit-standardization');
    const program = new Command();
    registerTrain(program);
    const train = program.commands.find((c) => c.name() === 'train')!;
    for (const args of [on, off]) {
      const parsed = train.parseOptions(args.slice(1));
      expect(parsed.operands, args.join(' ')).to.deep.equal([]);
      expect(parsed.unknown, args.join(' ')).to.deep.equal([]);
    }
  });

  it('a fidelity run gets --test-cache; a precompute step its split', () => {
    const req = { data: 'fashion-mnist', model: 'mlp', loss: 'ce', cache: null, seed: 1, saveAt: [], out: '/o', train: { epochs: 1 }, lossOptions: {} };
    const with_ = trainArgs({ ...req, testCache: '/caches/t' } as never);
    expect(with_.slice(with_.indexOf('--test-cache'), with_.indexOf('--test-cache') + 2)).to.deep.equal(['--test-cache', '/caches/t']);
    expect(trainArgs({ ...req, testCache: null } as never)).to.not.include('--test-cache');
    expect(trainArgs(req as never)).to.not.include('--test-cache');
    for (const split of ['train', 'test'] as const) {
      const a = precomputeArgs({ teacher: 't.onnx', data: 'fashion-mnist', split, out: '/c', options: {} });
      expect(a.slice(a.indexOf('--split'), a.indexOf('--split') + 2)).to.deep.equal(['--split', split]);
    }
  });
});
