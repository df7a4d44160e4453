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
 * writer, `tfkd verify` and the trainer's recovery, which clean them up.
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

/**
 * Writes `data` to `file` atomically (see the top of this file); returns the sha256 of the bytes
 * written. Failures name the file (ioFailure: a full disk is a WorkError, a permission problem a
 * UsageError) and remove the temp file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | Iterable<Uint8Array>, opts: AtomicWriteOptions = {}): string {
  const dir = path.dirname(file);
  if (opts.mkdir) fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.tmp-${path.basename(file)}-${process.pid}`);
  const hash = createHash('sha256');
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
      let done = 0;
      while (done < c.byteLength) done += fs.writeSync(fd, c, done, c.byteLength - done);
      opts.afterChunk?.(i++);
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw ioFailure(file, e);
  }
  fs.closeSync(fd);
  opts.beforeRename?.();
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw ioFailure(file, e);
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
