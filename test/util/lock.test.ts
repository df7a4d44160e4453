/**
 * util/lock: when a lock is taken over and when it is refused. QA (concurrency pass), bugs 2 and 3:
 * - a lock file must appear with its contents (never empty for a moment), and an empty or
 *   unparseable one is held by an unknown writer unless it is old — never taken over after 40 ms;
 * - a lock written from another PID namespace with this host's name (a container: docker
 *   --network host, a hostNetwork pod, `unshare -p`) cannot be checked from here: its pid is another
 *   process here. It is refused like another host's, with the hint to remove it by hand.
 * Everything here is deterministic: lock files are written by hand, and the one race (a rival
 * between the steps of a creation) is staged by running the rival inside the creator's own fs call.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../../src/errors.js';
import { acquireLock, LOCK_FILE, type Lock, type LockInfo } from '../../src/util/lock.js';
import { rmDir, tmpDir } from '../helpers/tmp-dir.js';

const linux = process.platform === 'linux';

function startTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** Our PID namespace and boot id, as a lock records them. */
function ours(): { pidNs: string; bootId: string } {
  return { pidNs: fs.readlinkSync('/proc/self/ns/pid'), bootId: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() };
}

/** A pid that cannot be alive here: above the kernel's pid_max. */
function deadPid(): number {
  return Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
}

function writeLock(dir: string, content: string | Partial<LockInfo>, mtimeMs?: number): string {
  const file = path.join(dir, LOCK_FILE);
  const text = typeof content === 'string' ? content : `${JSON.stringify({ host: os.hostname(), startTicks: null, started: '2026-01-02T03:04:05.000Z', command: 'precompute: …', ...content })}\n`;
  fs.writeFileSync(file, text);
  if (mtimeMs !== undefined) fs.utimesSync(file, mtimeMs / 1000, mtimeMs / 1000);
  return text;
}

/** Takes `dir`'s lock: the lock, or the error that refused it. */
function take(dir: string): { lock: Lock | null; error: UsageError | null } {
  try {
    return { lock: acquireLock(dir, 'test'), error: null };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { lock: null, error: e };
  }
}

function expectRefused(dir: string, where: RegExp, hint: 'local' | 'remove'): UsageError {
  const before = fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8');
  const { lock, error } = take(dir);
  lock?.release();
  expect(lock, 'the lock was taken over').to.equal(null);
  expect(error!.exitCode).to.equal(2);
  expect(error!.message).to.match(new RegExp(`^${dir} is being written by another tfkd process \\(`));
  expect(error!.message).to.match(where);
  if (hint === 'local') expect(error!.hint).to.equal('wait for it to finish, or choose another --out');
  else expect(error!.hint).to.match(new RegExp(`^wait for it to finish, or choose another --out; if .* remove ${path.join(dir, LOCK_FILE)}$`));
  expect(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'), 'the lock is left as it was').to.equal(before);
  return error!;
}

function expectTakenOver(dir: string): Lock {
  const { lock, error } = take(dir);
  expect(error?.message ?? null).to.equal(null);
  expect(lock!.tookOver).to.not.equal(null);
  const now = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as LockInfo;
  expect(now).to.include({ pid: process.pid, host: os.hostname() });
  lock!.release();
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).to.equal(false);
  return lock!;
}

type FsPatch = Partial<Record<'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'linkSync', (orig: (...a: unknown[]) => unknown, args: unknown[]) => unknown>>;

/** Runs `fn` with node:fs functions wrapped (the ESM bindings too, as lock.ts imports them). */
function withFs<T>(patch: FsPatch, fn: () => T): T {
  const real = fs as unknown as { default: Record<string, (...a: unknown[]) => unknown> };
  const saved: Record<string, (...a: unknown[]) => unknown> = {};
  for (const [name, wrap] of Object.entries(patch)) {
    const orig = real.default[name];
    saved[name] = orig;
    real.default[name] = (...args: unknown[]) => wrap(orig, args);
  }
  syncBuiltinESMExports();
  try {
    return fn();
  } finally {
    Object.assign(real.default, saved);
    syncBuiltinESMExports();
  }
}

