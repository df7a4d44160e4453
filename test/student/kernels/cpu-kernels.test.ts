/**
 * TFKD_CPU_KERNELS (kernels/native.ts, settings.ts): `avx2` pins OpenBLAS's Haswell kernels and
 * oneDNN's AVX2 ones — the same code on every x86-64 CPU with AVX2 and FMA — and the run records
 * which kernels ran. Each case runs in a child process (the libraries choose their kernels once,
 * when they load): the status line and record name the kernels; a pinned run is reproduced by
 * `tfkd repro` from a shell without the variable (repro pins again from the record); on a CPU
 * whose best kernels are not the AVX2 ones (AVX-512), the two choices give different weights and
 * repro names the kernels and says what to do; a bad value is one line and exit 2.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { avx2Missing, loadNative } from '../../../src/student/kernels/native.js';
import { checkEnvSettings, getSettings, setSettings, settingsEnv } from '../../../src/settings.js';
import { UsageError } from '../../../src/errors.js';
import { needsNativeAddon } from '../../helpers/needs.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/tfkd.js');

/** The environment without any CPU-kernel choice of the caller's. */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('TFKD_CPU_KERNELS' in extra)) delete env.TFKD_CPU_KERNELS;
  delete env.OPENBLAS_CORETYPE;
  delete env.ONEDNN_MAX_CPU_ISA;
  return env;
}

