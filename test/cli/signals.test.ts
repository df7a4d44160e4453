/**
 * SIGINT / SIGTERM of the real CLI (src/cli/main.ts onSignal): one `tfkd:` line saying what was
 * interrupted and how to go on, death by that signal (130 / 143 in a shell), no temp file left, and
 * the command that line names continues the work. No clock is raced: the signal lands at a fault
 * point (src/util/fault.ts) — sent by the child to itself at a synchronous point
 * (TFKD_FAULT_ACTION=SIGINT|SIGTERM), or by this test while the child waits at an asynchronous one
 * (TFKD_FAULT_ACTION=pause: its marker file written, its event loop running).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interruptedMessage } from '../../src/cli/handle-error.js';
import { train } from '../../src/student/trainer/train.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** tfjs greets Node users once per process (console.warn); it is not ours. */
const stripGreeting = (s: string): string => s.replace(/\n?=+\nHi, looks like you are running TensorFlow\.js[^\n]*\n=+\n?/, '');

/**
 * `node bin/tfkd.js …args` with `env` added (TFKD_FAULT* of this process's own environment
 * removed). With `marker`: once that file appears (the child paused at its fault point), `first`
 * runs (the child still waits) and then `signal` is sent to the child.
 */
function tfkd(args: string[], env: Record<string, string> = {}, pausedThen?: { marker: string; signal: NodeJS.Signals; first?: () => void }): Promise<Exit> {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['TFKD_FAULT', 'TFKD_FAULT_ACTION', 'TFKD_FAULT_MARKER']) delete e[k];
  Object.assign(e, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/tfkd.js'), ...args], { cwd: ROOT, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('error', reject);
    let exited = false;
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code, signal, stdout, stderr: stripGreeting(stderr) });
    });
    if (pausedThen) {
      // A condition, not a time: the child wrote its marker at the fault point and waits there.
      const poll = (): void => {
        if (exited) return;
        if (!fs.existsSync(pausedThen.marker)) {
          setTimeout(poll, 20);
          return;
        }
        pausedThen.first?.();
        child.kill(pausedThen.signal);
      };
      poll();
    }
  });
}

const leftovers = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.startsWith('.tmp-') || f.startsWith('.tfkd.lock'));

