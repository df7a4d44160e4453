/**
 * The one atomic file writer: every file tfkd writes for others to read (cache shards and
 * manifests, run configs, checkpoints' JSON, experiment records, reports, exported models) goes
 * through writeFileAtomic, so a crash at any instant leaves either the old file or the new one —
 * never a torn one — and, once it returns, the new one survives a power cut.
 *
 *   temp file in the same directory (a rename across file systems is not atomic)
 *   → write, fsync the file → rename over the target → fsync the directory (the rename itself)
 *
 * Temp files are named `.tmp-<name>-<pid>`: hidden, and recognised as leftovers by the cache
 * writer, `tfkd verify` and the trainer's recovery, which clean them up. This process removes its
 * own as well: a write that fails (an I/O error, a throwing hook, any exception) removes its temp
 * file before the error goes on; and every temp file in flight is in a process-wide registry
 * (registerTempPath) that the CLI's SIGINT / SIGTERM handler (src/cli/main.ts) and the process's
 * `exit` empty synchronously (removeTempPaths), so an interrupted `tfkd export` or `report` leaves
 * neither its output nor a hidden copy of it. Only a kill -9 (or a power cut) leaves one behind.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ioFailure } from './out-dir.js';

/** Callbacks inside an atomic write, for fault injection (src/util/fault.ts). */
export interface AtomicWriteHooks {
  /** After chunk i reached the temp file (not yet fsynced). */
  afterChunk?: (i: number) => void;
  /** After the temp file is complete and fsynced, before the rename. */
  beforeRename?: () => void;
}

export interface AtomicWriteOptions extends AtomicWriteHooks {
  /**
   * Create the file's directory (and its parents) first. Off by default: a cache or an export
   * writes into a directory prepared (and checked) beforehand, and a missing one is an error there.
   */
  mkdir?: boolean;
}

/** writeFileAtomicAsync's options: the same, and its hooks may be async (an awaited fault point). */
export interface AtomicWriteAsyncOptions {
  mkdir?: boolean;
  afterChunk?: (i: number) => void | Promise<void>;
  beforeRename?: () => void | Promise<void>;
}

// ---- temp files in flight ----------------------------------------------------------------------

/** The temp paths this process is writing now (registerTempPath); emptied by removeTempPaths. */
const inFlight = new Set<string>();
let exitHooked = false;

/**
 * Registers `tmp`, a temp file (or directory) this process is about to create and will rename or
 * remove itself, as in flight until the returned function is called. Were the process to end first
 * — SIGINT / SIGTERM (the CLI's handler calls removeTempPaths), or process.exit() from anywhere
 * (an `exit` hook does) — it is removed. Register before creating the file: removing one that
 * does not exist yet is harmless, missing one that does is not.
 */
function registerTempPath(tmp: string): () => void {
  inFlight.add(tmp);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => removeTempPaths());
  }
  return () => {
    inFlight.delete(tmp);
  };
}

/** The temp paths in flight, in registration order. */
export function tempPathsInFlight(): string[] {
  return [...inFlight];
}

/**
 * Removes every temp path in flight, synchronously (it runs in a signal handler and at `exit`,
 * where nothing asynchronous completes), best effort: one that cannot be removed does not stop the
 * others. Returns the paths it removed (or found already gone).
 */
export function removeTempPaths(): string[] {
  const removed: string[] = [];
  for (const tmp of inFlight) {
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
      removed.push(tmp);
    } catch {
      // Left for the next run's leftover cleanup (cache writer, verify, the trainer's recovery).
    }
  }
  inFlight.clear();
  return removed;
}

/** Removes a temp file on a failure path without masking the failure. */
function removeQuietly(tmp: string): void {
  try {
    fs.rmSync(tmp, { force: true });
  } catch {
    // the error being thrown matters more; the leftover is recognised by its name
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // the error being thrown matters more
  }
}

// ---- the writers -------------------------------------------------------------------------------

/** fsyncs a directory so a rename inside it survives a crash (no-op where the OS refuses). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open directories; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Text is written as UTF-8; a list of chunks is written in order without being joined (shards are large). */
function chunksOf(data: string | Uint8Array | Iterable<Uint8Array>): Iterable<Uint8Array> {
  if (typeof data === 'string') return [Buffer.from(data, 'utf8')];
  if (data instanceof Uint8Array) return [data];
  return data;
}

