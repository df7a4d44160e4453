/**
 * What an interrupted run leaves in its directory, and how the next start or resume clears it:
 * half-swapped checkpoints restored (recoverCheckpoints), the leftovers of a start that never
 * reached its commit record (config.json) recognised and removed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCK_FILE } from '../../util/lock.js';
import { recoverDir } from './run-dir.js';

/**
 * After a kill: every checkpoint caught between the two renames of its directory swap is restored
 * from its `.old-NAME` copy (not only last/: a best/ that is never improved again would stay
 * missing), and temp directories of swaps that never finished are removed.
 *
 * Only under the run's lock (util/lock.ts), by the one process that may write the run: `train
 * --resume` (run-checks.ts checkResumeEarly, loop.ts resumePoint). Every other reader (`eval`,
 * `export`) holds no lock and may run while a trainer is mid-swap: renaming then would put a
 * stale checkpoint where the trainer is about to put the new one (and needs write access to the
 * run). Readers read the `.old-` copy where it stands instead (checkpoint.ts readCheckpoint).
 */
export function recoverCheckpoints(dir: string): void {
  for (const e of runDirEntries(dir)) {
    if (e.startsWith('.old-')) {
      const target = path.join(dir, e.slice('.old-'.length));
      if (fs.existsSync(target)) fs.rmSync(path.join(dir, e), { recursive: true, force: true }); // the swap had finished
      else recoverDir(target);
    }
    else if (e.startsWith('.tmp-')) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

/** Entries of a run directory ([] when it does not exist). */
export function runDirEntries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/**
 * What an interrupted *start* can leave in a run directory before its commit record (config.json,
 * written last of the initial files): the lock, temp files of atomic writes, an empty (or
 * temp-only) checkpoints/, and the run manifest. A fresh start removes them; nothing else.
 */
export function isStartLeftover(dir: string, e: string): boolean {
  if (e === LOCK_FILE || e.startsWith(`${LOCK_FILE}.`) || e.startsWith('.tmp-')) return true;
  const full = path.join(dir, e);
  if (e === 'checkpoints') return fs.statSync(full).isDirectory() && fs.readdirSync(full).every((c) => c.startsWith('.tmp-'));
  if (e === 'manifest.json') {
    try {
      return (JSON.parse(fs.readFileSync(full, 'utf8')) as { schema?: string }).schema === 'tfkd-run/1';
    } catch {
      return false;
    }
  }
  return false;
}

export function removeStartLeftovers(dir: string): void {
  for (const e of runDirEntries(dir)) {
    if (e === LOCK_FILE || e.startsWith(`${LOCK_FILE}.`) || !isStartLeftover(dir, e)) continue;
    fs.rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

/** Whether `checkpoints` holds a finished checkpoint (anything but temp directories of a swap). */
export function hasKeptCheckpoint(checkpoints: string): boolean {
  return runDirEntries(checkpoints).some((c) => !c.startsWith('.tmp-'));
}

/** The files a run's start writes before its first checkpoint; `undoStart` removes only these. */
const START_FILES = ['config.json', 'manifest.json', 'metrics.jsonl', 'summary.json', 'checkpoints'];

/**
 * Undoes a fresh start that failed before any checkpoint was kept: its commit record last removed
 * first, so that an interruption here leaves at worst what a start interrupted before its commit
 * leaves (which the next start clears). The lock and anything the start did not write stay.
 */
export function undoStart(dir: string): void {
  for (const f of START_FILES) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
}