describe('cli: SIGINT / SIGTERM (real CLI processes, signals at fault points)', function () {
  this.timeout(300_000);
  let root: string;
  let teacher: string;
  let run: string;
  const data = 'synthetic:3000:3:4x4x1:2';
  const precomputeArgs = (out: string) => ['precompute', '--teacher', teacher, '--data', data, '--out', out, '--device', 'cpu', '--threads', '1', '--dtype', 'f16', '--batch', '48', '--shard-rows', '256', '--progress', 'off'];
  let clean: string;

  before(async () => {
    root = tmpDir('signals');
    teacher = writeTinyTeacher(root, { numClasses: 3 });
    clean = path.join(root, 'clean');
    const r = await tfkd(precomputeArgs(clean));
    expect(r.code, r.stderr).to.equal(0);
    run = path.join(root, 'run');
    await train({ config: { data: 'synthetic:256:4:8x8x1:5', model: 'mlp', loss: 'ce', epochs: 1, batch: 16, limit: 32, testLimit: 16, seed: 1, backend: 'wasm' }, out: run });
  });
  after(() => rmDir(root));

  for (const [signal, point] of [['SIGINT', 'cache-shard-journaled:3'], ['SIGTERM', 'cache-append:1500']] as const) {
    it(`precompute, ${signal} at ${point}: one line, death by ${signal}, no lock or temp file; the same command resumes to the clean bytes`, async () => {
      const out = path.join(root, `pre-${signal}`);
      const r = await tfkd(precomputeArgs(out), { TFKD_FAULT: point, TFKD_FAULT_ACTION: signal });
      expect({ code: r.code, signal: r.signal }, r.stderr).to.deep.equal({ code: null, signal });
      expect(r.stderr).to.equal(`tfkd: precompute interrupted by ${signal}; run the same command again to resume (the shards already written are kept)\n`);
      expect(fs.existsSync(path.join(out, 'manifest.json'))).to.equal(false);
      expect(leftovers(out)).to.deep.equal([]);
      const again = await tfkd(precomputeArgs(out));
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.match(/resumed/);
      for (const f of fs.readdirSync(clean)) expect(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(clean, f))), f).to.equal(true);
      expect(fs.readdirSync(out).sort()).to.deep.equal(fs.readdirSync(clean).sort());
    });
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`export, ${signal} while its temp file is complete and not renamed: one line, death by ${signal}, neither the .onnx nor its temp file; the same command writes it`, async () => {
      const dir = path.join(root, `export-${signal}`);
      fs.mkdirSync(dir);
      const out = path.join(dir, 'm.onnx');
      const marker = path.join(root, `export-${signal}.paused`);
      const args = ['export', run, '--out', out];
      let paused: string[] = [];
      const r = await tfkd(args, { TFKD_FAULT: 'export-tmp', TFKD_FAULT_ACTION: 'pause', TFKD_FAULT_MARKER: marker }, { marker, signal, first: () => (paused = fs.readdirSync(dir)) });
      // The signal landed inside the write: the complete temp file was there, the .onnx not yet.
      const pid = Number(fs.readFileSync(marker, 'utf8'));
      expect(paused).to.deep.equal([`.tmp-m.onnx-${pid}`]);
      expect({ code: r.code, signal: r.signal }, r.stderr).to.deep.equal({ code: null, signal });
      expect(r.stderr).to.equal(`tfkd: export interrupted by ${signal}; run the same command again\n`);
      expect(fs.readdirSync(dir), `temp file .tmp-m.onnx-${pid} or m.onnx left`).to.deep.equal([]);
      const again = await tfkd(args);
      expect(again.code, again.stderr).to.equal(0);
      expect(fs.readdirSync(dir)).to.deep.equal(['m.onnx']);
    });
  }

  it('train keeps the default action (its steps never yield to the event loop, main.ts): killed at once by SIGTERM, silent; --resume continues', async () => {
    const out = path.join(root, 'train-term');
    const args = ['train', '--data', 'synthetic:256:4:8x8x1:5', '--model', 'mlp', '--loss', 'ce', '--epochs', '2', '--batch', '16', '--limit', '64', '--test-limit', '16', '--seed', '1', '--backend', 'wasm', '--progress', 'off', '--out', out];
    const r = await tfkd(args, { TFKD_FAULT: 'train-epoch:1', TFKD_FAULT_ACTION: 'SIGTERM' });
    expect({ code: r.code, signal: r.signal }, r.stderr).to.deep.equal({ code: null, signal: 'SIGTERM' });
    const again = await tfkd([...args, '--resume']);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/resuming .* after epoch 1/);
  });
});

describe('cli/handle-error interruptedMessage: what was interrupted, and what continues it', () => {
  const none = () => false;
  const all = () => true;
  it('precompute and merge resume with the same command; export and the rest run again', () => {
    expect(interruptedMessage('SIGINT', { name: 'precompute', opts: {} })).to.equal('tfkd: precompute interrupted by SIGINT; run the same command again to resume (the shards already written are kept)');
    expect(interruptedMessage('SIGTERM', { name: 'merge', opts: {} })).to.equal('tfkd: merge interrupted by SIGTERM; run the same command again to resume');
    expect(interruptedMessage('SIGTERM', { name: 'export', opts: { out: 'x.onnx' } })).to.equal('tfkd: export interrupted by SIGTERM; run the same command again');
    expect(interruptedMessage('SIGINT', { name: 'data views', opts: {} })).to.equal('tfkd: data views interrupted by SIGINT; run the same command again');
  });
  it('train: --resume when the run exists, the same command when it has --resume or was not created yet', () => {
    expect(interruptedMessage('SIGINT', { name: 'train', opts: { out: 'r' } }, all)).to.equal('tfkd: train interrupted by SIGINT; add --resume to the same command to continue from the last checkpoint');
    expect(interruptedMessage('SIGINT', { name: 'train', opts: { out: 'r', resume: true } }, all)).to.equal('tfkd: train interrupted by SIGINT; run the same command again to continue from the last checkpoint');
    expect(interruptedMessage('SIGTERM', { name: 'train', opts: { out: 'r' } }, none)).to.equal('tfkd: train interrupted by SIGTERM before the run was created; run the same command again');
  });
});