function tfkd(env: NodeJS.ProcessEnv, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 300000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** The add-on's status in a fresh process with `env`. */
function statusIn(env: NodeJS.ProcessEnv): { why: string; cpu?: { blas: string; convolutions: string; choice: string } } {
  const code = `import { loadNative } from ${JSON.stringify(path.join(ROOT, 'src/student/kernels/native.ts'))}; const s = loadNative(); console.log(JSON.stringify({ why: s.why, cpu: s.cpu }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', code], { cwd: ROOT, env, encoding: 'utf8', timeout: 60000 });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const TRAIN = ['train', '--data', 'synthetic:96:3:12x12x1:5', '--model', 'cnn', '--loss', 'ce', '--epochs', '2', '--batch', '16', '--test-limit', '32', '--seed', '3', '--backend', 'wasm', '--progress', 'off'];

const weights = (run: string): Buffer => fs.readFileSync(path.join(run, 'checkpoints', 'last', 'weights.safetensors'));

describe('student/native: TFKD_CPU_KERNELS=avx2 pins the CPU kernels, and every run records them', function () {
  this.timeout(300000);
  let tmp = '';
  let avx2Cpu = true;
  before(function () {
    needsNativeAddon(this, loadNative());
    avx2Cpu = avx2Missing() === null;
    tmp = tmpDir('cpu-kernels');
  });
  after(() => rmDir(tmp));

  it('the status names the kernels: Haswell and avx2 when pinned, the CPU\'s choice otherwise', function () {
    const best = statusIn(baseEnv());
    expect(best.cpu, best.why).to.not.equal(undefined);
    expect(best.cpu!.choice).to.equal('best');
    expect(best.why).to.include(`${best.cpu!.blas} kernels`);
    if (!avx2Cpu) {
      const r = statusIn(baseEnv({ TFKD_CPU_KERNELS: 'avx2' }));
      expect(r.why).to.match(/native kernels not used: TFKD_CPU_KERNELS=avx2: (this CPU lacks|an x86-64 CPU is needed)/);
      return;
    }
    const pinned = statusIn(baseEnv({ TFKD_CPU_KERNELS: 'avx2' }));
    expect(pinned.cpu!.blas).to.equal('Haswell');
    expect(pinned.cpu!.choice).to.equal('avx2');
    if (pinned.cpu!.convolutions !== '') expect(pinned.cpu!.convolutions).to.equal('avx2');
    expect(pinned.why).to.match(/OpenBLAS \S+ Haswell kernels( \+ oneDNN \S+ avx2 convolutions)? \(TFKD_CPU_KERNELS=avx2\), \d+ threads?$/);
    console.log(`      this CPU: ${best.cpu!.blas} / ${best.cpu!.convolutions || '(no oneDNN)'}; pinned: Haswell / avx2`);
  });

  it('a pinned run records it, and `tfkd repro` from a shell without the variable pins again and reproduces it bit for bit', function () {
    if (!avx2Cpu) this.skip();
    const run = path.join(tmp, 'pinned');
    const t = tfkd(baseEnv({ TFKD_CPU_KERNELS: 'avx2' }), ...TRAIN, '--out', run);
    expect(t.code, t.err).to.equal(0);
    const m = JSON.parse(fs.readFileSync(path.join(run, 'manifest.json'), 'utf8'));
    expect(m.backend.cpuKernels).to.deep.include({ blas: 'Haswell', choice: 'avx2' });
    const r = tfkd(baseEnv(), 'repro', run);
    expect(r.code, r.out + r.err).to.equal(0);
    expect(r.out).to.include('environment  same as recorded');
    expect(r.out).to.include('result       reproduced bit for bit');
  });

  it('where the CPU\'s best kernels are not the AVX2 ones, repro under the pin names the kernels (and reproduces where they compute the same bits); elsewhere both are one run', function () {
    if (!avx2Cpu) this.skip();
    const best = path.join(tmp, 'best');
    const b = tfkd(baseEnv(), ...TRAIN, '--out', best);
    expect(b.code, b.err).to.equal(0);
    const kernels = JSON.parse(fs.readFileSync(path.join(best, 'manifest.json'), 'utf8')).backend.cpuKernels;
    const same = kernels.blas === 'Haswell' && (kernels.convolutions === 'avx2' || kernels.convolutions === '');
    const pinnedWeights = weights(path.join(tmp, 'pinned'));
    const sameBits = weights(best).equals(pinnedWeights);
    if (same) {
      expect(sameBits, 'an AVX2 CPU: best is avx2').to.equal(true);
      return;
    }
    // The best-kernels run re-run under the pin: another CPU, as far as the kernels go. Other
    // kernels may still compute the same bits (OpenBLAS's Zen target runs Haswell's kernel code,
    // measured: the same weights): then repro names the kernels and reproduces.
    const r = tfkd(baseEnv({ TFKD_CPU_KERNELS: 'avx2' }), 'repro', best);
    console.log(`      ${kernels.blas}/${kernels.convolutions} vs Haswell/avx2: ${sameBits ? 'the same' : 'other'} weights`);
    if (sameBits) {
      expect(r.code, r.out + r.err).to.equal(0);
      expect(r.out).to.match(/native add-on: OpenBLAS \S+ \S+ kernels.* → OpenBLAS \S+ Haswell kernels/);
      expect(r.out).to.include('result       reproduced bit for bit');
      return;
    }
    expect(r.code, r.out + r.err).to.equal(1);
    expect(r.out).to.match(/native add-on: OpenBLAS \S+ \S+ kernels.* → OpenBLAS \S+ Haswell kernels/);
    expect(r.err).to.include('hint: the CPU kernels differ');
    expect(r.err).to.include('TFKD_CPU_KERNELS=avx2');
  });

  it('BAD CALL - a value other than best or avx2: exit 2, one line, for the CLI; configure() refuses it too', () => {
    const r = tfkd(baseEnv({ TFKD_CPU_KERNELS: 'avx512' }), 'doctor');
    expect(r.code).to.equal(2);
    expect(r.err.trim()).to.equal('tfkd: TFKD_CPU_KERNELS=avx512: expected best or avx2');
    expect(() => checkEnvSettings({ TFKD_CPU_KERNELS: 'fast' })).to.throw(UsageError, /expected best or avx2/);
    expect(() => setSettings({ cpuKernels: 'fast' as 'avx2' })).to.throw(UsageError, /cpuKernels/);
    const before = getSettings();
    try {
      setSettings({ cpuKernels: 'avx2' });
      expect(settingsEnv({}).TFKD_CPU_KERNELS).to.equal('avx2');
    } finally {
      setSettings({ cpuKernels: before.cpuKernels });
    }
  });
});