describe('util/lock: one writer per directory', () => {
  let dir: string;
  beforeEach(() => (dir = tmpDir('lock')));
  afterEach(() => rmDir(dir));

  describe('bug 3: a lock is never seen empty, and an empty one is not taken over', () => {
    it('the lock file appears with its contents: after every fs step of a creation it is absent or a whole lock, and no temp file is left', () => {
      const file = path.join(dir, LOCK_FILE);
      const seen: string[] = [];
      const check = (orig: (...a: unknown[]) => unknown, args: unknown[]) => {
        const r = orig(...args);
        if (fs.existsSync(file)) seen.push(fs.readFileSync(file, 'utf8'));
        return r;
      };
      const lock = withFs({ openSync: check, writeSync: check, fsyncSync: check, closeSync: check, linkSync: check }, () => acquireLock(dir, 'test'));
      expect(seen.length).to.be.greaterThan(0);
      for (const s of seen) expect(JSON.parse(s)).to.include({ pid: process.pid, host: os.hostname() });
      expect(fs.readdirSync(dir)).to.deep.equal([LOCK_FILE]);
      lock.release();
      expect(fs.readdirSync(dir)).to.deep.equal([]);
    });

    it('a rival that looks while a lock is being created does not take it too: exactly one of the two holds it', () => {
      const got: Lock[] = [];
      const errors: UsageError[] = [];
      const rival = () => {
        const r = take(dir);
        if (r.lock) got.push(r.lock);
        if (r.error) errors.push(r.error);
      };
      let staged = false;
      // The rival runs at the creator's first write, i.e. after it created whatever it creates first.
      const writeSync = (orig: (...a: unknown[]) => unknown, args: unknown[]) => {
        if (!staged) {
          staged = true;
          rival();
        }
        return orig(...args);
      };
      withFs({ writeSync }, rival);
      expect(staged).to.equal(true);
      expect(got.length, `holders: ${got.length}; refusals: ${errors.map((e) => e.message).join(' | ')}`).to.equal(1);
      expect(errors.length).to.equal(1);
      for (const l of got) l.release();
    });

    for (const [name, text] of [
      ['empty', ''],
      ['unparseable', '{"pid": 12'],
    ] as const) {
      it(`a young ${name} lock file (an older tfkd between its create and its write) is refused, not taken over`, () => {
        writeLock(dir, text);
        const e = expectRefused(dir, /unknown: its lock file is empty or unreadable, since /, 'remove');
        expect(e.hint).to.equal(`wait for it to finish, or choose another --out; if no tfkd process is writing there, remove ${path.join(dir, LOCK_FILE)}`);
      });
    }

    it('an empty lock file older than 60 s (left by a crash between create and write) is taken over', () => {
      writeLock(dir, '', Date.now() - 120_000);
      const lock = expectTakenOver(dir);
      expect(lock.tookOver).to.include({ pid: -1, command: 'unreadable lock file' });
    });

    it('on a file system without hard links the lock is still created exclusively, with its contents', () => {
      const linkSync = () => {
        throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
      };
      const lock = withFs({ linkSync }, () => acquireLock(dir, 'test'));
      expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'))).to.include({ pid: process.pid });
      expect(fs.readdirSync(dir)).to.deep.equal([LOCK_FILE]);
      lock.release();
      writeLock(dir, { pid: process.pid, startTicks: linux ? startTicks(process.pid) : null, ...(linux ? ours() : {}) });
      withFs({ linkSync }, () => expectRefused(dir, new RegExp(`\\(pid ${process.pid}, since `), 'local'));
    });

    it('temp files of a creation older than 60 s (a crash mid-creation) are swept by the next taker; young ones are left', () => {
      const old = path.join(dir, `${LOCK_FILE}.tmp-999999-0123456789ab`);
      const young = path.join(dir, `${LOCK_FILE}.tmp-999998-0123456789ab`);
      fs.writeFileSync(old, '');
      fs.writeFileSync(young, '');
      const t = (Date.now() - 120_000) / 1000;
      fs.utimesSync(old, t, t);
      const lock = acquireLock(dir, 'test');
      lock.release();
      expect(fs.readdirSync(dir)).to.deep.equal([path.basename(young)]);
    });
  });

  describe('bug 2: PID namespaces and boots', function () {
    before(function () {
      if (!linux) this.skip(); // namespaces and boot ids are read from /proc
    });

    it('a lock from another PID namespace of this host is refused with the hint to remove it, whether its pid is alive here (pid 1, ours) or not', () => {
      for (const pid of [1, process.pid, deadPid()]) {
        writeLock(dir, { pid, startTicks: 7, pidNs: 'pid:[1]', bootId: ours().bootId });
        expectRefused(dir, new RegExp(`\\(pid ${pid} on host ${os.hostname()}, in another PID namespace, since 2026-01-02T03:04:05\\.000Z: precompute: …\\)$`), 'remove');
      }
    });

    it('a lock whose namespace or boot id could not be read by its writer is refused with the hint to remove it', () => {
      writeLock(dir, { pid: deadPid(), pidNs: null, bootId: ours().bootId });
      expectRefused(dir, /in a PID namespace that cannot be compared with this one/, 'remove');
      writeLock(dir, { pid: deadPid(), pidNs: ours().pidNs, bootId: null });
      expectRefused(dir, /in a boot that cannot be compared with this one/, 'remove');
    });

    it('in our namespace and boot: a dead pid, or a pid reused by another process, is taken over; a live holder is refused', () => {
      writeLock(dir, { pid: deadPid(), ...ours() });
      expect(expectTakenOver(dir).tookOver).to.include({ pid: deadPid() });
      writeLock(dir, { pid: 1, startTicks: startTicks(1) + 1, ...ours() });
      expectTakenOver(dir);
      writeLock(dir, { pid: process.pid, startTicks: startTicks(process.pid), ...ours() });
      expectRefused(dir, new RegExp(`\\(pid ${process.pid}, since `), 'local');
    });

    it('a lock of an earlier boot (another boot id, our namespace, written before this boot) is taken over even if its pid is alive now', () => {
      const bootMs = Date.now() - os.uptime() * 1000;
      writeLock(dir, { pid: 1, startTicks: startTicks(1), pidNs: ours().pidNs, bootId: '00000000-0000-0000-0000-000000000000' }, bootMs - 3_600_000);
      expectTakenOver(dir);
    });

    it('a lock with another boot id written since this boot began is from another machine of this name: refused with the hint to remove it', () => {
      writeLock(dir, { pid: 1, startTicks: startTicks(1), pidNs: ours().pidNs, bootId: '00000000-0000-0000-0000-000000000000' });
      expectRefused(dir, /another machine of that name/, 'remove');
    });

    it('a lock of the previous format (no namespace, no boot id) is judged by pid and start time as before', () => {
      writeLock(dir, { pid: deadPid(), startTicks: null });
      expectTakenOver(dir);
      writeLock(dir, { pid: 1, startTicks: startTicks(1) + 1 });
      expectTakenOver(dir);
      writeLock(dir, { pid: process.pid, startTicks: startTicks(process.pid) });
      expectRefused(dir, new RegExp(`\\(pid ${process.pid}, since `), 'local');
      writeLock(dir, { pid: 4242, host: 'node-17.cluster', startTicks: 1 });
      expectRefused(dir, /\(pid 4242 on host node-17\.cluster, since /, 'remove');
    });

    it('the lock records our namespace and boot id', () => {
      const lock = acquireLock(dir, 'test');
      expect(JSON.parse(fs.readFileSync(lock.file, 'utf8'))).to.include({ pid: process.pid, host: os.hostname(), startTicks: startTicks(process.pid), ...ours() });
      lock.release();
    });
  });
});
