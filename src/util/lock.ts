/**
 * One writer per output directory: `DIR/.tfkd.lock`, holding the writer's pid, host, process start
 * time, PID namespace, boot id and command. It appears atomically *with* its contents: they are
 * written and fsynced to a temp file beside it, which is then hard-linked to the lock's name (link()
 * fails with EEXIST when a lock exists: an atomic create-with-content on local file systems and
 * NFS), so a rival never sees a lock file that exists but is empty. Used by the cache writer
 * (precompute, merge), the trainer and the experiment.
 *
 * A lock is *stale* when its holder can be checked from here and is gone: same host, same PID
 * namespace and same boot as this process, and no such pid, a zombie (killed but not yet reaped, as
 * right after a kill -9) or a pid reused by a process that started at another time. A lock written
 * in an earlier boot of this host (another boot id, the same namespace identity, written before this
 * boot) is stale too. A stale lock is taken over, saying so. A lock held by a live process is
 * refused with exit 2 naming the holder. So is one whose holder cannot be checked from here —
 * another host, another PID namespace on this host (a container with the host's name: docker
 * --network host, a hostNetwork pod, `unshare -p`; its pid means another process here), a boot id or
 * namespace that one side cannot read — and then the hint says how to remove it by hand once that
 * process is known to be gone. Locks are released when the writer finishes, and by an `exit` hook
 * for any other way the process ends normally; a kill -9 leaves a stale lock for the next writer.
 */
import { randomBytes } from 'node:crypto';
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
  /**
   * The holder's PID namespace (Linux: the link /proc/self/ns/pid, e.g. `pid:[4026531836]`; null
   * where it cannot be read). Absent in locks written by tfkd before it was recorded.
   */
  pidNs?: string | null;
  /** The holder's kernel boot id (/proc/sys/kernel/random/boot_id; null where unreadable). Absent in older locks. */
  bootId?: string | null;
}

/**
 * An empty or unparseable lock is never written by this version (its lock appears with its
 * contents), but is by an older tfkd between its exclusive create and its write, by this version on
 * a file system without hard links (see `createLock`), or is left by a crash at that moment. A
 * young one may therefore belong to a live writer and is refused (unknown holder); only once it has
 * been unreadable for this long — far longer than any create-then-write takes, even on a loaded
 * machine or NFS — is it taken to be a crash's leftover and taken over. (A writer stopped for over a
 * minute between those two steps, e.g. by Ctrl-Z, is the one case this gets wrong.)
 */
const UNREADABLE_STALE_MS = 60_000;

/** Temp files of lock creation (`createLock`): `.tfkd.lock.tmp-PID-RANDOM`, removed right after the link. */
const TMP_PREFIX = `${LOCK_FILE}.tmp-`;

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

interface Identity {
  pidNs: string | null;
  bootId: string | null;
}

let self: Identity | undefined;

/** This process's PID namespace and boot id (read once: neither changes while it runs). */
function selfIdentity(): Identity {
  if (!self) {
    let pidNs: string | null = null;
    let bootId: string | null = null;
    try {
      pidNs = fs.readlinkSync('/proc/self/ns/pid');
    } catch {
      // not Linux, or no /proc
    }
    try {
      bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      // not Linux, or no /proc
    }
    self = { pidNs, bootId };
  }
  return self;
}

/**
 * Whether an identity field of a lock can be compared with ours and is the same. Where it cannot be
 * read on Linux (a /proc hidden or not mounted) it is unknown, and an unknown never matches; on
 * other systems neither side has one (no PID namespaces, no boot id), so null matches null there.
 */
function sameIdentity(theirs: string | null | undefined, ours: string | null): boolean {
  if (theirs === undefined || theirs !== ours) return false;
  return ours !== null || process.platform !== 'linux';
}

