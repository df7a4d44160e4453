/**
 * The run directory: what a training run leaves behind, every file written atomically (temp file,
 * fsync, rename) so that an interrupted run is always either at its previous state or its next.
 *
 *   RUN/config.json         resolved configuration (a valid --config file)
 *   RUN/manifest.json       seed, backend + kernels, versions, data fingerprint, cache keys + shard hashes
 *   RUN/metrics.jsonl       one line per epoch (values; timings in `seconds` only)
 *   RUN/summary.json        final/best test accuracy, best epoch, epochs, backend, seed, params
 *   RUN/checkpoints/last/   resume point (weights, model.json, optimizer, counters)
 *   RUN/checkpoints/best/   the epoch with the best test accuracy
 *   RUN/checkpoints/epoch-N/ + epoch-N.json, step-N/ + step-N.json   (--save-at)
 */
import * as fs from 'node:fs';
import { readSmallFile } from '../../util/regular-file.js';
import * as path from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../util/atomic.js';
import { diskFullError, ioFailure, isDiskFull } from '../../util/out-dir.js';
import { optionName } from '../../errors.js';
import { faultPoint } from '../../util/fault.js';
import { hashU32, subset } from '../../data/rng.js';

export interface EpochMetrics {
  epoch: number;
  /** Global optimisation steps completed at the end of this epoch. */
  step: number;
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
  /** Expected calibration error on the test split (evaluate.ts: 15 bins); absent in runs recorded before it was. */
  test_ece?: number;
  /** --ema: the same three figures for the average of the weights (absent without it). */
  ema_test_loss?: number;
  ema_test_acc?: number;
  ema_test_ece?: number;
  /** --test-cache: top-1 agreement with that teacher and mean KL(teacher ‖ model) on the test samples evaluated (evaluate.ts); with --ema, the average's too. */
  test_agreement?: number;
  test_kl?: number;
  ema_test_agreement?: number;
  ema_test_kl?: number;
  /** Learning rate of the epoch's first step. */
  lr: number;
  /** Wall time of the epoch (training + evaluation). The only timing field: excluded from determinism checks. */
  seconds: number;
}

/** Fields of a metrics line that hold timings (excluded when comparing runs). */
export const TIMING_FIELDS: readonly string[] = ['seconds'];

export interface Summary {
  final_test_acc: number;
  /** The final epoch's test_ece, when its metrics line has one. */
  final_test_ece?: number;
  /** --test-cache: the final epoch's test_agreement and test_kl. */
  final_test_agreement?: number;
  final_test_kl?: number;
  best_test_acc: number;
  best_epoch: number;
  /** --ema: the average's final and best test accuracy (the best picked the same way, on the same split). */
  ema_final_test_acc?: number;
  ema_final_test_ece?: number;
  ema_best_test_acc?: number;
  ema_best_epoch?: number;
  epochs: number;
  backend: string;
  seed: number;
  params: number;
  model: string;
  loss: string;
}

/**
 * The train-split samples a run trains on: all of them, or the seeded subset of `limit` (a stream
 * of the seed distinct from everything else that uses it). `tfkd eval --unseen` takes the rest.
 */
export function trainIndices(size: number, limit: number | null, seed: number): Int32Array {
  return limit === null ? Int32Array.from({ length: size }, (_, i) => i) : subset(size, limit, hashU32(seed, 0x1111));
}

/** The run a checkpoint directory belongs to (RUN/checkpoints/NAME → RUN), or null when it is not inside one. */
export function runOfCheckpoint(checkpointDir: string): string | null {
  const parent = path.dirname(checkpointDir);
  return path.basename(parent) === 'checkpoints' ? path.dirname(parent) : null;
}

export const runPaths = (run: string) => ({
  config: path.join(run, 'config.json'),
  manifest: path.join(run, 'manifest.json'),
  metrics: path.join(run, 'metrics.jsonl'),
  summary: path.join(run, 'summary.json'),
  checkpoints: path.join(run, 'checkpoints'),
  checkpoint: (name: string) => path.join(run, 'checkpoints', name),
});

// The run's JSON files go through the one atomic writer (util/atomic.ts); the trainer imports it from here.

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(readSmallFile(file).toString('utf8')) as T; // a regular file of sane size
}

/** Rewrites the whole metrics file (small: one line per epoch), atomically. */
export function writeMetrics(file: string, lines: readonly EpochMetrics[]): void {
  try {
    writeFileAtomic(file, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  } catch (e) {
    throw isDiskFull(e) ? runDiskFull(path.dirname(file), e as Error) : e;
  }
}

export function readMetrics(file: string): EpochMetrics[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochMetrics);
}

/** A metrics line without its timing fields: what two equal runs must agree on. */
export function metricValues(m: EpochMetrics): Omit<EpochMetrics, 'seconds'> {
  const o: Record<string, unknown> = { ...m };
  for (const k of TIMING_FIELDS) delete o[k];
  return o as Omit<EpochMetrics, 'seconds'>;
}

