/**
 * Issue 14, findings 5–6: one writer per `--out` (precompute, train), stale locks taken over, and a
 * run directory whose interrupted start leaves either nothing or a resumable run. Real CLI child
 * processes, paused or killed at fault points (src/util/fault.ts): no clock is raced — the parent
 * waits for the child's marker file, which the child writes when it reaches its point.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCK_FILE } from '../../src/util/lock.js';
import { writeTinyTeacher } from '../teacher/fixtures.js';
import { expectSameBytes, pinned, snapshot } from '../cache/helpers.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/tfkd.js');

function envWith(fault: string | null, marker?: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TFKD_FAULT;
  delete env.TFKD_FAULT_ACTION;
  delete env.TFKD_FAULT_MARKER;
  if (fault) {
    env.TFKD_FAULT = fault;
    if (marker) {
      env.TFKD_FAULT_ACTION = 'pause';
      env.TFKD_FAULT_MARKER = marker;
    }
  }
  return env;
}

/** Runs the CLI to completion. */
function tfkd(args: string[], fault: string | null = null): { code: number | null; signal: string | null; err: string; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: envWith(fault), timeout: 120000 });
  return { code: r.status, signal: r.signal, err: r.stderr, out: r.stdout };
}

/** Starts the CLI paused at `fault`; resolves once it is there (its marker file exists). */
async function paused(args: string[], fault: string, marker: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: envWith(fault, marker) });
  let err = '';
  child.stderr!.on('data', (b) => (err += b));
  let exited = false;
  child.on('exit', () => (exited = true));
  // Wait for the condition (the marker), not for a time: the poll interval only bounds the latency.
  while (!fs.existsSync(marker)) {
    if (exited) throw new Error(`the child exited before reaching ${fault}: ${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const done = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await done;
}

describe('reliability: one writer per --out; atomic run creation', function () {
  this.timeout(240000);
  let root: string;
  let teacher: string;
  const data = 'synthetic:3000:3:4x4x1:2';
  const pcArgs = (out: string, ...more: string[]) => ['precompute', '--teacher', teacher, '--data', data, '--out', out, '--device', 'cpu', '--threads', '1', '--batch', '64', '--shard-rows', '256', '--progress', 'off', ...more];
  const trainArgs = (out: string, ...more: string[]) => ['train', '--data', 'synthetic:256:4:8x8x1:5', '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '32', '--backend', 'wasm', '--loss', 'ce', '--epochs', '3', '--progress', 'off', '--out', out, ...more];
  before(() => {
    root = tmpDir('locks');
    teacher = writeTinyTeacher(root, { numClasses: 3 });
  });
  after(() => rmDir(root));

  it('EXPECTED FAILURE - precompute --force while another precompute writes the same --out: exit 2 naming it, nothing touched; after a kill -9 the stale lock is taken over and the cache completes identically', async () => {
    const clean = path.join(root, 'pc-clean');
    expect(tfkd(pcArgs(clean)).code).to.equal(0);
    const out = path.join(root, 'pc');
    const a = await paused(pcArgs(out), 'cache-shard-journaled:3', path.join(root, 'pc.marker'));
    const before = snapshot(out);
    const lock = JSON.parse(fs.readFileSync(path.join(out, LOCK_FILE), 'utf8'));
    expect(lock).to.include({ pid: a.pid, host: os.hostname() });
    const b = tfkd(pcArgs(out, '--force'));
    expect(b.code, b.err).to.equal(2);
    expect(b.err).to.match(new RegExp(`^tfkd: ${out} is being written by another tfkd process \\(pid ${a.pid}, since .*\\)\\nhint: wait for it to finish, or choose another --out\\n$`));
    expectSameBytes(before, snapshot(out));
    await kill(a);
    expect(fs.existsSync(path.join(out, LOCK_FILE)), 'a kill -9 leaves its lock').to.equal(true);
    const c = tfkd(pcArgs(out));
    expect(c.code, c.err).to.equal(0);
    expect(fs.existsSync(path.join(out, LOCK_FILE)), 'released when done').to.equal(false);
    expectSameBytes(pinned(clean), pinned(out));
  });

  it('EXPECTED FAILURE - train --resume while the run is being trained: exit 2 naming the trainer; after a kill -9, --resume continues', async () => {
    const out = path.join(root, 'tr');
    const a = await paused(trainArgs(out), 'train-epoch:1', path.join(root, 'tr.marker'));
    const b = tfkd(['train', '--out', out, '--resume', '--progress', 'off']);
    expect(b.code, b.err).to.equal(2);
    expect(b.err).to.match(new RegExp(`^tfkd: ${out} is being written by another tfkd process \\(pid ${a.pid}, since `));
    await kill(a);
    const c = tfkd(['train', '--out', out, '--resume', '--progress', 'off']);
    expect(c.code, c.err).to.equal(0);
    expect(c.out).to.match(/resuming .* after epoch 1/);
    expect(fs.existsSync(path.join(out, 'summary.json'))).to.equal(true);
    expect(fs.existsSync(path.join(out, LOCK_FILE))).to.equal(false);
  });

  it('a stale lock of a dead process on this host is taken over; a lock held on another host is refused naming the host', () => {
    const out = path.join(root, 'stale');
    fs.mkdirSync(out);
    // A pid that cannot be alive: above the kernel's pid_max.
    const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    fs.writeFileSync(path.join(out, LOCK_FILE), JSON.stringify({ pid: pidMax + 1, host: os.hostname(), startTicks: null, started: 'then', command: 'precompute' }));
    const r = tfkd(pcArgs(out));
    expect(r.code, r.err).to.equal(0);
    expect(fs.existsSync(path.join(out, LOCK_FILE))).to.equal(false);
    const far = path.join(root, 'far');
    fs.mkdirSync(far);
    fs.writeFileSync(path.join(far, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'node-17.cluster', startTicks: 1, started: '2026-12-01T10:00:00Z', command: 'train: …' }));
    const t = tfkd(trainArgs(far));
    expect(t.code).to.equal(2);
    expect(t.err).to.contain(`tfkd: ${far} is being written by another tfkd process (pid 4242 on host node-17.cluster, since 2026-12-01T10:00:00Z`);
    expect(t.err).to.contain(`hint: wait for it to finish, or choose another --out; if that process is gone, remove ${path.join(far, LOCK_FILE)}`);
  });

  for (const [point, after] of [
    ['train-manifest', 'nothing'],
    ['train-config-tmp', 'nothing'],
    ['train-created', 'resumable'],
  ] as const) {
    it(`EXPECTED FAILURE - kill -9 at ${point} while a run starts: ${after === 'nothing' ? 'nothing is in the way: --resume says to start fresh, and a fresh start runs' : 'the run is resumable: a fresh start says to --resume, and --resume finishes it'}`, () => {
      const out = path.join(root, `start-${point}`);
      const k = tfkd(trainArgs(out), `${point}:0`);
      expect(k.signal).to.equal('SIGKILL');
      if (after === 'nothing') {
        const resume = tfkd(['train', '--out', out, '--resume', '--progress', 'off']);
        expect(resume.code).to.equal(2);
        expect(resume.err).to.match(/holds no run \(no config\.json\)\nhint: start it without --resume/);
        const fresh = tfkd(trainArgs(out));
        expect(fresh.code, fresh.err).to.equal(0);
      } else {
        const fresh = tfkd(trainArgs(out));
        expect(fresh.code).to.equal(2);
        expect(fresh.err).to.match(/already exists and is not empty\nhint: pass --resume/);
        const resume = tfkd(['train', '--out', out, '--resume', '--progress', 'off']);
        expect(resume.code, resume.err).to.equal(0);
      }
      expect(fs.existsSync(path.join(out, 'summary.json'))).to.equal(true);
    });
  }
});