type Verdict =
  /** Its holder is gone: take it over. */
  | { kind: 'stale' }
  /** Its holder runs, here. */
  | { kind: 'live'; where: string }
  /** Its holder cannot be checked from here: refuse, and say how to remove it once it is known to be gone. */
  | { kind: 'unchecked'; where: string };

/** Whether the holder of a lock, written at `mtimeMs` (the lock file's), is gone, runs, or cannot be checked from here. */
function judge(info: LockInfo, mtimeMs: number): Verdict {
  const on = `pid ${info.pid} on host ${info.host}`;
  if (info.host !== os.hostname()) return { kind: 'unchecked', where: on };
  // A lock of a tfkd that did not record its namespace (no pidNs field): judged by pid and start
  // time as that version did — which is wrong for such a lock written from another PID namespace.
  if (info.pidNs !== undefined) {
    const me = selfIdentity();
    // Another PID namespace (a container with this host's name): its pid is another process here,
    // or none, and says nothing about the holder.
    if (!sameIdentity(info.pidNs, me.pidNs)) {
      const known = info.pidNs !== null && me.pidNs !== null;
      return { kind: 'unchecked', where: known ? `${on}, in another PID namespace` : `${on}, in a PID namespace that cannot be compared with this one` };
    }
    if (!sameIdentity(info.bootId, me.bootId)) {
      const known = typeof info.bootId === 'string' && me.bootId !== null;
      // Another boot: if the lock was written before this boot began, by an earlier boot of this
      // host, its holder is gone (every process ends with a boot). A lock written since this boot
      // began with another boot id comes from another machine of the same name: refused. (Its
      // mtime and our boot time come from one clock on a local disk; on a network file system a
      // server clock far behind ours could make such a lock look older than it is.)
      if (known && mtimeMs < Date.now() - os.uptime() * 1000) return { kind: 'stale' };
      return { kind: 'unchecked', where: known ? `${on}, another machine of that name (its boot id is not this one's)` : `${on}, in a boot that cannot be compared with this one` };
    }
  }
  if (!alive(info.pid)) return { kind: 'stale' };
  const start = processStart(info.pid);
  if (info.startTicks !== null && start !== null && start !== info.startTicks) return { kind: 'stale' };
  return { kind: 'live', where: `pid ${info.pid}` };
}

interface Seen {
  /** Its contents, or null when they are empty or not a lock's JSON. */
  info: LockInfo | null;
  text: string;
  mtimeMs: number;
}

/** The lock file as it is now, or null when there is none. */
function look(file: string): Seen | null {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let info: LockInfo | null = null;
  try {
    const o = JSON.parse(text) as LockInfo;
    if (typeof o.pid === 'number' && typeof o.host === 'string') info = o;
  } catch {
    // unreadable
  }
  return { info, text, mtimeMs };
}

/** link() errors of file systems that have no hard links (some FUSE, SMB, FAT). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates `file` holding `content` unless it exists: 'created', 'exists', or 'again' (our temp file
 * vanished before the link: removed as a crash's leftover by a rival after a long stall; retry).
 * Other errors are thrown.
 */
function createLock(dir: string, file: string, content: string): 'created' | 'exists' | 'again' {
  const tmp = path.join(dir, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  let linkError: NodeJS.ErrnoException;
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
      return 'created';
    } catch (e) {
      linkError = e as NodeJS.ErrnoException;
    }
  } finally {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // a leftover, swept by a later taker (sweepTemps)
    }
  }
  if (linkError.code === 'EEXIST') return 'exists';
  if (linkError.code === 'ENOENT') return 'again';
  if (!NO_LINKS.has(linkError.code ?? '')) throw linkError;
  // No hard links here: create exclusively, then write. A rival may see this lock empty for a
  // moment, which it takes as held (UNREADABLE_STALE_MS), never as stale.
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw e;
  }
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return 'created';
}