/**
 * Writes a directory atomically: `fill` populates a fresh temp directory beside `dir`, which then
 * replaces `dir` by renames (old → trash, temp → dir, trash removed). A crash leaves `dir`
 * either old or new; the only window without `dir` is between the two renames, and `recoverDir`
 * (called by the trainer, under the run's lock, before it reads) finishes that swap from the trash
 * copy. Readers never rename: they read what `readableDir` names.
 *
 * What is complete at each moment of a swap of `dir` (X), in order:
 *   1. `.tmp-X-PID` is created and filled: incomplete until `fill` returns and it is fsynced; X (if
 *      any) is complete and untouched.
 *   2. `.old-X` (a leftover of a swap killed in step 5, when X already existed) is removed.
 *   3. X → `.old-X`: from here until step 4, X is missing and `.old-X` is the complete previous
 *      checkpoint (a directory named X or `.old-X` only ever comes from a rename of a complete one).
 *   4. `.tmp-X-PID` → X: X is complete again (the new contents).
 *   5. `.old-X` is removed, file by file: partial from here on, but X exists.
 * So X, where it exists, is complete; where it is missing, `.old-X`, if present, is the complete
 * previous one (a kill between 3 and 4 leaves exactly that, and recovery restores it). The temp
 * directory is never read: nothing on disk marks it complete (between 1 and 3 it may be half
 * written), and until step 4 it is not the checkpoint — a kill before then discards it.
 *
 * A failure (a full disk, a rename refused) removes the temp directory and, where the old `dir` had
 * already been moved aside, puts it back: nothing is left but `dir` as it was.
 */
/** Directory swaps done by this process (the counter of the checkpoint fault points). */
let dirSwaps = 0;

export async function writeDirAtomic(dir: string, fill: (tmp: string) => void | Promise<void>): Promise<void> {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  const tmp = path.join(parent, `.tmp-${base}-${process.pid}`);
  const trash = path.join(parent, `.old-${base}`);
  const removeTmp = (): void => {
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
    } catch {
      // best effort: the error that brought us here is the one to report (and --resume removes it)
    }
  };
  try {
    fs.mkdirSync(parent, { recursive: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    await fill(tmp);
    fsyncDir(tmp);
  } catch (e) {
    removeTmp();
    throw dirWriteFailure(dir, e);
  }
  dirSwaps++;
  faultPoint('checkpoint-filled', dirSwaps);
  let moved = false;
  try {
    fs.rmSync(trash, { recursive: true, force: true });
    if (fs.existsSync(dir)) {
      fs.renameSync(dir, trash);
      moved = true;
    }
    faultPoint('checkpoint-swap', dirSwaps);
    fs.renameSync(tmp, dir);
  } catch (e) {
    // The old directory goes back where it was (it is complete: it was `dir`), the new one away.
    if (moved && !fs.existsSync(dir)) {
      try {
        fs.renameSync(trash, dir);
      } catch {
        // left as `.old-X`: readers read it there, and the next --resume restores it
      }
    }
    removeTmp();
    throw dirWriteFailure(dir, e);
  }
  try {
    fsyncDir(parent);
    fs.rmSync(trash, { recursive: true, force: true });
  } catch (e) {
    throw dirWriteFailure(dir, e);
  }
}

/**
 * Where the directory `dir` written by writeDirAtomic can be read now, without changing anything:
 * `dir` where it exists, else its `.old-` copy (the complete previous contents, while a swap is
 * between its two renames or was killed there: see above), else null. `dir` is looked at again
 * after `.old-`: a swap that finished in between (its trash removed) has made `dir` meanwhile.
 */
export function readableDir(dir: string): string | null {
  const trash = path.join(path.dirname(dir), `.old-${path.basename(dir)}`);
  for (const d of [dir, trash, dir]) if (isDir(d)) return d;
  return null;
}

/**
 * An identity of the directory at `dir` now (device, inode and change time), or null when there is
 * none: a swap of `dir`, or the removal of its `.old-` copy, changes it. A reader that finds it
 * the same before and after reading read one directory, unchanged.
 */
export function dirIdentity(dir: string): string | null {
  const st = fs.statSync(dir, { bigint: true, throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}:${st.ctimeNs}` : null;
}

function isDir(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}

/**
 * A failed write of a run's checkpoint `dir` (or another file of the run) as ioFailure words it,
 * named; a full disk once the run has kept a checkpoint says to resume: the same command without
 * --resume would refuse the run directory (it "already exists"), and a fresh start that kept none
 * is undone by the trainer, so that the same command runs again.
 */
function dirWriteFailure(dir: string, e: unknown): Error {
  const err = ioFailure(dir, e);
  const run = runOfCheckpoint(dir);
  return run !== null && isDiskFull(err) ? runDiskFull(run, err) : err;
}

/** A disk-full `err` while writing into run directory `run`: with the hint to --resume when the run holds a checkpoint. */
export function runDiskFull(run: string, err: Error): Error {
  const kept = fs.existsSync(path.join(run, 'checkpoints')) && fs.readdirSync(path.join(run, 'checkpoints')).some((c) => !c.startsWith('.tmp-'));
  if (!kept) return err;
  return diskFullError(err.message, `free some space, then resume the run: the same command with ${optionName('resume')} continues from its last checkpoint`);
}

/** Restores `dir` from its trash copy when a crash hit between the two renames of writeDirAtomic. Only for the run's lock holder. */
export function recoverDir(dir: string): void {
  const trash = path.join(path.dirname(dir), `.old-${path.basename(dir)}`);
  if (!fs.existsSync(dir) && fs.existsSync(trash)) fs.renameSync(trash, dir);
}