const writeAsync = (fd: number, b: Uint8Array, offset: number, length: number): Promise<number> =>
  new Promise((resolve, reject) => fs.write(fd, b, offset, length, null, (e, n) => (e ? reject(e) : resolve(n))));
const fsyncAsync = (fd: number): Promise<void> => new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));

/** The temp file beside `file`: `.tmp-<name>-<pid>`. */
const tempPathOf = (file: string): string => path.join(path.dirname(file), `.tmp-${path.basename(file)}-${process.pid}`);

/**
 * Writes `data` to `file` atomically (see the top of this file); returns the sha256 of the bytes
 * written. Failures name the file (ioFailure: a full disk is a WorkError, a permission problem a
 * UsageError). Whatever ends the write before its rename — a failure, a hook that throws — removes
 * the temp file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | Iterable<Uint8Array>, opts: AtomicWriteOptions = {}): string {
  const dir = path.dirname(file);
  if (opts.mkdir) fs.mkdirSync(dir, { recursive: true });
  const tmp = tempPathOf(file);
  const hash = createHash('sha256');
  const done = registerTempPath(tmp);
  let renamed = false;
  try {
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (e) {
      throw ioFailure(file, e);
    }
    try {
      let i = 0;
      for (const c of chunksOf(data)) {
        hash.update(c);
        let n = 0;
        while (n < c.byteLength) n += fs.writeSync(fd, c, n, c.byteLength - n);
        opts.afterChunk?.(i++);
      }
      fs.fsyncSync(fd);
    } catch (e) {
      closeQuietly(fd);
      throw ioFailure(file, e);
    }
    try {
      fs.closeSync(fd);
    } catch (e) {
      throw ioFailure(file, e);
    }
    opts.beforeRename?.();
    try {
      fs.renameSync(tmp, file);
    } catch (e) {
      throw ioFailure(file, e);
    }
    renamed = true;
  } finally {
    if (!renamed) removeQuietly(tmp);
    done();
  }
  fsyncDir(dir);
  return hash.digest('hex');
}

/**
 * writeFileAtomic with the writes, the fsync and the rename off the main thread: for a large file
 * (an exported model: up to hundreds of MB, seconds of fsync on a slow disk) during which a signal
 * must be handled at once — the handler then removes the temp file (it is in the registry) and the
 * process ends with neither the output nor a copy of it. Same file, same temp name, same result.
 */
export async function writeFileAtomicAsync(file: string, data: string | Uint8Array | Iterable<Uint8Array>, opts: AtomicWriteAsyncOptions = {}): Promise<string> {
  const dir = path.dirname(file);
  if (opts.mkdir) fs.mkdirSync(dir, { recursive: true });
  const tmp = tempPathOf(file);
  const hash = createHash('sha256');
  const done = registerTempPath(tmp);
  let renamed = false;
  try {
    // Opened synchronously: the temp file exists the moment it is registered, so a signal's
    // handler can never remove it before an open still in flight creates it again.
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (e) {
      throw ioFailure(file, e);
    }
    try {
      let i = 0;
      for (const c of chunksOf(data)) {
        hash.update(c);
        let n = 0;
        while (n < c.byteLength) n += await writeAsync(fd, c, n, c.byteLength - n);
        await opts.afterChunk?.(i++);
      }
      await fsyncAsync(fd);
    } catch (e) {
      closeQuietly(fd);
      throw ioFailure(file, e);
    }
    try {
      fs.closeSync(fd);
    } catch (e) {
      throw ioFailure(file, e);
    }
    await opts.beforeRename?.();
    try {
      await fs.promises.rename(tmp, file);
    } catch (e) {
      throw ioFailure(file, e);
    }
    renamed = true;
  } finally {
    if (!renamed) removeQuietly(tmp);
    done();
  }
  fsyncDir(dir);
  return hash.digest('hex');
}

/**
 * `value` as indented JSON plus a newline (the form every tfkd record has on disk), written
 * atomically; returns its sha256. Creates the directory unless `mkdir: false`: records go into
 * directories that may not exist yet (a run's checkpoints/, an experiment's steps/).
 */
export function writeJsonAtomic(file: string, value: unknown, opts: AtomicWriteOptions = {}): string {
  return writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, { mkdir: true, ...opts });
}