/** Removes temp files of lock creation left by a crash (older than any creation takes). */
function sweepTemps(dir: string): void {
  try {
    for (const f of fs.readdirSync(dir)) {
      if (!f.startsWith(TMP_PREFIX)) continue;
      const full = path.join(dir, f);
      if (Date.now() - fs.statSync(full).mtimeMs > UNREADABLE_STALE_MS) fs.rmSync(full, { force: true });
    }
  } catch {
    // gone meanwhile, or not listable: they are harmless
  }
}

/**
 * Removes the stale lock `seen`, under a short-lived exclusive `.takeover` file so that of several
 * racing takers only one removes it — and only if it is still the stale lock it looked at (an
 * unreadable one: still unreadable, and still old). The caller then tries to create its own.
 */
function removeStale(file: string, seen: Seen): void {
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
    return;
  }
  try {
    const now = look(file);
    const same = now !== null && (seen.info === null ? now.info === null && Date.now() - now.mtimeMs > UNREADABLE_STALE_MS : now.text === seen.text);
    if (same) fs.rmSync(file, { force: true });
  } finally {
    fs.closeSync(tfd);
    fs.rmSync(tk, { force: true });
  }
}

/**
 * Takes `dir`'s lock for `what` (e.g. "precompute", "train"); `dir` must exist. Re-entrant within a
 * process (the same directory locked twice by this process returns the held lock).
 */
export function acquireLock(dir: string, what: string): Lock {
  const file = path.join(dir, LOCK_FILE);
  if (held.has(file)) return { file, tookOver: null, release: () => releaseFile(file) };
  const { pidNs, bootId } = selfIdentity();
  const info: LockInfo = { pid: process.pid, host: os.hostname(), startTicks: processStart(process.pid), started: new Date().toISOString(), command: `${what}: ${process.argv.slice(1).join(' ')}`.slice(0, 500), pidNs, bootId };
  const content = `${JSON.stringify(info)}\n`;
  let tookOver: LockInfo | null = null;
  let unreadableWaits = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    let made: 'created' | 'exists' | 'again';
    try {
      made = createLock(dir, file, content);
    } catch (e) {
      throw outDirError(`${optionName('out')}`, dir, e);
    }
    if (made === 'created') {
      held.set(file, content);
      if (!hooked) {
        process.on('exit', releaseAll);
        hooked = true;
      }
      sweepTemps(dir);
      return { file, tookOver, release: () => releaseFile(file) };
    }
    if (made === 'again') continue;
    const seen = look(file);
    if (seen === null) continue; // released meanwhile: try again
    const other = seen.info;
    if (other === null) {
      // Empty or unparseable (see UNREADABLE_STALE_MS): held by an unknown writer while young —
      // an older tfkd between its create and its write: give it a moment, then refuse.
      const age = Date.now() - seen.mtimeMs;
      if (!(age > UNREADABLE_STALE_MS)) {
        if (unreadableWaits++ < 5) {
          pause(20);
          continue;
        }
        throw new UsageError(
          `${dir} is being written by another tfkd process (unknown: its lock file is empty or unreadable, since ${new Date(seen.mtimeMs).toISOString()})`,
          `wait for it to finish, or choose another --out; if no tfkd process is writing there, remove ${file}`,
        );
      }
      tookOver = { pid: -1, host: '?', startTicks: null, started: new Date(seen.mtimeMs).toISOString(), command: 'unreadable lock file' };
    } else {
      const v = judge(other, seen.mtimeMs);
      if (v.kind === 'stale') {
        tookOver = other;
      } else {
        throw new UsageError(
          `${dir} is being written by another tfkd process (${v.where}, since ${other.started}: ${String(other.command).slice(0, 120)})`,
          v.kind === 'live' ? 'wait for it to finish, or choose another --out' : `wait for it to finish, or choose another --out; if that process is gone, remove ${file}`,
        );
      }
    }
    removeStale(file, seen);
  }
  throw new UsageError(`${dir}: could not take its lock ${file} (other writers keep taking it)`);
}
