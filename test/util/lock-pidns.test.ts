/**
 * util/lock with a real holder in another PID namespace (QA concurrency pass, bug 2): a writer
 * started under `unshare --pid` on this host records pid 1 and this host's name. From here pid 1 is
 * another, live process (init) started at another time: the old lock.ts called the lock stale and
 * took it over, and two writers ran. It must be refused — in-process and by the CLI (exit 2, the
 * hint to remove it). Linux as root only (unshare); skipped elsewhere. No clock is raced: the parent
 * waits for the holder's marker file, and the holder exits (releasing its lock) when its stdin closes.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../../src/errors.js';
import { acquireLock, LOCK_FILE } from '../../src/util/lock.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/tfkd.js');
const LOCK_TS = pathToFileURL(path.join(ROOT, 'src/util/lock.ts')).href;

describe('util/lock: a holder in another PID namespace of this host (unshare --pid)', function () {
  this.timeout(120000);
  let root: string;
  let holder: ChildProcess | null = null;
  before(function () {
    if (process.platform !== 'linux' || spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0) this.skip();
    root = tmpDir('lock-pidns');
  });
  after(async () => {
    if (holder && holder.exitCode === null && holder.signalCode === null) {
      const done = new Promise((r) => holder!.on('exit', r));
      holder.kill('SIGKILL');
      await done;
    }
    rmDir(root);
  });

  it('is refused with exit 2 and the hint to remove it, in-process and by the CLI; once released, the lock is taken', async () => {
    const out = path.join(root, 'out');
    fs.mkdirSync(out);
    const marker = path.join(root, 'marker');
    const script = path.join(root, 'holder.mts');
    fs.writeFileSync(
      script,
      `import * as fs from 'node:fs';
import { acquireLock } from ${JSON.stringify(LOCK_TS)};
acquireLock(${JSON.stringify(out)}, 'precompute');
fs.writeFileSync(${JSON.stringify(marker)}, String(process.pid));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`,
    );
    holder = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--import', 'tsx/esm', script], { cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    holder.stderr!.on('data', (b) => (err += b));
    const exited = new Promise((r) => holder!.on('exit', r));
    while (!fs.existsSync(marker)) {
      if (holder.exitCode !== null) throw new Error(`the holder exited: ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const lockFile = path.join(out, LOCK_FILE);
    const info = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number; host: string; pidNs: string };
    expect(info).to.include({ pid: 1, host: os.hostname() });
    expect(info.pidNs).to.not.equal(fs.readlinkSync('/proc/self/ns/pid'));
    const before = fs.readFileSync(lockFile, 'utf8');

    let refused: unknown = null;
    try {
      acquireLock(out, 'test').release();
    } catch (e) {
      refused = e;
    }
    expect(refused).to.be.instanceOf(UsageError);
    expect((refused as UsageError).exitCode).to.equal(2);
    expect((refused as UsageError).message).to.contain(`${out} is being written by another tfkd process (pid 1 on host ${os.hostname()}, in another PID namespace, since `);
    expect((refused as UsageError).hint).to.equal(`wait for it to finish, or choose another --out; if that process is gone, remove ${lockFile}`);

    const args = ['train', '--data', 'synthetic:256:4:8x8x1:5', '--model', 'mlp', '--width-multiplier', '0.0625', '--batch', '64', '--limit', '128', '--test-limit', '32', '--backend', 'wasm', '--loss', 'ce', '--epochs', '1', '--progress', 'off', '--out', out];
    const cli = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
    expect(cli.status, cli.stderr).to.equal(2);
    expect(cli.stderr).to.contain(`tfkd: ${out} is being written by another tfkd process (pid 1 on host ${os.hostname()}, in another PID namespace, since `);
    expect(cli.stderr).to.contain(`hint: wait for it to finish, or choose another --out; if that process is gone, remove ${lockFile}`);
    expect(fs.readFileSync(lockFile, 'utf8'), 'the holder still holds its lock').to.equal(before);

    holder.stdin!.end();
    await exited;
    expect(fs.existsSync(lockFile), 'released by the holder').to.equal(false);
    const lock = acquireLock(out, 'test');
    expect(lock.tookOver).to.equal(null);
    lock.release();
  });
});
