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
