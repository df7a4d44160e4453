/**
 * Output directories: one check shared by every command that writes a directory (precompute,
 * merge, train, experiment, report). A path that is a file, under a file, or on a directory the
 * process cannot write is bad usage (exit 2), found before anything is written, in one line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../errors.js';

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a parent is a file, not a directory',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
};

/** UsageError (or WorkError for a full disk) for a failed write into an output directory. */
export function outDirError(flag: string, dir: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (code === 'ENOSPC' || code === 'EDQUOT') return new WorkError(`${flag} ${dir}: no space left on the device (${code})`, 'free some space, then run the same command again: it resumes');
  if (code in WHY) return new UsageError(`${flag} ${dir} is not writable: ${WHY[code]} (${code})`, 'choose another directory');
  return e as Error;
}

/**
 * Makes sure `dir` is (or can become) a writable directory; creates it. Returns the topmost
 * directory it created (to remove again if the command fails before it commits), or null.
 */
export function prepareOutDir(dir: string, flag = '--out'): string | null {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new UsageError(`${flag} ${dir}: a parent of it is a file, not a directory`, 'choose another directory');
    if (code !== 'ENOENT') throw outDirError(flag, dir, e);
  }
  if (st && !st.isDirectory()) throw new UsageError(`${flag} ${dir} is a file, not a directory`, 'choose a directory path (it is created if missing)');
  if (st) return null;
  try {
    return mkdirs(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new UsageError(`${flag} ${dir}: a parent of it is a file, not a directory`, 'choose another directory');
    // ENOENT from a mkdir whose parent exists: a file system that makes no directories (/proc, /sys).
    if (code === 'ENOENT') throw new UsageError(`${flag} ${dir} is not writable: no directory can be created in ${path.dirname((e as NodeJS.ErrnoException).path ?? dir)} (ENOENT)`, 'choose another directory');
    throw outDirError(flag, dir, e);
  }
}

/**
 * `mkdir -p` one level at a time, returning the topmost directory created (or null). Not
 * fs.mkdirSync's recursive mode: on a read-only file system it reports ENOENT instead of EROFS
 * (Node 20), and below /proc it never returns; one mkdir per missing level gives the real error.
 */
function mkdirs(dir: string): string | null {
  const missing: string[] = [];
  let d = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(d)) break;
    missing.push(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      fs.mkdirSync(missing[i]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !fs.statSync(missing[i]).isDirectory()) throw e; // EEXIST: made meanwhile by another process
    }
  }
  return missing.length ? missing[missing.length - 1] : null;
}

/** The WorkErrors that report a full disk (ioFailure's, and those rewritten from them with another hint). */
const diskFull = new WeakSet<Error>();

/** A WorkError for a full disk (`message` names the file), recognised by isDiskFull. */
export function diskFullError(message: string, hint: string): WorkError {
  const e = new WorkError(message, hint);
  diskFull.add(e);
  return e;
}

/** Whether `e` reports a full disk: an ENOSPC / EDQUOT system error, or diskFullError's. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || (e instanceof WorkError && diskFull.has(e));
}

/**
 * A failed write of `file` as one line that names it (system errors from fd writes carry no path):
 * a full disk is WorkError (the command resumes when run again), a permission problem UsageError.
 */
export function ioFailure(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code;
  if (!code || e instanceof UsageError || e instanceof WorkError) return e as Error;
  if (code === 'ENOSPC' || code === 'EDQUOT') return diskFullError(`${file}: no space left on the device (${code})`, 'free some space, then run the same command again: it continues where it stopped');
  if (code in WHY) return new UsageError(`${file}: cannot write: ${WHY[code]} (${code})`, 'choose another directory');
  return new WorkError(`${file}: ${err.message.split('\n')[0]}`);
}

/** Whether `dir` exists (as a directory); UsageError when it is a file or under one. Writes nothing. */
export function outDirExists(dir: string, flag = '--out'): boolean {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new UsageError(`${flag} ${dir}: a parent of it is a file, not a directory`, 'choose another directory');
    throw outDirError(flag, dir, e);
  }
  if (st && !st.isDirectory()) throw new UsageError(`${flag} ${dir} is a file, not a directory`, 'choose a directory path (it is created if missing)');
  return st !== undefined;
}
