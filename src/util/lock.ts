/**
 * One writer per output directory: `DIR/.tfkd.lock`, created with O_EXCL (atomic on local file
 * systems and NFSv3+), holding the writer's pid, host, process start time and command. Used by the
 * cache writer (precompute, merge) and the trainer.
 *
 * A lock is *stale* when its host is this host and its process is gone (no such pid, a zombie —
 * killed but not yet reaped, as right after a kill -9 — or a pid reused by a process that started
 * at another time): a stale lock is taken over, saying so. A lock
 * held by a live process, or by a process on another host (whose liveness cannot be checked from
 * here), is refused with exit 2 naming the holder; the hint says how to remove it by hand once that
 * process is known to be gone. Locks are released when the writer finishes, and by an `exit` hook
 * for any other way the process ends normally; a kill -9 leaves a stale lock for the next writer.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError, optionName } from '../errors.js';
import { outDirError } from './out-dir.js';

export const LOCK_FILE = '.tfkd.lock';

export interface LockInfo {
  pid: number;
  host: string;
  /** Process start time (Linux: clock ticks since boot from /proc/PID/stat; null elsewhere). */
  startTicks: number | null;
  started: string;
  command: string;
}

/** Fields 3… of /proc/PID/stat (state first), or null when it cannot be read (not Linux, no such pid). */
function procStat(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Start time of a process (field 22 of /proc/PID/stat), or null when it cannot be read. */
function processStart(pid: number): number | null {
  const rest = procStat(pid);
  return rest ? Number(rest[19]) : null;
}

/** Blocks the thread for `ms` milliseconds (lock retries only; no event loop is needed for them). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(pid, 0) succeeds on a zombie: a process killed (kill -9) but not yet reaped by its parent
  // — for a moment after every crash, for ever under a parent that never waits. A zombie runs no
  // code and holds no files: its lock is stale (state Z, or X while it is being reaped).
  const state = procStat(pid)?.[0];
  return state !== 'Z' && state !== 'X';
}

const held = new Map<string, string>(); // lock file → the content we wrote
let hooked = false;

function releaseAll(): void {
  for (const f of [...held.keys()]) releaseFile(f);
}

function releaseFile(file: string): void {
  const mine = held.get(file);
  held.delete(file);
  try {
    if (mine !== undefined && fs.readFileSync(file, 'utf8') === mine) fs.rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

export interface Lock {
  readonly file: string;
  /** Set when a stale lock was taken over: who held it. */
  readonly tookOver: LockInfo | null;
  release(): void;
}

/** Whether `info` describes a process that is gone (on this host). */
function isStale(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return false;
  if (!alive(info.pid)) return true;
  const start = processStart(info.pid);
  return info.startTicks !== null && start !== null && start !== info.startTicks;
}

function readInfo(file: string): LockInfo | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/**
 * Takes `dir`'s lock for `what` (e.g. "precompute", "train"); `dir` must exist. Re-entrant within a
 * process (the same directory locked twice by this process returns the held lock).
 */
export function acquireLock(dir: string, what: string): Lock {
  const file = path.join(dir, LOCK_FILE);
  if (held.has(file)) return { file, tookOver: null, release: () => releaseFile(file) };
  const info: LockInfo = { pid: process.pid, host: os.hostname(), startTicks: processStart(process.pid), started: new Date().toISOString(), command: `${what}: ${process.argv.slice(1).join(' ')}`.slice(0, 500) };
  const content = `${JSON.stringify(info)}\n`;
  let tookOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, content);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      held.set(file, content);
      if (!hooked) {
        process.on('exit', releaseAll);
        hooked = true;
      }
      return { file, tookOver, release: () => releaseFile(file) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outDirError(`${optionName('out')}`, dir, e);
    }
    const other = readInfo(file);
    if (other === null) {
      // A lock being written right now (or torn by a crash mid-write): look again, then treat a
      // lock that stays unreadable as stale.
      if (attempt < 2) {
        pause(20);
        continue;
      }
      tookOver = { pid: -1, host: '?', startTicks: null, started: '?', command: 'unreadable lock file' };
    } else if (isStale(other)) {
      tookOver = other;
    } else {
      const where = other.host === os.hostname() ? `pid ${other.pid}` : `pid ${other.pid} on host ${other.host}`;
      throw new UsageError(
        `${dir} is being written by another tfkd process (${where}, since ${other.started}: ${other.command.slice(0, 120)})`,
        other.host === os.hostname()
          ? 'wait for it to finish, or choose another --out'
          : `wait for it to finish, or choose another --out; if that process is gone, remove ${file}`,
      );
    }
    // Take a stale lock over, under a short-lived exclusive `.takeover` file so that of several
    // racing takers only one removes it — and only if it is still the stale lock it looked at.
    const tk = `${file}.takeover`;
    let tfd: number;
    try {
      tfd = fs.openSync(tk, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(tk).mtimeMs > 10000) fs.rmSync(tk, { force: true }); // its taker died
      } catch {
        // gone already
      }
      pause(20);
      continue;
    }
    try {
      const now = readInfo(file);
      if (other === null ? now === null : JSON.stringify(now) === JSON.stringify(other)) fs.rmSync(file, { force: true });
    } finally {
      fs.closeSync(tfd);
      fs.rmSync(tk, { force: true });
    }
  }
  throw new UsageError(`${dir}: could not take its lock ${file} (other writers keep taking it)`);
}
